//! The event store: per compartment, events sorted by (eventTime, eventId). Generated minutes
//! are materialised ahead of use (the backlog at start-up, then each new minute in live mode);
//! queries binary-search the window and filter on what exists and is visible "now".

use std::collections::HashMap;

use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use serde::Serialize;

use crate::events::{EventSpec, StoredEvent, TenancyContext, generate_minute};
use crate::tenancy::{Tenancy, rfc3339_ms};

pub(crate) const MINUTE_MS: i64 = 60_000;

/// One entry of the ground truth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventInfo {
    /// The event's id.
    pub event_id: String,
    /// Its compartment.
    pub compartment_id: String,
    /// Its `eventTime`, RFC 3339 with milliseconds.
    pub event_time: String,
    /// When it becomes (or became) visible to `ListEvents`.
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

#[derive(Debug, Default)]
pub(crate) struct EventStore {
    by_compartment: HashMap<String, Vec<StoredEvent>>,
    /// Minutes `[from, until)` have been generated.
    from_minute: i64,
    until_minute: i64,
}

pub(crate) fn encode_page_token(key: (i64, &str)) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{}:{}", key.0, key.1))
}

pub(crate) fn decode_page_token(token: &str) -> Option<(i64, String)> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (ms, id) = text.split_once(':')?;
    Some((ms.parse().ok()?, id.to_string()))
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
        self.by_compartment.values().map(Vec::len).sum()
    }

    /// Generates minutes `[until, to)` for every compartment, spreading compartments over the
    /// available cores (a multi-hour backlog is hundreds of thousands of events).
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
        let from = self.until_minute;
        let records: Vec<_> = tenancy.records.iter().collect();
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(records.len().max(1));
        let chunk = records.len().div_ceil(threads.max(1)).max(1);
        let generated: Vec<Vec<(String, Vec<StoredEvent>)>> = std::thread::scope(|s| {
            let handles: Vec<_> = records
                .chunks(chunk)
                .map(|part| {
                    s.spawn(move || {
                        part.iter()
                            .map(|r| {
                                let first = from.max(r.created_ms.div_euclid(MINUTE_MS) + 1);
                                let mut events = Vec::new();
                                for m in first..to_minute {
                                    events.extend(generate_minute(ctx, spec, &r.compartment, m));
                                }
                                (r.compartment.id.clone(), events)
                            })
                            .collect()
                    })
                })
                .collect();
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        for (id, events) in generated.into_iter().flatten() {
            let list = self.by_compartment.entry(id).or_default();
            let needs_sort =
                matches!((list.last(), events.first()), (Some(a), Some(b)) if a.key() > b.key());
            list.extend(events);
            if needs_sort {
                list.sort_by(|a, b| a.key().cmp(&b.key()));
            }
        }
        self.until_minute = to_minute;
    }

    /// Inserts one event (control API), keeping the order.
    pub(crate) fn insert(&mut self, compartment_id: &str, event: StoredEvent) {
        let list = self
            .by_compartment
            .entry(compartment_id.to_string())
            .or_default();
        let at = list.partition_point(|e| e.key() < event.key());
        list.insert(at, event);
    }

    /// Whether an event id is already used in the compartment (control API refuses duplicates).
    pub(crate) fn contains(&self, compartment_id: &str, event_id: &str) -> bool {
        self.by_compartment
            .get(compartment_id)
            .is_some_and(|l| l.iter().any(|e| &*e.id == event_id))
    }

    /// One page of `ListEvents`: events with `eventTime` in `[start, end)`, visible at `now`,
    /// after the page token's position.
    pub(crate) fn page(
        &self,
        compartment_id: &str,
        start_ms: i64,
        end_ms: i64,
        after: Option<(i64, &str)>,
        now_ms: i64,
        page_size: usize,
    ) -> EventPage {
        let empty: &[StoredEvent] = &[];
        let list = self
            .by_compartment
            .get(compartment_id)
            .map_or(empty, Vec::as_slice);
        let lo = match after {
            Some(k) => list
                .partition_point(|e| e.key() <= k)
                .max(list.partition_point(|e| e.time_ms < start_ms)),
            None => list.partition_point(|e| e.time_ms < start_ms),
        };
        let hi = list.partition_point(|e| e.time_ms < end_ms);
        let visible = |e: &&StoredEvent| e.visible_ms <= now_ms && e.time_ms <= now_ms;
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
            picked.last().map(|e| encode_page_token(e.key()))
        } else {
            None
        };
        EventPage {
            body: body.freeze(),
            count: picked.len(),
            next_page,
        }
    }

    /// Every event that exists at `now` (eventTime not in the future) with `eventTime` in
    /// `[start, end)`, visible or not.
    pub(crate) fn ground_truth(
        &self,
        compartments: &[String],
        start_ms: i64,
        end_ms: i64,
        now_ms: i64,
        visible_only: bool,
    ) -> Vec<EventInfo> {
        let mut out = Vec::new();
        for c in compartments {
            let Some(list) = self.by_compartment.get(c) else {
                continue;
            };
            let lo = list.partition_point(|e| e.time_ms < start_ms);
            let hi = list.partition_point(|e| e.time_ms < end_ms);
            for e in &list[lo.min(hi)..hi] {
                let visible = e.visible_ms <= now_ms;
                if e.time_ms > now_ms || (visible_only && !visible) {
                    continue;
                }
                out.push(EventInfo {
                    event_id: e.id.to_string(),
                    compartment_id: c.clone(),
                    event_time: rfc3339_ms(
                        chrono::DateTime::from_timestamp_millis(e.time_ms).unwrap_or_default(),
                    ),
                    visible_at: rfc3339_ms(
                        chrono::DateTime::from_timestamp_millis(e.visible_ms).unwrap_or_default(),
                    ),
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
            .flat_map(|l| l.iter())
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
        // now = 45: e3 (t=30) is not visible yet, e5 (t=50) does not exist yet.
        let p1 = s.page("c", 0, 100, None, 45, 2);
        assert_eq!(&p1.body[..], br#"[{"eventId":"e0"},{"eventId":"e1"}]"#);
        let tok = decode_page_token(p1.next_page.as_deref().unwrap()).unwrap();
        let p2 = s.page("c", 0, 100, Some((tok.0, &tok.1)), 45, 2);
        assert_eq!(&p2.body[..], br#"[{"eventId":"e2"},{"eventId":"e4"}]"#);
        assert!(p2.next_page.is_none());
        assert_eq!(s.page("c", 20, 30, None, 45, 10).count, 2);
        assert_eq!(&s.page("x", 0, 100, None, 45, 10).body[..], b"[]");
        let gt = s.ground_truth(&["c".into()], 0, 100, 45, false);
        assert_eq!(gt.len(), 5);
        assert!(!gt[3].visible);
        assert_eq!(s.ground_truth(&["c".into()], 0, 100, 45, true).len(), 4);
    }
}
