//! PodDisruptionBudgets at the eviction subresource: an eviction that would take a budget's
//! healthy pods below what it requires is refused with 429, as upstream does.

use serde_json::Value;
use skiff_api::selector::LabelSelector;
use skiff_api::{Status, StatusCause};
use skiff_store::{ListOptions, Store};

use crate::objects;
use crate::state::ApiState;

/// Refuses (429 `TooManyRequests`) the eviction of `pod` when a PodDisruptionBudget covering
/// it has no disruption to spare; more than one covering budget is an error (500), as
/// upstream.
pub async fn check_eviction(state: &ApiState, pod: &Value) -> Result<(), Status> {
    let Some(namespace) = pod["metadata"]["namespace"].as_str() else {
        return Ok(());
    };
    let (pdb_info, pod_info) = {
        let registry = state.registry();
        (
            registry
                .by_plural("policy", "v1", "poddisruptionbudgets")
                .cloned(),
            registry.by_plural("", "v1", "pods").cloned(),
        )
    };
    let (Some(pdb_info), Some(pod_info)) = (pdb_info, pod_info) else {
        return Ok(());
    };
    let budgets = list(
        state.store.as_ref(),
        &pdb_info.namespace_prefix(Some(namespace)),
    )
    .await?;
    let covering: Vec<&Value> = budgets
        .iter()
        .filter(|pdb| selector_of(pdb).is_some_and(|s| s.matches_object(pod)))
        .collect();
    let budget = match covering.as_slice() {
        [] => return Ok(()),
        [one] => *one,
        _ => {
            return Err(Status::internal(
                "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
            ));
        }
    };
    // A pod that is not ready does not count towards the budget: evicting it costs nothing.
    if !is_healthy(pod) {
        return Ok(());
    }
    let selector = selector_of(budget).unwrap_or_else(LabelSelector::nothing);
    let pods = list(
        state.store.as_ref(),
        &pod_info.namespace_prefix(Some(namespace)),
    )
    .await?;
    let matching: Vec<&Value> = pods
        .iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null() && selector.matches_object(p))
        .collect();
    let expected = matching.len() as i64;
    let healthy = matching.iter().filter(|p| is_healthy(p)).count() as i64;
    let spec = &budget["spec"];
    let desired_healthy = if let Some(min) = spec.get("minAvailable").filter(|v| !v.is_null()) {
        scaled(min, expected)
    } else if let Some(max) = spec.get("maxUnavailable").filter(|v| !v.is_null()) {
        expected - scaled(max, expected)
    } else {
        0
    };
    if healthy > desired_healthy {
        return Ok(());
    }
    let name = budget["metadata"]["name"].as_str().unwrap_or_default();
    let mut status = Status::new(
        429,
        "TooManyRequests",
        "Cannot evict pod as it would violate the pod's disruption budget.",
    );
    status.causes = vec![StatusCause {
        reason: "DisruptionBudget".into(),
        message: format!(
            "The disruption budget {name} needs {desired_healthy} healthy pods and has {healthy} currently"
        ),
        field: String::new(),
    }];
    Err(status)
}

async fn list(store: &dyn Store, prefix: &str) -> Result<Vec<Value>, Status> {
    let page = store
        .list(prefix, ListOptions::default())
        .await
        .map_err(|e| Status::internal(e.to_string()))?;
    page.items.iter().map(objects::decode).collect()
}

fn selector_of(pdb: &Value) -> Option<LabelSelector> {
    LabelSelector::from_json(&pdb["spec"]["selector"]).ok()
}

/// Running with the Ready condition true.
fn is_healthy(pod: &Value) -> bool {
    pod["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

/// An int-or-percent value against `total` (percentages rounded up, like upstream).
fn scaled(value: &Value, total: i64) -> i64 {
    match value {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::String(s) => match s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) {
            Some(pct) => (pct * total + 99) / 100,
            None => s.parse().unwrap_or(0),
        },
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn percentages_round_up_against_the_expected_count() {
        assert_eq!(scaled(&json!("50%"), 3), 2);
        assert_eq!(scaled(&json!(2), 3), 2);
        assert_eq!(scaled(&json!("100%"), 4), 4);
    }

    #[test]
    fn only_ready_pods_are_healthy() {
        let ready = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        let not_ready = json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}});
        assert!(is_healthy(&ready));
        assert!(!is_healthy(&not_ready));
    }
}
