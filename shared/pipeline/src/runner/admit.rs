//! Step 4, admit: one decision per listed event, in this order: dedupe (the listing's own ids,
//! the ids earlier listings of these minutes returned, this process's recent deliveries), filter,
//! per-type cap, scrub. The outcome is a typed [`Decision`]; each refusal is counted where it
//! is made.

use auditfwd_checkpoint::EventIdSet;
use auditfwd_checkpoint::ids::IdHash;
use auditfwd_checkpoint::shard::CompartmentCursor;
use auditfwd_oci::audit::{EventHead, RawEvent};
use auditfwd_syslog::JsonText;
use auditfwd_telemetry::names;
use chrono::{DateTime, Utc};

use crate::dedupe::RecentIds;
use crate::filter::EventFilter;
use crate::limits::{CapDecision, TypeCaps};
use crate::scrub::ScrubPolicy;

/// What happens to one event.
///
/// The head is held by value: a decision lives for one `match`, and moving it costs less than
/// the allocation and free a box took for every event.
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "lives for one match; a box cost an allocation per event"
)]
pub(crate) enum Decision {
    /// Send it; `hash` is its id's hash, shared by every later step, `text` the event as it
    /// goes out (scrubbed).
    Forward {
        hash: IdHash,
        head: EventHead,
        text: JsonText,
    },
    /// Delivered before (earlier in this listing, on an earlier pass, or recently).
    Duplicate,
    /// Removed by a filter.
    Filtered,
    /// Dropped by a drop-policy cap (counted, never silent).
    Dropped,
}

/// One event's decision, and whether it is a late arrival (first seen on a settle pass).
#[derive(Debug)]
pub(crate) struct Admitted {
    pub(crate) decision: Decision,
    pub(crate) late: bool,
}

/// Ids listed before, as the checkpoint remembers them (a compartment's recent listings, or a
/// gap's delivered set).
pub(crate) trait Remembered: Sync {
    /// Whether `id` was listed before.
    fn remembers(&self, id: &IdHash) -> bool;
}

impl Remembered for EventIdSet {
    fn remembers(&self, id: &IdHash) -> bool {
        self.contains_hash(id)
    }
}

impl Remembered for CompartmentCursor {
    fn remembers(&self, id: &IdHash) -> bool {
        self.has_listed(id)
    }
}

/// The rules one listing admits events by.
pub(crate) struct Admission<'a> {
    pub(crate) filter: &'a EventFilter,
    pub(crate) caps: &'a TypeCaps,
    pub(crate) scrub: &'a ScrubPolicy,
    /// This process's recent deliveries; `None` on a replay, which resends on purpose.
    pub(crate) recent: Option<&'a RecentIds>,
    /// Ids listed before (the compartment's recent listings, a gap's delivered set).
    pub(crate) remembered: Option<&'a dyn Remembered>,
    /// A new id whose `eventTime` is before this was listed late (its minute was listed
    /// before without it).
    pub(crate) late_before: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for Admission<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admission")
            .field("late_before", &self.late_before)
            .finish_non_exhaustive()
    }
}

impl Admission<'_> {
    /// Decides `event`; `seen` is the window's set of ids listed so far (it records this one).
    pub(crate) async fn admit(&self, event: RawEvent, seen: &mut EventIdSet) -> Admitted {
        let head = event.head();
        // Hashed once; the window's set, both dedupe layers and the digest share it.
        let hash = IdHash::of(&head.event_id);
        let first_in_window = seen.insert_hash(&hash);
        let known_before = self.remembered.is_some_and(|r| r.remembers(&hash));
        let late = !known_before
            && first_in_window
            && self.late_before.is_some_and(|t| head.event_time < t);
        let decide = |decision| Admitted { decision, late };
        if !first_in_window || known_before || self.recent.is_some_and(|r| r.contains(&hash)) {
            return decide(Decision::Duplicate);
        }
        if let Err(reason) = self.filter.check(head) {
            metrics::counter!(names::EVENTS_FILTERED, "reason" => reason.as_str()).increment(1);
            return decide(Decision::Filtered);
        }
        if !self.caps.is_empty() && self.caps.admit(&head.event_type).await == CapDecision::Dropped
        {
            metrics::counter!(names::EVENTS_DROPPED, "reason" => "event_type_cap").increment(1);
            return decide(Decision::Dropped);
        }
        let (text, redacted) = self.scrub.scrub(&event);
        if redacted > 0 {
            metrics::counter!(names::HEADERS_REDACTED).increment(redacted as u64);
        }
        let (_, head) = event.into_parts();
        decide(Decision::Forward { hash, head, text })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn event(id: &str) -> RawEvent {
        let text = serde_json::to_vec(&serde_json::json!({
            "eventType": "com.oraclecloud.ComputeApi.GetInstance",
            "eventId": id,
            "eventTime": "2026-11-22T10:00:00Z",
            "data": {"request": {"headers": {"Authorization": ["Signature secret"]}}}
        }))
        .unwrap();
        RawEvent::parse(text.into()).unwrap()
    }

    fn is_forward(a: &Admitted) -> bool {
        matches!(a.decision, Decision::Forward { .. })
    }

    #[tokio::test]
    async fn a_settle_pass_sends_only_what_its_fresh_pass_did_not_and_counts_those_as_late() {
        // The fresh pass delivered "a" before a restart: this process's cache is empty.
        let mut persisted = EventIdSet::new();
        persisted.insert("a");
        let recent = RecentIds::new(
            100,
            Duration::from_secs(3600),
            std::sync::Arc::new(crate::clock::SystemClock),
        );
        let (filter, caps, scrub) = (
            EventFilter::default(),
            TypeCaps::default(),
            ScrubPolicy::default(),
        );
        let settle = Admission {
            filter: &filter,
            caps: &caps,
            scrub: &scrub,
            recent: Some(&recent),
            remembered: Some(&persisted),
            late_before: Some("2026-11-22T10:10:00Z".parse().unwrap()),
        };
        let mut seen = EventIdSet::new();
        let a = settle.admit(event("a"), &mut seen).await;
        assert!(
            matches!(a.decision, Decision::Duplicate) && !a.late,
            "{a:?}"
        );
        let b = settle.admit(event("b"), &mut seen).await;
        assert!(is_forward(&b) && b.late, "{b:?}");
        // OCI repeating "b" on a later page of the same listing: sent once, counted late once.
        let again = settle.admit(event("b"), &mut seen).await;
        assert!(
            matches!(again.decision, Decision::Duplicate) && !again.late,
            "{again:?}"
        );
        // What goes out is scrubbed.
        let Decision::Forward { text, .. } = b.decision else {
            unreachable!()
        };
        assert!(!String::from_utf8_lossy(&text.to_bytes()).contains("Signature secret"));
    }

    #[tokio::test]
    async fn only_ids_confirmed_by_the_sink_dedupe_a_fresh_pass_and_a_replay_resends_them() {
        let recent = RecentIds::new(
            100,
            Duration::from_secs(3600),
            std::sync::Arc::new(crate::clock::SystemClock),
        );
        let (filter, caps, scrub) = (
            EventFilter::default(),
            TypeCaps::default(),
            ScrubPolicy::default(),
        );
        let fresh = Admission {
            filter: &filter,
            caps: &caps,
            scrub: &scrub,
            recent: Some(&recent),
            remembered: None,
            late_before: None,
        };
        // Admitted but never confirmed (the send failed): admitted again next time.
        assert!(is_forward(
            &fresh.admit(event("c"), &mut EventIdSet::new()).await
        ));
        assert!(is_forward(
            &fresh.admit(event("c"), &mut EventIdSet::new()).await
        ));
        recent.confirmed([&IdHash::of("c")]);
        let dup = fresh.admit(event("c"), &mut EventIdSet::new()).await;
        assert!(matches!(dup.decision, Decision::Duplicate) && !dup.late);
        let replay = Admission {
            recent: None,
            ..fresh
        };
        assert!(is_forward(
            &replay.admit(event("c"), &mut EventIdSet::new()).await
        ));
    }
}
