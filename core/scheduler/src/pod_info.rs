//! A pod as the scheduler sees it: the object plus everything derived from it once (requests,
//! compiled selectors and terms), so filters never re-parse the spec per node.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, Toleration};
use k8s_openapi::jiff::Timestamp;
use skiff_api::selector::LabelSelector;

use crate::affinity_term::AffinityTerm;
use crate::node_selector::{RequiredNodeSelector, Term};
use crate::resources::{PodRequests, pod_requests};

/// A host port a pod binds: protocol, host IP (empty means every address) and port.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostPort {
    pub protocol: String,
    pub ip: String,
    pub port: i32,
}

impl HostPort {
    /// Two host ports conflict on the same protocol and port when either listens on every
    /// address or both on the same one.
    pub fn conflicts(&self, other: &HostPort) -> bool {
        let wild = |ip: &str| ip.is_empty() || ip == "0.0.0.0" || ip == "::";
        self.port == other.port
            && self.protocol == other.protocol
            && (wild(&self.ip) || wild(&other.ip) || self.ip == other.ip)
    }
}

/// One `topologySpreadConstraints` entry.
#[derive(Clone, Debug)]
pub struct SpreadConstraint {
    pub max_skew: i64,
    pub topology_key: String,
    /// `DoNotSchedule` (a filter) rather than `ScheduleAnyway` (a score).
    pub hard: bool,
    pub selector: LabelSelector,
    pub min_domains: Option<i64>,
    /// `nodeAffinityPolicy: Honor` (the default): only nodes the pod may land on count.
    pub honor_node_affinity: bool,
    /// `nodeTaintsPolicy: Honor` (default `Ignore`): only nodes whose taints the pod tolerates.
    pub honor_node_taints: bool,
}

/// The scheduler's view of one pod.
#[derive(Debug)]
pub struct PodInfo {
    pub pod: Arc<Pod>,
    /// `namespace/name`.
    pub key: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub priority: i32,
    pub created: Option<Timestamp>,
    pub requests: PodRequests,
    pub labels: BTreeMap<String, String>,
    pub node_name: Option<String>,
    pub scheduler_name: String,
    pub nominated_node: Option<String>,
    pub host_ports: Vec<HostPort>,
    pub tolerations: Vec<Toleration>,
    pub node_selector: RequiredNodeSelector,
    pub preferred_node_terms: Vec<(i64, Term)>,
    pub required_affinity: Vec<AffinityTerm>,
    pub required_anti_affinity: Vec<AffinityTerm>,
    pub preferred_affinity: Vec<(i64, AffinityTerm)>,
    pub preferred_anti_affinity: Vec<(i64, AffinityTerm)>,
    pub spread: Vec<SpreadConstraint>,
    /// UID of the controller owner (`ownerReferences[controller=true]`).
    pub owner: Option<String>,
    pub preempt_never: bool,
    pub terminating: bool,
    pub gated: bool,
    /// `Succeeded` or `Failed`: holds no resources any more.
    pub finished: bool,
    /// The PersistentVolumeClaims the pod's volumes use, with whether the claim is a generic
    /// ephemeral volume's (named `<pod>-<volume>`, created for the pod).
    pub claims: Vec<(String, bool)>,
}

impl PodInfo {
    pub fn new(pod: Arc<Pod>) -> PodInfo {
        let meta = &pod.metadata;
        let namespace = meta.namespace.clone().unwrap_or_else(|| "default".into());
        let name = meta.name.clone().unwrap_or_default();
        let labels = meta.labels.clone().unwrap_or_default();
        let spec = pod.spec.clone().unwrap_or_default();
        let affinity = spec.affinity.clone().unwrap_or_default();
        let node_affinity = affinity.node_affinity.unwrap_or_default();
        let pod_affinity = affinity.pod_affinity.unwrap_or_default();
        let anti = affinity.pod_anti_affinity.unwrap_or_default();
        let node_selector = RequiredNodeSelector {
            node_selector: spec.node_selector.clone().unwrap_or_default(),
            terms: node_affinity
                .required_during_scheduling_ignored_during_execution
                .as_ref()
                .map(|s| s.node_selector_terms.iter().map(Term::compile).collect()),
        };
        let preferred_node_terms = node_affinity
            .preferred_during_scheduling_ignored_during_execution
            .iter()
            .flatten()
            .map(|p| (i64::from(p.weight), Term::compile(&p.preference)))
            .collect();
        let required = |terms: &Option<Vec<k8s_openapi::api::core::v1::PodAffinityTerm>>| {
            terms
                .iter()
                .flatten()
                .map(|t| AffinityTerm::compile(t, &namespace))
                .collect::<Vec<_>>()
        };
        let preferred =
            |terms: &Option<Vec<k8s_openapi::api::core::v1::WeightedPodAffinityTerm>>| {
                terms
                    .iter()
                    .flatten()
                    .map(|t| {
                        (
                            i64::from(t.weight),
                            AffinityTerm::compile(&t.pod_affinity_term, &namespace),
                        )
                    })
                    .collect::<Vec<_>>()
            };
        let host_ports = spec
            .containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
            .flat_map(|c| c.ports.iter().flatten())
            .filter(|p| p.host_port.is_some_and(|h| h > 0))
            .map(|p| HostPort {
                protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                ip: p.host_ip.clone().unwrap_or_default(),
                port: p.host_port.unwrap_or_default(),
            })
            .collect();
        let spread = spec
            .topology_spread_constraints
            .iter()
            .flatten()
            .map(|c| {
                let mut selector = c
                    .label_selector
                    .as_ref()
                    .and_then(|s| serde_json::to_value(s).ok())
                    .and_then(|v| LabelSelector::from_json(&v).ok())
                    .unwrap_or_else(LabelSelector::nothing);
                // matchLabelKeys: the pod's own values for those keys join the selector.
                let extra: BTreeMap<String, String> = c
                    .match_label_keys
                    .iter()
                    .flatten()
                    .filter_map(|k| labels.get(k).map(|v| (k.clone(), v.clone())))
                    .collect();
                if !extra.is_empty() && !selector.is_nothing() {
                    let merged = format!("{selector},{}", LabelSelector::from_labels(&extra));
                    if let Ok(s) = LabelSelector::parse(merged.trim_start_matches(',')) {
                        selector = s;
                    }
                }
                SpreadConstraint {
                    max_skew: i64::from(c.max_skew),
                    topology_key: c.topology_key.clone(),
                    hard: c.when_unsatisfiable == "DoNotSchedule",
                    selector,
                    min_domains: c.min_domains.map(i64::from),
                    honor_node_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
                    honor_node_taints: c.node_taints_policy.as_deref() == Some("Honor"),
                }
            })
            .collect();
        let claims = spec
            .volumes
            .iter()
            .flatten()
            .filter_map(|v| {
                if let Some(c) = &v.persistent_volume_claim {
                    Some((c.claim_name.clone(), false))
                } else {
                    v.ephemeral
                        .as_ref()
                        .map(|_| (format!("{name}-{}", v.name), true))
                }
            })
            .collect();
        let status = pod.status.as_ref();
        let phase = status.and_then(|s| s.phase.as_deref());
        PodInfo {
            key: format!("{namespace}/{name}"),
            uid: meta.uid.clone().unwrap_or_default(),
            priority: spec.priority.unwrap_or(0),
            created: meta.creation_timestamp.as_ref().map(|t| t.0),
            requests: pod_requests(&pod),
            node_name: spec.node_name.clone().filter(|n| !n.is_empty()),
            scheduler_name: spec
                .scheduler_name
                .clone()
                .unwrap_or_else(|| "default-scheduler".into()),
            nominated_node: status
                .and_then(|s| s.nominated_node_name.clone())
                .filter(|n| !n.is_empty()),
            host_ports,
            tolerations: spec.tolerations.clone().unwrap_or_default(),
            node_selector,
            preferred_node_terms,
            required_affinity: required(
                &pod_affinity.required_during_scheduling_ignored_during_execution,
            ),
            required_anti_affinity: required(
                &anti.required_during_scheduling_ignored_during_execution,
            ),
            preferred_affinity: preferred(
                &pod_affinity.preferred_during_scheduling_ignored_during_execution,
            ),
            preferred_anti_affinity: preferred(
                &anti.preferred_during_scheduling_ignored_during_execution,
            ),
            spread,
            owner: meta
                .owner_references
                .iter()
                .flatten()
                .find(|o| o.controller == Some(true))
                .map(|o| o.uid.clone()),
            preempt_never: spec.preemption_policy.as_deref() == Some("Never"),
            terminating: meta.deletion_timestamp.is_some(),
            gated: spec
                .scheduling_gates
                .as_ref()
                .is_some_and(|g| !g.is_empty()),
            finished: matches!(phase, Some("Succeeded" | "Failed")),
            claims,
            namespace,
            name,
            labels,
            pod,
        }
    }

    /// Whether this pod carries pod (anti-)affinity terms that other pods must consult.
    /// The info of a pod bound to a node, without the pod's spec and status: a placed pod
    /// counts through the fields derived above (requests, labels, affinity, ports), and the
    /// cache holds one per pod of the cluster for as long as the pod lives.
    pub fn placed(mut self) -> PodInfo {
        let meta = &self.pod.metadata;
        self.pod = Arc::new(Pod {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: meta.name.clone(),
                namespace: meta.namespace.clone(),
                uid: meta.uid.clone(),
                ..Default::default()
            },
            ..Default::default()
        });
        self
    }

    pub fn has_affinity(&self) -> bool {
        !self.required_affinity.is_empty()
            || !self.required_anti_affinity.is_empty()
            || !self.preferred_affinity.is_empty()
            || !self.preferred_anti_affinity.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_placed_pod_keeps_what_it_counts_with_and_drops_its_spec() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web-1", "namespace": "shop", "uid": "u1", "labels": {"app": "web"}},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "i",
                "resources": {"requests": {"cpu": "250m"}},
                "ports": [{"containerPort": 80, "hostPort": 8080}]}]},
        }))
        .unwrap();
        let pod = Arc::new(pod);
        let full = PodInfo::new(pod.clone());
        let placed = PodInfo::new(pod).placed();
        assert!(placed.pod.spec.is_none() && placed.pod.status.is_none());
        assert_eq!(placed.pod.metadata.uid.as_deref(), Some("u1"));
        assert_eq!(placed.pod.metadata.name.as_deref(), Some("web-1"));
        assert_eq!(placed.key, full.key);
        assert_eq!(placed.node_name.as_deref(), Some("n1"));
        assert_eq!(placed.labels, full.labels);
        assert_eq!(placed.requests, full.requests);
        assert_eq!(placed.host_ports.len(), 1);
    }
}
