//! A node with the pods placed on it and their running totals, updated incrementally as pods
//! are assumed, bound and deleted.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Taint};

use crate::pod_info::{HostPort, PodInfo};
use crate::resources::Resources;

/// One node and what is placed on it.
#[derive(Debug, Clone, Default)]
pub struct NodeInfo {
    /// The Node object; `None` while only pods name this node (it is not known yet).
    pub node: Option<Arc<Node>>,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub allocatable: Resources,
    pub taints: Vec<Taint>,
    pub unschedulable: bool,
    pub ready: bool,
    pub pods: Vec<Arc<PodInfo>>,
    pub requested: Resources,
    pub non_zero_requested: Resources,
    pub host_ports: Vec<HostPort>,
    /// Pods per controller owner UID, for spreading the replicas of one owner.
    pub owner_counts: HashMap<String, u32>,
    /// How many pods here carry pod affinity or anti-affinity terms.
    pub affinity_pods: usize,
}

impl NodeInfo {
    pub fn empty(name: &str) -> NodeInfo {
        NodeInfo {
            name: name.to_string(),
            ..NodeInfo::default()
        }
    }

    /// Replaces the Node object, keeping the pods.
    pub fn set_node(&mut self, node: Arc<Node>) {
        let spec = node.spec.as_ref();
        let status = node.status.as_ref();
        self.labels = node.metadata.labels.clone().unwrap_or_default();
        self.allocatable = Resources::from_list(
            status
                .and_then(|s| s.allocatable.as_ref())
                .or_else(|| status.and_then(|s| s.capacity.as_ref())),
        );
        self.taints = spec.and_then(|s| s.taints.clone()).unwrap_or_default();
        self.unschedulable = spec.and_then(|s| s.unschedulable).unwrap_or(false);
        self.ready = status
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
            .is_some_and(|c| c.status == "True");
        self.node = Some(node);
    }

    pub fn add_pod(&mut self, pod: Arc<PodInfo>) {
        self.requested.add(&pod.requests.exact);
        self.non_zero_requested.add(&pod.requests.non_zero);
        self.host_ports.extend(pod.host_ports.iter().cloned());
        if let Some(owner) = &pod.owner {
            *self.owner_counts.entry(owner.clone()).or_default() += 1;
        }
        if pod.has_affinity() {
            self.affinity_pods += 1;
        }
        self.pods.push(pod);
    }

    /// Removes the pod with `key` and returns it; `None` when it was not here.
    pub fn remove_pod(&mut self, key: &str) -> Option<Arc<PodInfo>> {
        let i = self.pods.iter().position(|p| p.key == key)?;
        let pod = self.pods.swap_remove(i);
        self.requested.sub(&pod.requests.exact);
        self.non_zero_requested.sub(&pod.requests.non_zero);
        for hp in &pod.host_ports {
            if let Some(j) = self.host_ports.iter().position(|h| h == hp) {
                self.host_ports.swap_remove(j);
            }
        }
        if let Some(owner) = &pod.owner
            && let Some(n) = self.owner_counts.get_mut(owner)
        {
            *n -= 1;
            if *n == 0 {
                self.owner_counts.remove(owner);
            }
        }
        if pod.has_affinity() {
            self.affinity_pods -= 1;
        }
        Some(pod)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, cpu: &str, owner: &str) -> Arc<PodInfo> {
        let p: k8s_openapi::api::core::v1::Pod = serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "default",
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": owner, "controller": true}]},
            "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}},
                "ports": [{"containerPort": 80, "hostPort": 8080}]}]}
        }))
        .unwrap();
        Arc::new(PodInfo::new(Arc::new(p)))
    }

    #[test]
    fn totals_follow_pods_added_and_removed() {
        let mut n = NodeInfo::empty("n1");
        n.add_pod(pod("a", "200m", "u1"));
        n.add_pod(pod("b", "300m", "u1"));
        assert_eq!(n.requested.milli_cpu, 500);
        assert_eq!(n.requested.pods, 2);
        assert_eq!(n.owner_counts["u1"], 2);
        assert_eq!(n.host_ports.len(), 2);
        assert!(n.remove_pod("default/a").is_some());
        assert!(n.remove_pod("default/a").is_none());
        assert_eq!(n.requested.milli_cpu, 300);
        assert_eq!(n.owner_counts["u1"], 1);
        assert_eq!(n.host_ports.len(), 1);
        assert!(n.remove_pod("default/b").is_some());
        assert_eq!(n.requested, Resources::default());
        assert!(n.owner_counts.is_empty());
    }
}
