//! Cordoned (`spec.unschedulable`) and not-ready nodes take no new pods, unless the pod
//! tolerates the taint upstream's node lifecycle would put on them.

use k8s_openapi::api::core::v1::Taint;

use super::taint_toleration::tolerated;
use crate::framework::Failure;
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;

pub const UNSCHEDULABLE: &str = "node(s) were unschedulable";
pub const NOT_READY: &str = "node(s) were not ready";

fn taint(key: &str) -> Taint {
    Taint {
        key: key.to_string(),
        effect: "NoSchedule".into(),
        ..Taint::default()
    }
}

pub fn filter(pod: &PodInfo, node: &NodeInfo) -> Result<(), Failure> {
    if node.unschedulable
        && !tolerated(&pod.tolerations, &taint("node.kubernetes.io/unschedulable"))
    {
        return Err(Failure::unresolvable(UNSCHEDULABLE));
    }
    if !node.ready && !tolerated(&pod.tolerations, &taint("node.kubernetes.io/not-ready")) {
        return Err(Failure::unresolvable(NOT_READY));
    }
    Ok(())
}
