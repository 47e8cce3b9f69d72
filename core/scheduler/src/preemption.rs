//! Preemption: when a pod fits nowhere, find the node where evicting the fewest and least
//! important lower-priority pods lets it fit.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::cache::Cache;
use crate::framework::{Cycle, FitError, Framework, histogram};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;

const NO_VICTIMS: &str = "No preemption victims found for incoming pod";
const NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";

/// The chosen node and the pods to evict from it.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub node: String,
    pub victims: Vec<Arc<PodInfo>>,
}

/// Finds a candidate, or returns the `preemption: ...` message explaining why there is none.
pub fn preempt(
    framework: &Framework,
    pod: &PodInfo,
    cache: &Cache,
    err: &FitError,
) -> Result<Candidate, String> {
    if pod.preempt_never {
        return Err("preemption: not eligible due to preemptionPolicy=Never".into());
    }
    if let Some(nominated) = &pod.nominated_node
        && cache.node(nominated).is_some_and(|n| {
            n.pods
                .iter()
                .any(|p| p.terminating && p.priority < pod.priority)
        })
    {
        return Err(
            "preemption: not eligible due to a terminating pod on the nominated node".into(),
        );
    }
    let Ok(cycle) = Cycle::new(pod, cache) else {
        return Err(format!(
            "preemption: 0/{} nodes are available: {} {NOT_HELPFUL}",
            err.num_nodes, err.num_nodes
        ));
    };
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut best: Option<(Candidate, (i32, usize, i64))> = None;
    for (name, resolvable) in &err.nodes {
        let node = match cache.node(name) {
            Some(n) if *resolvable => n,
            _ => {
                *reasons.entry(NOT_HELPFUL.into()).or_default() += 1;
                continue;
            }
        };
        match victims_on(framework, &cycle, cache, pod, node) {
            None => *reasons.entry(NO_VICTIMS.into()).or_default() += 1,
            Some(victims) => {
                let rank = (
                    victims.iter().map(|v| v.priority).max().unwrap_or(i32::MIN),
                    victims.len(),
                    victims.iter().map(|v| i64::from(v.priority)).sum::<i64>(),
                );
                if best.as_ref().is_none_or(|(_, r)| rank < *r) {
                    best = Some((
                        Candidate {
                            node: name.clone(),
                            victims,
                        },
                        rank,
                    ));
                }
            }
        }
    }
    match best {
        Some((c, _)) => Ok(c),
        None => Err(format!(
            "preemption: 0/{} nodes are available: {}",
            err.num_nodes,
            histogram(&reasons)
        )),
    }
}

/// The smallest set of lower-priority pods whose removal lets the pod fit on `node`: remove
/// them all, then give back the most important ones while the pod still fits.
fn victims_on(
    framework: &Framework,
    cycle: &Cycle,
    cache: &Cache,
    pod: &PodInfo,
    node: &NodeInfo,
) -> Option<Vec<Arc<PodInfo>>> {
    let mut lower: Vec<Arc<PodInfo>> = node
        .pods
        .iter()
        .filter(|p| p.priority < pod.priority)
        .cloned()
        .collect();
    if lower.is_empty() {
        return None;
    }
    let mut trial = node.clone();
    for p in &lower {
        trial.remove_pod(&p.key);
    }
    if framework.filter(cycle, cache, &trial).is_err() {
        return None;
    }
    // Most important first: higher priority, then the older one.
    lower.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.created.cmp(&b.created)));
    let mut victims = Vec::new();
    for p in lower {
        trial.add_pod(p.clone());
        if framework.filter(cycle, cache, &trial).is_err() {
            trial.remove_pod(&p.key);
            victims.push(p);
        }
    }
    Some(victims)
}
