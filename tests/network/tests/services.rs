//! Services through the real proxy: nftables rules in the kernel, traffic from the host and
//! from pods (network namespaces on the test's bridge) to busybox web servers.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;
use skiff_network_tests::proxy::{Table, answers, endpoints, eventually, service, slice};
use skiff_network_tests::{Cluster, TestNet};
use skiff_proxy::{Proxy, ProxyConfig};

fn config(table: &str) -> ProxyConfig {
    let mut c = ProxyConfig::new("node-1");
    c.table = table.into();
    c
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_ip_balances_over_ready_pods_and_follows_their_endpoints() {
    let mut net = TestNet::new("cip", 231);
    for name in ["pod-a", "pod-b", "pod-c"] {
        net.add_pod(name);
    }
    let ips: Vec<_> = net.pods.iter().map(|p| p.ip).collect();
    let cluster = Cluster::start().await;
    let client = cluster.client().await;
    let vip = net.service_ip(20);
    cluster
        .create(service(
            "web",
            json!({"clusterIP": vip.to_string(),
            "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}),
        ))
        .await;
    cluster.create(slice("web", &ips)).await;
    let _table = Table("skiff-t-cip".into());
    let mut proxy = Proxy::start(client.clone(), config("skiff-t-cip"))
        .await
        .unwrap();

    let url = format!("http://{vip}/");
    let mut seen = HashSet::new();
    eventually(
        "all three pods answer from the host",
        Duration::from_secs(10),
        async || {
            seen.extend(answers(None, &url, 10).await);
            ["pod-a", "pod-b", "pod-c"]
                .iter()
                .all(|p| seen.contains(*p))
        },
    )
    .await;
    let from_pod = answers(Some(&net.pods[1].netns), &url, 30).await;
    for p in ["pod-a", "pod-b", "pod-c"] {
        assert!(
            from_pod.iter().any(|a| a == p),
            "{p} never answered a pod: {from_pod:?}"
        );
    }
    // pod-b reached itself too (hairpin) among those answers.
    assert!(!from_pod.iter().any(|a| a == "<failed>"), "{from_pod:?}");

    // Take pod-c out: it leaves the rotation within 2 s.
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "default");
    let removed = Instant::now();
    slices
        .patch(
            "web-abc",
            &PatchParams::default(),
            &Patch::Merge(json!({"endpoints": endpoints(&ips[..2])})),
        )
        .await
        .unwrap();
    proxy.wait_for_sync(Duration::from_secs(2)).await;
    let after = answers(None, &url, 20).await;
    assert!(removed.elapsed() < Duration::from_secs(2) + Duration::from_secs(20 * 2));
    assert!(!after.iter().any(|a| a == "pod-c"), "{after:?}");
    assert!(
        after.iter().all(|a| a == "pod-a" || a == "pod-b"),
        "{after:?}"
    );

    // Session affinity: one client sticks to one pod.
    let sticky = net.service_ip(21);
    cluster
        .create(service(
            "sticky",
            json!({"clusterIP": sticky.to_string(), "sessionAffinity": "ClientIP",
            "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}),
        ))
        .await;
    cluster.create(slice("sticky", &ips)).await;
    let sticky_url = format!("http://{sticky}/");
    eventually(
        "the sticky service answers",
        Duration::from_secs(5),
        async || answers(Some(&net.pods[0].netns), &sticky_url, 1).await[0] != "<failed>",
    )
    .await;
    let got: HashSet<String> = answers(Some(&net.pods[0].netns), &sticky_url, 12)
        .await
        .into_iter()
        .collect();
    assert_eq!(got.len(), 1, "{got:?}");

    // Hairpin: the only backend of a service reaches it.
    let own = net.service_ip(22);
    cluster
        .create(service(
            "own",
            json!({"clusterIP": own.to_string(),
            "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}),
        ))
        .await;
    cluster.create(slice("own", &ips[..1])).await;
    let own_url = format!("http://{own}/");
    eventually(
        "a pod reaches itself through its service",
        Duration::from_secs(5),
        async || answers(Some(&net.pods[0].netns), &own_url, 1).await[0] == "pod-a",
    )
    .await;

    // A service without endpoints is refused at once, not left to time out.
    let empty = net.service_ip(23);
    cluster
        .create(service(
            "empty",
            json!({"clusterIP": empty.to_string(),
            "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}),
        ))
        .await;
    proxy.wait_for_sync(Duration::from_secs(2)).await;
    let started = Instant::now();
    assert_eq!(
        answers(None, &format!("http://{empty}/"), 1).await[0],
        "<failed>"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );

    proxy.shutdown(true).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn node_ports_and_load_balancer_addresses_answer() {
    let mut net = TestNet::new("np", 232);
    net.add_pod("pod-a");
    net.add_pod("pod-b");
    let ips: Vec<_> = net.pods.iter().map(|p| p.ip).collect();
    let cluster = Cluster::start().await;
    let client = cluster.client().await;
    let svc = cluster
        .create(service(
            "lb",
            json!({"type": "LoadBalancer", "clusterIP": net.service_ip(30).to_string(),
            "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}),
        ))
        .await;
    let node_port = svc["spec"]["ports"][0]["nodePort"]
        .as_u64()
        .expect("a node port");
    cluster.create(slice("lb", &ips)).await;
    let _table = Table("skiff-t-np".into());
    let mut config = config("skiff-t-np");
    config.load_balancer_pool = Some("10.232.1.0/28".parse().unwrap());
    let proxy = Proxy::start(client.clone(), config).await.unwrap();

    let node_url = format!("http://{}:{node_port}/", net.gateway());
    eventually(
        "the node port answers from the host",
        Duration::from_secs(10),
        async || {
            let a = answers(None, &node_url, 1).await;
            a[0] == "pod-a" || a[0] == "pod-b"
        },
    )
    .await;
    let from_pod = answers(Some(&net.pods[0].netns), &node_url, 4).await;
    assert!(
        from_pod.iter().all(|a| a.starts_with("pod-")),
        "{from_pod:?}"
    );

    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let mut lb_ip = String::new();
    eventually(
        "the load balancer gets an address",
        Duration::from_secs(10),
        async || {
            let s = services.get("lb").await.unwrap();
            lb_ip = s
                .status
                .and_then(|s| s.load_balancer)
                .and_then(|l| l.ingress)
                .and_then(|i| i.first().and_then(|i| i.ip.clone()))
                .unwrap_or_default();
            !lb_ip.is_empty()
        },
    )
    .await;
    assert_eq!(lb_ip, "10.232.1.1");
    let lb_url = format!("http://{lb_ip}/");
    eventually(
        "the load balancer address answers",
        Duration::from_secs(10),
        async || answers(None, &lb_url, 1).await[0].starts_with("pod-"),
    )
    .await;
    proxy.shutdown(true).await.unwrap();
}

fn ruleset(table: &str) -> String {
    let out = std::process::Command::new("nft")
        .args(["list", "table", "ip", table])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_proxy_leaves_no_duplicate_or_stale_rules() {
    let mut net = TestNet::new("rs", 233);
    net.add_pod("pod-a");
    let ips: Vec<_> = net.pods.iter().map(|p| p.ip).collect();
    let cluster = Cluster::start().await;
    let client = cluster.client().await;
    for (name, n) in [("one", 40), ("two", 41)] {
        cluster
            .create(service(
                name,
                json!({"clusterIP": net.service_ip(n).to_string(),
                "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}),
            ))
            .await;
        cluster.create(slice(name, &ips)).await;
    }
    let _table = Table("skiff-t-rs".into());
    let proxy = Proxy::start(client.clone(), config("skiff-t-rs"))
        .await
        .unwrap();
    let before = ruleset("skiff-t-rs");
    assert!(before.contains("10.96.233.41 . tcp . 80"), "{before}");
    proxy.shutdown(false).await.unwrap();
    // Rules stay while the proxy is down: traffic keeps flowing.
    assert_eq!(
        answers(None, &format!("http://{}/", net.service_ip(40)), 1).await[0],
        "pod-a"
    );

    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    services.delete("two", &Default::default()).await.unwrap();
    let proxy = Proxy::start(client.clone(), config("skiff-t-rs"))
        .await
        .unwrap();
    let after = ruleset("skiff-t-rs");
    assert!(
        !after.contains("10.96.233.41"),
        "stale service left: {after}"
    );
    assert_eq!(
        after.matches("chain ep_default_one_tcp_80_").count(),
        1,
        "{after}"
    );
    let tables = std::process::Command::new("nft")
        .args(["list", "tables"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&tables.stdout)
            .matches("table ip skiff-t-rs\n")
            .count(),
        1
    );
    assert_eq!(
        answers(None, &format!("http://{}/", net.service_ip(40)), 1).await[0],
        "pod-a"
    );
    proxy.shutdown(true).await.unwrap();
    assert!(ruleset("skiff-t-rs").is_empty());
}
