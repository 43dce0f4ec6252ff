//! auditfwd's forwarding pipeline: it lists audit events per compartment in minute-aligned
//! windows, dedupes, filters and rate-limits them, hands them to the syslog sink, and moves the
//! checkpoint only after the sink confirmed delivery.
//!
//! - [`clock`]: the injectable [`Clock`] every time-dependent decision reads.
//! - [`plan`]: which windows are due for a compartment: fresh windows from the cursor, and the
//!   second (settle) pass after OCI's ingestion delay; property-tested to list every minute
//!   fresh exactly once and late enough at least once.
//! - [`runner`]: one cycle over every (region, compartment) under leases, with the gap ledger
//!   and delivery-gated commits; [`Runner::discover`] and [`Runner::process`] split it for
//!   Lambda fan-out.
//! - [`replay`]: a time range forwarded again, flagged, with reconciliation against the live
//!   manifests; [`status`]: what `auditfwd status` reads; [`check`]: what `auditfwd check` proves.
//! - [`source`] and [`sink`]: the OCI and syslog edges, as traits.
//! - [`scrub`]: credential headers (`Authorization`, `opc-principal`, tokens, cookies) redacted
//!   before an event leaves the process; [`filter`]: event filters by type and principal, with
//!   reasons counted; [`compartments`]: which compartments are polled; [`glob`]: wildcards;
//!   [`limits`]: rate limits that wait, and per-type caps.
//! - `testing` (feature `test-util`): in-memory fakes of the source and the sink.
//! - [`dedupe`]: ids delivered recently (in-process cache) or recorded in the checkpoint are
//!   not sent again; ids are recorded only after the sink confirmed them.

pub mod check;
pub mod clock;
pub mod compartments;
pub mod dedupe;
pub mod filter;
pub mod gaps;
pub mod glob;
pub mod limits;
pub mod plan;
pub mod replay;
pub mod runner;
pub mod scrub;
pub mod sink;
pub mod source;
pub mod status;
#[cfg(feature = "test-util")]
pub mod testing;

pub use auditfwd_checkpoint::Counts;
#[cfg(feature = "test-util")]
pub use clock::ManualClock;
pub use clock::{Clock, SystemClock};
pub use runner::{
    CompartmentReport, Discovery, MetricLabels, Mode, Outcome, Pending, RateLimits, RunContext,
    RunReport, Runner, RunnerConfig, ShardItem, StopReason, SweepError, SweepReport, SweepState,
    Swept, Warning, WorkItem, group,
};
pub use sink::{Outbound, Sink, SinkFailure};
pub use source::{
    AuditSource, CloudGuardPages, CloudGuardSource, EventPages, LivePages, LiveSource, LogSearch,
    LogSearchPages, LogSearchSetupError, LogSearchSource, OciPages, OciSource, Page, RecordPages,
};
