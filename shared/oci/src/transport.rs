//! The one place requests are signed, sent, classified and retried.
//!
//! Service clients describe a request ([`OciRequest`]) and decode the answer; everything in
//! between lives here so that every operation gets the same signing, timeouts, retry
//! classification, `opc-request-id` handling and logging.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{ACCEPT, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use http::{Method, StatusCode};
use tokio::time::Instant;
use url::Url;

use crate::auth::ApiKeyCredentials;
use crate::body_pool;
use crate::budget::RequestBudget;
use crate::config::TimeoutConfig;
use crate::error::{DispatchKind, Error, ServiceError};
use crate::retry::{RetryConfig, parse_retry_after};
use crate::signer::{BodySigning, sign_request};

static OPC_REQUEST_ID: HeaderName = HeaderName::from_static("opc-request-id");
static OPC_CLIENT_RETRIES: HeaderName = HeaderName::from_static("opc-client-retries");
const AGENT: &str = concat!("auditfwd-oci/", env!("CARGO_PKG_VERSION"));
/// At most this much is reserved up front for a body from its `Content-Length` (a larger body
/// still arrives whole; its buffer grows as it does).
const BODY_RESERVE_LIMIT: u64 = 64 << 20;

/// A request as a service client describes it.
#[derive(Debug, Clone)]
pub(crate) struct OciRequest {
    pub(crate) operation: &'static str,
    pub(crate) method: Method,
    pub(crate) url: Url,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Option<Bytes>,
    pub(crate) body_signing: BodySigning,
}

impl OciRequest {
    pub(crate) fn new(operation: &'static str, method: Method, url: Url) -> Self {
        OciRequest {
            operation,
            method,
            url,
            headers: HeaderMap::new(),
            body: None,
            body_signing: BodySigning::Standard,
        }
    }

    /// Adds a header; `value` comes from the caller, so an invalid one is a construction error.
    pub(crate) fn header(mut self, name: &'static str, value: &str) -> Result<Self, Error> {
        let v = HeaderValue::from_str(value).map_err(|_| Error::Construction {
            operation: self.operation,
            reason: format!("value for header {name} is not valid header text"),
        })?;
        self.headers.insert(HeaderName::from_static(name), v);
        Ok(self)
    }
}

/// A successful (2xx) answer.
#[derive(Debug)]
pub(crate) struct OciResponse {
    pub(crate) operation: &'static str,
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl OciResponse {
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    pub(crate) fn request_id(&self) -> Option<String> {
        self.header("opc-request-id")
    }

    pub(crate) fn decode_error(&self, reason: impl Into<String>) -> Error {
        Error::Decode {
            operation: self.operation,
            status: self.status.as_u16(),
            request_id: self.request_id(),
            reason: reason.into(),
        }
    }

    /// Decodes a JSON body; a body that is not what the API promises is a decode error.
    pub(crate) fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body)
            .map_err(|e| self.decode_error(format!("invalid JSON body: {e}")))
    }
}

/// Shared HTTP client, credentials and policies.
#[derive(Debug)]
pub(crate) struct Transport {
    http: reqwest::Client,
    credentials: ApiKeyCredentials,
    retry: RetryConfig,
    timeouts: TimeoutConfig,
    pub(crate) clock: SigningClock,
    budget: Option<RequestBudget>,
}

/// Where request signatures take their `date` from: the system clock, or a test's clock.
#[derive(Clone, Default)]
pub struct SigningClock(Option<std::sync::Arc<dyn Fn() -> SystemTime + Send + Sync>>);

impl SigningClock {
    /// A clock that reads `now` (a test's manual clock, so signatures match a test server's
    /// notion of time).
    pub fn from_fn(now: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        SigningClock(Some(std::sync::Arc::new(now)))
    }

    pub(crate) fn now(&self) -> SystemTime {
        self.0.as_ref().map_or_else(SystemTime::now, |f| f())
    }
}

impl std::fmt::Debug for SigningClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "SigningClock(custom)"
        } else {
            "SigningClock(system)"
        })
    }
}

impl Transport {
    pub(crate) fn new(
        credentials: ApiKeyCredentials,
        retry: RetryConfig,
        timeouts: TimeoutConfig,
        clock: SigningClock,
        budget: Option<RequestBudget>,
    ) -> Result<Self, reqwest::Error> {
        let mut b = reqwest::Client::builder()
            .http1_only()
            .user_agent(AGENT)
            .pool_idle_timeout(Duration::from_secs(50))
            // Redirects would re-send a request signed for another host: never follow them.
            .redirect(reqwest::redirect::Policy::none());
        if let Some(t) = timeouts.connect {
            b = b.connect_timeout(t);
        }
        Ok(Transport {
            http: b.build()?,
            credentials,
            retry,
            timeouts,
            clock,
            budget,
        })
    }

    pub(crate) fn credentials(&self) -> &ApiKeyCredentials {
        &self.credentials
    }

    /// Sends `req`, retrying retryable failures within the retry policy.
    pub(crate) async fn send(&self, req: OciRequest) -> Result<OciResponse, Error> {
        let started = Instant::now();
        let mut backoff = self.retry.backoff();
        let mut attempt = 1;
        loop {
            if let Some(b) = &self.budget {
                let waited = b.acquire().await;
                if !waited.is_zero() {
                    metrics::histogram!(auditfwd_telemetry::names::RATE_LIMIT_WAIT, "limit" => "oci_requests")
                        .record(waited.as_secs_f64());
                }
            }
            let err = match self.attempt(&req, attempt).await {
                Ok(resp) => return Ok(resp),
                Err(err) => err,
            };
            if err.status() == Some(429) {
                metrics::counter!(auditfwd_telemetry::names::OCI_THROTTLED, "operation" => req.operation)
                    .increment(1);
                if let Some(b) = &self.budget {
                    b.throttled(err.retry_after());
                }
            }
            if !err.is_retryable() || attempt >= self.retry.max_attempts() {
                return Err(err);
            }
            let delay = backoff.next_delay_or(err.retry_after());
            if started.elapsed() + delay > self.retry.max_elapsed() {
                tracing::warn!(operation = req.operation, attempt, ?delay, error = %err, "retry budget exhausted; giving up");
                return Err(err);
            }
            tracing::warn!(operation = req.operation, attempt, ?delay, error = %err, "retrying OCI request");
            let reason = match (&err, err.status()) {
                (_, Some(status)) => status.to_string(),
                (Error::Dispatch { kind, .. }, None) => match kind {
                    DispatchKind::Connect => "connect".to_owned(),
                    DispatchKind::Timeout => "timeout".to_owned(),
                    DispatchKind::Io => "io".to_owned(),
                },
                _ => "other".to_owned(),
            };
            metrics::counter!(auditfwd_telemetry::names::OCI_RETRIES, "operation" => req.operation, "reason" => reason)
                .increment(1);
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    async fn attempt(&self, req: &OciRequest, attempt: u32) -> Result<OciResponse, Error> {
        let op = req.operation;
        let mut headers = req.headers.clone();
        let client_request_id = format!("{:032x}", fastrand::u128(..));
        headers.insert(
            OPC_REQUEST_ID.clone(),
            HeaderValue::from_str(&client_request_id)
                .unwrap_or(HeaderValue::from_static("auditfwd")),
        );
        headers.insert(USER_AGENT, HeaderValue::from_static(AGENT));
        if !headers.contains_key(ACCEPT) {
            headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        }
        if attempt > 1 {
            headers.insert(OPC_CLIENT_RETRIES.clone(), HeaderValue::from_static("true"));
        }
        sign_request(
            &self.credentials,
            &req.method,
            &req.url,
            &mut headers,
            req.body.as_deref(),
            req.body_signing,
            self.clock.now(),
        )
        .map_err(|e| Error::Construction {
            operation: op,
            reason: format!("cannot sign request: {e}"),
        })?;

        let mut rb = self
            .http
            .request(req.method.clone(), req.url.clone())
            .headers(headers);
        if let Some(body) = &req.body {
            rb = rb.body(body.clone());
        }
        if let Some(t) = self.timeouts.request {
            rb = rb.timeout(t);
        }
        let dispatch = |source: reqwest::Error| {
            let kind = if source.is_timeout() {
                DispatchKind::Timeout
            } else if source.is_connect() {
                DispatchKind::Connect
            } else {
                DispatchKind::Io
            };
            Error::Dispatch {
                operation: op,
                kind,
                source,
            }
        };
        let resp = rb.send().await.map_err(dispatch)?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = read_body(resp).await.map_err(dispatch)?;
        let request_id = headers
            .get(&OPC_REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        tracing::debug!(
            operation = op,
            attempt,
            status = status.as_u16(),
            request_id = request_id.as_deref().unwrap_or("-"),
            bytes = body.len(),
            "OCI response"
        );
        if status.is_success() {
            return Ok(OciResponse {
                operation: op,
                status,
                headers,
                body,
            });
        }
        let error = service_error(status, &headers, &body, request_id);
        Err(if status == StatusCode::PRECONDITION_FAILED {
            Error::PreconditionFailed {
                operation: op,
                error,
            }
        } else {
            Error::Service {
                operation: op,
                error,
            }
        })
    }
}

/// The whole body of `resp`. A body that arrives in one chunk is that chunk; a longer one is
/// copied chunk by chunk into one buffer sized from `Content-Length`, each chunk dropped once
/// copied, so a 4 MB page is held once while it arrives (collecting every chunk and then
/// joining them, as `Response::bytes` does, held it twice). Pages of events go into buffers
/// that are reused ([`body_pool`]).
async fn read_body(mut resp: reqwest::Response) -> Result<Bytes, reqwest::Error> {
    let announced = resp.content_length().unwrap_or(0);
    let Some(first) = resp.chunk().await? else {
        return Ok(Bytes::new());
    };
    let Some(second) = resp.chunk().await? else {
        return Ok(first);
    };
    let reserve = usize::try_from(announced.min(BODY_RESERVE_LIMIT)).unwrap_or(0);
    let mut body = body_pool::buffer_for(announced, reserve.max(first.len() + second.len())).await;
    for chunk in [first, second] {
        body.extend_from_slice(&chunk);
    }
    while let Some(chunk) = resp.chunk().await? {
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Builds a [`ServiceError`] from an error answer, with or without OCI's JSON body.
fn service_error(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    request_id: Option<String>,
) -> ServiceError {
    #[derive(serde::Deserialize)]
    struct Body {
        code: Option<String>,
        message: Option<String>,
    }
    let parsed: Option<Body> = serde_json::from_slice(body).ok();
    let code = parsed
        .as_ref()
        .and_then(|b| b.code.clone())
        .unwrap_or_else(|| {
            status
                .canonical_reason()
                .unwrap_or("Unknown")
                .replace([' ', '-'], "")
        });
    let message = parsed.and_then(|b| b.message).unwrap_or_else(|| {
        let text = String::from_utf8_lossy(body);
        text.chars().take(300).collect()
    });
    let retry_after = headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()));
    ServiceError {
        status: status.as_u16(),
        code,
        message,
        request_id,
        retry_after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_errors_from_json_and_from_bare_statuses() {
        let mut h = HeaderMap::new();
        h.insert(http::header::RETRY_AFTER, HeaderValue::from_static("3"));
        let e = service_error(
            StatusCode::TOO_MANY_REQUESTS,
            &h,
            br#"{"code":"TooManyRequests","message":"slow down"}"#,
            Some("r1".into()),
        );
        assert_eq!(
            (e.code.as_str(), e.message.as_str(), e.retry_after),
            ("TooManyRequests", "slow down", Some(Duration::from_secs(3)))
        );
        let e = service_error(StatusCode::NOT_FOUND, &HeaderMap::new(), b"", None);
        assert_eq!(
            (e.status, e.code.as_str(), e.message.as_str()),
            (404, "NotFound", "")
        );
        let e = service_error(
            StatusCode::BAD_GATEWAY,
            &HeaderMap::new(),
            b"<html>upstream down</html>",
            None,
        );
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("BadGateway", "<html>upstream down</html>")
        );
    }
}
