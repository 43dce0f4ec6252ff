//! The compartment tree, root included.

use std::collections::{BTreeMap, BTreeSet};

use super::Compartment;

/// Every compartment of a tenancy, with parent and child links.
///
/// Iteration visits the root, then each subtree depth-first with siblings in name order.
/// A compartment whose parent is not in the listing (possible with `accessLevel=ACCESSIBLE`)
/// is an *orphan*: it is still visited, after the rooted tree, so no compartment is ever
/// silently skipped.
#[derive(Debug, Clone)]
pub struct CompartmentTree {
    root: Compartment,
    by_id: BTreeMap<String, Compartment>,
    children: BTreeMap<String, Vec<String>>,
    orphans: Vec<String>,
}

impl CompartmentTree {
    /// Builds the tree from the root and a subtree listing (which OCI returns without the root).
    pub fn new(root: Compartment, listed: Vec<Compartment>) -> Self {
        let mut by_id: BTreeMap<String, Compartment> = listed
            .into_iter()
            .filter(|c| c.id != root.id)
            .map(|c| (c.id.clone(), c))
            .collect();
        let mut children: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut orphans = Vec::new();
        for c in by_id.values() {
            match c.compartment_id.as_deref() {
                Some(p) if p == root.id || by_id.contains_key(p) => {
                    children.entry(p.to_owned()).or_default().push(c.id.clone())
                }
                _ => orphans.push(c.id.clone()),
            }
        }
        let name_of = |id: &String| by_id.get(id).map(|c| (c.name.clone(), c.id.clone()));
        for kids in children.values_mut() {
            kids.sort_by_key(name_of);
        }
        orphans.sort_by_key(name_of);
        by_id.insert(root.id.clone(), root.clone());
        CompartmentTree {
            root,
            by_id,
            children,
            orphans,
        }
    }

    /// The tenancy's root compartment.
    pub fn root(&self) -> &Compartment {
        &self.root
    }

    /// A compartment by OCID.
    pub fn get(&self, id: &str) -> Option<&Compartment> {
        self.by_id.get(id)
    }

    /// Number of compartments, root included.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Never true: the root is always there.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Direct children of `id`, in name order.
    pub fn children(&self, id: &str) -> impl Iterator<Item = &Compartment> {
        self.children
            .get(id)
            .into_iter()
            .flatten()
            .filter_map(|c| self.by_id.get(c))
    }

    /// The parent of `id` (`None` for the root and for orphans).
    pub fn parent(&self, id: &str) -> Option<&Compartment> {
        if id == self.root.id {
            return None;
        }
        self.by_id
            .get(id)?
            .compartment_id
            .as_deref()
            .and_then(|p| self.by_id.get(p))
    }

    /// Compartments whose parent is not in the tree.
    pub fn orphans(&self) -> impl Iterator<Item = &Compartment> {
        self.orphans.iter().filter_map(|c| self.by_id.get(c))
    }

    /// Every compartment exactly once: root, its subtrees depth-first, then orphans and their
    /// subtrees, then anything else.
    pub fn iter(&self) -> impl Iterator<Item = &Compartment> {
        let mut starts = vec![self.root.id.as_str()];
        starts.extend(self.orphans.iter().map(String::as_str));
        let mut seen = BTreeSet::new();
        let mut out = Vec::with_capacity(self.by_id.len());
        for s in starts {
            self.walk(s, &mut seen, &mut out);
        }
        // Whatever is still unvisited sits in a parent cycle (bad input, never from OCI):
        // visit it anyway, because a skipped compartment would be a silent hole.
        for id in self.by_id.keys() {
            self.walk(id, &mut seen, &mut out);
        }
        out.into_iter()
    }

    /// `id` and everything below it.
    pub fn subtree(&self, id: &str) -> Vec<&Compartment> {
        let mut out = Vec::new();
        self.walk(id, &mut BTreeSet::new(), &mut out);
        out
    }

    /// Names from the root (or an orphan) down to `id`, e.g. `["acme", "prod", "app"]`.
    pub fn path(&self, id: &str) -> Option<Vec<&str>> {
        let mut names = Vec::new();
        let mut cur = self.by_id.get(id)?;
        let mut guard = 0;
        loop {
            names.push(cur.name.as_str());
            match self.parent(&cur.id) {
                Some(p) if guard < self.by_id.len() => cur = p,
                _ => break,
            }
            guard += 1;
        }
        names.reverse();
        Some(names)
    }

    fn walk<'a>(&'a self, id: &str, seen: &mut BTreeSet<&'a str>, out: &mut Vec<&'a Compartment>) {
        let Some(c) = self.by_id.get(id) else { return };
        // A cycle cannot come from OCI, but a tree must never loop on bad input.
        if !seen.insert(c.id.as_str()) {
            return;
        }
        out.push(c);
        for child in self.children.get(id).into_iter().flatten() {
            self.walk(child, seen, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(id: &str, parent: &str, name: &str) -> Compartment {
        serde_json::from_value(serde_json::json!({"id": id, "compartmentId": parent, "name": name}))
            .unwrap()
    }

    #[test]
    fn walks_root_first_then_children_by_name_and_keeps_orphans() {
        let root = c("T", "T", "acme");
        let tree = CompartmentTree::new(
            root,
            vec![
                c("b", "T", "beta"),
                c("a", "T", "alpha"),
                c("a1", "a", "app"),
                c("x", "hidden", "lost"),
                c("x1", "x", "lost-child"),
            ],
        );
        let order: Vec<&str> = tree.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(order, ["T", "a", "a1", "b", "x", "x1"]);
        assert_eq!(tree.len(), 6);
        assert_eq!(
            tree.orphans().map(|c| c.id.as_str()).collect::<Vec<_>>(),
            ["x"]
        );
        assert_eq!(tree.path("a1").unwrap(), ["acme", "alpha", "app"]);
        assert_eq!(tree.path("x1").unwrap(), ["lost", "lost-child"]);
        assert_eq!(tree.subtree("a").len(), 2);
        assert!(tree.parent("T").is_none());
        assert_eq!(tree.children("T").count(), 2);
    }

    #[test]
    fn cycles_in_bad_input_do_not_loop() {
        let tree = CompartmentTree::new(
            c("T", "T", "root"),
            vec![c("p", "q", "p"), c("q", "p", "q")],
        );
        // Neither has a parent path to the root, but each names the other: both are kept.
        assert_eq!(tree.iter().count(), 3);
        assert!(tree.path("p").is_some());
    }
}
