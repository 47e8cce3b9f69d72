//! Leader election: two hosts on one API server never both reconcile, and a standby takes
//! over when the leader stops.

mod support;

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::PostParams;
use serde_json::json;
use skiff_runtime::{Host, HostConfig, LeaderElection};
use support::*;

const NOOP: &str = r#"fn config() { #{ name: "noop", primary: #{ apiVersion: "v1", kind: "ConfigMap" } } }
fn reconcile(obj, ctx) { }"#;

fn config(dir: &std::path::Path, identity: &str) -> HostConfig {
    HostConfig {
        controller_dirs: vec![dir.to_path_buf()],
        hot_reload: false,
        leader_election: Some(LeaderElection {
            lease_name: "skiff-controllers".into(),
            namespace: "default".into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(3),
            renew_deadline: Duration::from_secs(2),
            retry_period: Duration::from_millis(300),
        }),
        ..HostConfig::default()
    }
}

fn reconciles(host: &Host) -> u64 {
    host.controllers()[0].reconciles
}

async fn create_config_map(api: &ApiServer, name: &str) {
    let config_maps: Api<ConfigMap> = Api::namespaced(api.client.clone(), "default");
    config_maps
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": name}})).unwrap(),
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_the_leader_reconciles_and_a_standby_takes_over_when_it_stops() {
    init_tracing();
    let api = ApiServer::start().await;
    let dir = api.subdir("controllers");
    write(&dir, "noop.rhai", NOOP);
    let first = Host::start(api.client.clone(), config(&dir, "first"))
        .await
        .unwrap();
    let second = Host::start(api.client.clone(), config(&dir, "second"))
        .await
        .unwrap();
    for i in 0..5 {
        create_config_map(&api, &format!("cm-{i}")).await;
    }
    eventually("a leader", Duration::from_secs(10), || {
        let any = first.is_leader() || second.is_leader();
        async move { any.then_some(()) }
    })
    .await;
    let (leader, standby) = if first.is_leader() {
        (first, second)
    } else {
        (second, first)
    };
    eventually("the leader reconciles", Duration::from_secs(10), || {
        let n = reconciles(&leader);
        async move { (n >= 5).then_some(()) }
    })
    .await;
    // Over several renewals the standby never leads and never reconciles.
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!standby.is_leader());
        assert!(leader.is_leader());
    }
    assert_eq!(reconciles(&standby), 0);

    let stopped = Instant::now();
    leader.shutdown().await;
    eventually("the standby takes over", Duration::from_secs(3), || {
        let leading = standby.is_leader();
        async move { leading.then_some(()) }
    })
    .await;
    assert!(
        stopped.elapsed() < Duration::from_secs(3),
        "takeover took {:?}",
        stopped.elapsed()
    );
    create_config_map(&api, "after").await;
    eventually("the new leader reconciles", Duration::from_secs(10), || {
        let n = reconciles(&standby);
        async move { (n >= 6).then_some(()) }
    })
    .await;
    standby.shutdown().await;
}
