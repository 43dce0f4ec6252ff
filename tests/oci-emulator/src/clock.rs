//! The emulator's notion of "now". Tests inject a [`ManualClock`] to decide what is visible and
//! which request dates are stale; the demo and the binary use the [`SystemClock`].

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to. Clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Arc::new(Mutex::new(start)),
        }
    }

    /// Jumps to `t` (backwards is allowed).
    pub fn set(&self, t: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner) = t;
    }

    /// Moves forward by `d`.
    pub fn advance(&self, d: Duration) {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        *now += d;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The clock the server reads: an injected source plus a shift that the control API can change
/// at run time (to make every client's `date` header look skewed, for instance).
#[derive(Debug)]
pub(crate) struct EmulatorClock {
    source: Arc<dyn Clock>,
    shift_ms: AtomicI64,
}

impl EmulatorClock {
    pub(crate) fn new(source: Arc<dyn Clock>) -> Self {
        Self {
            source,
            shift_ms: AtomicI64::new(0),
        }
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.source.now() + Duration::milliseconds(self.shift_ms.load(Ordering::Relaxed))
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.now().timestamp_millis()
    }

    pub(crate) fn shift(&self) -> Duration {
        Duration::milliseconds(self.shift_ms.load(Ordering::Relaxed))
    }

    pub(crate) fn set_shift(&self, shift: Duration) {
        self.shift_ms
            .store(shift.num_milliseconds(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn manual_clock_is_shared_between_clones_and_shift_applies() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 0).unwrap();
        let manual = ManualClock::new(t0);
        let clock = EmulatorClock::new(Arc::new(manual.clone()));
        manual.advance(Duration::minutes(1));
        assert_eq!(clock.now(), t0 + Duration::minutes(1));
        clock.set_shift(Duration::minutes(-6));
        assert_eq!(clock.now(), t0 - Duration::minutes(5));
    }
}
