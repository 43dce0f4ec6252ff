//! The worker pool every kind of run shares (live cycles and `replay --gaps` over shards,
//! replays over compartments): a queue of items worked `concurrency` at a time, each task with its own sink connection,
//! opened on first use and closed politely at the end. Once a task's sink fails, no further
//! item is started (they are reported as not started, with why), and nothing starts once the
//! run is asked to stop.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use super::context::RunContext;
use super::failure::Pending;
use crate::sink::Sink;

/// What a pool does with each item.
pub(crate) trait Job<T, K>: Sync {
    /// The result per item.
    type Output: Send;

    /// The result for an item that was not started, and why.
    fn not_started(&self, item: &T, why: Pending) -> Self::Output;

    /// Works `item` over `sink`; the result, and whether the sink failed.
    fn work(&self, item: &T, sink: &mut K) -> impl Future<Output = (Self::Output, bool)> + Send;
}

/// Works every item of `items` with `workers` concurrent tasks; results in no particular order.
pub(crate) async fn run<T, K, J>(
    items: Vec<T>,
    workers: usize,
    new_sink: &(dyn Fn() -> K + Send + Sync),
    ctx: &RunContext,
    job: &J,
) -> Vec<J::Output>
where
    T: Send,
    K: Sink,
    J: Job<T, K>,
{
    let queue = Mutex::new(VecDeque::from(items));
    let sink_down = AtomicBool::new(false);
    let tasks = (0..workers.max(1)).map(|_| task(&queue, &sink_down, new_sink, ctx, job));
    futures::future::join_all(tasks)
        .await
        .into_iter()
        .flatten()
        .collect()
}

async fn task<T: Send, K: Sink, J: Job<T, K>>(
    queue: &Mutex<VecDeque<T>>,
    sink_down: &AtomicBool,
    new_sink: &(dyn Fn() -> K + Send + Sync),
    ctx: &RunContext,
    job: &J,
) -> Vec<J::Output> {
    let mut out = Vec::new();
    let mut sink: Option<K> = None;
    loop {
        let item = queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop_front();
        let Some(item) = item else { break };
        if sink_down.load(Ordering::Relaxed) {
            out.push(job.not_started(&item, Pending::SinkDown));
            continue;
        }
        if let Some(why) = ctx.should_stop() {
            out.push(job.not_started(&item, Pending::NotStarted(why)));
            continue;
        }
        let sink = sink.get_or_insert_with(new_sink);
        let (result, sink_failed) = job.work(&item, sink).await;
        if sink_failed {
            sink_down.store(true, Ordering::Relaxed);
        }
        out.push(result);
    }
    if let Some(mut s) = sink {
        s.close().await;
    }
    out
}
