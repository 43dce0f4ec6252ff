//! Fault injection. Rules are switched at run time (control API or handle); whether a rule
//! fires is decided by hashing the seed, the rule, the request (method and target) and how many
//! times that same request was seen before. So the same sequence of requests meets the same
//! faults in every run, concurrent clients do not perturb each other's draws, and a retried
//! request gets a fresh draw.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::seed;

/// Which OCI service a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Api {
    /// Audit (`/20190901/...`).
    Audit,
    /// Identity (`/20160918/...`).
    Identity,
    /// Object Storage (`/n/...`).
    ObjectStorage,
    /// Cloud Guard (`/20200131/...`).
    CloudGuard,
    /// Logging Search (`/20190909/search`).
    LoggingSearch,
}

/// What goes wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum FaultKind {
    /// `429 TooManyRequests` with `Retry-After`.
    #[serde(rename_all = "camelCase")]
    RateLimited {
        /// Value of `Retry-After`, seconds.
        retry_after_secs: u64,
    },
    /// A 5xx: 500 `InternalServerError`, 503 `ServiceUnavailable`, or any other status.
    ServerError {
        /// HTTP status.
        status: u16,
    },
    /// The normal response, after a delay.
    #[serde(rename_all = "camelCase")]
    Slow {
        /// Delay before answering, milliseconds.
        delay_ms: u64,
    },
    /// A complete HTTP 200 whose JSON body is cut in half (as a broken proxy might deliver).
    TruncatedJson,
    /// A complete HTTP 200 whose body is not JSON at all.
    MalformedJson,
    /// `Content-Length` promises the whole body, the connection closes half way through it.
    IncompleteBody,
    /// The TCP connection is reset (RST) instead of answering.
    ConnectionReset,
}

impl FaultKind {
    /// A short label for logs.
    pub fn label(&self) -> String {
        match self {
            Self::RateLimited { .. } => "rate_limited".into(),
            Self::ServerError { status } => format!("server_error_{status}"),
            Self::Slow { .. } => "slow".into(),
            Self::TruncatedJson => "truncated_json".into(),
            Self::MalformedJson => "malformed_json".into(),
            Self::IncompleteBody => "incomplete_body".into(),
            Self::ConnectionReset => "connection_reset".into(),
        }
    }
}

fn one() -> f64 {
    1.0
}

/// A fault and the requests it applies to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultRule {
    /// What happens.
    pub fault: FaultKind,
    /// Chance that a matching request gets it (default 1).
    #[serde(default = "one")]
    pub probability: f64,
    /// Fire at most this many times, then the rule is spent.
    #[serde(default)]
    pub times: Option<u32>,
    /// Only requests to this service.
    #[serde(default)]
    pub api: Option<Api>,
    /// Only requests naming this compartment (query `compartmentId`).
    #[serde(default)]
    pub compartment_id: Option<String>,
    /// Only this HTTP method.
    #[serde(default)]
    pub method: Option<String>,
}

impl FaultRule {
    /// A rule that always fires, for every service.
    pub fn always(fault: FaultKind) -> Self {
        Self {
            fault,
            probability: 1.0,
            times: None,
            api: None,
            compartment_id: None,
            method: None,
        }
    }

    /// Fires with probability `p`.
    pub fn with_probability(mut self, p: f64) -> Self {
        self.probability = p;
        self
    }

    /// Fires at most `n` times.
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    /// Only for `api`.
    pub fn for_api(mut self, api: Api) -> Self {
        self.api = Some(api);
        self
    }

    /// Only for requests naming `compartment_id`.
    pub fn for_compartment(mut self, compartment_id: impl Into<String>) -> Self {
        self.compartment_id = Some(compartment_id.into());
        self
    }
}

/// The request a fault decision is about.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FaultTarget<'a> {
    pub(crate) api: Api,
    pub(crate) method: &'a str,
    pub(crate) target: &'a str,
    pub(crate) compartment_id: Option<&'a str>,
}

#[derive(Debug, Default)]
pub(crate) struct FaultPlan {
    rules: Vec<FaultRule>,
    fired: Vec<u32>,
    seen: HashMap<String, u64>,
    /// Bumped on every rule change so a new plan draws afresh.
    generation: u64,
}

impl FaultPlan {
    pub(crate) fn set(&mut self, rules: Vec<FaultRule>) {
        self.fired = vec![0; rules.len()];
        self.rules = rules;
        self.seen.clear();
        self.generation += 1;
    }

    pub(crate) fn rules(&self) -> Vec<FaultRule> {
        self.rules.clone()
    }

    pub(crate) fn decide(&mut self, seed_value: u64, req: FaultTarget<'_>) -> Option<FaultKind> {
        if self.rules.is_empty() {
            return None;
        }
        let key = format!("{} {}", req.method, req.target);
        let n = self.seen.entry(key.clone()).or_insert(0);
        let occurrence = *n;
        *n += 1;
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.api.is_some_and(|a| a != req.api)
                || rule
                    .method
                    .as_deref()
                    .is_some_and(|m| !m.eq_ignore_ascii_case(req.method))
                || rule
                    .compartment_id
                    .as_deref()
                    .is_some_and(|c| Some(c) != req.compartment_id)
                || rule.times.is_some_and(|t| self.fired[i] >= t)
            {
                continue;
            }
            let h = seed::mix(
                seed_value,
                &[
                    b"fault",
                    &self.generation.to_le_bytes(),
                    &(i as u64).to_le_bytes(),
                    key.as_bytes(),
                    &occurrence.to_le_bytes(),
                ],
            );
            if seed::unit(h) < rule.probability {
                self.fired[i] += 1;
                return Some(rule.fault.clone());
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t<'a>(target: &'a str) -> FaultTarget<'a> {
        FaultTarget {
            api: Api::Audit,
            method: "GET",
            target,
            compartment_id: Some("c1"),
        }
    }

    #[test]
    fn decisions_repeat_for_the_same_seed_and_requests() {
        let rules =
            vec![FaultRule::always(FaultKind::ServerError { status: 503 }).with_probability(0.5)];
        let run = |seed_value| {
            let mut p = FaultPlan::default();
            p.set(rules.clone());
            (0..64)
                .map(|i| {
                    p.decide(seed_value, t(if i % 2 == 0 { "/a" } else { "/b" }))
                        .is_some()
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(9), run(9));
        assert_ne!(run(9), run(10));
        let hits = run(9).iter().filter(|x| **x).count();
        assert!(hits > 16 && hits < 48, "{hits}");
    }

    #[test]
    fn times_and_scopes_limit_rules() {
        let mut p = FaultPlan::default();
        p.set(vec![
            FaultRule::always(FaultKind::RateLimited {
                retry_after_secs: 1,
            })
            .times(2)
            .for_compartment("c1"),
            FaultRule::always(FaultKind::ConnectionReset).for_api(Api::ObjectStorage),
        ]);
        assert!(p.decide(1, t("/x")).is_some());
        assert!(p.decide(1, t("/x")).is_some());
        assert!(p.decide(1, t("/x")).is_none());
        let json = serde_json::to_value(p.rules()).unwrap();
        assert_eq!(json[0]["fault"]["kind"], "rateLimited");
        assert_eq!(json[0]["fault"]["retryAfterSecs"], 1);
    }
}
