//! `kubectl cordon`, `uncordon` and `drain` with the scheduler running.

mod support;

use serde_json::json;
use support::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cordoned_nodes_take_no_new_pods_until_uncordoned() {
    let c = Cluster::start().await;
    c.node("n1", "4", "8Gi", json!({})).await;
    let out = c.kubectl(&["cordon", "n1"]).await;
    assert!(out.contains("node/n1 cordoned"), "{out}");
    c.node_seen("n1").await;
    c.pod("p", "100m", json!({})).await;
    assert_eq!(
        c.stays_pending("p").await,
        "0/1 nodes are available: 1 node(s) were unschedulable. \
         preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
    );
    let out = c.kubectl(&["uncordon", "n1"]).await;
    assert!(out.contains("node/n1 uncordoned"), "{out}");
    assert_eq!(c.scheduled("p").await, "n1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_evicts_pods_and_they_are_not_placed_back() {
    let c = Cluster::start().await;
    c.node("n1", "4", "8Gi", json!({})).await;
    c.pod("a", "100m", json!({})).await;
    c.pod("b", "100m", json!({})).await;
    assert_eq!(c.scheduled("a").await, "n1");
    assert_eq!(c.scheduled("b").await, "n1");
    let out = c
        .kubectl(&[
            "drain",
            "n1",
            "--force",
            "--grace-period=0",
            "--timeout=30s",
        ])
        .await;
    assert!(out.contains("node/n1 drained"), "{out}");
    c.node_seen("n1").await;
    c.gone("a").await;
    c.gone("b").await;
    let node = c.nodes().get("n1").await.unwrap();
    assert_eq!(node.spec.unwrap().unschedulable, Some(true));
    c.pod("new", "100m", json!({})).await;
    assert!(
        c.stays_pending("new")
            .await
            .contains("1 node(s) were unschedulable")
    );
}
