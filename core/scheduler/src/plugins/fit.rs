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
    let shares: Vec<f64> = fractions(pod, node)
        .iter()
        .map(|&(req, cap)| {
            if cap == 0 {
                1.0
            } else {
                (req as f64 / cap as f64).min(1.0)
            }
        })
        .collect();
    let mean = shares.iter().sum::<f64>() / shares.len() as f64;
    let var = shares.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / shares.len() as f64;
    ((1.0 - var.sqrt()) * MAX_SCORE as f64) as i64
}
