//! Restarts: CrashLoopBackOff with growing delays, a failing liveness probe restarting a
//! container, readiness gating Ready, an OOM kill, and a restarted kubelet adopting its
//! containers without restarting them.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Cluster, IMAGE, Plugins};

fn restarts(pod: &Value) -> i64 {
    pod["status"]["containerStatuses"][0]["restartCount"]
        .as_i64()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crashing_container_backs_off_longer_each_time_and_keeps_its_previous_log() {
    let cluster = Cluster::start(Plugins::Skiff).await;
    let pod = cluster.pod_manifest(
        "crash",
        json!({"containers": [{"name": "app", "image": IMAGE, "imagePullPolicy": "Never",
            "command": ["sh", "-c", "echo run at $(date +%s); exit 2"]}]}),
    );
    cluster.apply(&pod).await;
    let mut seen = Vec::new();
    for n in 1..=3 {
        let p = cluster
            .wait_pod("crash", Duration::from_secs(60), |p| restarts(p) >= n)
            .await;
        seen.push((n, std::time::Instant::now()));
        let last = &p["status"]["containerStatuses"][0]["lastState"]["terminated"];
        assert_eq!(last["exitCode"], 2, "{p:#}");
        assert_eq!(last["reason"], "Error");
    }
    let p = cluster
        .wait_pod("crash", Duration::from_secs(30), |p| {
            p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "CrashLoopBackOff"
        })
        .await;
    assert_eq!(p["status"]["phase"], "Running");
    // Delays 0, 2, 4 s (initial 2 s, doubling): the gap before the third restart is longer.
    let gap2 = seen[1].1 - seen[0].1;
    let gap3 = seen[2].1 - seen[1].1;
    assert!(gap2 >= Duration::from_millis(1500), "{gap2:?}");
    assert!(gap3 > gap2, "{gap3:?} should exceed {gap2:?}");
    let previous = cluster.kubectl(&["logs", "crash", "--previous"]).await;
    assert!(previous.starts_with("run at "), "{previous}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_liveness_probe_restarts_and_readiness_gates_ready() {
    let cluster = Cluster::start(Plugins::Skiff).await;
    let pod = cluster.pod_manifest(
        "probed",
        json!({"containers": [{"name": "app", "image": IMAGE, "imagePullPolicy": "Never",
            "command": ["sh", "-c", "touch /tmp/alive; mkdir -p /www; exec httpd -f -p 8080 -h /www"],
            "livenessProbe": {"exec": {"command": ["test", "-f", "/tmp/alive"]},
                              "periodSeconds": 1, "failureThreshold": 2},
            "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080},
                               "periodSeconds": 1, "failureThreshold": 1}}]}),
    );
    cluster.apply(&pod).await;
    let running = cluster
        .wait_pod("probed", Duration::from_secs(60), |p| {
            p["status"]["containerStatuses"][0]["state"]["running"].is_object()
        })
        .await;
    // No /ready page yet: running but not ready.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let p = cluster.pod("probed").await;
    assert_eq!(p["status"]["containerStatuses"][0]["ready"], false, "{p:#}");
    assert_eq!(restarts(&running), 0);
    cluster
        .kubectl(&["exec", "probed", "--", "touch", "/www/ready"])
        .await;
    cluster.wait_running("probed").await;

    cluster
        .kubectl(&["exec", "probed", "--", "rm", "/tmp/alive"])
        .await;
    let p = cluster
        .wait_pod("probed", Duration::from_secs(60), |p| restarts(p) >= 1)
        .await;
    assert!(
        p["status"]["containerStatuses"][0]["lastState"]["terminated"].is_object(),
        "{p:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_container_over_its_memory_limit_is_oom_killed() {
    let cluster = Cluster::start(Plugins::Skiff).await;
    let pod = cluster.pod_manifest(
        "hog",
        json!({"restartPolicy": "Never", "containers": [{"name": "app", "image": IMAGE,
            "imagePullPolicy": "Never", "resources": {"limits": {"memory": "16Mi"}},
            "command": ["sh", "-c", "head -c 64m /dev/zero | tail > /dev/null"]}]}),
    );
    cluster.apply(&pod).await;
    let p = cluster
        .wait_pod("hog", Duration::from_secs(60), |p| {
            p["status"]["phase"] == "Failed"
        })
        .await;
    let t = &p["status"]["containerStatuses"][0]["state"]["terminated"];
    assert_eq!(t["reason"], "OOMKilled", "{p:#}");
    assert_eq!(t["exitCode"], 137);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_kubelet_adopts_running_containers_and_cleans_up_deleted_pods() {
    let mut cluster = Cluster::start(Plugins::Skiff).await;
    cluster.apply(&cluster.httpd("keep", "kept")).await;
    cluster.apply(&cluster.httpd("drop", "dropped")).await;
    let keep = cluster.wait_running("keep").await;
    let dropped = cluster.wait_running("drop").await;
    let pid_before = pid_of(&cluster, "keep").await;

    cluster.stop_kubelet().await;
    // Deleted while the kubelet is down: the API server keeps it (it has a node) until a
    // forced delete removes it.
    cluster
        .kubectl(&[
            "delete",
            "pod",
            "drop",
            "--grace-period=0",
            "--force",
            "--wait=false",
        ])
        .await;
    cluster.start_kubelet().await;

    let uid = dropped["metadata"]["uid"].as_str().unwrap().to_string();
    let netns = std::path::Path::new("/var/run/netns")
        .join(format!("{}{uid}", cluster.config.netns_prefix));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while netns.exists() || pid_alive_for(&cluster, &uid).await {
        assert!(
            std::time::Instant::now() < deadline,
            "the deleted pod was not cleaned up"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = cluster.pod("keep").await;
    assert_eq!(restarts(&after), 0);
    assert_eq!(after["status"]["podIP"], keep["status"]["podIP"]);
    assert_eq!(
        pid_of(&cluster, "keep").await,
        pid_before,
        "the same process still runs"
    );
}

async fn pid_of(cluster: &Cluster, pod: &str) -> u32 {
    let uid = cluster.pod(pod).await["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    let list = cluster.runtime.list().await.unwrap();
    list.iter()
        .find(|c| c.pod().uid == uid)
        .and_then(|c| c.pid)
        .expect("a running container")
}

async fn pid_alive_for(cluster: &Cluster, uid: &str) -> bool {
    let list = cluster.runtime.list().await.unwrap();
    list.iter().any(|c| c.pod().uid == uid)
}
