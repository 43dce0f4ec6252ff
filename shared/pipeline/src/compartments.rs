//! Which compartments are polled: include and exclude rules by OCID, name or path, each
//! meaning the compartment *and everything below it*. A rule that matches nothing is reported,
//! because a typo in an include list would otherwise silently stop collection.

use auditfwd_oci::identity::{Compartment, CompartmentTree};

/// One include or exclude rule: an OCID, a compartment name (case-insensitive), or a path of
/// names from the root (`prod/app`, or with the root's name first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompartmentRule(String);

impl CompartmentRule {
    /// A rule from its text.
    pub fn new(s: impl Into<String>) -> Self {
        CompartmentRule(s.into().trim().to_owned())
    }

    /// The rule as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn matches(&self, tree: &CompartmentTree, c: &Compartment) -> bool {
        let rule = self.0.as_str();
        if rule.starts_with("ocid1.") {
            return c.id == rule;
        }
        if !rule.contains('/') {
            return c.name.eq_ignore_ascii_case(rule);
        }
        let want: Vec<&str> = rule.trim_matches('/').split('/').collect();
        let Some(path) = tree.path(&c.id) else {
            return false;
        };
        let eq = |a: &[&str], b: &[&str]| {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.eq_ignore_ascii_case(y))
        };
        eq(&path, &want) || (path.len() > 1 && eq(&path[1..], &want))
    }
}

/// The compartments to poll and the rules that matched nothing.
#[derive(Debug)]
pub struct Selection<'a> {
    /// Selected compartments, in tree order.
    pub selected: Vec<&'a Compartment>,
    /// Include or exclude rules that matched no compartment.
    pub unmatched: Vec<CompartmentRule>,
}

/// Applies `include` (empty: the whole tree) and then `exclude`, each with subtree meaning.
pub fn select<'a>(
    tree: &'a CompartmentTree,
    include: &[CompartmentRule],
    exclude: &[CompartmentRule],
) -> Selection<'a> {
    let mut unmatched = Vec::new();
    let mut roots = |rules: &[CompartmentRule]| -> std::collections::BTreeSet<&'a str> {
        let mut ids = std::collections::BTreeSet::new();
        for rule in rules {
            let hits: Vec<&Compartment> = tree.iter().filter(|c| rule.matches(tree, c)).collect();
            if hits.is_empty() {
                unmatched.push(rule.clone());
            }
            for hit in hits {
                ids.extend(tree.subtree(&hit.id).into_iter().map(|c| c.id.as_str()));
            }
        }
        ids
    };
    let included = roots(include);
    let excluded = roots(exclude);
    let selected = tree
        .iter()
        .filter(|c| include.is_empty() || included.contains(c.id.as_str()))
        .filter(|c| !excluded.contains(c.id.as_str()))
        .collect();
    Selection {
        selected,
        unmatched,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> CompartmentTree {
        let c = |id: &str, parent: &str, name: &str| -> Compartment {
            serde_json::from_value(
                serde_json::json!({"id": id, "compartmentId": parent, "name": name}),
            )
            .unwrap()
        };
        CompartmentTree::new(
            c("ocid1.tenancy.oc1..t", "ocid1.tenancy.oc1..t", "acme"),
            vec![
                c(
                    "ocid1.compartment.oc1..prod",
                    "ocid1.tenancy.oc1..t",
                    "prod",
                ),
                c(
                    "ocid1.compartment.oc1..app",
                    "ocid1.compartment.oc1..prod",
                    "app",
                ),
                c(
                    "ocid1.compartment.oc1..db",
                    "ocid1.compartment.oc1..prod",
                    "db",
                ),
                c("ocid1.compartment.oc1..dev", "ocid1.tenancy.oc1..t", "dev"),
                c(
                    "ocid1.compartment.oc1..devapp",
                    "ocid1.compartment.oc1..dev",
                    "app",
                ),
            ],
        )
    }

    fn names(s: &Selection<'_>) -> Vec<String> {
        s.selected
            .iter()
            .map(|c| {
                c.id.trim_start_matches("ocid1.compartment.oc1..")
                    .trim_start_matches("ocid1.tenancy.oc1..")
                    .to_owned()
            })
            .collect()
    }

    fn rules(r: &[&str]) -> Vec<CompartmentRule> {
        r.iter().map(|s| CompartmentRule::new(*s)).collect()
    }

    #[test]
    fn rules_mean_subtrees_and_exclusions_win() {
        let t = tree();
        assert_eq!(
            names(&select(&t, &[], &[])),
            ["t", "dev", "devapp", "prod", "app", "db"]
        );
        assert_eq!(
            names(&select(&t, &rules(&["prod"]), &[])),
            ["prod", "app", "db"]
        );
        assert_eq!(
            names(&select(&t, &[], &rules(&["ocid1.compartment.oc1..prod"]))),
            ["t", "dev", "devapp"]
        );
        assert_eq!(
            names(&select(&t, &rules(&["PROD"]), &rules(&["prod/db"]))),
            ["prod", "app"]
        );
        // A bare name matches every compartment of that name; a path picks one.
        assert_eq!(names(&select(&t, &rules(&["app"]), &[])), ["devapp", "app"]);
        assert_eq!(
            names(&select(&t, &rules(&["acme/dev/app"]), &[])),
            ["devapp"]
        );
    }

    #[test]
    fn rules_that_match_nothing_are_reported() {
        let t = tree();
        let s = select(
            &t,
            &rules(&["prdo"]),
            &rules(&["ocid1.compartment.oc1..gone"]),
        );
        assert!(s.selected.is_empty());
        assert_eq!(s.unmatched, rules(&["prdo", "ocid1.compartment.oc1..gone"]));
    }
}
