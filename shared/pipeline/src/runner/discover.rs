//! Step 1, discover: list the compartment tree, apply the include/exclude rules (subtree
//! meaning), record new and missing compartments in the compartment index, and produce one
//! [`WorkItem`] per selected (region, compartment).

use std::sync::Arc;

use std::collections::BTreeMap;

use auditfwd_checkpoint::layout::{self, Layout};
use auditfwd_checkpoint::{ObjectStore, Scope, known, migrate};
use auditfwd_oci::Ocid;

use super::Runner;
use super::failure::{Pending, Warning};
use super::report::RunReport;
use crate::compartments::{CompartmentRule, select};
use crate::sink::Sink;
use crate::source::AuditSource;

/// One unit of work: a (region, compartment) of the tenancy, with its name for reports.
/// [`Runner::discover`] returns them; [`Runner::process`] works them (the Lambda poller sends
/// them over SQS and the worker processes them where they land).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkItem {
    /// Which (tenancy, region, compartment).
    pub scope: Scope,
    /// The compartment's path in the tree (`root/prod/app`).
    pub name: String,
}

/// The compartments a cycle will work, and the report it starts from.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    /// Tree errors, new and missing compartments, unmatched rules, warnings.
    pub report: RunReport,
    /// Every selected (region, compartment), regions outermost.
    pub items: Vec<WorkItem>,
}

impl<A, S, K> Runner<A, S, K>
where
    A: AuditSource + 'static,
    S: ObjectStore + 'static,
    K: Sink + 'static,
{
    /// Lists the compartment tree, applies the include/exclude rules, updates the compartment
    /// index (new and missing compartments), and returns every selected (region, compartment).
    /// When the tree cannot be listed, `report.tree_error` says why and there are no items.
    pub async fn discover(&self) -> Discovery {
        self.discover_selected(&self.config.include, true).await
    }

    /// [`Runner::discover`] with other include rules, optionally without recording the
    /// compartments in the index (a replay reads; it does not change what the live run knows).
    pub(crate) async fn discover_selected(
        &self,
        include: &[CompartmentRule],
        update_index: bool,
    ) -> Discovery {
        let now = self.clock.now();
        let mut report = RunReport {
            started_at: Some(now),
            ..RunReport::default()
        };
        let tree = match self.source.compartment_tree().await {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(tenancy = %self.source.tenancy(), error = %e, "cannot list the compartment tree");
                if update_index {
                    let tenancy = self.source.tenancy();
                    if let Err(w) =
                        known::record_tree_error(&*self.store, tenancy, &e.to_string(), now).await
                    {
                        report.warnings.push(Warning::Index(Arc::new(w)));
                    }
                }
                report.tree_error = Some(Arc::new(e));
                return Discovery {
                    report,
                    items: Vec::new(),
                };
            }
        };
        let selection = select(&tree, include, &self.config.exclude);
        report.unmatched_rules = selection
            .unmatched
            .iter()
            .map(|r| r.as_str().to_owned())
            .collect();
        let present: Vec<(String, String)> = selection
            .selected
            .iter()
            .map(|c| {
                let name = tree
                    .path(&c.id)
                    .map_or_else(|| c.name.clone(), |p| p.join("/"));
                (c.id.clone(), name)
            })
            .collect();
        if update_index {
            self.update_index(&present, &mut report).await;
        }
        let items = self.items(&present, &mut report);
        Discovery { report, items }
    }

    async fn update_index(&self, present: &[(String, String)], report: &mut RunReport) {
        let now = self.clock.now();
        match known::update(&*self.store, self.source.tenancy(), present, now).await {
            Ok(changes) => {
                for (id, name) in &changes.new {
                    tracing::info!(compartment = %id, %name, "new compartment: starting at the initial look-back");
                }
                for (id, name, seen) in &changes.missing {
                    tracing::warn!(compartment = %id, %name, last_seen = %seen, "compartment no longer in the tree");
                }
                report.new_compartments = changes.new;
                report.missing_compartments = changes.missing;
            }
            Err(e) => report.warnings.push(Warning::Index(Arc::new(e))),
        }
    }

    /// The tenancy's shard layout: read, or (first run) migrated from version-1 state, or
    /// created for the compartments of `items`.
    pub async fn layout_for(&self, items: &[WorkItem]) -> Result<Layout, Pending> {
        let tenancy = self.source.tenancy();
        match layout::load(&*self.store, tenancy).await {
            Ok(Some(l)) => return Ok(l),
            Ok(None) => {}
            Err(e) => return Err(Pending::CheckpointRead(Arc::new(e))),
        }
        let now = self.clock.now();
        let mut per_region: BTreeMap<&str, usize> = BTreeMap::new();
        let mut compartments: Vec<Ocid> = Vec::new();
        for i in items {
            *per_region.entry(i.scope.region.as_str()).or_default() += 1;
            if !compartments.contains(&i.scope.compartment) {
                compartments.push(i.scope.compartment.clone());
            }
        }
        let shards = layout::shards_for(per_region.values().copied().max().unwrap_or(0));
        let regions: Vec<String> = per_region.keys().map(|r| (*r).to_owned()).collect();
        let owner = &self.config.owner;
        let write_err = |e| Pending::CheckpointWrite(Arc::new(e));
        match migrate::from_v1(
            &*self.store,
            tenancy,
            &regions,
            &compartments,
            shards,
            now,
            owner,
        )
        .await
        {
            Ok(Some((l, m))) => {
                tracing::warn!(
                    compartments = m.compartments,
                    shards = m.shards,
                    "migrated per-compartment (version 1) state into shards"
                );
                Ok(l)
            }
            Ok(None) => layout::create(&*self.store, tenancy, &Layout::new(shards, now))
                .await
                .map_err(write_err),
            Err(e) => Err(write_err(e)),
        }
    }

    fn items(&self, present: &[(String, String)], report: &mut RunReport) -> Vec<WorkItem> {
        let mut items = Vec::new();
        for region in self.source.regions() {
            for (id, name) in present {
                let Ok(compartment) = Ocid::parse(id) else {
                    report.warnings.push(Warning::NotAnOcid(id.clone()));
                    continue;
                };
                if !self.source.covers(&region, &compartment) {
                    continue;
                }
                items.push(WorkItem {
                    scope: Scope::new(self.source.tenancy().clone(), region.clone(), compartment),
                    name: name.clone(),
                });
            }
        }
        items
    }
}
