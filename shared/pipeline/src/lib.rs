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
//!   before an event leaves the process; [`filter`]: event filters by type and principal, with
//!   reasons counted; [`compartments`]: which compartments are polled; [`glob`]: wildcards.
//! - [`dedupe`]: ids delivered recently (in-process cache) or recorded in the checkpoint are
//!   not sent again; ids are recorded only after the sink confirmed them.

pub mod clock;
pub mod compartments;
pub mod dedupe;
pub mod filter;
pub mod glob;
pub mod limits;
pub mod plan;
pub mod runner;
pub mod scrub;
pub mod sink;
pub mod source;

#[cfg(feature = "test-util")]
pub use clock::ManualClock;
pub use clock::{Clock, SystemClock};
pub use runner::{CompartmentReport, Counts, Outcome, RateLimits, RunReport, Runner, RunnerConfig};
pub use sink::Sink;
pub use source::{AuditSource, OciSource, Page};
