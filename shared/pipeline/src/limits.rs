//! Rate limits that *delay* (back-pressure), built on `governor`'s GCRA, on tokio's clock.
//!
//! - [`Throttle`]: a token bucket shared by every task that holds a clone: events per second to
//!   the sink, OCI requests per second. `acquire(n)` waits until `n` tokens are free; it never
//!   refuses and never drops.
//! - [`TypeCaps`]: optional per-event-type caps (`AUDITFWD_EVENT_TYPE_CAPS`), each either
//!   delaying like a throttle or dropping the excess: dropped events are counted by the
//!   pipeline (metrics, manifest, logs), never silent.
//!
//! The limiters read `tokio::time::Instant`, so a test on a paused tokio runtime
//! (`start_paused = true`) sees exactly how long a limit made the pipeline wait, in virtual
//! time, without sleeping for real.

use std::fmt;
use std::num::NonZeroU32;
use std::ops::Add;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock as GovernorClock, Reference};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use crate::glob::Glob;

/// `tokio::time::Instant` as a governor reference point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TokioInstant(tokio::time::Instant);

impl Add<Nanos> for TokioInstant {
    type Output = TokioInstant;
    fn add(self, rhs: Nanos) -> TokioInstant {
        TokioInstant(self.0 + Duration::from(rhs))
    }
}

impl Reference for TokioInstant {
    fn duration_since(&self, earlier: Self) -> Nanos {
        Nanos::from(self.0.saturating_duration_since(earlier.0))
    }

    fn saturating_sub(&self, duration: Nanos) -> Self {
        TokioInstant(
            self.0
                .checked_sub(Duration::from(duration))
                .unwrap_or(self.0),
        )
    }
}

/// tokio's clock for governor.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl GovernorClock for TokioClock {
    type Instant = TokioInstant;
    fn now(&self) -> TokioInstant {
        TokioInstant(tokio::time::Instant::now())
    }
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<TokioInstant>>;

/// A shared token bucket: `per_second` tokens a second, bursts of up to one second's worth.
/// Clones share the bucket.
#[derive(Clone)]
pub struct Throttle {
    limiter: Arc<Limiter>,
    per_second: NonZeroU32,
    name: &'static str,
}

impl fmt::Debug for Throttle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Throttle")
            .field("name", &self.name)
            .field("per_second", &self.per_second)
            .finish()
    }
}

impl Throttle {
    /// A bucket named `name` (the `limit` label of the wait metric).
    pub fn per_second(name: &'static str, per_second: NonZeroU32) -> Self {
        Throttle {
            limiter: Arc::new(RateLimiter::direct_with_clock(
                Quota::per_second(per_second),
                TokioClock,
            )),
            per_second,
            name,
        }
    }

    /// Waits until `n` tokens are available and takes them; returns how long it waited.
    /// Larger requests than one burst are taken a burst at a time.
    pub async fn acquire(&self, n: usize) -> Duration {
        let start = tokio::time::Instant::now();
        let mut left = n;
        while left > 0 {
            let chunk = left.min(self.per_second.get() as usize);
            // `chunk` is between 1 and the burst size, so it fits and is non-zero.
            let Some(want) = u32::try_from(chunk).ok().and_then(NonZeroU32::new) else {
                break;
            };
            loop {
                match self.limiter.check_n(want) {
                    Ok(Ok(())) => break,
                    Ok(Err(not_until)) => {
                        let wait = not_until.wait_time_from(TokioClock.now());
                        tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
                    }
                    // Cannot happen (chunk <= burst); never spin on it.
                    Err(_) => break,
                }
            }
            left -= chunk;
        }
        let waited = start.elapsed();
        if !waited.is_zero() {
            metrics::histogram!(auditfwd_telemetry::names::RATE_LIMIT_WAIT, "limit" => self.name)
                .record(waited.as_secs_f64());
        }
        waited
    }

    /// Takes one token if one is free now; `false` when the bucket is empty.
    pub fn try_take(&self) -> bool {
        self.limiter.check().is_ok()
    }
}

/// What a per-event-type cap does with events beyond its rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapPolicy {
    /// Wait (back-pressure): nothing is lost, delivery slows down.
    Delay,
    /// Drop the excess and count it (metrics, manifest, a log line per window).
    Drop,
}

/// One per-event-type cap: events whose type matches `pattern`, at most `per_second`.
#[derive(Debug, Clone)]
pub struct TypeCap {
    /// Event types it applies to (wildcards).
    pub pattern: Glob,
    /// Its rate.
    pub per_second: NonZeroU32,
    /// Delay or drop.
    pub policy: CapPolicy,
}

impl TypeCap {
    /// Parses `pattern=rate[:delay|:drop]`, e.g. `com.oraclecloud.ObjectStorage.GetObject=50:drop`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (pattern, rest) = s
            .split_once('=')
            .ok_or_else(|| format!("{s:?}: expected pattern=rate[:delay|:drop]"))?;
        let (rate, policy) = match rest.split_once(':') {
            Some((r, "delay")) => (r, CapPolicy::Delay),
            Some((r, "drop")) => (r, CapPolicy::Drop),
            Some((_, other)) => {
                return Err(format!(
                    "{s:?}: policy {other:?} is neither \"delay\" nor \"drop\""
                ));
            }
            None => (rest, CapPolicy::Delay),
        };
        let per_second = rate.trim().parse::<NonZeroU32>().map_err(|_| {
            format!("{s:?}: rate {rate:?} is not a whole number of events per second above 0")
        })?;
        let pattern = pattern.trim();
        if pattern.is_empty() {
            return Err(format!("{s:?}: empty event-type pattern"));
        }
        Ok(TypeCap {
            pattern: Glob::new(pattern),
            per_second,
            policy,
        })
    }
}

/// What a cap decided for one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapDecision {
    /// Send it (possibly after waiting).
    Pass,
    /// Drop it; the label says which cap.
    Dropped,
}

/// The configured caps, each with its own bucket shared by all tasks. The first cap whose
/// pattern matches an event type applies.
#[derive(Debug, Clone, Default)]
pub struct TypeCaps {
    caps: Vec<(TypeCap, Throttle)>,
}

impl TypeCaps {
    /// Buckets for `caps`.
    pub fn new(caps: &[TypeCap]) -> Self {
        TypeCaps {
            caps: caps
                .iter()
                .map(|c| {
                    (
                        c.clone(),
                        Throttle::per_second("event_type_cap", c.per_second),
                    )
                })
                .collect(),
        }
    }

    /// Applies the cap for `event_type`, waiting under the delay policy.
    pub async fn admit(&self, event_type: &str) -> CapDecision {
        let Some((cap, bucket)) = self
            .caps
            .iter()
            .find(|(c, _)| c.pattern.matches(event_type))
        else {
            return CapDecision::Pass;
        };
        match cap.policy {
            CapPolicy::Delay => {
                bucket.acquire(1).await;
                CapDecision::Pass
            }
            CapPolicy::Drop if bucket.try_take() => CapDecision::Pass,
            CapPolicy::Drop => CapDecision::Dropped,
        }
    }

    /// Whether any cap is configured.
    pub fn is_empty(&self) -> bool {
        self.caps.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttle_delays_to_its_rate_and_never_refuses() {
        let t = Throttle::per_second("test", nz(100));
        let start = tokio::time::Instant::now();
        // The first second's burst is free; 1000 more tokens take 10 s at 100/s.
        t.acquire(100).await;
        assert_eq!(start.elapsed(), Duration::ZERO);
        for _ in 0..10 {
            t.acquire(100).await;
        }
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(9_900) && took <= Duration::from_millis(10_100),
            "{took:?}"
        );
        // A request far above the burst is split, not refused.
        let before = tokio::time::Instant::now();
        t.acquire(250).await;
        assert!(
            before.elapsed() >= Duration::from_millis(2_400),
            "{:?}",
            before.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn clones_share_one_bucket() {
        let a = Throttle::per_second("test", nz(10));
        let b = a.clone();
        let start = tokio::time::Instant::now();
        let (x, y) = tokio::join!(a.acquire(10), b.acquire(10));
        // 20 tokens at 10/s with a burst of 10: one of the two waited about a second.
        assert!(x.max(y) >= Duration::from_millis(900), "{x:?} {y:?}");
        assert!(start.elapsed() >= Duration::from_millis(900));
    }

    #[test]
    fn caps_parse_with_clear_errors() {
        let c = TypeCap::parse("com.oraclecloud.ObjectStorage.GetObject=50:drop").unwrap();
        assert_eq!((c.per_second.get(), c.policy), (50, CapPolicy::Drop));
        assert_eq!(
            TypeCap::parse("*.List*=5").unwrap().policy,
            CapPolicy::Delay
        );
        assert!(TypeCap::parse("x=0").unwrap_err().contains("above 0"));
        assert!(TypeCap::parse("x=5:skip").unwrap_err().contains("skip"));
        assert!(TypeCap::parse("x").unwrap_err().contains("pattern=rate"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_drop_cap_drops_only_the_excess_and_a_delay_cap_waits() {
        let caps = TypeCaps::new(&[
            TypeCap::parse("*.GetObject=5:drop").unwrap(),
            TypeCap::parse("*.ListBuckets=5:delay").unwrap(),
        ]);
        let mut dropped = 0;
        for _ in 0..12 {
            if caps.admit("com.oraclecloud.ObjectStorage.GetObject").await == CapDecision::Dropped {
                dropped += 1;
            }
        }
        assert_eq!(
            dropped, 7,
            "a burst of 5 passes, the rest of the same instant drops"
        );
        let start = tokio::time::Instant::now();
        for _ in 0..10 {
            assert_eq!(
                caps.admit("com.oraclecloud.ObjectStorage.ListBuckets")
                    .await,
                CapDecision::Pass
            );
        }
        assert!(start.elapsed() >= Duration::from_millis(900));
        // Types no cap matches pass untouched.
        assert_eq!(
            caps.admit("com.oraclecloud.ComputeApi.GetInstance").await,
            CapDecision::Pass
        );
    }
}
