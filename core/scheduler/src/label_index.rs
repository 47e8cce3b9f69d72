//! Where placed pods with a given label are, and where placed pods whose required
//! anti-affinity needs a given label are: inter-pod affinity looks at the few nodes that can
//! matter through it instead of walking every placed pod for each pod it schedules, which
//! made each attempt grow with the cluster.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::pod_info::PodInfo;

/// Node name → pods counted on it.
type Nodes = HashMap<String, usize>;

/// Label key → value → nodes.
type ByLabel = HashMap<String, HashMap<String, Nodes>>;

#[derive(Debug, Default)]
pub struct LabelIndex {
    /// Pods carrying the label.
    labelled: ByLabel,
    /// Pods with a required anti-affinity term whose selector requires the label.
    anti_requiring: ByLabel,
    /// Pods with a required anti-affinity term that requires no particular label.
    anti_unkeyed: Nodes,
}

impl LabelIndex {
    /// Counts `pod` on `node`.
    pub fn add(&mut self, pod: &PodInfo, node: &str) {
        self.change(pod, node, true);
    }

    /// Undoes [`LabelIndex::add`].
    pub fn remove(&mut self, pod: &PodInfo, node: &str) {
        self.change(pod, node, false);
    }

    fn change(&mut self, pod: &PodInfo, node: &str, add: bool) {
        for (key, value) in &pod.labels {
            count(&mut self.labelled, key, value, node, add);
        }
        for term in &pod.required_anti_affinity {
            match term.required_label() {
                Some((key, value)) => count(&mut self.anti_requiring, key, value, node, add),
                None => bump(&mut self.anti_unkeyed, node, add),
            }
        }
    }

    /// Nodes holding a pod labelled `key=value`.
    pub fn nodes_labelled(&self, key: &str, value: &str) -> impl Iterator<Item = &str> {
        self.labelled
            .get(key)
            .and_then(|values| values.get(value))
            .into_iter()
            .flat_map(|nodes| nodes.keys().map(String::as_str))
    }

    /// Nodes holding a pod whose required anti-affinity may select a pod with `labels`.
    pub fn nodes_with_anti_for(&self, labels: &BTreeMap<String, String>) -> HashSet<&str> {
        let mut nodes: HashSet<&str> = self.anti_unkeyed.keys().map(String::as_str).collect();
        for (key, value) in labels {
            if let Some(found) = self.anti_requiring.get(key).and_then(|v| v.get(value)) {
                nodes.extend(found.keys().map(String::as_str));
            }
        }
        nodes
    }
}

fn count(index: &mut ByLabel, key: &str, value: &str, node: &str, add: bool) {
    if add {
        bump(
            index
                .entry(key.to_string())
                .or_default()
                .entry(value.to_string())
                .or_default(),
            node,
            add,
        );
        return;
    }
    let Some(values) = index.get_mut(key) else {
        return;
    };
    if let Some(nodes) = values.get_mut(value) {
        bump(nodes, node, false);
        if nodes.is_empty() {
            values.remove(value);
        }
    }
    if values.is_empty() {
        index.remove(key);
    }
}

fn bump(nodes: &mut Nodes, node: &str, add: bool) {
    if add {
        *nodes.entry(node.to_string()).or_default() += 1;
    } else if let Some(n) = nodes.get_mut(node) {
        *n -= 1;
        if *n == 0 {
            nodes.remove(node);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;

    fn pod(name: &str, labels: serde_json::Value, anti: serde_json::Value) -> PodInfo {
        let p: k8s_openapi::api::core::v1::Pod = serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "default", "labels": labels},
            "spec": {"containers": [{"name": "c"}],
                "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": anti}}}
        }))
        .unwrap();
        PodInfo::new(Arc::new(p))
    }

    fn sorted<'a>(nodes: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
        let mut v: Vec<&str> = nodes.into_iter().collect();
        v.sort();
        v
    }

    #[test]
    fn labelled_nodes_follow_pods_added_and_removed() {
        let mut index = LabelIndex::default();
        let a = pod("a", json!({"app": "web"}), json!([]));
        let b = pod("b", json!({"app": "web"}), json!([]));
        index.add(&a, "n1");
        index.add(&b, "n1");
        index.add(&b, "n2");
        assert_eq!(sorted(index.nodes_labelled("app", "web")), ["n1", "n2"]);
        assert!(index.nodes_labelled("app", "db").next().is_none());
        index.remove(&b, "n2");
        index.remove(&a, "n1");
        assert_eq!(sorted(index.nodes_labelled("app", "web")), ["n1"]);
        index.remove(&b, "n1");
        assert!(index.nodes_labelled("app", "web").next().is_none());
        assert!(index.labelled.is_empty(), "emptied entries are dropped");
    }

    #[test]
    fn anti_affinity_holders_are_found_by_the_label_their_terms_require() {
        let mut index = LabelIndex::default();
        let keyed = pod(
            "keyed",
            json!({}),
            json!([{"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "h"}]),
        );
        let unkeyed = pod(
            "unkeyed",
            json!({}),
            json!([{"labelSelector": {"matchExpressions": [{"key": "app", "operator": "Exists"}]}, "topologyKey": "h"}]),
        );
        index.add(&keyed, "n1");
        index.add(&unkeyed, "n2");
        let web = BTreeMap::from([("app".to_string(), "web".to_string())]);
        let db = BTreeMap::from([("app".to_string(), "db".to_string())]);
        assert_eq!(sorted(index.nodes_with_anti_for(&web)), ["n1", "n2"]);
        assert_eq!(sorted(index.nodes_with_anti_for(&db)), ["n2"]);
        index.remove(&unkeyed, "n2");
        assert_eq!(sorted(index.nodes_with_anti_for(&db)), Vec::<&str>::new());
    }
}
