//! What the sources other than Audit share: a made-up compartment tree (each listing the runner
//! works is one "compartment" under the tenancy), and [`RecordPages`], a paginated OCI listing
//! whose pages are made records page by page.

use auditfwd_oci::identity::{Compartment, CompartmentTree};
use auditfwd_oci::pagination::{PagedRequest, Paginator};
use auditfwd_oci::{Error, Ocid};
use chrono::{DateTime, Utc};

use super::{EventPages, Page, count_request};

/// A tree whose root is the tenancy, named `root` (never collected), with one child per
/// `(id, name)`: its listings show as `<root>/<name>`. Made up, so it costs no call.
pub(crate) fn made_up_tree<'a>(
    tenancy: &Ocid,
    root: &str,
    children: impl Iterator<Item = (&'a Ocid, &'a str)>,
) -> CompartmentTree {
    let node = |id: &str, parent: Option<&str>, name: &str| Compartment {
        id: id.to_owned(),
        compartment_id: parent.map(str::to_owned),
        name: name.to_owned(),
        description: None,
        time_created: None,
        lifecycle_state: None,
        is_accessible: None,
        freeform_tags: None,
        defined_tags: None,
        extra: serde_json::Map::new(),
    };
    let tenancy = tenancy.as_str();
    CompartmentTree::new(
        node(tenancy, None, root),
        children
            .map(|(id, name)| node(id.as_str(), Some(tenancy), name))
            .collect(),
    )
}

/// Makes one page of `R`'s answer records; `listed_at` (the window's start) is the time of a
/// record that carries none.
pub(crate) type ToPage<R> = fn(&<R as PagedRequest>::Page, DateTime<Utc>) -> Result<Page, Error>;

/// A listing of records: the OCI client's paginator, each page made records; or, for a
/// listing the source does not have, an error on the first page and then the end.
#[derive(Debug)]
pub struct RecordPages<R: PagedRequest> {
    inner: Inner<R>,
}

#[derive(Debug)]
enum Inner<R: PagedRequest> {
    Listing {
        pages: Box<Paginator<R>>,
        listed_at: DateTime<Utc>,
        to_page: ToPage<R>,
    },
    Unconfigured(Option<String>),
}

impl<R: PagedRequest> RecordPages<R> {
    /// Pages through `pages`, each page made records by `to_page`.
    pub(crate) fn new(pages: Paginator<R>, listed_at: DateTime<Utc>, to_page: ToPage<R>) -> Self {
        RecordPages {
            inner: Inner::Listing {
                pages: Box::new(pages),
                listed_at,
                to_page,
            },
        }
    }

    /// A listing the source does not have: `reason` as the first page's error.
    pub(crate) fn unconfigured(reason: String) -> Self {
        RecordPages {
            inner: Inner::Unconfigured(Some(reason)),
        }
    }
}

impl<R: PagedRequest> EventPages for RecordPages<R> {
    async fn next_page(&mut self) -> Option<Result<Page, Error>> {
        match &mut self.inner {
            Inner::Listing {
                pages,
                listed_at,
                to_page,
            } => {
                let result = match pages.next_page().await? {
                    Ok(page) => to_page(&page, *listed_at),
                    Err(e) => Err(e),
                };
                count_request(R::OPERATION, &result);
                Some(result)
            }
            Inner::Unconfigured(reason) => reason.take().map(|reason| {
                Err(Error::Construction {
                    operation: R::OPERATION,
                    reason,
                })
            }),
        }
    }
}
