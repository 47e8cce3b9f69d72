//! Topology spread constraints: `DoNotSchedule` filters on skew, `ScheduleAnyway` scores.

use std::collections::HashMap;

use super::taint_toleration::untolerated;
use crate::cache::Cache;
use crate::framework::{Failure, MAX_SCORE};
use crate::node_info::NodeInfo;
use crate::pod_info::{PodInfo, SpreadConstraint};

pub const REASON: &str = "node(s) didn't match pod topology spread constraints";
pub const MISSING_LABEL: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";

/// Matching pods per domain value, per constraint (same order as the pod's constraints).
#[derive(Debug, Default)]
pub struct State {
    counts: Vec<HashMap<String, i64>>,
}

fn eligible(pod: &PodInfo, c: &SpreadConstraint, node: &NodeInfo) -> bool {
    (!c.honor_node_affinity || pod.node_selector.matches(&node.name, &node.labels))
        && (!c.honor_node_taints || untolerated(&pod.tolerations, node).is_none())
}

fn matching(pod: &PodInfo, c: &SpreadConstraint, node: &NodeInfo) -> i64 {
    node.pods
        .iter()
        .filter(|p| {
            p.namespace == pod.namespace
                && !p.terminating
                && p.key != pod.key
                && c.selector.matches(&p.labels)
        })
        .count() as i64
}

/// Counts matching pods per domain for the constraints with `hard` as given.
fn count(pod: &PodInfo, cache: &Cache, hard: bool) -> Option<State> {
    if !pod.spread.iter().any(|c| c.hard == hard) {
        return None;
    }
    let keys: Vec<&str> = pod
        .spread
        .iter()
        .filter(|c| c.hard == hard)
        .map(|c| c.topology_key.as_str())
        .collect();
    let mut state = State {
        counts: vec![HashMap::new(); pod.spread.len()],
    };
    for node in cache.nodes() {
        if !keys.iter().all(|k| node.labels.contains_key(*k)) {
            continue;
        }
        for (i, c) in pod.spread.iter().enumerate() {
            if c.hard != hard || !eligible(pod, c, node) {
                continue;
            }
            let value = node.labels[&c.topology_key].clone();
            *state.counts[i].entry(value).or_default() += matching(pod, c, node);
        }
    }
    Some(state)
}

pub fn prefilter(pod: &PodInfo, cache: &Cache) -> Option<State> {
    count(pod, cache, true)
}

pub fn filter(state: &State, pod: &PodInfo, node: &NodeInfo) -> Result<(), Failure> {
    for (i, c) in pod.spread.iter().enumerate().filter(|(_, c)| c.hard) {
        let Some(value) = node.labels.get(&c.topology_key) else {
            return Err(Failure::unresolvable(MISSING_LABEL));
        };
        let counts = &state.counts[i];
        let mut min = counts.values().copied().min().unwrap_or(0);
        if c.min_domains.is_some_and(|m| (counts.len() as i64) < m) {
            min = 0;
        }
        let self_match = i64::from(c.selector.matches(&pod.labels));
        let skew = counts.get(value).copied().unwrap_or(0) + self_match - min;
        if skew > c.max_skew {
            return Err(Failure::resolvable(REASON));
        }
    }
    Ok(())
}

pub fn prescore(pod: &PodInfo, cache: &Cache) -> Option<State> {
    count(pod, cache, false)
}

/// Raw score for `ScheduleAnyway` constraints (lower is better): matching pods in the node's
/// domain, weighted by log(domains + 2) like upstream; `None` when the node lacks a key.
pub fn score(state: &State, pod: &PodInfo, node: &NodeInfo) -> Option<i64> {
    let mut total = 0.0;
    for (i, c) in pod.spread.iter().enumerate().filter(|(_, c)| !c.hard) {
        let value = node.labels.get(&c.topology_key)?;
        let counts = &state.counts[i];
        let weight = ((counts.len() + 2) as f64).ln();
        let n = counts.get(value).copied().unwrap_or(0) + c.max_skew - 1;
        total += n as f64 * weight;
    }
    Some(total.round() as i64)
}

/// Upstream's normalization: `100 × (max + min − s) / max`; nodes without the keys get 0.
pub fn normalize(raw: &[Option<i64>]) -> Vec<i64> {
    let present = raw.iter().flatten();
    let max = present.clone().copied().max().unwrap_or(0);
    let min = present.copied().min().unwrap_or(0);
    raw.iter()
        .map(|s| match s {
            None => 0,
            Some(_) if max == 0 => MAX_SCORE,
            Some(s) => MAX_SCORE * (max + min - s) / max,
        })
        .collect()
}
