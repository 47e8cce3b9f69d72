//! Scores: each one with a placement it must prefer and one it must avoid.

mod support;

use serde_json::json;
use support::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_allocated_prefers_the_emptier_node() {
    let c = Cluster::start().await;
    c.node("busy", "4", "8Gi", json!({})).await;
    c.node("idle", "4", "8Gi", json!({})).await;
    c.pod(
        "hog",
        "3",
        json!({"spec": {"nodeSelector": {"kubernetes.io/hostname": "busy"}}}),
    )
    .await;
    assert_eq!(c.scheduled("hog").await, "busy");
    for i in 0..3 {
        let name = format!("p{i}");
        c.pod(&name, "200m", json!({})).await;
        assert_eq!(c.scheduled(&name).await, "idle");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preferred_node_affinity_wins_and_prefer_no_schedule_taints_repel() {
    let c = Cluster::start().await;
    c.node("plain", "4", "8Gi", json!({})).await;
    c.node(
        "fast",
        "4",
        "8Gi",
        json!({"metadata": {"labels": {"speed": "fast"}}}),
    )
    .await;
    c.node(
        "tainted",
        "4",
        "8Gi",
        json!({"metadata": {"labels": {"speed": "fast"}},
        "spec": {"taints": [{"key": "maintenance", "effect": "PreferNoSchedule"}]}}),
    )
    .await;
    for i in 0..3 {
        let name = format!("pref-{i}");
        c.pod(
            &name,
            "100m",
            json!({"spec": {"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 100, "preference": {"matchExpressions": [{"key": "speed", "operator": "In", "values": ["fast"]}]}}]}}}}),
        )
        .await;
        assert_eq!(c.scheduled(&name).await, "fast");
    }
    c.pod(
        "tolerates",
        "100m",
        json!({"spec": {"nodeSelector": {"speed": "fast"},
            "tolerations": [{"key": "maintenance", "operator": "Exists"}]}}),
    )
    .await;
    // Among the two fast nodes, the tolerated taint no longer counts against "tainted",
    // which is emptier.
    assert_eq!(c.scheduled("tolerates").await, "tainted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_of_one_owner_spread_across_nodes() {
    let c = Cluster::start().await;
    for n in ["n1", "n2", "n3"] {
        c.node(n, "64", "64Gi", json!({})).await;
    }
    let owned = |uid: &str| {
        json!({"metadata": {"ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "name": "rs", "uid": uid, "controller": true}]}})
    };
    let mut nodes = Vec::new();
    for i in 0..6 {
        let name = format!("r{i}");
        c.pod(&name, "10m", owned("11111111-1111-1111-1111-111111111111"))
            .await;
        nodes.push(c.scheduled(&name).await);
    }
    nodes.sort();
    assert_eq!(nodes, ["n1", "n1", "n2", "n2", "n3", "n3"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preferred_pod_affinity_and_anti_affinity_steer_placement() {
    let c = Cluster::start().await;
    for n in ["n1", "n2", "n3"] {
        c.node(n, "8", "8Gi", json!({})).await;
    }
    c.pod(
        "cache",
        "100m",
        json!({"metadata": {"labels": {"app": "cache"}},
        "spec": {"nodeSelector": {"kubernetes.io/hostname": "n2"}}}),
    )
    .await;
    assert_eq!(c.scheduled("cache").await, "n2");
    let term = |kind: &str| {
        json!({"spec": {"affinity": {kind: {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 100, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "cache"}},
                "topologyKey": "kubernetes.io/hostname"}}]}}}})
    };
    for i in 0..2 {
        let name = format!("near-{i}");
        c.pod(&name, "100m", term("podAffinity")).await;
        assert_eq!(c.scheduled(&name).await, "n2");
    }
    for i in 0..2 {
        let name = format!("far-{i}");
        c.pod(&name, "100m", term("podAntiAffinity")).await;
        assert_ne!(c.scheduled(&name).await, "n2");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedule_anyway_spread_balances_zones() {
    let c = Cluster::start().await;
    c.node(
        "a1",
        "8",
        "8Gi",
        json!({"metadata": {"labels": {"zone": "a"}}}),
    )
    .await;
    c.node(
        "a2",
        "8",
        "8Gi",
        json!({"metadata": {"labels": {"zone": "a"}}}),
    )
    .await;
    c.node(
        "b1",
        "8",
        "8Gi",
        json!({"metadata": {"labels": {"zone": "b"}}}),
    )
    .await;
    let spread = json!({"metadata": {"labels": {"app": "z"}},
        "spec": {"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone",
            "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": {"app": "z"}}}]}});
    let mut zone_b = 0;
    for i in 0..4 {
        let name = format!("z{i}");
        c.pod(&name, "100m", spread.clone()).await;
        if c.scheduled(&name).await == "b1" {
            zone_b += 1;
        }
    }
    // Without the constraint, least-allocated would put only a third of them in zone b.
    assert_eq!(zone_b, 2);
}
