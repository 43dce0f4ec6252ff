//! Which events exist: the shapes of the synthetic tenancy's history and live stream. Each is a
//! pure function of the seed and a stable key, so any run with the same seed and settings holds
//! the same events, whatever order they are generated or asked for in.
//!
//! - **Per compartment** (the default): every compartment-minute holds Poisson(`events_per_minute`)
//!   events; keyed by (seed, compartment, minute).
//! - **Thin stream** ([`EventSpec::tenancy_events_per_minute`]): every minute holds
//!   Poisson(rate) events for the whole tenancy, each in a compartment drawn at random among those
//!   that exist in that minute; keyed by (seed, minute). With thousands of compartments most of
//!   them are idle in any minute, which is what a large tenancy looks like.
//! - **Spread backlog** (`backlog_events_per_compartment`): exactly n events per compartment at
//!   uniformly random times over the backlog; keyed by (seed, compartment, backlog range). Used
//!   for catch-up scenarios ("2,000 compartments, 20 events each over the last 24 h").
//!
//! Generation runs on every core (`std::thread::scope`): a day of history for thousands of
//! compartments is millions of compartment-minutes.

use std::collections::HashMap;

use crate::events::{
    EventSpec, StoredEvent, TenancyContext, build_event, generate_minute, poisson,
};
use crate::seed;
use crate::store::MINUTE_MS;
use crate::tenancy::{CompartmentRecord, Tenancy};

/// Generated events per compartment id, each list sorted by (eventTime, eventId).
pub(crate) type Generated = Vec<(String, Vec<StoredEvent>)>;

/// The first minute a compartment has events in (compartments added at run time start after
/// the minute they were created in).
fn first_minute(r: &CompartmentRecord) -> i64 {
    r.created_ms.div_euclid(MINUTE_MS) + 1
}

/// Maps `f` over `items` on up to every core, keeping the order.
fn parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map(std::num::NonZero::get)
        .unwrap_or(1)
        .min(items.len())
        .max(1);
    let chunk = items.len().div_ceil(threads).max(1);
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().ok())
            .flatten()
            .collect()
    })
}

/// Events of minutes `[from, to)` for every compartment, by the spec's rate.
pub(crate) fn minutes(
    from: i64,
    to: i64,
    tenancy: &Tenancy,
    ctx: &TenancyContext,
    spec: &EventSpec,
) -> Generated {
    if to <= from {
        return Vec::new();
    }
    match spec.tenancy_events_per_minute {
        None => parallel(&tenancy.records, |r| {
            let mut events = Vec::new();
            for m in from.max(first_minute(r))..to {
                events.extend(generate_minute(ctx, spec, &r.compartment, m));
            }
            (r.compartment.id.clone(), events)
        }),
        Some(rate) => thin_stream(from, to, rate, tenancy, ctx, spec),
    }
}

fn thin_stream(
    from: i64,
    to: i64,
    rate: f64,
    tenancy: &Tenancy,
    ctx: &TenancyContext,
    spec: &EventSpec,
) -> Generated {
    let minutes: Vec<i64> = (from..to).collect();
    let per_minute = parallel(&minutes, |&m| {
        let eligible: Vec<usize> = (0..tenancy.records.len())
            .filter(|&i| first_minute(&tenancy.records[i]) <= m)
            .collect();
        let mut rng = seed::rng(ctx.seed, &[b"tenancy-minute", &m.to_le_bytes()]);
        let n = if eligible.is_empty() {
            0
        } else {
            poisson(&mut rng, rate)
        };
        (0..n)
            .map(|_| {
                let i = eligible[rng.usize(..eligible.len())];
                let time_ms = m * MINUTE_MS + rng.i64(0..MINUTE_MS);
                let delay = spec.delay.sample(&mut rng);
                let e = build_event(
                    ctx,
                    spec,
                    &tenancy.records[i].compartment,
                    time_ms,
                    time_ms + delay,
                    &mut rng,
                );
                (i, e)
            })
            .collect::<Vec<_>>()
    });
    let mut by_record: HashMap<usize, Vec<StoredEvent>> = HashMap::new();
    for (i, e) in per_minute.into_iter().flatten() {
        by_record.entry(i).or_default().push(e);
    }
    let mut out: Generated = by_record
        .into_iter()
        .map(|(i, mut events)| {
            events.sort_by(|a, b| a.key().cmp(&b.key()));
            (tenancy.records[i].compartment.id.clone(), events)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Exactly `per_compartment` events for every compartment, at uniformly random times in
/// `[from_ms, to_ms)`.
pub(crate) fn spread(
    from_ms: i64,
    to_ms: i64,
    per_compartment: usize,
    tenancy: &Tenancy,
    ctx: &TenancyContext,
    spec: &EventSpec,
) -> Generated {
    if to_ms <= from_ms || per_compartment == 0 {
        return Vec::new();
    }
    parallel(&tenancy.records, |r| {
        let mut rng = seed::rng(
            ctx.seed,
            &[
                b"spread-backlog",
                r.compartment.id.as_bytes(),
                &from_ms.to_le_bytes(),
                &to_ms.to_le_bytes(),
            ],
        );
        let mut events: Vec<StoredEvent> = (0..per_compartment)
            .map(|_| {
                let time_ms = rng.i64(from_ms..to_ms);
                let delay = spec.delay.sample(&mut rng);
                build_event(
                    ctx,
                    spec,
                    &r.compartment,
                    time_ms,
                    time_ms + delay,
                    &mut rng,
                )
            })
            .collect();
        events.sort_by(|a, b| a.key().cmp(&b.key()));
        (r.compartment.id.clone(), events)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delay::DelayDistribution;
    use crate::tenancy::TenancySpec;

    fn setup(compartments: usize) -> (Tenancy, TenancyContext) {
        let spec = TenancySpec {
            compartments,
            ..TenancySpec::default()
        };
        let t = Tenancy::generate(4, &spec);
        let ctx = TenancyContext::new(4, &t.tenancy_id, &t.region, &t.namespace);
        (t, ctx)
    }

    fn total(g: &Generated) -> usize {
        g.iter().map(|(_, e)| e.len()).sum()
    }

    #[test]
    fn thin_stream_leaves_most_compartments_idle_and_is_independent_of_chunking() {
        let (t, ctx) = setup(2_000);
        let spec = EventSpec {
            tenancy_events_per_minute: Some(5.0),
            delay: DelayDistribution::None,
            ..EventSpec::default()
        };
        let (from, to) = (29_000_000, 29_000_060);
        let all = minutes(from, to, &t, &ctx, &spec);
        // An hour at 5 per minute: about 300 events, in a small part of 2,001 compartments.
        let n = total(&all);
        assert!((220..380).contains(&n), "{n}");
        assert!(all.len() < 400, "{} busy compartments", all.len());
        for (_, events) in &all {
            assert!(events.windows(2).all(|w| w[0].key() <= w[1].key()));
            assert!(
                events
                    .iter()
                    .all(|e| (from * MINUTE_MS..to * MINUTE_MS).contains(&e.time_ms))
            );
        }
        // Two halves generated separately hold the same events.
        let mut halves: Vec<Box<str>> = minutes(from, from + 30, &t, &ctx, &spec)
            .into_iter()
            .chain(minutes(from + 30, to, &t, &ctx, &spec))
            .flat_map(|(_, e)| e.into_iter().map(|e| e.id))
            .collect();
        let mut whole: Vec<Box<str>> = all
            .into_iter()
            .flat_map(|(_, e)| e.into_iter().map(|e| e.id))
            .collect();
        halves.sort();
        whole.sort();
        assert_eq!(halves, whole);
    }

    #[test]
    fn spread_backlog_puts_exactly_n_events_in_every_compartment_inside_the_range() {
        let (t, ctx) = setup(50);
        let spec = EventSpec::default();
        let (from, to) = (1_700_000_000_000, 1_700_000_000_000 + 86_400_000);
        let g = spread(from, to, 20, &t, &ctx, &spec);
        assert_eq!(g.len(), 51);
        for (id, events) in &g {
            assert_eq!(events.len(), 20, "{id}");
            assert!(events.iter().all(|e| (from..to).contains(&e.time_ms)));
            assert!(events.windows(2).all(|w| w[0].key() <= w[1].key()));
        }
        let again = spread(from, to, 20, &t, &ctx, &spec);
        assert!(
            g.iter()
                .zip(&again)
                .all(|(a, b)| a.1.iter().zip(&b.1).all(|(x, y)| x.json == y.json))
        );
    }
}
