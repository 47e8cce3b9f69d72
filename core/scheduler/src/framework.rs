//! One scheduling attempt: filter the nodes (a sample of them in large clusters), score the
//! feasible ones with normalized, weighted plugin scores, pick the best.

use std::collections::BTreeMap;
use std::sync::Arc;

use rand::Rng;

use crate::cache::Cache;
use crate::node_info::NodeInfo;
use crate::plugins::{
    fit, inter_pod_affinity, node_affinity, node_name, node_ports, node_unschedulable,
    owner_spread, taint_toleration, topology_spread, volume_binding,
};
use crate::pod_info::PodInfo;

/// The highest score a plugin gives a node after normalization.
pub const MAX_SCORE: i64 = 100;

/// Upstream's default weights of the built-in scores.
const W_TAINTS: i64 = 3;
const W_NODE_AFFINITY: i64 = 2;
const W_POD_AFFINITY: i64 = 2;
const W_SPREAD: i64 = 2;
const W_LEAST_ALLOCATED: i64 = 1;
const W_BALANCED: i64 = 1;
const W_OWNER_SPREAD: i64 = 1;

/// The message when the cluster has no nodes at all, as upstream.
pub const NO_NODES: &str = "no nodes available to schedule pods";

/// Why one node cannot take the pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Reasons worded like upstream (`Insufficient cpu`, `node(s) were unschedulable`).
    pub reasons: Vec<String>,
    /// Whether evicting pods from the node could help (preemption considers only these nodes).
    pub resolvable: bool,
}

impl Failure {
    pub fn resolvable(reason: impl Into<String>) -> Failure {
        Failure {
            reasons: vec![reason.into()],
            resolvable: true,
        }
    }

    pub fn unresolvable(reason: impl Into<String>) -> Failure {
        Failure {
            reasons: vec![reason.into()],
            resolvable: false,
        }
    }
}

/// A filter and/or score the scheduler runs besides its built-in ones: the extension point for
/// script plugins and for storage constraints (volume topology).
pub trait Plugin: Send + Sync {
    fn name(&self) -> &str;

    /// Rejects a node with reasons. Default: every node passes.
    fn filter(&self, _pod: &PodInfo, _node: &NodeInfo) -> Result<(), Failure> {
        Ok(())
    }

    /// Whether [`Plugin::score`] should run.
    fn scores(&self) -> bool {
        false
    }

    /// A raw score, higher is better; normalized to 0–100 over the feasible nodes.
    fn score(&self, _pod: &PodInfo, _node: &NodeInfo) -> i64 {
        0
    }

    fn weight(&self) -> i64 {
        1
    }
}

/// Why the pod fits no node, by reason, over the nodes examined.
#[derive(Debug, Clone, Default)]
pub struct FitError {
    pub num_nodes: usize,
    /// Reason → how many nodes gave it.
    pub reasons: BTreeMap<String, usize>,
    /// Node name → whether preemption could help there.
    pub nodes: Vec<(String, bool)>,
    /// Why the pod fits no node before any node was examined (a missing claim, say); it
    /// replaces the per-node reasons in the message, as upstream.
    pub prefilter: Option<String>,
}

impl FitError {
    /// `0/3 nodes are available: 1 Insufficient cpu, 2 node(s) were unschedulable.` followed by
    /// the preemption outcome when given, worded and ordered like upstream (reasons sorted as
    /// strings, count first).
    pub fn message(&self, postfilter: Option<&str>) -> String {
        if self.num_nodes == 0 {
            return NO_NODES.to_string();
        }
        let mut msg = format!("0/{} nodes are available:", self.num_nodes);
        match &self.prefilter {
            Some(p) => msg.push_str(&format!(" {p}.")),
            None => msg.push_str(&format!(" {}.", histogram(&self.reasons))),
        }
        if let Some(p) = postfilter {
            msg.push_str(&format!(" {p}."));
        }
        msg
    }
}

/// `count reason` strings joined with `, `, sorted like upstream's `sort.Strings`.
pub fn histogram(reasons: &BTreeMap<String, usize>) -> String {
    let mut parts: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
    parts.sort();
    parts.join(", ")
}

/// Precomputed per-pod state shared by the per-node filters.
#[derive(Debug)]
pub struct Cycle<'a> {
    pub pod: &'a PodInfo,
    affinity: Option<inter_pod_affinity::State>,
    spread: Option<topology_spread::State>,
    volumes: Option<volume_binding::State>,
}

impl<'a> Cycle<'a> {
    /// Resolves what the filters need once; `Err` says why the pod fits no node at all.
    pub fn new(pod: &'a PodInfo, cache: &Cache) -> Result<Cycle<'a>, String> {
        Ok(Cycle {
            pod,
            volumes: volume_binding::prefilter(pod, cache)?,
            affinity: inter_pod_affinity::prefilter(pod, cache),
            spread: topology_spread::prefilter(pod, cache),
        })
    }
}

/// Where a pod goes, and what its volumes need done before it is bound there.
#[derive(Debug, Clone)]
pub struct Placement {
    pub node: String,
    pub volumes: Vec<volume_binding::Action>,
}

/// The filters and scores, and the rotating start of the node sample.
pub struct Framework {
    plugins: Vec<Arc<dyn Plugin>>,
    percentage: Option<u32>,
    next_start: usize,
}

impl std::fmt::Debug for Framework {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Framework")
            .field(
                "plugins",
                &self.plugins.iter().map(|p| p.name()).collect::<Vec<_>>(),
            )
            .field("percentage", &self.percentage)
            .finish()
    }
}

impl Framework {
    pub fn new(plugins: Vec<Arc<dyn Plugin>>, percentage: Option<u32>) -> Framework {
        Framework {
            plugins,
            percentage,
            next_start: 0,
        }
    }

    /// How many feasible nodes to find before scoring, like upstream's
    /// `percentageOfNodesToScore` (adaptive 50% − nodes/125, at least 5%, at least 100 nodes).
    pub fn nodes_to_find(&self, total: usize) -> usize {
        const MIN_NODES: usize = 100;
        if total < MIN_NODES {
            return total;
        }
        let pct = match self.percentage {
            Some(p) if p > 0 => p as usize,
            _ => (50usize.saturating_sub(total / 125)).max(5),
        };
        if pct >= 100 {
            return total;
        }
        (total * pct / 100).max(MIN_NODES)
    }

    /// Every filter on one node, cheapest and most selective first.
    pub fn filter(&self, cycle: &Cycle, cache: &Cache, node: &NodeInfo) -> Result<(), Failure> {
        let pod = cycle.pod;
        node_unschedulable::filter(pod, node)?;
        node_name::filter(pod, node)?;
        taint_toleration::filter(pod, node)?;
        node_affinity::filter(pod, node)?;
        node_ports::filter(pod, node)?;
        fit::filter(pod, node, cache.nominated_on(&node.name))?;
        if let Some(s) = &cycle.spread {
            topology_spread::filter(s, pod, node)?;
        }
        if let Some(s) = &cycle.affinity {
            inter_pod_affinity::filter(s, pod, node)?;
        }
        if let Some(s) = &cycle.volumes {
            volume_binding::filter(s, node)?;
        }
        for p in &self.plugins {
            p.filter(pod, node)?;
        }
        Ok(())
    }

    /// Picks a node for `pod`, or says why none fits.
    pub fn schedule(&mut self, pod: &PodInfo, cache: &Cache) -> Result<Placement, FitError> {
        let nodes = cache.nodes();
        let total = nodes.len();
        let mut err = FitError {
            num_nodes: total,
            ..FitError::default()
        };
        if total == 0 {
            return Err(err);
        }
        let cycle = match Cycle::new(pod, cache) {
            Ok(c) => c,
            Err(reason) => {
                err.nodes = nodes.iter().map(|n| (n.name.clone(), false)).collect();
                err.prefilter = Some(reason);
                return Err(err);
            }
        };
        let want = self.nodes_to_find(total);
        let mut feasible: Vec<&NodeInfo> = Vec::with_capacity(want.min(total));
        let start = self.next_start % total;
        let mut examined = 0;
        for i in 0..total {
            let node = &nodes[(start + i) % total];
            examined += 1;
            match self.filter(&cycle, cache, node) {
                Ok(()) => {
                    feasible.push(node);
                    if feasible.len() >= want {
                        break;
                    }
                }
                Err(f) => {
                    for r in f.reasons {
                        *err.reasons.entry(r).or_default() += 1;
                    }
                    err.nodes.push((node.name.clone(), f.resolvable));
                }
            }
        }
        self.next_start = (start + examined) % total;
        let chosen = match feasible.len() {
            0 => return Err(err),
            1 => feasible[0],
            _ => feasible[self.best(pod, cache, &feasible)],
        };
        Ok(Placement {
            node: chosen.name.clone(),
            volumes: cycle
                .volumes
                .as_ref()
                .map(|s| volume_binding::plan(s, chosen, cache))
                .unwrap_or_default(),
        })
    }

    /// Sums the normalized, weighted scores and picks the top node (ties at random); returns
    /// its index.
    fn best(&self, pod: &PodInfo, cache: &Cache, nodes: &[&NodeInfo]) -> usize {
        let mut total = vec![0i64; nodes.len()];
        let mut add = |scores: Vec<i64>, weight: i64| {
            for (t, s) in total.iter_mut().zip(scores) {
                *t += s * weight;
            }
        };
        let raw = |f: &dyn Fn(&NodeInfo) -> i64| nodes.iter().map(|n| f(n)).collect::<Vec<_>>();
        add(raw(&|n| fit::least_allocated(pod, n)), W_LEAST_ALLOCATED);
        add(raw(&|n| fit::balanced(pod, n)), W_BALANCED);
        if nodes.iter().any(|n| !n.taints.is_empty()) {
            add(
                normalize(raw(&|n| taint_toleration::score(pod, n)), true),
                W_TAINTS,
            );
        }
        if !pod.preferred_node_terms.is_empty() {
            add(
                normalize(raw(&|n| node_affinity::score(pod, n)), false),
                W_NODE_AFFINITY,
            );
        }
        if pod.owner.is_some() {
            add(
                normalize(raw(&|n| owner_spread::score(pod, n)), true),
                W_OWNER_SPREAD,
            );
        }
        if let Some(state) = inter_pod_affinity::prescore(pod, cache) {
            add(
                normalize_min_max(raw(&|n| inter_pod_affinity::score(&state, n))),
                W_POD_AFFINITY,
            );
        }
        if let Some(state) = topology_spread::prescore(pod, cache) {
            let scores: Vec<Option<i64>> = nodes
                .iter()
                .map(|n| topology_spread::score(&state, pod, n))
                .collect();
            add(topology_spread::normalize(&scores), W_SPREAD);
        }
        for p in self.plugins.iter().filter(|p| p.scores()) {
            add(
                normalize(raw(&|n| p.score(pod, n).max(0)), false),
                p.weight(),
            );
        }
        let mut rng = rand::rng();
        let mut best = 0;
        let mut ties = 0u32;
        for (i, s) in total.iter().enumerate() {
            if *s > total[best] {
                best = i;
                ties = 1;
            } else if *s == total[best] {
                ties += 1;
                if rng.random_range(0..ties) == 0 {
                    best = i;
                }
            }
        }
        best
    }
}

/// Scales raw scores to 0–100 by their maximum; `reverse` makes fewer better. All zero gives
/// 100 when reversed and 0 otherwise, as upstream's default normalization.
pub fn normalize(raw: Vec<i64>, reverse: bool) -> Vec<i64> {
    let max = raw.iter().copied().max().unwrap_or(0);
    raw.into_iter()
        .map(|s| {
            let s = if max == 0 { 0 } else { s * MAX_SCORE / max };
            if reverse { MAX_SCORE - s } else { s }
        })
        .collect()
}

/// Scales raw scores that may be negative to 0–100 between their minimum and maximum.
pub fn normalize_min_max(raw: Vec<i64>) -> Vec<i64> {
    let max = raw.iter().copied().max().unwrap_or(0);
    let min = raw.iter().copied().min().unwrap_or(0);
    raw.into_iter()
        .map(|s| {
            if max > min {
                MAX_SCORE * (s - min) / (max - min)
            } else {
                0
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_errors_read_like_upstream() {
        let mut e = FitError {
            num_nodes: 3,
            ..FitError::default()
        };
        e.reasons.insert("Insufficient cpu".into(), 2);
        e.reasons.insert(
            "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }".into(),
            1,
        );
        assert_eq!(
            e.message(Some(
                "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling"
            )),
            "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, \
             2 Insufficient cpu. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
        );
    }

    #[test]
    fn normalization_scales_to_the_maximum_and_reverses() {
        assert_eq!(normalize(vec![0, 2, 4], false), vec![0, 50, 100]);
        assert_eq!(normalize(vec![0, 2, 4], true), vec![100, 50, 0]);
        assert_eq!(normalize(vec![0, 0], true), vec![100, 100]);
        assert_eq!(normalize_min_max(vec![-5, 0, 5]), vec![0, 50, 100]);
    }

    #[test]
    fn large_clusters_are_sampled_like_upstream() {
        let f = Framework::new(Vec::new(), None);
        assert_eq!(f.nodes_to_find(50), 50);
        assert_eq!(f.nodes_to_find(1000), 420);
        assert_eq!(f.nodes_to_find(5000), 500);
        assert_eq!(f.nodes_to_find(200), 100);
        let all = Framework::new(Vec::new(), Some(100));
        assert_eq!(all.nodes_to_find(1000), 1000);
    }
}
