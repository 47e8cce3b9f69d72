//! `spec.nodeName` set on a pending pod: only that node fits.

use crate::framework::Failure;
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;

pub const REASON: &str = "node(s) didn't match the requested node name";

pub fn filter(pod: &PodInfo, node: &NodeInfo) -> Result<(), Failure> {
    match &pod.node_name {
        Some(want) if *want != node.name => Err(Failure::unresolvable(REASON)),
        _ => Ok(()),
    }
}
