//! Spreads the pods of one controller (same controller owner UID) across nodes.

use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;

/// Raw score: pods of the same owner already on the node (fewer is better; normalized in
/// reverse).
pub fn score(pod: &PodInfo, node: &NodeInfo) -> i64 {
    pod.owner
        .as_ref()
        .and_then(|o| node.owner_counts.get(o))
        .map_or(0, |n| i64::from(*n))
}
