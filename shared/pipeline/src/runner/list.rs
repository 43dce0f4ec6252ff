//! Step 3, list: one window's events as pages, through the source's paginator (whose guards
//! run here). Each request waits for the shared OCI request budget; a page that fails in a way
//! that may pass (throttling, 5xx, a damaged body) is fetched again, up to
//! [`RunnerConfig::page_attempts`](super::RunnerConfig) times with jittered backoff, on top of
//! the OCI client's own retries.

use std::time::Duration;

use auditfwd_checkpoint::Scope;
use auditfwd_oci::Window;
use auditfwd_retry::Backoff;

use crate::limits::Throttle;
use crate::source::{EventPages, Page};

/// The pages of one window, one at a time.
pub(crate) struct Listing<'r, P> {
    pages: P,
    done: bool,
    throttle: Option<&'r Throttle>,
    attempts: u32,
    retry_delay: Duration,
    scope: &'r Scope,
    window: Window,
}

impl<'r, P: EventPages> Listing<'r, P> {
    pub(crate) fn new(
        pages: P,
        throttle: Option<&'r Throttle>,
        attempts: u32,
        retry_delay: Duration,
        scope: &'r Scope,
        window: Window,
    ) -> Self {
        Listing {
            pages,
            done: false,
            throttle,
            attempts: attempts.max(1),
            retry_delay,
            scope,
            window,
        }
    }

    /// The next page, `None` after the last one.
    pub(crate) async fn next(&mut self) -> Result<Option<Page>, auditfwd_oci::Error> {
        if self.done {
            return Ok(None);
        }
        // The old fixed doubling reached 64 times the first delay; keep that ceiling.
        let mut backoff = Backoff::new(self.retry_delay, self.retry_delay.saturating_mul(64));
        let mut attempt = 0;
        loop {
            attempt += 1;
            if let Some(t) = self.throttle {
                t.acquire(1).await;
            }
            match self.pages.next_page().await {
                None => {
                    self.done = true;
                    return Ok(None);
                }
                Some(Ok(page)) => {
                    self.done = page.next.is_none();
                    return Ok(Some(page));
                }
                Some(Err(e)) if passes(&e) && attempt < self.attempts => {
                    let (scope, window) = (self.scope, self.window);
                    tracing::warn!(%scope, %window, attempt, error = %e, "page failed; fetching it again");
                    tokio::time::sleep(backoff.next_delay()).await;
                }
                Some(Err(e)) => return Err(e),
            }
        }
    }
}

/// Whether an OCI failure may pass on a later attempt: throttling, 5xx, timeouts, resets,
/// and damaged pages (a decode error on a 200 is most often a cut-off body).
pub(crate) fn passes(e: &auditfwd_oci::Error) -> bool {
    e.is_retryable() || matches!(e, auditfwd_oci::Error::Decode { .. })
}
