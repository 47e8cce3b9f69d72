//! Resource fit: requests against what is left of the node's allocatable (filter), and the
//! least-allocated and balanced-allocation scores.

use std::sync::Arc;

use crate::framework::{Failure, MAX_SCORE};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;
use crate::resources::Resources;

/// Checks the pod against the node, also holding room for `nominated` pods of at least the
/// pod's priority (they were promised this node by preemption).
pub fn filter(pod: &PodInfo, node: &NodeInfo, nominated: &[Arc<PodInfo>]) -> Result<(), Failure> {
    let mut used = node.requested;
    for n in nominated {
        if n.key != pod.key && n.priority >= pod.priority && n.node_name.is_none() {
            used.add(&n.requests.exact);
        }
    }
    let want = &pod.requests.exact;
    let alloc = &node.allocatable;
    let mut reasons = Vec::new();
    if used.pods + 1 > alloc.pods {
        reasons.push("Too many pods".to_string());
    }
    let checks = [
        ("cpu", want.milli_cpu, used.milli_cpu, alloc.milli_cpu),
        ("memory", want.memory, used.memory, alloc.memory),
        (
            "ephemeral-storage",
            want.ephemeral_storage,
            used.ephemeral_storage,
            alloc.ephemeral_storage,
        ),
    ];
    for (name, want, used, alloc) in checks {
        if want > 0 && want > alloc - used {
            reasons.push(format!("Insufficient {name}"));
        }
    }
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(Failure {
            reasons,
            resolvable: true,
        })
    }
}

fn fractions(pod: &PodInfo, node: &NodeInfo) -> [(i64, i64); 2] {
    let mut after: Resources = node.non_zero_requested;
    after.add(&pod.requests.non_zero);
    [
        (after.milli_cpu, node.allocatable.milli_cpu),
        (after.memory, node.allocatable.memory),
    ]
}

/// Least allocated: the mean over cpu and memory of the free share after placing the pod,
/// 0–100.
pub fn least_allocated(pod: &PodInfo, node: &NodeInfo) -> i64 {
    let parts = fractions(pod, node);
    let sum: i64 = parts
        .iter()
        .map(|&(req, cap)| {
            if cap == 0 || req > cap {
                0
            } else {
                (cap - req) * MAX_SCORE / cap
            }
        })
        .sum();
    sum / parts.len() as i64
}

/// Balanced allocation: 100 × (1 − standard deviation of the cpu and memory shares), so
/// nodes whose resources fill evenly score higher.
pub fn balanced(pod: &PodInfo, node: &NodeInfo) -> i64 {
    let share = |(req, cap): (i64, i64)| {
        if cap == 0 {
            1.0
        } else {
            (req as f64 / cap as f64).min(1.0)
        }
    };
    let [cpu, memory] = fractions(pod, node);
    // The standard deviation of two values is half their distance.
    let std = (share(cpu) - share(memory)).abs() / 2.0;
    ((1.0 - std) * MAX_SCORE as f64) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(cpu: &str, memory: &str) -> PodInfo {
        PodInfo::new(Arc::new(
            serde_json::from_value(json!({"metadata": {"name": "p", "namespace": "default"},
                "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu, "memory": memory}}}]}}))
            .unwrap(),
        ))
    }

    fn node(cpu: &str, memory: &str) -> NodeInfo {
        let mut n = NodeInfo::empty("n");
        n.set_node(Arc::new(
            serde_json::from_value(json!({"metadata": {"name": "n"},
                "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": "1"}}}))
            .unwrap(),
        ));
        n
    }

    #[test]
    fn every_short_resource_is_named_and_pod_slots_are_counted() {
        let n = node("1", "1Gi");
        assert!(filter(&pod("1", "1Gi"), &n, &[]).is_ok());
        let err = filter(&pod("2", "2Gi"), &n, &[]).unwrap_err();
        assert_eq!(err.reasons, ["Insufficient cpu", "Insufficient memory"]);
        assert!(err.resolvable);
        let mut full = n.clone();
        full.add_pod(Arc::new(pod("0", "0")));
        assert_eq!(
            filter(&pod("0", "0"), &full, &[]).unwrap_err().reasons,
            ["Too many pods"]
        );
    }

    #[test]
    fn nominated_pods_of_higher_priority_hold_their_room() {
        let n = node("1", "1Gi");
        let mut nominated = pod("800m", "0");
        nominated.priority = 100;
        nominated.key = "default/other".into();
        let nominated = Arc::new(nominated);
        assert!(filter(&pod("500m", "0"), &n, std::slice::from_ref(&nominated)).is_err());
        let mut important = pod("500m", "0");
        important.priority = 1000;
        // Room held for a pod of lower priority does not block a more important one.
        assert!(filter(&important, &n, &[nominated]).is_ok());
    }

    #[test]
    fn emptier_and_evenly_filled_nodes_score_higher() {
        let small = pod("1", "1Gi");
        let empty = node("4", "4Gi");
        let mut busy = node("4", "4Gi");
        busy.add_pod(Arc::new(pod("2", "2Gi")));
        assert_eq!(least_allocated(&small, &empty), 75);
        assert_eq!(least_allocated(&small, &busy), 25);
        let cpu_heavy = pod("3", "256Mi");
        assert_eq!(balanced(&small, &empty), 100);
        assert!(balanced(&cpu_heavy, &empty) < 70);
    }
}
