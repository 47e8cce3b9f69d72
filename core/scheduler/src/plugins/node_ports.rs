//! Host ports: a pod cannot land where another pod already binds one of its host ports.

use crate::framework::Failure;
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;

pub const REASON: &str = "node(s) didn't have free ports for the requested pod ports";

pub fn filter(pod: &PodInfo, node: &NodeInfo) -> Result<(), Failure> {
    let conflict = pod
        .host_ports
        .iter()
        .any(|want| node.host_ports.iter().any(|used| used.conflicts(want)));
    if conflict {
        Err(Failure::resolvable(REASON))
    } else {
        Ok(())
    }
}
