//! Step 5, send: one page's admitted events as one batch, after the shared events-per-second
//! budget, to the sink; a confirmed batch is recorded in the pass's [`Delivered`] (digest, time
//! span, the in-process dedupe layer), an unconfirmed one fails the window.

use auditfwd_checkpoint::ids::IdHash;
use auditfwd_checkpoint::manifest::{Confirmation, Pass};
use auditfwd_telemetry::names;
use chrono::{DateTime, Utc};

use super::window::Delivered;
use crate::dedupe::RecentIds;
use crate::limits::Throttle;
use crate::sink::{Outbound, Sink, SinkFailure, weakest};

/// One page's events on their way out, with what the commit needs of each once confirmed.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub(crate) events: Vec<Outbound>,
    /// (event time, id hash) of each event, in the same order.
    pub(crate) keys: Vec<(DateTime<Utc>, IdHash)>,
}

impl Batch {
    pub(crate) fn push(&mut self, hash: IdHash, event: Outbound) {
        self.keys.push((event.event_time, hash));
        self.events.push(event);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

/// Sends `batch`, waiting for `throttle` first; times the send.
pub(crate) async fn send<K: Sink>(
    sink: &mut K,
    batch: Vec<Outbound>,
    throttle: Option<&Throttle>,
) -> Result<Confirmation, SinkFailure> {
    if let Some(t) = throttle {
        t.acquire(batch.len()).await;
    }
    let started = tokio::time::Instant::now();
    let sent = sink.send(batch).await;
    metrics::histogram!(names::SINK_SEND_SECONDS).record(started.elapsed().as_secs_f64());
    sent
}

impl Delivered {
    /// Records a batch the sink confirmed. Live passes remember the ids in this process (only
    /// now: a failed send must be retried, never deduplicated); a replay keeps them for
    /// reconciliation instead.
    pub(crate) fn confirmed(
        &mut self,
        keys: &[(DateTime<Utc>, IdHash)],
        how: Confirmation,
        pass: Pass,
        recent: &RecentIds,
    ) {
        self.confirmation = Some(self.confirmation.map_or(how, |prev| weakest(prev, how)));
        if pass == Pass::Replay {
            self.forwarded.extend_from_slice(keys);
        } else {
            recent.confirmed(keys.iter().map(|(_, h)| h));
        }
        for (time, hash) in keys {
            self.digest.add_hash(hash);
            self.first = Some(self.first.map_or(*time, |f| f.min(*time)));
            self.last = Some(self.last.map_or(*time, |l| l.max(*time)));
        }
        self.counts.forwarded += keys.len() as u64;
    }

    /// Records a batch a dry run would have sent.
    pub(crate) fn counted(&mut self, keys: &[(DateTime<Utc>, IdHash)]) {
        for (_, hash) in keys {
            self.digest.add_hash(hash);
        }
        self.forwarded.extend_from_slice(keys);
        self.counts.forwarded += keys.len() as u64;
    }
}
