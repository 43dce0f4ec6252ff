//! Everything that shapes an emulator run, with defaults suited to tests.

use std::net::{Ipv4Addr, SocketAddr};

use chrono::Duration;

use crate::events::EventSpec;
use crate::latency::Latency;
use crate::store::TimeSelection;
use crate::tenancy::TenancySpec;

/// Emulator settings. Build with [`crate::Emulator::builder`].
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Seed for the tenancy, the events, ids and the fault draws.
    pub seed: u64,
    /// Shape of the compartment tree.
    pub tenancy: TenancySpec,
    /// Event rate, delay, payload mix.
    pub events: EventSpec,
    /// History generated at start-up, ending at the clock's "now" (backlog mode).
    pub backlog: Duration,
    /// The newest part of the backlog left without events (whole minutes): a catch-up
    /// benchmark's history then ends before a collector's first run reaches "now".
    pub backlog_end_ago: Duration,
    /// Exactly this many events per compartment, at random times over the backlog, instead of
    /// the per-minute rate (a catch-up benchmark's "20 events each over the last 24 h").
    pub backlog_events_per_compartment: Option<usize>,
    /// Keep generating events as the clock advances (live mode).
    pub live: bool,
    /// Events per `ListEvents` page.
    pub page_size: usize,
    /// Which time `ListEvents`' window selects on (switchable at run time).
    pub time_selection: TimeSelection,
    /// Added to every OCI request before it is answered (switchable at run time).
    pub latency: Latency,
    /// Default `limit` of `ListCompartments`.
    pub compartment_page_size: usize,
    /// PutObject into an unknown bucket creates it (otherwise `404 BucketNotFound`).
    pub auto_create_buckets: bool,
    /// How many requests the request log keeps (oldest dropped first).
    pub request_log_capacity: usize,
    /// Cloud Guard problems generated at start-up, spread over the compartments and the
    /// backlog.
    pub problems: usize,
    /// VCN flow log records generated at start-up in one seeded log (Logging Search), spread
    /// over the backlog; 0 creates no log group or log.
    pub log_records: usize,
    /// Listen address; must be loopback. Port 0 picks a free port.
    pub bind: SocketAddr,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            tenancy: TenancySpec::default(),
            events: EventSpec::default(),
            backlog: Duration::hours(2),
            backlog_end_ago: Duration::zero(),
            backlog_events_per_compartment: None,
            live: true,
            page_size: 100,
            time_selection: TimeSelection::Event,
            latency: Latency::default(),
            compartment_page_size: 100,
            auto_create_buckets: true,
            request_log_capacity: 100_000,
            problems: 0,
            log_records: 0,
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        }
    }
}
