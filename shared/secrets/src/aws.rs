//! What the three AWS clients share: timeouts for the cold-start path, and the one place their
//! failures are classified (refused, busy, no answer, unusable).

use std::time::Duration;

use aws_sdk_kms::config::http::HttpResponse;
use aws_sdk_kms::config::timeout::TimeoutConfig;
use aws_sdk_kms::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::CallError;

/// Timeouts used where the caller's `SdkConfig` sets none: these calls answer in milliseconds,
/// and a cold start that hangs on them is worse than one that fails and is retried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
const OPERATION_TIMEOUT: Duration = Duration::from_secs(20);

/// Error codes that mean "not now" in KMS, Secrets Manager or SSM (the SDK has already retried
/// them a few times). Any 5xx counts too.
const TRANSIENT_CODES: [&str; 8] = [
    "ThrottlingException",
    "KMSInternalException",
    "DependencyTimeoutException",
    "KeyUnavailableException",
    "ServiceUnavailableException",
    "InternalFailure",
    "InternalServiceError",
    "InternalServerError",
];

/// The caller's timeouts, with connect, attempt and overall timeouts added where it has none.
pub(crate) fn timeouts(sdk_config: &aws_config::SdkConfig) -> TimeoutConfig {
    let defaults = TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT);
    sdk_config
        .timeout_config()
        .map(TimeoutConfig::to_builder)
        .unwrap_or_default()
        .take_unset_from(defaults)
        .build()
}

/// Classifies a failed call of any of the three clients.
pub(crate) fn classify<E>(err: SdkError<E, HttpResponse>) -> CallError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match err {
        SdkError::ServiceError(ref service) => {
            let status = service.raw().status().as_u16();
            let e = service.err();
            let code = e.code().unwrap_or("UnknownError").to_owned();
            let message = e.message().unwrap_or_default().to_owned();
            if status >= 500 || TRANSIENT_CODES.contains(&code.as_str()) {
                CallError::Unavailable { code, message }
            } else {
                CallError::Rejected { code, message }
            }
        }
        SdkError::ConstructionFailure(_) => CallError::Invalid {
            message: DisplayErrorContext(&err).to_string(),
        },
        // Timeouts, connection failures, unreadable responses.
        other => CallError::Transport {
            source: Box::new(other),
        },
    }
}
