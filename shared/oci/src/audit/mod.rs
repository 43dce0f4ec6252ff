//! The Audit API: `ListEvents`.
//!
//! ```no_run
//! # async fn demo(config: &auditfwd_oci::Config, compartment: auditfwd_oci::Ocid) -> Result<(), auditfwd_oci::Error> {
//! use auditfwd_oci::{audit, Window};
//! let client = audit::Client::new(config);
//! let window = Window::parse("2026-11-22T10:00:00Z", "2026-11-22T10:05:00Z").expect("minute-aligned");
//! let mut pages = client.list_events().compartment_id(compartment).window(window).into_paginator();
//! while let Some(page) = pages.next_page().await {
//!     for event in page?.items {
//!         println!("{} {}", event.head().event_id, event.head().event_type);
//!     }
//! }
//! # Ok(()) }
//! ```

mod model;
mod raw;

use std::sync::Arc;

use http::Method;

pub use model::{AuditEvent, EventData, Identity, MultiMap, Request, Response, StateChange};
pub use raw::{EventHead, Principal, RawEvent, RecordKind, parse_page};

use crate::config::Config;
use crate::error::Error;
use crate::ids::{Ocid, Window};
use crate::pagination::{PagedRequest, Paginator};
use crate::region::Service;
use crate::transport::OciRequest;

/// Pages at least this large are read off the caller's thread.
const PARSE_ELSEWHERE: usize = 256 * 1024;

/// Client for the Audit service in one region.
#[derive(Debug, Clone)]
pub struct Client {
    config: Config,
}

impl Client {
    /// A client using `config`'s region, credentials and policies.
    pub fn new(config: &Config) -> Self {
        Client {
            config: config.clone(),
        }
    }

    /// `ListEvents`: the events of one compartment (never its children) processed in a window.
    pub fn list_events(&self) -> ListEventsFluentBuilder {
        ListEventsFluentBuilder {
            client: self.clone(),
            compartment_id: None,
            window: None,
            page: None,
        }
    }
}

/// Builder for one `ListEvents` call or a paginator over all its pages.
#[derive(Debug, Clone)]
pub struct ListEventsFluentBuilder {
    client: Client,
    compartment_id: Option<Ocid>,
    window: Option<Window>,
    page: Option<String>,
}

/// One page of events.
#[derive(Debug, Clone)]
pub struct ListEventsOutput {
    /// The events on this page (possibly none, even when more pages follow), each as OCI
    /// sent it.
    pub items: Vec<RawEvent>,
    /// `opc-next-page`: present when there are more pages.
    pub next_page: Option<String>,
    /// `opc-request-id` of the answer.
    pub request_id: Option<String>,
}

impl ListEventsFluentBuilder {
    /// The compartment (required). Events of child compartments are not included.
    pub fn compartment_id(mut self, id: Ocid) -> Self {
        self.compartment_id = Some(id);
        self
    }

    /// The window `[startTime, endTime)` (required; minute-aligned by construction).
    pub fn window(mut self, window: Window) -> Self {
        self.window = Some(window);
        self
    }

    /// Starts at a page token from an earlier answer.
    pub fn page(mut self, token: impl Into<String>) -> Self {
        self.page = Some(token.into());
        self
    }

    /// Fetches one page.
    pub async fn send(&self) -> Result<ListEventsOutput, Error> {
        self.fetch(self.page.as_deref()).await
    }

    /// A paginator that follows `opc-next-page` one page at a time.
    pub fn into_paginator(self) -> ListEventsPaginator {
        let start = self.page.clone();
        Paginator::new(self, start)
    }

    async fn fetch(&self, page: Option<&str>) -> Result<ListEventsOutput, Error> {
        const OP: &str = "ListEvents";
        let missing = |what: &str| Error::Construction {
            operation: OP,
            reason: format!("{what} is required"),
        };
        let compartment = self
            .compartment_id
            .as_ref()
            .ok_or_else(|| missing("compartmentId"))?;
        let window = self
            .window
            .ok_or_else(|| missing("a window (startTime and endTime)"))?;
        let mut url = self.client.config.url(Service::Audit, "/auditEvents", OP)?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("compartmentId", compartment.as_str());
            q.append_pair("startTime", &window.start().to_rfc3339());
            q.append_pair("endTime", &window.end().to_rfc3339());
            if let Some(p) = page {
                q.append_pair("page", p);
            }
        }
        // The request, its body and the reading of the page run as a task of their own: once
        // polled, a page keeps coming while the caller does other work (forwarding the
        // previous page), and dropping the future cancels it.
        let transport = Arc::clone(self.client.config.transport());
        let task = AbortOnDrop(tokio::spawn(async move {
            let resp = transport
                .send(OciRequest::new(OP, Method::GET, url))
                .await?;
            // A large page is read on the blocking pool: reading it takes milliseconds.
            let parsed = if resp.body.len() >= PARSE_ELSEWHERE {
                let body = resp.body.clone();
                tokio::task::spawn_blocking(move || raw::parse_page(&body))
                    .await
                    .map_err(|e| resp.decode_error(format!("reading the page failed: {e}")))?
            } else {
                raw::parse_page(&resp.body)
            };
            let items = parsed.map_err(|e| resp.decode_error(format!("invalid JSON body: {e}")))?;
            Ok(ListEventsOutput {
                items,
                next_page: resp.header("opc-next-page"),
                request_id: resp.request_id(),
            })
        }));
        task.join().await.unwrap_or_else(|e| {
            Err(Error::Construction {
                operation: OP,
                reason: format!("the request's task ended without an answer: {e}"),
            })
        })
    }
}

/// A spawned task that is aborted when its handle is dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> AbortOnDrop<T> {
    async fn join(mut self) -> Result<T, tokio::task::JoinError> {
        (&mut self.0).await
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Yields the pages of a `ListEvents` call in order, one at a time.
pub type ListEventsPaginator = Paginator<ListEventsFluentBuilder>;

impl PagedRequest for ListEventsFluentBuilder {
    type Page = ListEventsOutput;
    const OPERATION: &'static str = "ListEvents";

    fn fetch(
        &self,
        token: Option<&str>,
    ) -> impl Future<Output = Result<ListEventsOutput, Error>> + Send {
        self.fetch(token)
    }

    fn next_token(page: &ListEventsOutput) -> Option<String> {
        page.next_page.clone()
    }

    fn request_id(page: &ListEventsOutput) -> Option<String> {
        page.request_id.clone()
    }
}
