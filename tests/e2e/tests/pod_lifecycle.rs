//! A busybox httpd pod on real containerd and CNI: Running with an IP, serving its page,
//! `kubectl logs`, `kubectl exec` (with and without stdin), and `kubectl delete` within its
//! grace, releasing the namespace and address.

mod support;

use std::time::{Duration, Instant};

use support::{Cluster, Plugins, http_get};

async fn httpd_pod_runs_serves_and_goes_away(plugins: Plugins) {
    let cluster = Cluster::start(plugins).await;
    cluster
        .apply(&cluster.httpd("web", "hello from skiff"))
        .await;
    let pod = cluster.wait_running("web").await;
    let ip = pod["status"]["podIP"].as_str().unwrap().to_string();
    assert!(
        ip.starts_with(&cluster.subnet),
        "{ip} not in {}",
        cluster.subnet
    );
    assert_eq!(pod["status"]["hostIP"], "127.0.0.1");
    let status = &pod["status"]["containerStatuses"][0];
    assert!(
        status["containerID"]
            .as_str()
            .unwrap()
            .starts_with("containerd://")
    );
    assert_eq!(status["ready"], true);

    let page = {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match http_get(&ip, 80, "/") {
                Ok(p) => break p,
                Err(e) => {
                    assert!(Instant::now() < deadline, "no answer from {ip}: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    };
    assert!(page.contains("hello from skiff"), "{page}");

    let logs = cluster.kubectl(&["logs", "web"]).await;
    assert!(logs.contains("started"), "{logs}");
    let logs = cluster
        .kubectl(&["logs", "web", "-c", "web", "--tail", "1"])
        .await;
    assert_eq!(logs.lines().count(), 1, "{logs}");

    let out = cluster
        .kubectl(&["exec", "web", "--", "cat", "/www/index.html"])
        .await;
    assert_eq!(out, "hello from skiff\n");
    let hostname = cluster.kubectl(&["exec", "web", "--", "hostname"]).await;
    assert_eq!(hostname.trim(), "web");
    let out = cluster
        .kubectl_stdin(
            &["exec", "-i", "web", "--", "sh", "-c", "tr a-z A-Z"],
            Some("shout this\n"),
        )
        .await;
    assert_eq!(out, "SHOUT THIS\n");
    let failed = cluster
        .kubectl_with(&["exec", "web", "--", "sh", "-c", "exit 3"], None)
        .await;
    assert_eq!(failed.status.code(), Some(3), "{failed:?}");

    let netns = std::path::Path::new("/var/run/netns").join(format!(
        "{}{}",
        cluster.config.netns_prefix,
        pod["metadata"]["uid"].as_str().unwrap()
    ));
    assert!(netns.exists());
    let started = Instant::now();
    cluster
        .kubectl(&["delete", "pod", "web", "--wait=true", "--timeout=60s"])
        .await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(15),
        "deletion took {took:?} (grace is 5 s)"
    );
    assert!(!netns.exists(), "the pod's netns is removed");
    let gone = cluster.kubectl_with(&["get", "pod", "web"], None).await;
    assert!(!gone.status.success());
    assert!(http_get(&ip, 80, "/").is_err(), "{ip} no longer answers");
    let left: Vec<_> = cluster.runtime.list().await.unwrap();
    assert!(left.is_empty(), "containers left: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_httpd_pod_runs_serves_logs_execs_and_is_deleted_with_skiffs_plugins() {
    httpd_pod_runs_serves_and_goes_away(Plugins::Skiff).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_httpd_pod_runs_serves_logs_execs_and_is_deleted_with_the_reference_plugins() {
    httpd_pod_runs_serves_and_goes_away(Plugins::Reference).await;
}
