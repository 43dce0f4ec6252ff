//! Paging, written once for every list operation.
//!
//! A list request implements [`PagedRequest`]: fetch one page given a token, and say where a
//! page's next token is. [`Paginator`] walks the pages with it. A paginator yields one page at
//! a time and holds nothing but the next token, so a caller never has more than one page in
//! memory. An error does not end a paginator: calling [`Paginator::next_page`] again retries
//! the same page (the pipeline relies on this to resume).

use std::future::Future;

use futures::Stream;

use crate::error::Error;

/// A list request that can fetch any one of its pages.
pub trait PagedRequest: Send + Sync {
    /// One page of results.
    type Page: Send;

    /// The operation's name, for errors.
    const OPERATION: &'static str;

    /// Fetches the page at `token` (`None`: the first page).
    fn fetch(&self, token: Option<&str>) -> impl Future<Output = Result<Self::Page, Error>> + Send;

    /// The token of the page after `page` (`None` or empty on the last page).
    fn next_token(page: &Self::Page) -> Option<String>;

    /// The `opc-request-id` that answered `page`, for errors.
    fn request_id(page: &Self::Page) -> Option<String>;
}

/// Yields the pages of a list request in order, one at a time.
#[derive(Debug)]
pub struct Paginator<R> {
    request: R,
    cursor: PageCursor,
}

impl<R: PagedRequest> Paginator<R> {
    /// Pages through `request` from the page at `token` (`None`: the first).
    pub(crate) fn new(request: R, token: Option<String>) -> Self {
        Paginator {
            request,
            cursor: PageCursor {
                next: token,
                done: false,
            },
        }
    }

    /// The next page; `None` after the last. After an error, calling again retries that page.
    pub async fn next_page(&mut self) -> Option<Result<R::Page, Error>> {
        if self.cursor.done {
            return None;
        }
        let page = match self.request.fetch(self.cursor.next.as_deref()).await {
            Ok(page) => page,
            Err(e) => return Some(Err(e)),
        };
        let advanced =
            self.cursor
                .advance(R::next_token(&page), R::OPERATION, R::request_id(&page));
        Some(advanced.map(|()| page))
    }

    /// The token of the page `next_page` will fetch (to checkpoint progress mid-listing).
    pub fn next_token(&self) -> Option<&str> {
        self.cursor.next.as_deref()
    }

    /// The pages as a stream, which ends after the last page or the first error.
    pub fn into_stream(self) -> impl Stream<Item = Result<R::Page, Error>> + Send
    where
        R: 'static,
    {
        futures::stream::unfold(Some(self), |state| async move {
            let mut p = state?;
            match p.next_page().await? {
                Ok(page) => Some((Ok(page), Some(p))),
                Err(e) => Some((Err(e), None)),
            }
        })
    }
}

/// The `opc-next-page` bookkeeping: the token of the next page, and whether there is one.
#[derive(Debug, Clone, Default)]
struct PageCursor {
    next: Option<String>,
    done: bool,
}

impl PageCursor {
    /// Records the token a page returned. A service that hands back the token it was just
    /// given would loop forever; that is a broken answer, reported as a decode error.
    fn advance(
        &mut self,
        next: Option<String>,
        operation: &'static str,
        request_id: Option<String>,
    ) -> Result<(), Error> {
        let next = next.filter(|t| !t.is_empty());
        if next.is_some() && next == self.next {
            self.done = true;
            return Err(Error::Decode {
                operation,
                status: 200,
                request_id,
                reason: "the service returned the same opc-next-page token it was given; stopping to avoid an endless loop".into(),
            });
        }
        self.done = next.is_none();
        self.next = next;
        Ok(())
    }
}
