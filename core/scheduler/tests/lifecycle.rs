//! Unschedulable reporting, retries on cluster changes, priority order and preemption.

mod support;

use std::time::Duration;

use serde_json::json;
use support::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unschedulable_pods_get_a_failed_scheduling_event_and_a_scheduled_one_later() {
    let c = Cluster::start().await;
    c.pod("waiting", "1", json!({})).await;
    assert_eq!(c.unschedulable("waiting").await, c_message_for_no_nodes());
    let mut failed = Vec::new();
    for _ in 0..100 {
        failed = c
            .events_for("waiting")
            .await
            .into_iter()
            .filter(|e| e.reason.as_deref() == Some("FailedScheduling"))
            .collect();
        if !failed.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let e = failed.first().expect("a FailedScheduling event");
    assert_eq!(e.type_.as_deref(), Some("Warning"));
    assert_eq!(
        e.message.as_deref(),
        Some(c_message_for_no_nodes().as_str())
    );
    assert_eq!(e.involved_object.kind.as_deref(), Some("Pod"));

    // A fitting node appears: the pending pod is placed without being recreated.
    c.node("late", "2", "4Gi", json!({})).await;
    assert_eq!(c.scheduled("waiting").await, "late");
    let mut scheduled = false;
    for _ in 0..100 {
        scheduled = c.events_for("waiting").await.iter().any(|e| {
            e.reason.as_deref() == Some("Scheduled")
                && e.message.as_deref() == Some("Successfully assigned default/waiting to late")
        });
        if scheduled {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(scheduled, "no Scheduled event");
}

fn c_message_for_no_nodes() -> String {
    "no nodes available to schedule pods".to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_pod_is_retried_when_a_node_frees_up() {
    let c = Cluster::start().await;
    c.node("n1", "1", "4Gi", json!({})).await;
    c.pod("first", "800m", json!({})).await;
    assert_eq!(c.scheduled("first").await, "n1");
    c.pod("second", "800m", json!({})).await;
    assert!(
        c.stays_pending("second")
            .await
            .contains("1 Insufficient cpu")
    );
    c.delete_now("first").await;
    assert_eq!(c.scheduled("second").await, "n1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn higher_priority_pods_are_placed_first() {
    let c = Cluster::start().await;
    c.pod("low", "800m", json!({"spec": {"priority": 10}}))
        .await;
    c.pod("high", "800m", json!({"spec": {"priority": 1000}}))
        .await;
    c.pod("mid", "800m", json!({"spec": {"priority": 100}}))
        .await;
    for p in ["low", "high", "mid"] {
        c.unschedulable(p).await;
    }
    // Let every first backoff (1 s) run out, so all three are ready when the node appears.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // One node with room for one pod: the highest priority wins it.
    c.node("n1", "1", "4Gi", json!({})).await;
    assert_eq!(c.scheduled("high").await, "n1");
    tokio::time::sleep(Duration::from_millis(500)).await;
    for p in ["low", "mid"] {
        assert!(
            c.pods()
                .get(p)
                .await
                .unwrap()
                .spec
                .unwrap()
                .node_name
                .is_none()
        );
    }
    c.node("n2", "1", "4Gi", json!({})).await;
    assert_eq!(c.scheduled("mid").await, "n2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preemption_evicts_a_lower_priority_pod_and_places_the_preemptor() {
    let config = skiff_scheduler::SchedulerConfig {
        preemption_grace_period: Some(0),
        ..Default::default()
    };
    let c = Cluster::with(config).await;
    c.node("n1", "1", "4Gi", json!({})).await;
    c.pod("victim", "600m", json!({"spec": {"priority": 1}}))
        .await;
    c.pod("keeper", "300m", json!({"spec": {"priority": 5000}}))
        .await;
    assert_eq!(c.scheduled("victim").await, "n1");
    assert_eq!(c.scheduled("keeper").await, "n1");
    c.pod("peer", "600m", json!({"spec": {"priority": 1}}))
        .await;
    assert!(c.stays_pending("peer").await.ends_with(
        "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
    ));
    c.pod("important", "600m", json!({"spec": {"priority": 1000}}))
        .await;
    c.gone("victim").await;
    assert_eq!(c.scheduled("important").await, "n1");
    let keeper = c.pods().get("keeper").await.unwrap();
    assert_eq!(keeper.spec.unwrap().node_name.as_deref(), Some("n1"));
    let important = c.pods().get("important").await.unwrap();
    assert_eq!(
        important.status.unwrap().nominated_node_name.as_deref(),
        Some("n1")
    );
    // The equal-priority pod never got the freed room.
    assert!(
        c.pods()
            .get("peer")
            .await
            .unwrap()
            .spec
            .unwrap()
            .node_name
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_that_never_preempt_say_so() {
    let c = Cluster::start().await;
    c.node("n1", "1", "4Gi", json!({})).await;
    c.pod("low", "800m", json!({"spec": {"priority": 1}})).await;
    c.scheduled("low").await;
    c.pod(
        "polite",
        "800m",
        json!({"spec": {"priority": 100, "preemptionPolicy": "Never"}}),
    )
    .await;
    assert_eq!(
        c.stays_pending("polite").await,
        "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never."
    );
    assert!(c.pods().get_opt("low").await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_for_another_scheduler_are_left_alone() {
    let c = Cluster::start().await;
    c.node("n1", "1", "4Gi", json!({})).await;
    c.pod("mine", "100m", json!({})).await;
    c.pod(
        "theirs",
        "100m",
        json!({"spec": {"schedulerName": "other"}}),
    )
    .await;
    c.scheduled("mine").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let theirs = c.pods().get("theirs").await.unwrap();
    assert!(theirs.spec.unwrap().node_name.is_none());
    assert!(
        theirs
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .is_empty()
    );
}
