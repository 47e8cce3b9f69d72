//! Evictions honour PodDisruptionBudgets: 429 while a budget has no disruption to spare.

mod support;

use serde_json::{Value, json};
use support::Cluster;

/// Creates a ready pod labelled `app=db` (its status written through the status subresource,
/// as a kubelet would).
async fn ready_pod(c: &Cluster, name: &str) {
    let pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "db"}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}});
    let (code, body) = c
        .raw(
            "POST",
            "/api/v1/namespaces/default/pods",
            "application/json",
            serde_json::to_vec(&pod).unwrap(),
        )
        .await;
    assert_eq!(code, 201, "{body}");
    let status = json!({"status": {"phase": "Running",
        "conditions": [{"type": "Ready", "status": "True"}]}});
    let (code, body) = c
        .raw(
            "PATCH",
            &format!("/api/v1/namespaces/default/pods/{name}/status"),
            "application/merge-patch+json",
            serde_json::to_vec(&status).unwrap(),
        )
        .await;
    assert_eq!(code, 200, "{body}");
}

async fn evict(c: &Cluster, name: &str) -> (u16, Value) {
    c.raw(
        "POST",
        &format!("/api/v1/namespaces/default/pods/{name}/eviction"),
        "application/json",
        serde_json::to_vec(&json!({"apiVersion": "policy/v1", "kind": "Eviction",
            "metadata": {"name": name}}))
        .unwrap(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_eviction_that_breaks_a_budget_is_refused_with_429() {
    let c = Cluster::start().await;
    for name in ["db-0", "db-1", "db-2"] {
        ready_pod(&c, name).await;
    }
    let pdb = json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "db"},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "db"}}}});
    let (code, body) = c
        .raw(
            "POST",
            "/apis/policy/v1/namespaces/default/poddisruptionbudgets",
            "application/json",
            serde_json::to_vec(&pdb).unwrap(),
        )
        .await;
    assert_eq!(code, 201, "{body}");

    let (code, body) = evict(&c, "db-0").await;
    assert_eq!(code, 201, "one of three may go while two stay: {body}");

    let (code, body) = evict(&c, "db-1").await;
    assert_eq!(code, 429, "{body}");
    assert_eq!(body["reason"], "TooManyRequests");
    assert_eq!(
        body["details"]["causes"][0]["message"],
        "The disruption budget db needs 2 healthy pods and has 2 currently"
    );
    let (code, _) = c
        .raw(
            "GET",
            "/api/v1/namespaces/default/pods/db-1",
            "application/json",
            Vec::new(),
        )
        .await;
    assert_eq!(code, 200, "a refused eviction leaves the pod alone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pods_no_budget_covers_are_evicted_freely() {
    let c = Cluster::start().await;
    ready_pod(&c, "lonely").await;
    let pdb = json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "other"},
        "spec": {"maxUnavailable": 0, "selector": {"matchLabels": {"app": "web"}}}});
    let (code, _) = c
        .raw(
            "POST",
            "/apis/policy/v1/namespaces/default/poddisruptionbudgets",
            "application/json",
            serde_json::to_vec(&pdb).unwrap(),
        )
        .await;
    assert_eq!(code, 201);
    let (code, body) = evict(&c, "lonely").await;
    assert_eq!(code, 201, "{body}");
}
