//! `nodeSelector` and node affinity: the required part filters, the preferred part scores.

use crate::framework::Failure;
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;

pub const REASON: &str = "node(s) didn't match Pod's node affinity/selector";

pub fn filter(pod: &PodInfo, node: &NodeInfo) -> Result<(), Failure> {
    if pod.node_selector.matches(&node.name, &node.labels) {
        Ok(())
    } else {
        Err(Failure::unresolvable(REASON))
    }
}

/// Raw score: the sum of the weights of the preferred terms the node matches.
pub fn score(pod: &PodInfo, node: &NodeInfo) -> i64 {
    pod.preferred_node_terms
        .iter()
        .filter(|(_, t)| t.matches(&node.name, &node.labels))
        .map(|(w, _)| *w)
        .sum()
}
