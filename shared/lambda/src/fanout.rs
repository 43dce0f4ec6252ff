//! Whether the poller works the compartments itself or hands them to the worker over SQS.
//!
//! | `AUDITFWD_FAN_OUT` | work items ≤ threshold | work items > threshold |
//! |---|---|---|
//! | `off` | direct | direct |
//! | `on` | SQS | SQS |
//! | `auto` (default) | direct | SQS |
//!
//! Work items are (region, compartment) pairs after the include/exclude rules, and the
//! threshold is `AUDITFWD_FAN_OUT_THRESHOLD` (50). Fan-out needs `AUDITFWD_WORK_QUEUE_URL`
//! (the template sets it): with `on` its absence is an error; with `auto` the poller works
//! directly and says why, since forwarding slowly beats not forwarding.

use auditfwd_config::{FanOut, FanOutMode};
use serde::Serialize;

use crate::error::LambdaError;

/// Where the poller's work goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Route {
    /// The poller processes every compartment itself.
    Direct,
    /// One SQS message per (region, compartment) for the worker.
    FanOut,
}

/// A routing decision and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Where the work goes.
    pub route: Route,
    /// Why, in words (logged and returned).
    pub why: String,
}

/// Decides the route for `items` work items under `fan_out`; `has_queue` says whether a work
/// queue is configured.
pub fn decide(fan_out: &FanOut, items: usize, has_queue: bool) -> Result<Decision, LambdaError> {
    let threshold = fan_out.threshold;
    let decision = |route, why: String| Ok(Decision { route, why });
    match fan_out.mode {
        FanOutMode::Off => decision(Route::Direct, "fan-out is off".into()),
        FanOutMode::On if has_queue => decision(Route::FanOut, "fan-out is on".into()),
        FanOutMode::On => Err(LambdaError::NoQueue {
            what: "AUDITFWD_FAN_OUT=on",
        }),
        FanOutMode::Auto if items <= threshold => decision(
            Route::Direct,
            format!(
                "{items} (region, compartment) pairs, at most the fan-out threshold {threshold}"
            ),
        ),
        FanOutMode::Auto if has_queue => decision(
            Route::FanOut,
            format!("{items} (region, compartment) pairs, above the fan-out threshold {threshold}"),
        ),
        FanOutMode::Auto => decision(
            Route::Direct,
            format!(
                "{items} (region, compartment) pairs are above the fan-out threshold {threshold}, but AUDITFWD_WORK_QUEUE_URL is not set: working directly"
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fan_out(mode: FanOutMode) -> FanOut {
        FanOut {
            mode,
            threshold: 50,
            queue_url: None,
        }
    }

    fn route(mode: FanOutMode, items: usize, has_queue: bool) -> Route {
        decide(&fan_out(mode), items, has_queue).unwrap().route
    }

    #[test]
    fn the_table_in_the_module_doc() {
        for items in [0, 1, 50, 51, 5000] {
            assert_eq!(route(FanOutMode::Off, items, true), Route::Direct);
            assert_eq!(route(FanOutMode::On, items, true), Route::FanOut);
        }
        assert_eq!(route(FanOutMode::Auto, 50, true), Route::Direct);
        assert_eq!(route(FanOutMode::Auto, 51, true), Route::FanOut);
    }

    #[test]
    fn without_a_queue_on_is_an_error_and_auto_works_directly() {
        assert!(matches!(
            decide(&fan_out(FanOutMode::On), 3, false),
            Err(LambdaError::NoQueue { .. })
        ));
        let d = decide(&fan_out(FanOutMode::Auto), 51, false).unwrap();
        assert_eq!(d.route, Route::Direct);
        assert!(d.why.contains("AUDITFWD_WORK_QUEUE_URL"), "{}", d.why);
    }
}
