//! Taints repel pods that do not tolerate them: `NoSchedule`/`NoExecute` filter,
//! `PreferNoSchedule` lowers the score.

use k8s_openapi::api::core::v1::{Taint, Toleration};

use crate::framework::Failure;
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;

/// Whether `toleration` tolerates `taint`, by upstream's rules: an empty key with `Exists`
/// tolerates every taint, an empty effect every effect; `Equal` (the default) compares values.
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = toleration.effect.as_deref()
        && !effect.is_empty()
        && effect != taint.effect
    {
        return false;
    }
    let key = toleration.key.as_deref().unwrap_or("");
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => {
            !key.is_empty()
                && toleration.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
        _ => false,
    }
}

pub fn tolerated(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| tolerates(t, taint))
}

/// The first `NoSchedule`/`NoExecute` taint of the node the pod does not tolerate.
pub fn untolerated<'a>(tolerations: &[Toleration], node: &'a NodeInfo) -> Option<&'a Taint> {
    node.taints
        .iter()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .find(|t| !tolerated(tolerations, t))
}

pub fn filter(pod: &PodInfo, node: &NodeInfo) -> Result<(), Failure> {
    match untolerated(&pod.tolerations, node) {
        None => Ok(()),
        Some(t) => Err(Failure::unresolvable(format!(
            "node(s) had untolerated taint {{{}: {}}}",
            t.key,
            t.value.as_deref().unwrap_or("")
        ))),
    }
}

/// Raw score: how many `PreferNoSchedule` taints the pod does not tolerate (fewer is better;
/// normalized in reverse).
pub fn score(pod: &PodInfo, node: &NodeInfo) -> i64 {
    node.taints
        .iter()
        .filter(|t| t.effect == "PreferNoSchedule" && !tolerated(&pod.tolerations, t))
        .count() as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn taint(v: serde_json::Value) -> Taint {
        serde_json::from_value(v).unwrap()
    }
    fn tol(v: serde_json::Value) -> Toleration {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn tolerations_match_by_key_value_and_effect() {
        let t = taint(json!({"key": "gpu", "value": "yes", "effect": "NoSchedule"}));
        assert!(tolerates(
            &tol(json!({"key": "gpu", "value": "yes", "effect": "NoSchedule"})),
            &t
        ));
        assert!(tolerates(
            &tol(json!({"key": "gpu", "operator": "Exists"})),
            &t
        ));
        assert!(tolerates(&tol(json!({"operator": "Exists"})), &t));
        assert!(!tolerates(&tol(json!({"key": "gpu", "value": "no"})), &t));
        assert!(!tolerates(
            &tol(json!({"key": "gpu", "value": "yes", "effect": "NoExecute"})),
            &t
        ));
        assert!(!tolerates(
            &tol(json!({"key": "other", "operator": "Exists"})),
            &t
        ));
        assert!(!tolerates(&tol(json!({"value": "yes"})), &t));
    }
}
