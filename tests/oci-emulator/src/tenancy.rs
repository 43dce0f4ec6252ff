//! The synthetic tenancy: a root compartment (the tenancy) and a tree of compartments, generated
//! from the seed, plus per-compartment access overrides used to simulate policy changes.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, TimeZone as _, Utc};
use serde::{Deserialize, Serialize};

use crate::seed;

/// Shape of the generated compartment tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenancySpec {
    /// Number of compartments below the root.
    pub compartments: usize,
    /// Maximum depth below the root (1 = only direct children of the tenancy).
    pub max_depth: usize,
    /// The tenancy's (root compartment's) name.
    pub name: String,
    /// Region name used in generated event data.
    pub region: String,
}

impl Default for TenancySpec {
    fn default() -> Self {
        Self {
            compartments: 12,
            max_depth: 3,
            name: "emulated-tenancy".into(),
            region: "us-ashburn-1".into(),
        }
    }
}

/// How a compartment answers requests (to simulate a compartment turning inaccessible).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Normal.
    #[default]
    Normal,
    /// Requests naming it get `404 NotAuthorizedOrNotFound` (deleted, or policy removed).
    NotFound,
    /// Requests naming it get `403 NotAuthorized`.
    Forbidden,
}

/// A compartment, serialised exactly as Identity returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Compartment {
    /// OCID.
    pub id: String,
    /// Parent OCID (for the root, the tenancy's own OCID).
    pub compartment_id: String,
    /// Name, unique among siblings.
    pub name: String,
    /// Description.
    pub description: String,
    /// RFC 3339 with milliseconds.
    pub time_created: String,
    /// `ACTIVE`, `DELETED`, ...
    pub lifecycle_state: String,
    /// Present only for inactive compartments.
    pub inactive_status: Option<i64>,
    /// Whether the caller can access it.
    pub is_accessible: bool,
    /// Free-form tags.
    pub freeform_tags: BTreeMap<String, String>,
    /// Defined tags.
    pub defined_tags: BTreeMap<String, BTreeMap<String, serde_json::Value>>,
}

#[derive(Debug, Clone)]
pub(crate) struct CompartmentRecord {
    pub(crate) compartment: Compartment,
    pub(crate) depth: usize,
    pub(crate) access: Access,
    /// Events are generated only from this minute on (compartments added at run time).
    pub(crate) created_ms: i64,
}

/// The tenancy: root first, then compartments in creation order.
#[derive(Debug, Clone)]
pub(crate) struct Tenancy {
    pub(crate) tenancy_id: String,
    pub(crate) name: String,
    pub(crate) region: String,
    pub(crate) namespace: String,
    pub(crate) records: Vec<CompartmentRecord>,
    index: HashMap<String, usize>,
    /// Names taken under each parent (the root excluded), so naming a new child costs a lookup
    /// rather than a scan of the whole tree.
    child_names: HashMap<String, HashSet<String>>,
}

const WORDS: &[&str] = &[
    "prod",
    "dev",
    "test",
    "staging",
    "network",
    "security",
    "shared-services",
    "finance",
    "hr",
    "data-lake",
    "analytics",
    "sandbox",
    "ops",
    "apps",
    "database",
    "identity",
    "logging",
    "payments",
    "web",
    "batch",
    "ml",
    "backup",
    "dr",
    "integration",
];

pub(crate) fn rfc3339_ms(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Tenancy {
    pub(crate) fn generate(seed_value: u64, spec: &TenancySpec) -> Self {
        let mut rng = seed::rng(seed_value, &[b"tenancy"]);
        let tenancy_id = seed::ocid(&mut rng, "tenancy", "");
        let mut namespace = String::new();
        for _ in 0..12 {
            namespace.push(char::from(rng.u8(b'a'..=b'z')));
        }
        // Compartments were created long before any event we generate.
        let epoch = Utc
            .with_ymd_and_hms(2021, 3, 1, 9, 0, 0)
            .single()
            .unwrap_or_default();
        let root = Compartment {
            id: tenancy_id.clone(),
            compartment_id: tenancy_id.clone(),
            name: spec.name.clone(),
            description: "The root compartment (tenancy)".into(),
            time_created: rfc3339_ms(epoch),
            lifecycle_state: "ACTIVE".into(),
            inactive_status: None,
            is_accessible: true,
            freeform_tags: BTreeMap::new(),
            defined_tags: BTreeMap::new(),
        };
        let mut t = Self {
            tenancy_id,
            name: spec.name.clone(),
            region: spec.region.clone(),
            namespace,
            records: Vec::new(),
            index: HashMap::new(),
            child_names: HashMap::new(),
        };
        t.push(CompartmentRecord {
            compartment: root,
            depth: 0,
            access: Access::Normal,
            created_ms: i64::MIN,
        });
        let max_depth = spec.max_depth.max(1);
        // Records that may still get children, in creation order (a tree of thousands of
        // compartments is generated in linear time).
        let mut parents: Vec<usize> = vec![0];
        for i in 0..spec.compartments {
            let parent = parents[rng.usize(..parents.len())];
            let parent_id = t.records[parent].compartment.id.clone();
            let depth = t.records[parent].depth + 1;
            let base = WORDS[rng.usize(..WORDS.len())];
            let name = t.unique_child_name(&parent_id, base);
            let created = epoch
                + Duration::hours(i as i64 * 7 + 1)
                + Duration::milliseconds(rng.i64(0..3_600_000));
            let mut freeform_tags = BTreeMap::new();
            freeform_tags.insert(
                "CostCenter".to_string(),
                format!("cc-{}", rng.u32(1000..9999)),
            );
            let mut defined = BTreeMap::new();
            defined.insert(
                "Operations".to_string(),
                BTreeMap::from([(
                    "Owner".to_string(),
                    serde_json::Value::from(format!("team-{base}")),
                )]),
            );
            let c = Compartment {
                id: seed::ocid(&mut rng, "compartment", ""),
                compartment_id: parent_id,
                description: format!("{name} compartment"),
                name,
                time_created: rfc3339_ms(created),
                lifecycle_state: "ACTIVE".into(),
                inactive_status: None,
                is_accessible: true,
                freeform_tags,
                defined_tags: defined,
            };
            if depth < max_depth {
                parents.push(t.records.len());
            }
            t.push(CompartmentRecord {
                compartment: c,
                depth,
                access: Access::Normal,
                created_ms: i64::MIN,
            });
        }
        t
    }

    fn unique_child_name(&self, parent_id: &str, base: &str) -> String {
        let siblings = self.child_names.get(parent_id);
        let taken = |n: &str| siblings.is_some_and(|s| s.contains(n));
        if !taken(base) {
            return base.to_string();
        }
        (2..)
            .map(|i| format!("{base}-{i}"))
            .find(|n| !taken(n))
            .unwrap_or_default()
    }

    fn push(&mut self, r: CompartmentRecord) {
        if r.depth > 0 {
            self.child_names
                .entry(r.compartment.compartment_id.clone())
                .or_default()
                .insert(r.compartment.name.clone());
        }
        self.index
            .insert(r.compartment.id.clone(), self.records.len());
        self.records.push(r);
    }

    pub(crate) fn get(&self, id: &str) -> Option<&CompartmentRecord> {
        self.index.get(id).map(|&i| &self.records[i])
    }

    pub(crate) fn get_mut(&mut self, id: &str) -> Option<&mut CompartmentRecord> {
        self.index.get(id).map(|&i| &mut self.records[i])
    }

    /// Adds a compartment under `parent_id` at run time; events are generated for it from
    /// `now` on.
    pub(crate) fn add(
        &mut self,
        seed_value: u64,
        parent_id: &str,
        name: Option<String>,
        now: DateTime<Utc>,
    ) -> Option<Compartment> {
        let parent = self.get(parent_id)?;
        let depth = parent.depth + 1;
        let n = self.records.len();
        let mut rng = seed::rng(
            seed_value,
            &[b"added-compartment", n.to_string().as_bytes()],
        );
        let name = match name {
            Some(n) => n,
            None => self.unique_child_name(parent_id, WORDS[rng.usize(..WORDS.len())]),
        };
        let c = Compartment {
            id: seed::ocid(&mut rng, "compartment", ""),
            compartment_id: parent_id.to_string(),
            description: format!("{name} compartment"),
            name,
            time_created: rfc3339_ms(now),
            lifecycle_state: "ACTIVE".into(),
            inactive_status: None,
            is_accessible: true,
            freeform_tags: BTreeMap::new(),
            defined_tags: BTreeMap::new(),
        };
        self.push(CompartmentRecord {
            compartment: c.clone(),
            depth,
            access: Access::Normal,
            created_ms: now.timestamp_millis(),
        });
        Some(c)
    }

    /// The compartment as Identity returns it now (accessibility reflects the override).
    pub(crate) fn view(r: &CompartmentRecord) -> Compartment {
        let mut c = r.compartment.clone();
        c.is_accessible = r.access == Access::Normal;
        c
    }

    /// Every compartment id including the root, in creation order.
    pub(crate) fn ids(&self) -> Vec<String> {
        self.records
            .iter()
            .map(|r| r.compartment.id.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_tree_and_depth_is_bounded() {
        let spec = TenancySpec {
            compartments: 40,
            max_depth: 2,
            ..TenancySpec::default()
        };
        let a = Tenancy::generate(5, &spec);
        let b = Tenancy::generate(5, &spec);
        let c = Tenancy::generate(6, &spec);
        assert_eq!(a.ids(), b.ids());
        assert_ne!(a.ids(), c.ids());
        assert_eq!(a.records.len(), 41);
        assert!(a.records.iter().all(|r| r.depth <= 2));
        for r in &a.records[1..] {
            let siblings = a
                .records
                .iter()
                .filter(|o| {
                    o.depth > 0 && o.compartment.compartment_id == r.compartment.compartment_id
                })
                .filter(|o| o.compartment.name == r.compartment.name)
                .count();
            assert_eq!(siblings, 1, "duplicate sibling name {}", r.compartment.name);
        }
    }
}
