//! The event store: per compartment, every event twice over, sorted by (eventTime, eventId)
//! and by (processing time, eventId), so a window is two binary searches whichever time the
//! Audit API is told to select on ([`TimeSelection`]). Generated events are materialised ahead of
//! use (the backlog at start-up, then each new minute in live mode); queries filter on what
//! exists and is visible "now". A query on an idle compartment costs a hash lookup and two
//! binary searches, however many compartments and events the tenancy holds.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use serde::{Deserialize, Serialize};

use crate::events::{EventSpec, StoredEvent, TenancyContext};
use crate::generation::{self, Generated};
use crate::tenancy::{Tenancy, rfc3339_ms};

pub(crate) const MINUTE_MS: i64 = 60_000;

/// Which time `ListEvents`' `startTime`/`endTime` select on. Oracle's API reference says events
/// *processed* in the range; collectors have long assumed `eventTime`. The emulator serves
/// either, so a collector can be proven correct under both readings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeSelection {
    /// The window selects `eventTime` (the default); pages are ordered by (eventTime, eventId).
    #[default]
    Event,
    /// The window selects the processing time (when OCI ingested the event, from which moment
    /// it is visible); pages are ordered by (processing time, eventId). A late event
    /// (eventTime 10:00, processed 10:12) is in the 10:10-10:20 window, never in 10:00-10:10.
    Processed,
}

impl TimeSelection {
    /// The name used by the command line and the control API.
    pub fn name(self) -> &'static str {
        match self {
            Self::Event => "event",
            Self::Processed => "processed",
        }
    }

    /// The time a window selects on.
    fn time(self, e: &StoredEvent) -> i64 {
        match self {
            Self::Event => e.time_ms,
            Self::Processed => e.visible_ms,
        }
    }

    /// The order pages follow and page tokens point into.
    fn key(self, e: &StoredEvent) -> (i64, &str) {
        (self.time(e), &e.id)
    }
}

impl std::str::FromStr for TimeSelection {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::Event, Self::Processed]
            .into_iter()
            .find(|selection| selection.name() == s)
            .ok_or_else(|| format!("'{s}' is not event or processed"))
    }
}

/// One entry of the ground truth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventInfo {
    /// The event's id.
    pub event_id: String,
    /// Its compartment.
    pub compartment_id: String,
    /// Its `eventTime`, RFC 3339 with milliseconds.
    pub event_time: String,
    /// Its processing time: when OCI ingested it, from which moment `ListEvents` returns it. In
    /// [`TimeSelection::Processed`] this is the time a window selects on.
    pub visible_at: String,
    /// Whether it is visible now.
    pub visible: bool,
}

/// A page of `ListEvents`.
#[derive(Debug)]
pub(crate) struct EventPage {
    pub(crate) body: Bytes,
    pub(crate) count: usize,
    pub(crate) next_page: Option<String>,
}

/// A position in one time selection's order, carried by a page token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PagePosition {
    pub(crate) selection: TimeSelection,
    pub(crate) ms: i64,
    pub(crate) event_id: String,
}

/// One compartment's events in both orders (the same events, shared).
#[derive(Debug, Default)]
struct CompartmentEvents {
    by_event_time: Vec<Arc<StoredEvent>>,
    by_processed: Vec<Arc<StoredEvent>>,
}

impl CompartmentEvents {
    fn list(&self, selection: TimeSelection) -> &[Arc<StoredEvent>] {
        match selection {
            TimeSelection::Event => &self.by_event_time,
            TimeSelection::Processed => &self.by_processed,
        }
    }

    fn extend(&mut self, events: Vec<StoredEvent>) {
        let events: Vec<Arc<StoredEvent>> = events.into_iter().map(Arc::new).collect();
        for (list, selection) in [
            (&mut self.by_event_time, TimeSelection::Event),
            (&mut self.by_processed, TimeSelection::Processed),
        ] {
            let before = list.len();
            list.extend(events.iter().cloned());
            // Only the seam and the new tail can be out of order; the sort is adaptive, so
            // appending a sorted run costs a merge.
            if !list[before.saturating_sub(1)..]
                .is_sorted_by(|a, b| selection.key(a) <= selection.key(b))
            {
                list.sort_by(|a, b| selection.key(a).cmp(&selection.key(b)));
            }
        }
    }

    fn insert(&mut self, event: StoredEvent) {
        let event = Arc::new(event);
        for (list, selection) in [
            (&mut self.by_event_time, TimeSelection::Event),
            (&mut self.by_processed, TimeSelection::Processed),
        ] {
            let at = list.partition_point(|e| selection.key(e) < selection.key(&event));
            list.insert(at, event.clone());
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct EventStore {
    by_compartment: HashMap<String, CompartmentEvents>,
    /// Minutes before `from` hold no events; minutes `[from, until)` are settled (generated, or
    /// deliberately left empty).
    from_minute: i64,
    until_minute: i64,
}

pub(crate) fn encode_page_token(selection: TimeSelection, key: (i64, &str)) -> String {
    let text = match selection {
        TimeSelection::Event => format!("{}:{}", key.0, key.1),
        TimeSelection::Processed => format!("processed:{}:{}", key.0, key.1),
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

pub(crate) fn decode_page_token(token: &str) -> Option<PagePosition> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (selection, rest) = match text.strip_prefix("processed:") {
        Some(rest) => (TimeSelection::Processed, rest),
        None => (TimeSelection::Event, text.as_str()),
    };
    let (ms, id) = rest.split_once(':')?;
    Some(PagePosition {
        selection,
        ms: ms.parse().ok()?,
        event_id: id.to_string(),
    })
}

fn ms_to_rfc3339(ms: i64) -> String {
    rfc3339_ms(chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default())
}

impl EventStore {
    pub(crate) fn new(from_minute: i64) -> Self {
        Self {
            by_compartment: HashMap::new(),
            from_minute,
            until_minute: from_minute,
        }
    }

    pub(crate) fn until_minute(&self) -> i64 {
        self.until_minute
    }

    pub(crate) fn len(&self) -> usize {
        self.by_compartment
            .values()
            .map(|c| c.by_event_time.len())
            .sum()
    }

    fn add(&mut self, generated: Generated) {
        for (id, events) in generated {
            if !events.is_empty() {
                self.by_compartment.entry(id).or_default().extend(events);
            }
        }
    }

    /// Generates minutes `[until, to)` for every compartment at the spec's rate.
    pub(crate) fn materialize(
        &mut self,
        to_minute: i64,
        tenancy: &Tenancy,
        ctx: &TenancyContext,
        spec: &EventSpec,
    ) {
        if to_minute <= self.until_minute {
            return;
        }
        self.add(generation::minutes(
            self.until_minute,
            to_minute,
            tenancy,
            ctx,
            spec,
        ));
        self.until_minute = to_minute;
    }

    /// Fills minutes `[until, to)` with exactly `per_compartment` events per compartment at
    /// random times (the spread backlog).
    pub(crate) fn spread(
        &mut self,
        to_minute: i64,
        per_compartment: usize,
        tenancy: &Tenancy,
        ctx: &TenancyContext,
        spec: &EventSpec,
    ) {
        if to_minute <= self.until_minute {
            return;
        }
        self.add(generation::spread(
            self.until_minute * MINUTE_MS,
            to_minute * MINUTE_MS,
            per_compartment,
            tenancy,
            ctx,
            spec,
        ));
        self.until_minute = to_minute;
    }

    /// Leaves minutes `[until, minute)` empty: a paused live stream, or a quiet end of the
    /// backlog.
    pub(crate) fn skip_to(&mut self, minute: i64) {
        self.until_minute = self.until_minute.max(minute);
    }

    /// Inserts one event (control API), keeping both orders.
    pub(crate) fn insert(&mut self, compartment_id: &str, event: StoredEvent) {
        self.by_compartment
            .entry(compartment_id.to_string())
            .or_default()
            .insert(event);
    }

    /// Whether an event id is already used in the compartment (control API refuses duplicates).
    pub(crate) fn contains(&self, compartment_id: &str, event_id: &str) -> bool {
        self.by_compartment
            .get(compartment_id)
            .is_some_and(|c| c.by_event_time.iter().any(|e| &*e.id == event_id))
    }

    fn list(&self, compartment_id: &str, selection: TimeSelection) -> &[Arc<StoredEvent>] {
        self.by_compartment
            .get(compartment_id)
            .map_or(&[], |c| c.list(selection))
    }

    /// One page of `ListEvents`: events whose selected time is in `[start, end)`, visible at
    /// `now`, after the page token's position, in the selection's order.
    #[allow(clippy::too_many_arguments)] // one query, spelled out
    pub(crate) fn page(
        &self,
        compartment_id: &str,
        selection: TimeSelection,
        start_ms: i64,
        end_ms: i64,
        after: Option<(i64, &str)>,
        now_ms: i64,
        page_size: usize,
    ) -> EventPage {
        let list = self.list(compartment_id, selection);
        let first = list.partition_point(|e| selection.time(e) < start_ms);
        let lo = match after {
            Some(k) => list.partition_point(|e| selection.key(e) <= k).max(first),
            None => first,
        };
        let hi = list.partition_point(|e| selection.time(e) < end_ms);
        let visible = |e: &&Arc<StoredEvent>| e.visible_ms <= now_ms && e.time_ms <= now_ms;
        let mut picked: Vec<&StoredEvent> = Vec::with_capacity(page_size.min(1024));
        let mut more = false;
        for e in list[lo.min(hi)..hi].iter().filter(visible) {
            if picked.len() == page_size {
                more = true;
                break;
            }
            picked.push(e);
        }
        let bytes: usize = picked.iter().map(|e| e.json.len() + 1).sum();
        let mut body = BytesMut::with_capacity(bytes + 2);
        body.extend_from_slice(b"[");
        for (i, e) in picked.iter().enumerate() {
            if i > 0 {
                body.extend_from_slice(b",");
            }
            body.extend_from_slice(&e.json);
        }
        body.extend_from_slice(b"]");
        let next_page = if more {
            picked
                .last()
                .map(|e| encode_page_token(selection, selection.key(e)))
        } else {
            None
        };
        EventPage {
            body: body.freeze(),
            count: picked.len(),
            next_page,
        }
    }

    /// Every event that exists at `now` (eventTime not in the future) whose selected time is in
    /// `[start, end)`, visible or not, per compartment in the selection's order.
    pub(crate) fn ground_truth(
        &self,
        compartments: &[String],
        selection: TimeSelection,
        (start_ms, end_ms): (i64, i64),
        now_ms: i64,
        visible_only: bool,
    ) -> Vec<EventInfo> {
        let mut out = Vec::new();
        for c in compartments {
            let list = self.list(c, selection);
            let lo = list.partition_point(|e| selection.time(e) < start_ms);
            let hi = list.partition_point(|e| selection.time(e) < end_ms);
            for e in &list[lo.min(hi)..hi] {
                let visible = e.visible_ms <= now_ms;
                if e.time_ms > now_ms || (visible_only && !visible) {
                    continue;
                }
                out.push(EventInfo {
                    event_id: e.id.to_string(),
                    compartment_id: c.clone(),
                    event_time: ms_to_rfc3339(e.time_ms),
                    visible_at: ms_to_rfc3339(e.visible_ms),
                    visible,
                });
            }
        }
        out
    }

    /// The raw JSON of one event (control API), if it exists.
    pub(crate) fn event_json(&self, event_id: &str) -> Option<Bytes> {
        self.by_compartment
            .values()
            .flat_map(|c| c.by_event_time.iter())
            .find(|e| &*e.id == event_id)
            .map(|e| e.json.clone())
    }

    pub(crate) fn first_minute(&self) -> i64 {
        self.from_minute
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(t: i64, v: i64, id: &str) -> StoredEvent {
        StoredEvent {
            time_ms: t,
            visible_ms: v,
            id: id.into(),
            json: Bytes::from(format!("{{\"eventId\":\"{id}\"}}")),
        }
    }

    #[test]
    fn pages_follow_tokens_and_hide_invisible_and_future_events() {
        let mut s = EventStore::new(0);
        for (i, t) in [10, 20, 20, 30, 40, 50].iter().enumerate() {
            s.insert(
                "c",
                ev(*t, *t + if i == 3 { 1000 } else { 0 }, &format!("e{i}")),
            );
        }
        let ev_page = |s: &EventStore, start, end, after: Option<&PagePosition>, size| {
            let after = after.map(|p| (p.ms, p.event_id.as_str()));
            s.page("c", TimeSelection::Event, start, end, after, 45, size)
        };
        // now = 45: e3 (t=30) is not visible yet, e5 (t=50) does not exist yet.
        let p1 = ev_page(&s, 0, 100, None, 2);
        assert_eq!(&p1.body[..], br#"[{"eventId":"e0"},{"eventId":"e1"}]"#);
        let tok = decode_page_token(p1.next_page.as_deref().unwrap()).unwrap();
        assert_eq!(tok.selection, TimeSelection::Event);
        let p2 = ev_page(&s, 0, 100, Some(&tok), 2);
        assert_eq!(&p2.body[..], br#"[{"eventId":"e2"},{"eventId":"e4"}]"#);
        assert!(p2.next_page.is_none());
        assert_eq!(ev_page(&s, 20, 30, None, 10).count, 2);
        let other = s.page("x", TimeSelection::Event, 0, 100, None, 45, 10);
        assert_eq!(&other.body[..], b"[]");
        let truth = |visible_only| {
            s.ground_truth(
                &["c".into()],
                TimeSelection::Event,
                (0, 100),
                45,
                visible_only,
            )
        };
        assert_eq!(truth(false).len(), 5);
        assert!(!truth(false)[3].visible);
        assert_eq!(truth(true).len(), 4);
    }

    #[test]
    fn processed_selection_windows_and_orders_by_processing_time() {
        let m = MINUTE_MS;
        let mut s = EventStore::new(0);
        // "late": eventTime 10:00, processed 10:12; "early": eventTime 10:05, processed 10:05;
        // "slow": eventTime 10:09, processed 10:11.
        s.insert("c", ev(600 * m, 612 * m, "late"));
        s.insert("c", ev(605 * m, 605 * m, "early"));
        s.insert("c", ev(609 * m, 611 * m, "slow"));
        let now = 700 * m;
        let ids = |sel, start: i64, end: i64| -> Vec<String> {
            s.ground_truth(&["c".into()], sel, (start * m, end * m), now, true)
                .into_iter()
                .map(|e| e.event_id)
                .collect()
        };
        assert_eq!(
            ids(TimeSelection::Event, 600, 610),
            ["late", "early", "slow"]
        );
        assert!(ids(TimeSelection::Event, 610, 620).is_empty());
        assert_eq!(ids(TimeSelection::Processed, 600, 610), ["early"]);
        assert_eq!(ids(TimeSelection::Processed, 610, 620), ["slow", "late"]);

        // Pages of one in processed order; the token carries the selection and the position.
        let mut got = Vec::new();
        let mut after: Option<PagePosition> = None;
        loop {
            let key = after.as_ref().map(|p| (p.ms, p.event_id.as_str()));
            let p = s.page("c", TimeSelection::Processed, 600 * m, 620 * m, key, now, 1);
            let v: Vec<serde_json::Value> = serde_json::from_slice(&p.body).unwrap();
            got.extend(
                v.into_iter()
                    .map(|e| e["eventId"].as_str().unwrap().to_string()),
            );
            match p.next_page {
                Some(t) => after = Some(decode_page_token(&t).unwrap()),
                None => break,
            }
            assert_eq!(after.as_ref().unwrap().selection, TimeSelection::Processed);
        }
        assert_eq!(got, ["early", "slow", "late"]);
        // Before 10:12 the late event is invisible in both selections.
        let before = s.page(
            "c",
            TimeSelection::Processed,
            610 * m,
            620 * m,
            None,
            611 * m,
            10,
        );
        assert_eq!(&before.body[..], br#"[{"eventId":"slow"}]"#);
        assert_eq!(decode_page_token("bm90IGEgdG9rZW4"), None);
    }
}
