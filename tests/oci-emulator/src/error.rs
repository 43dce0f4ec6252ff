//! Errors: `EmulatorError` for the library's Rust API, `ApiError` for what goes back over the
//! wire in OCI's `{"code", "message"}` shape.

use std::net::SocketAddr;

use http::StatusCode;

use crate::keys::KeyError;

/// Failures of the in-process API (starting the emulator, registering keys, control calls).
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// The listener could not be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address that was requested.
        addr: SocketAddr,
        /// Why the bind failed.
        source: std::io::Error,
    },
    /// The emulator only ever listens on loopback: it has no TLS and trusts its control API.
    #[error("refusing to listen on non-loopback address {0}")]
    NotLoopback(SocketAddr),
    /// A key could not be parsed or fingerprinted.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A builder or control value is out of range.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A control call named a compartment the tenancy does not have.
    #[error("unknown compartment {0}")]
    UnknownCompartment(String),
    /// A control call named a Cloud Guard problem that does not exist.
    #[error("unknown problem {0}")]
    UnknownProblem(String),
    /// A control call named a log or log group that does not exist.
    #[error("unknown log or log group {0}")]
    UnknownLog(String),
}

/// An error response in OCI's format: status, `code` and `message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// OCI error code such as `NotAuthenticated` or `NotAuthorizedOrNotFound`.
    pub code: &'static str,
    /// Human readable detail.
    pub message: String,
}

impl ApiError {
    /// Builds an error with an explicit status and code.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 401 `NotAuthenticated`: bad, missing or stale signature.
    pub fn not_authenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "NotAuthenticated", message)
    }

    /// 400 `InvalidParameter`.
    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidParameter", message)
    }

    /// 400 `MissingParameter`.
    pub fn missing_parameter(name: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "MissingParameter",
            format!("Missing required parameter '{name}'"),
        )
    }

    /// 404 `NotAuthorizedOrNotFound`: OCI does not tell "absent" from "not allowed".
    pub fn not_authorized_or_not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NotAuthorizedOrNotFound", message)
    }

    /// 404 `NotFound`: no operation at this path and method.
    pub fn no_such_operation(method: &http::Method, path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("There is no operation supported at {method} {path}"),
        )
    }

    /// The JSON body OCI sends with an error.
    pub fn body(&self) -> Vec<u8> {
        serde_json::json!({ "code": self.code, "message": self.message })
            .to_string()
            .into_bytes()
    }
}
