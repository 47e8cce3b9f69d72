//! The scheduler's cluster snapshot: nodes with their placed pods, kept up to date from watch
//! events and from the scheduler's own assumptions (a pod counts on its node as soon as the
//! scheduler picks the node, before the binding is confirmed).

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Node;

use crate::affinity_term::NamespaceLabels;
use crate::label_index::LabelIndex;
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;
use crate::volumes::Volumes;

#[derive(Debug)]
struct Placed {
    node: String,
    assumed: bool,
}

/// Nodes and placed pods.
#[derive(Debug, Default)]
pub struct Cache {
    nodes: Vec<NodeInfo>,
    index: HashMap<String, usize>,
    /// Pods placed on nodes the cache has no Node object for (yet, or any more).
    ghosts: HashMap<String, NodeInfo>,
    placed: HashMap<String, Placed>,
    /// Pending pods that preemption nominated for a node, by node.
    nominated: HashMap<String, Vec<Arc<PodInfo>>>,
    pub namespaces: NamespaceLabels,
    /// Claims, volumes and classes, for volume placement.
    pub volumes: Volumes,
    /// Placed pods by label, for inter-pod affinity.
    labels: LabelIndex,
}

impl Cache {
    pub fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }

    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.index.get(name).map(|&i| &self.nodes[i])
    }

    /// Placed pods by label (pods on nodes without a Node object included: look nodes up
    /// with [`Cache::node`]).
    pub fn labels(&self) -> &LabelIndex {
        &self.labels
    }

    fn node_mut(&mut self, name: &str) -> &mut NodeInfo {
        if let Some(&i) = self.index.get(name) {
            return &mut self.nodes[i];
        }
        self.ghosts
            .entry(name.to_string())
            .or_insert_with(|| NodeInfo::empty(name))
    }

    /// Adds or replaces a node; returns whether anything scheduling depends on changed.
    pub fn upsert_node(&mut self, node: Arc<Node>) -> bool {
        let name = node.metadata.name.clone().unwrap_or_default();
        if let Some(&i) = self.index.get(&name) {
            let info = &mut self.nodes[i];
            let before = (
                info.labels.clone(),
                info.allocatable,
                info.taints.clone(),
                info.unschedulable,
                info.ready,
            );
            info.set_node(node);
            return before
                != (
                    info.labels.clone(),
                    info.allocatable,
                    info.taints.clone(),
                    info.unschedulable,
                    info.ready,
                );
        }
        let mut info = self
            .ghosts
            .remove(&name)
            .unwrap_or_else(|| NodeInfo::empty(&name));
        info.set_node(node);
        self.index.insert(name, self.nodes.len());
        self.nodes.push(info);
        true
    }

    pub fn remove_node(&mut self, name: &str) {
        let Some(i) = self.index.remove(name) else {
            return;
        };
        let mut info = self.nodes.swap_remove(i);
        if let Some(moved) = self.nodes.get(i) {
            self.index.insert(moved.name.clone(), i);
        }
        if !info.pods.is_empty() {
            info.node = None;
            self.ghosts.insert(name.to_string(), info);
        }
    }

    /// Records a pod the API says is on a node (a new one, an update, or the confirmation of
    /// an assumed one).
    pub fn upsert_placed(&mut self, pod: Arc<PodInfo>) {
        let Some(node) = pod.node_name.clone() else {
            return;
        };
        self.remove_pod(&pod.key);
        if pod.finished {
            return;
        }
        self.node_mut(&node).add_pod(pod.clone());
        self.labels.add(&pod, &node);
        self.placed.insert(
            pod.key.clone(),
            Placed {
                node,
                assumed: false,
            },
        );
    }

    /// Counts a pod on `node` before the binding is confirmed.
    pub fn assume(&mut self, pod: Arc<PodInfo>, node: &str) {
        self.remove_pod(&pod.key);
        self.node_mut(node).add_pod(pod.clone());
        self.labels.add(&pod, node);
        self.placed.insert(
            pod.key.clone(),
            Placed {
                node: node.to_string(),
                assumed: true,
            },
        );
    }

    /// Undoes [`Cache::assume`] after a failed binding; a confirmed placement stays.
    pub fn forget(&mut self, key: &str) {
        if self.placed.get(key).is_some_and(|p| p.assumed) {
            self.remove_pod(key);
        }
    }

    /// Removes a pod wherever it is placed; returns the node it was on.
    pub fn remove_pod(&mut self, key: &str) -> Option<String> {
        let placed = self.placed.remove(key)?;
        let removed = if let Some(&i) = self.index.get(&placed.node) {
            self.nodes[i].remove_pod(key)
        } else if let Some(g) = self.ghosts.get_mut(&placed.node) {
            let removed = g.remove_pod(key);
            if g.pods.is_empty() {
                self.ghosts.remove(&placed.node);
            }
            removed
        } else {
            None
        };
        if let Some(pod) = removed {
            self.labels.remove(&pod, &placed.node);
        }
        Some(placed.node)
    }

    /// Keys of every placed pod.
    pub fn placed_keys(&self) -> impl Iterator<Item = &String> {
        self.placed.keys()
    }

    pub fn is_placed(&self, key: &str) -> bool {
        self.placed.contains_key(key)
    }

    /// Sets (or with `None` clears) the node a pending pod is nominated for.
    pub fn nominate(&mut self, pod: &Arc<PodInfo>, node: Option<&str>) {
        for list in self.nominated.values_mut() {
            list.retain(|p| p.key != pod.key);
        }
        self.nominated.retain(|_, l| !l.is_empty());
        if let Some(node) = node {
            self.nominated
                .entry(node.to_string())
                .or_default()
                .push(pod.clone());
        }
    }

    /// Pods nominated for `node`.
    pub fn nominated_on(&self, node: &str) -> &[Arc<PodInfo>] {
        self.nominated.get(node).map(Vec::as_slice).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str) -> Arc<Node> {
        Arc::new(
            serde_json::from_value(json!({"metadata": {"name": name},
                "status": {"allocatable": {"cpu": "2", "pods": "10"},
                "conditions": [{"type": "Ready", "status": "True"}]}}))
            .unwrap(),
        )
    }

    fn pod(name: &str, node: Option<&str>) -> Arc<PodInfo> {
        let p: k8s_openapi::api::core::v1::Pod = serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": node, "containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}]}
        }))
        .unwrap();
        Arc::new(PodInfo::new(Arc::new(p)))
    }

    #[test]
    fn assumed_pods_count_until_forgotten_and_confirmed_ones_stay() {
        let mut c = Cache::default();
        c.upsert_node(node("n1"));
        c.assume(pod("a", None), "n1");
        assert_eq!(c.node("n1").unwrap().requested.milli_cpu, 1000);
        c.forget("default/a");
        assert_eq!(c.node("n1").unwrap().requested.milli_cpu, 0);
        c.assume(pod("a", None), "n1");
        c.upsert_placed(pod("a", Some("n1")));
        c.forget("default/a");
        assert_eq!(c.node("n1").unwrap().requested.milli_cpu, 1000);
        assert_eq!(c.remove_pod("default/a").as_deref(), Some("n1"));
        assert_eq!(c.node("n1").unwrap().requested.milli_cpu, 0);
    }

    #[test]
    fn pods_seen_before_their_node_are_kept_and_removed_nodes_keep_the_index_right() {
        let mut c = Cache::default();
        c.upsert_placed(pod("early", Some("n2")));
        assert!(c.node("n2").is_none());
        c.upsert_node(node("n1"));
        c.upsert_node(node("n2"));
        assert_eq!(c.node("n2").unwrap().pods.len(), 1);
        c.remove_node("n1");
        assert_eq!(c.nodes().len(), 1);
        assert_eq!(c.node("n2").unwrap().name, "n2");
        assert!(!c.upsert_node(node("n2")));
    }

    #[test]
    fn the_label_index_follows_placements_relabels_and_removals() {
        let labelled = |app: &str| {
            let p: k8s_openapi::api::core::v1::Pod = serde_json::from_value(json!({
                "metadata": {"name": "a", "namespace": "default", "labels": {"app": app}},
                "spec": {"nodeName": "n1", "containers": [{"name": "c"}]}
            }))
            .unwrap();
            Arc::new(PodInfo::new(Arc::new(p)))
        };
        let nodes = |c: &Cache, app: &str| c.labels().nodes_labelled("app", app).count();
        let mut c = Cache::default();
        c.upsert_node(node("n1"));
        c.upsert_placed(labelled("web"));
        assert_eq!(nodes(&c, "web"), 1);
        c.upsert_placed(labelled("db"));
        assert_eq!((nodes(&c, "web"), nodes(&c, "db")), (0, 1));
        c.remove_pod("default/a");
        assert_eq!(nodes(&c, "db"), 0);
        c.assume(labelled("web"), "n1");
        c.forget("default/a");
        assert_eq!(nodes(&c, "web"), 0);
    }
}
