//! Rhai filter and score plugins loaded from a directory.

mod support;

use serde_json::json;
use skiff_scheduler::SchedulerConfig;
use support::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rhai_filter_vetoes_a_node_and_a_rhai_score_prefers_one() {
    let plugins = tempfile::tempdir().unwrap();
    std::fs::write(
        plugins.path().join("no-legacy.rhai"),
        r#"
        fn filter(pod, node) {
            let labels = node.metadata.labels;
            if labels.contains("legacy") && pod.metadata.labels?.tier == "critical" {
                return "node(s) are legacy";
            }
            true
        }
        "#,
    )
    .unwrap();
    std::fs::write(
        plugins.path().join("likes-blue.rhai"),
        r#"fn score(pod, node) { if node.metadata.labels.contains("blue") { 100 } else { 0 } }"#,
    )
    .unwrap();
    let c = Cluster::with(SchedulerConfig {
        plugin_dir: Some(plugins.path().to_path_buf()),
        ..Default::default()
    })
    .await;
    c.node(
        "old",
        "64",
        "64Gi",
        json!({"metadata": {"labels": {"legacy": "yes"}}}),
    )
    .await;
    c.pod(
        "critical",
        "100m",
        json!({"metadata": {"labels": {"tier": "critical"}}}),
    )
    .await;
    assert_eq!(
        c.stays_pending("critical").await,
        "0/1 nodes are available: 1 node(s) are legacy. \
         preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
    );
    c.pod("batch", "100m", json!({})).await;
    assert_eq!(c.scheduled("batch").await, "old");
    c.node(
        "blue",
        "1",
        "1Gi",
        json!({"metadata": {"labels": {"blue": "yes"}}}),
    )
    .await;
    assert_eq!(c.scheduled("critical").await, "blue");
    c.pod("any", "100m", json!({})).await;
    assert_eq!(c.scheduled("any").await, "blue");
}

#[test]
fn a_broken_plugin_stops_the_scheduler_from_starting() {
    let plugins = tempfile::tempdir().unwrap();
    std::fs::write(plugins.path().join("bad.rhai"), "fn filter(pod, node) {").unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = Cluster::start().await;
        let err = skiff_scheduler::Scheduler::start(
            c.client.clone(),
            SchedulerConfig {
                plugin_dir: Some(plugins.path().to_path_buf()),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "cannot load scheduler plugins");
    });
}
