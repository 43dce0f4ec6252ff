//! The one error type every operation returns, split by where the failure happened.
//!
//! The split mirrors aws-sdk-rust's `SdkError`: a caller can always tell whether a request
//! was never sent ([`Error::Construction`]), sent without an answer ([`Error::Dispatch`]),
//! answered in a way we could not understand ([`Error::Decode`]) or refused by the service
//! ([`Error::Service`], with [`Error::PreconditionFailed`] split out because conditional
//! writes branch on it). [`Error::is_retryable`] is the single retry classifier.

use std::time::Duration;

/// What went wrong talking to an OCI service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request was never sent: bad input, bad configuration or a signing failure.
    #[error("{operation}: request not sent: {reason}")]
    Construction {
        /// The OCI operation, e.g. `ListEvents`.
        operation: &'static str,
        /// Why the request could not be built.
        reason: String,
    },

    /// The request was sent (or a connection attempted) but no complete answer came back.
    #[error("{operation}: no response ({kind}): {source}")]
    Dispatch {
        /// The OCI operation.
        operation: &'static str,
        /// Connect failure, timeout, or a connection broken mid-response.
        kind: DispatchKind,
        /// The transport's error (its cause chain names the socket-level reason).
        #[source]
        source: reqwest::Error,
    },

    /// The service answered, but the answer was not what the API promises.
    #[error("{operation}: response not understood (HTTP {status}, opc-request-id {}): {reason}", request_id.as_deref().unwrap_or("-"))]
    Decode {
        /// The OCI operation.
        operation: &'static str,
        /// HTTP status of the answer.
        status: u16,
        /// `opc-request-id` of the answer, for Oracle support.
        request_id: Option<String>,
        /// What was wrong with it.
        reason: String,
    },

    /// The service said no (any non-2xx answer other than 412).
    #[error("{operation}: {error}")]
    Service {
        /// The OCI operation.
        operation: &'static str,
        /// Status, OCI error code and message, request id.
        error: ServiceError,
    },

    /// A conditional write (`if-match` / `if-none-match`) lost: the object changed or exists.
    #[error("{operation}: precondition failed: {error}")]
    PreconditionFailed {
        /// The OCI operation.
        operation: &'static str,
        /// The 412 answer.
        error: ServiceError,
    },
}

/// How a dispatch failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DispatchKind {
    /// No connection could be made (refused, DNS, TLS handshake).
    Connect,
    /// The connect or request timeout expired.
    Timeout,
    /// The connection broke while sending or receiving.
    Io,
}

impl std::fmt::Display for DispatchKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DispatchKind::Connect => "connect failed",
            DispatchKind::Timeout => "timed out",
            DispatchKind::Io => "connection broken",
        })
    }
}

/// An error answer from an OCI service: `{"code": ..., "message": ...}` plus headers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("HTTP {status} {code}: {message} (opc-request-id {})", request_id.as_deref().unwrap_or("-"))]
pub struct ServiceError {
    /// HTTP status code.
    pub status: u16,
    /// OCI error code, e.g. `NotAuthenticated`, `TooManyRequests`, `NoEtagMatch`.
    /// When the body carried none, a name derived from the status.
    pub code: String,
    /// OCI's human-readable message (may be empty).
    pub message: String,
    /// The `opc-request-id` response header: quote it to Oracle support.
    pub request_id: Option<String>,
    /// The `Retry-After` the service asked for, if any.
    pub retry_after: Option<Duration>,
}

impl ServiceError {
    /// Whether retrying the same request may succeed: 429, 5xx, and 409 `IncorrectState` /
    /// `LockConflict` (as the official SDKs' default retry strategy does).
    pub fn is_retryable(&self) -> bool {
        match self.status {
            429 => true,
            500..=599 => true,
            409 => matches!(self.code.as_str(), "IncorrectState" | "LockConflict"),
            _ => false,
        }
    }
}

impl Error {
    /// The single retry classifier: timeouts, connection errors, 429, 5xx and 409
    /// `IncorrectState` retry; 4xx answers, decode errors and construction errors do not.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Construction { .. }
            | Error::Decode { .. }
            | Error::PreconditionFailed { .. } => false,
            Error::Dispatch { .. } => true,
            Error::Service { error, .. } => error.is_retryable(),
        }
    }

    /// The OCI operation that failed.
    pub fn operation(&self) -> &'static str {
        match self {
            Error::Construction { operation, .. }
            | Error::Dispatch { operation, .. }
            | Error::Decode { operation, .. }
            | Error::Service { operation, .. }
            | Error::PreconditionFailed { operation, .. } => operation,
        }
    }

    /// The service's error answer, when there was one.
    pub fn service_error(&self) -> Option<&ServiceError> {
        match self {
            Error::Service { error, .. } | Error::PreconditionFailed { error, .. } => Some(error),
            _ => None,
        }
    }

    /// HTTP status of the answer, when one arrived.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Decode { status, .. } => Some(*status),
            _ => self.service_error().map(|e| e.status),
        }
    }

    /// `opc-request-id` of the answer, when one arrived.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Error::Decode { request_id, .. } => request_id.as_deref(),
            _ => self.service_error().and_then(|e| e.request_id.as_deref()),
        }
    }

    /// A 404: the object, bucket or compartment does not exist *or* is not visible to the
    /// caller (OCI answers `NotAuthorizedOrNotFound` for both).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// A 401 or 403: the credentials or the policy refuse the call.
    pub fn is_auth_failure(&self) -> bool {
        matches!(self.status(), Some(401 | 403))
    }

    /// The `Retry-After` the service asked for, if any.
    pub(crate) fn retry_after(&self) -> Option<Duration> {
        self.service_error().and_then(|e| e.retry_after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(status: u16, code: &str) -> Error {
        Error::Service {
            operation: "ListEvents",
            error: ServiceError {
                status,
                code: code.into(),
                message: String::new(),
                request_id: Some("rid".into()),
                retry_after: None,
            },
        }
    }

    #[test]
    fn classifier_retries_throttling_server_errors_and_incorrect_state_only() {
        for (status, code, retry) in [
            (429, "TooManyRequests", true),
            (500, "InternalServerError", true),
            (503, "ServiceUnavailable", true),
            (409, "IncorrectState", true),
            (409, "LockConflict", true),
            (409, "Conflict", false),
            (400, "InvalidParameter", false),
            (401, "NotAuthenticated", false),
            (403, "NotAuthorized", false),
            (404, "NotAuthorizedOrNotFound", false),
        ] {
            assert_eq!(
                service(status, code).is_retryable(),
                retry,
                "{status} {code}"
            );
        }
        let decode = Error::Decode {
            operation: "ListEvents",
            status: 200,
            request_id: None,
            reason: "bad json".into(),
        };
        assert!(!decode.is_retryable());
    }

    #[test]
    fn display_names_operation_status_code_and_request_id() {
        let text = service(401, "NotAuthenticated").to_string();
        assert_eq!(
            text,
            "ListEvents: HTTP 401 NotAuthenticated:  (opc-request-id rid)"
        );
    }
}
