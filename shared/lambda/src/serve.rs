//! The one `main` of the three functions: each binary names its [`Handler`] and calls
//! [`serve`], which sets up telemetry, makes the cold start, and hands every invocation to the
//! handler with its deadline.
//!
//! Two things are decided here once, for every function:
//!
//! - **Typed payloads.** The runtime hands over the invocation's JSON; [`Incoming`] turns it
//!   into the handler's payload type (a scheduled event, an SQS batch, a replay request). A
//!   payload that does not fit is the handler's `auditfwd.Fatal.BadEvent`, with the invocation's
//!   summary line and metrics, not a runtime deserialisation error without either.
//! - **Cold-start failures.** A function whose configuration is bad (or whose secrets cannot
//!   be fetched) still starts the Lambda runtime, so that Lambda shows *why* instead of a
//!   generic "Runtime exited": every invocation is answered with the start error's
//!   `auditfwd.Fatal.<kind>` and its message, which names the variable. A retryable start
//!   error (KMS, Secrets Manager or SSM throttled or unreachable) is tried again on the next
//!   invocation; a fatal one is not (it cannot change without a new configuration, which
//!   means a new process).

use std::future::Future;
use std::marker::PhantomData;
use std::sync::{Mutex, PoisonError};

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{LambdaError, StartError};
use crate::invocation::{Function, Invocation, Summary};
use crate::metrics::Metrics;
use crate::start::{self, LiveDeps};
use crate::{Deps, Live};

/// One function: what it takes, what it answers, and the handler between them.
pub trait Handler: 'static {
    /// Which function (its name in logs, leases and replay ids).
    const FUNCTION: Function;
    /// What its payload is, in words, for the error a payload that does not fit gets.
    const EXPECTED: &'static str;
    /// The payload, deserialised from the invocation's JSON.
    type Payload: DeserializeOwned + Send + 'static;
    /// The answer Lambda returns to the caller.
    type Response: Serialize + Send + 'static;

    /// One invocation.
    fn handle<'a>(
        deps: &'a Deps<Live>,
        payload: Self::Payload,
        inv: &'a Invocation,
    ) -> impl Future<Output = Result<Self::Response, LambdaError>> + Send + 'a;
}

/// Runs function `H` until the Lambda runtime stops: telemetry, the cold start, then every
/// invocation (answered with the start error when the cold start failed).
pub async fn serve<H: Handler>() -> Result<(), lambda_runtime::Error> {
    let function = H::FUNCTION;
    let (metrics, telemetry_error) = match start::init_telemetry(|name| std::env::var(name).ok()) {
        Ok(m) => (m, None),
        Err(e) => (Metrics::disabled(), Some(e)),
    };
    let first = match telemetry_error {
        Some(e) => Err(e),
        None => start::cold_start(function).await,
    };
    let start = Start::new(first, move || start::cold_start(function));
    if let Some(diagnostic) = start.failed() {
        tracing::error!(
            function = function.as_str(),
            error_type = %diagnostic.error_type,
            error = %diagnostic.error_message,
            "cannot start; every invocation is answered with this error"
        );
        metrics.flush();
    }
    let (start, metrics) = (&start, &metrics);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<Incoming<H::Payload>>| invoke::<H>(start, metrics, event),
    ))
    .await
}

/// One invocation: the dependencies (or the start error), then the handler.
async fn invoke<H: Handler>(
    start: &Start<LiveDeps, impl AsyncStart<LiveDeps>>,
    metrics: &Metrics,
    event: LambdaEvent<Incoming<H::Payload>>,
) -> Result<H::Response, Diagnostic> {
    let (Incoming(payload), context) = event.into_parts();
    let inv = start::invocation(H::FUNCTION, &context.request_id, context.deadline, metrics);
    let deps = match start.deps().await {
        Ok(deps) => deps,
        Err(diagnostic) => {
            tracing::error!(
                function = H::FUNCTION.as_str(),
                request_id = %inv.request_id,
                error_type = %diagnostic.error_type,
                error = %diagnostic.error_message,
                "invocation failed: the function could not start"
            );
            metrics.flush();
            return Err(diagnostic);
        }
    };
    match payload {
        Ok(payload) => H::handle(deps, payload, &inv)
            .await
            .map_err(Diagnostic::from),
        Err(reason) => {
            let bad = LambdaError::BadEvent {
                expected: H::EXPECTED,
                reason,
            };
            let answered: Result<NoAnswer, LambdaError> = inv.frame(async { Err(bad) }).await;
            match answered {
                Err(e) => Err(Diagnostic::from(e)),
            }
        }
    }
}

/// An invocation's payload: the handler's type, or why the JSON does not fit it. Reading it
/// never fails the runtime's deserialisation, so a bad payload reaches the handler's frame
/// (summary line, metrics, `auditfwd.Fatal.BadEvent`).
#[derive(Debug)]
pub struct Incoming<T>(pub Result<T, String>);

impl<'de, T: DeserializeOwned> Deserialize<'de> for Incoming<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let json = serde_json::Value::deserialize(deserializer)?;
        Ok(Incoming(T::deserialize(json).map_err(|e| e.to_string())))
    }
}

/// The answer of an invocation that cannot have one (its payload was refused).
enum NoAnswer {}

impl Summary for NoAnswer {
    fn log_summary(&self, _: &Invocation, _: std::time::Duration) {
        match *self {}
    }
}

/// Makes the dependencies again (a cold start after a retryable failure).
pub trait AsyncStart<D>: Send + Sync {
    /// One attempt.
    fn start(&self) -> impl Future<Output = Result<D, StartError>> + Send;
}

impl<D, F, Fut> AsyncStart<D> for F
where
    F: Fn() -> Fut + Send + Sync,
    Fut: Future<Output = Result<D, StartError>> + Send,
{
    fn start(&self) -> impl Future<Output = Result<D, StartError>> + Send {
        self()
    }
}

/// The outcome of the cold start, as every invocation sees it: the dependencies, a fatal error
/// answered every time, or a retryable one tried again by the next invocation.
#[derive(Debug)]
pub struct Start<D, S> {
    deps: tokio::sync::OnceCell<D>,
    fatal: Mutex<Option<Diagnostic>>,
    last: Mutex<Option<Diagnostic>>,
    again: S,
    _deps: PhantomData<fn() -> D>,
}

impl<D, S: AsyncStart<D>> Start<D, S> {
    /// The first attempt's outcome, and how to try again.
    pub fn new(first: Result<D, StartError>, again: S) -> Self {
        let start = Start {
            deps: tokio::sync::OnceCell::new(),
            fatal: Mutex::new(None),
            last: Mutex::new(None),
            again,
            _deps: PhantomData,
        };
        match first {
            Ok(d) => {
                // A fresh cell takes its first value.
                let _ = start.deps.set(d);
            }
            Err(e) => start.failed_with(&e),
        }
        start
    }

    /// Why the last attempt failed, if the dependencies are not there.
    pub fn failed(&self) -> Option<Diagnostic> {
        if self.deps.initialized() {
            return None;
        }
        lock(&self.fatal)
            .clone()
            .or_else(|| lock(&self.last).clone())
    }

    /// The dependencies, started again if a retryable failure left none; or the error every
    /// invocation answers with.
    pub async fn deps(&self) -> Result<&D, Diagnostic> {
        if let Some(d) = self.deps.get() {
            return Ok(d);
        }
        if let Some(fatal) = lock(&self.fatal).clone() {
            return Err(fatal);
        }
        self.deps
            .get_or_try_init(|| async {
                self.again.start().await.map_err(|e| {
                    self.failed_with(&e);
                    Diagnostic::from(&e)
                })
            })
            .await
    }

    fn failed_with(&self, e: &StartError) {
        let diagnostic = Diagnostic::from(e);
        if e.is_retryable() {
            *lock(&self.last) = Some(diagnostic);
        } else {
            *lock(&self.fatal) = Some(diagnostic);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn bad_variable() -> StartError {
        StartError::Config(auditfwd_runtime::LoadError::Config(
            auditfwd_config::ConfigError {
                problems: vec![auditfwd_config::Problem {
                    variable: "AUDITFWD_OCI_KEY_FILE".into(),
                    message: "required: the API private key".into(),
                }],
            },
        ))
    }

    #[tokio::test]
    async fn a_fatal_start_error_answers_every_invocation_without_starting_again() {
        let attempts = AtomicUsize::new(0);
        let start: Start<u32, _> = Start::new(Err(bad_variable()), || {
            attempts.fetch_add(1, Ordering::SeqCst);
            async { Ok(7) }
        });
        for _ in 0..3 {
            let d = start.deps().await.unwrap_err();
            assert_eq!(d.error_type, "auditfwd.Fatal.Config");
            assert!(
                d.error_message.contains("AUDITFWD_OCI_KEY_FILE"),
                "names the variable: {}",
                d.error_message
            );
        }
        assert_eq!(attempts.load(Ordering::SeqCst), 0);
        assert_eq!(
            start.failed().map(|d| d.error_type).as_deref(),
            Some("auditfwd.Fatal.Config")
        );
    }

    #[tokio::test]
    async fn a_started_function_never_starts_again() {
        let start: Start<u32, _> = Start::new(Ok(1), || async { Err(bad_variable()) });
        assert_eq!(start.deps().await.ok(), Some(&1));
        assert!(start.failed().is_none());
    }

    fn kms_throttled() -> StartError {
        StartError::Config(auditfwd_runtime::LoadError::Secrets(
            auditfwd_secrets::SecretsError::Decrypt {
                variable: "AUDITFWD_OCI_KEY_KMS".into(),
                context: "auditfwd:variable=AUDITFWD_OCI_KEY".into(),
                source: auditfwd_secrets::DecryptError::Unavailable {
                    code: "ThrottlingException".into(),
                    message: String::new(),
                },
            },
        ))
    }

    #[tokio::test]
    async fn after_a_retryable_failure_each_invocation_starts_again_until_it_works() {
        let attempts = AtomicUsize::new(0);
        let start: Start<u32, _> = Start::new(Err(kms_throttled()), || {
            let n = attempts.fetch_add(1, Ordering::SeqCst);
            async move { if n == 0 { Err(kms_throttled()) } else { Ok(9) } }
        });
        assert_eq!(
            start.failed().map(|d| d.error_type).as_deref(),
            Some("auditfwd.Retryable.Secrets")
        );
        let d = start.deps().await.unwrap_err();
        assert_eq!(d.error_type, "auditfwd.Retryable.Secrets");
        assert!(
            d.error_message.contains("AUDITFWD_OCI_KEY_KMS"),
            "{}",
            d.error_message
        );
        assert_eq!(start.deps().await.ok(), Some(&9));
        assert_eq!(start.deps().await.ok(), Some(&9));
        assert_eq!(
            attempts.load(Ordering::SeqCst),
            2,
            "started again until it worked, then never"
        );
        assert!(start.failed().is_none());
    }

    #[test]
    fn a_payload_that_does_not_fit_is_kept_as_its_reason() {
        let ok: Incoming<crate::replay::ReplayPayload> = serde_json::from_value(
            serde_json::json!({"from": "2026-11-22T10:00:00Z", "to": "2026-11-22T11:00:00Z"}),
        )
        .unwrap();
        assert!(ok.0.is_ok());
        let bad: Incoming<crate::replay::ReplayPayload> =
            serde_json::from_value(serde_json::json!({"from": "yesterday"})).unwrap();
        let reason = bad.0.unwrap_err();
        assert!(
            reason.contains("yesterday"),
            "names what was refused: {reason}"
        );
    }

    #[test]
    fn diagnostics_are_built_from_the_error_type() {
        let d = Diagnostic::from(LambdaError::NoQueue { what: "fan-out" });
        assert_eq!(d.error_type, "auditfwd.Fatal.NoQueue");
        assert!(d.error_message.contains("AUDITFWD_WORK_QUEUE_URL"));
        let d = Diagnostic::from(LambdaError::HardStop { seconds: 2.0 });
        assert_eq!(d.error_type, "auditfwd.Retryable.HardStop");
    }
}
