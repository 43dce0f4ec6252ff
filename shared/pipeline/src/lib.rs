//! auditfwd's forwarding pipeline (being built for issue 5): it lists audit events per
//! compartment in minute-aligned windows, dedupes, filters and rate-limits them, hands them to
//! the syslog sink, and moves the checkpoint only after the sink confirmed delivery.
//!
//! What exists so far:
//! - [`clock`]: the injectable [`Clock`] every time-dependent decision reads.
//! - [`plan`]: which windows are due for a compartment: fresh windows from the cursor, and the
//!   second (settle) pass after OCI's ingestion delay; property-tested to list every minute
//!   fresh exactly once and late enough at least once.
//! - [`scrub`]: credential headers (`Authorization`, `opc-principal`, tokens, cookies) redacted
//!   before an event leaves the process; [`glob`]: the wildcards filters use.

pub mod clock;
pub mod glob;
pub mod plan;
pub mod scrub;

#[cfg(feature = "test-util")]
pub use clock::ManualClock;
pub use clock::{Clock, SystemClock};
