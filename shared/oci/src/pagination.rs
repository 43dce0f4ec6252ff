//! `opc-next-page` bookkeeping shared by the paginators.
//!
//! A paginator yields one page at a time and holds nothing but the next token, so a caller
//! never has more than one page in memory. An error does not end a paginator: calling
//! `next_page` again retries the same page (the pipeline relies on this to resume).

use crate::error::Error;

#[derive(Debug, Clone, Default)]
pub(crate) struct PageCursor {
    next: Option<String>,
    done: bool,
}

impl PageCursor {
    pub(crate) fn starting_at(token: Option<String>) -> Self {
        PageCursor {
            next: token,
            done: false,
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    pub(crate) fn token(&self) -> Option<&str> {
        self.next.as_deref()
    }

    /// Records the token a page returned. A service that hands back the token it was just
    /// given would loop forever; that is a broken answer, reported as a decode error.
    pub(crate) fn advance(
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
