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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    #[test]
    fn only_the_named_node_fits() {
        let pod = PodInfo::new(Arc::new(
            serde_json::from_value(json!({"metadata": {"name": "p"},
                "spec": {"nodeName": "n1", "containers": [{"name": "c"}]}}))
            .unwrap(),
        ));
        assert!(filter(&pod, &NodeInfo::empty("n1")).is_ok());
        let err = filter(&pod, &NodeInfo::empty("n2")).unwrap_err();
        assert_eq!(err.reasons, [REASON]);
        assert!(!err.resolvable);
    }
}
