//! Cluster DNS through the real proxy: queries to the DNS service address, DNATed to the
//! node's server, from the host with a pod's resolver settings and from inside a pod.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};
use serde_json::json;
use skiff_network_tests::{Cluster, TestNet, Upstream};
use skiff_proxy::{DnsConfig, Proxy, ProxyConfig};

struct Table(String);

impl Drop for Table {
    fn drop(&mut self) {
        let _ = std::process::Command::new("nft")
            .args(["delete", "table", "ip", &self.0])
            .output();
    }
}

/// A resolver set up as the kubelet sets up a pod in `default`: the DNS service address,
/// the cluster search list and `ndots:5`.
fn pod_resolver(dns: Ipv4Addr) -> TokioResolver {
    let search = [
        "default.svc.cluster.local.",
        "svc.cluster.local.",
        "cluster.local.",
    ];
    let mut udp = ConnectionConfig::udp();
    udp.port = 53;
    let config = ResolverConfig::from_parts(
        None,
        search.iter().map(|s| s.parse::<Name>().unwrap()).collect(),
        vec![NameServerConfig::new(IpAddr::V4(dns), true, vec![udp])],
    );
    let mut opts = ResolverOpts::default();
    opts.ndots = 5;
    opts.cache_size = 0;
    opts.timeout = Duration::from_secs(2);
    Resolver::builder_with_config(config, TokioRuntimeProvider::default())
        .with_options(opts)
        .build()
        .unwrap()
}

async fn a_records(r: &TokioResolver, name: &str) -> Vec<String> {
    match r.lookup(name, RecordType::A).await {
        Ok(l) => {
            let mut v: Vec<String> = l
                .answers()
                .iter()
                .filter(|r| matches!(r.data, RData::A(_)))
                .map(|r| r.data.to_string())
                .collect();
            v.sort();
            v
        }
        Err(e) => vec![format!("error: {e}")],
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cluster_dns_answers_services_pods_and_aliases_and_forwards_the_rest() {
    let mut net = TestNet::new("dns", 234);
    net.add_pod("db-0");
    net.add_pod("db-1");
    let ips: Vec<_> = net.pods.iter().map(|p| p.ip).collect();
    let cluster = Cluster::start().await;
    let client = cluster.client().await;
    let web = net.service_ip(20);
    for svc in [
        json!({"metadata": {"name": "web"}, "spec": {"clusterIP": web.to_string(),
            "ports": [{"name": "http", "port": 80}]}}),
        json!({"metadata": {"name": "db"}, "spec": {"clusterIP": "None",
            "ports": [{"name": "pg", "port": 5432}]}}),
        json!({"metadata": {"name": "docs"}, "spec": {"type": "ExternalName",
            "externalName": "docs.example.test"}}),
    ] {
        let mut svc = svc;
        svc["apiVersion"] = json!("v1");
        svc["kind"] = json!("Service");
        svc["metadata"]["namespace"] = json!("default");
        cluster.create(svc).await;
    }
    cluster
        .create(
            json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "db-x", "namespace": "default",
                "labels": {"kubernetes.io/service-name": "db"}},
            "addressType": "IPv4",
            "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}],
            "endpoints": [
                {"addresses": [ips[0].to_string()], "hostname": "db-0"},
                {"addresses": [ips[1].to_string()], "hostname": "db-1"}]}),
        )
        .await;
    let upstream = Upstream::start("outside.example.test.", Ipv4Addr::new(10, 234, 9, 9)).await;
    let dns_ip = net.service_ip(10);
    let mut config = ProxyConfig::new("node-1");
    config.table = "skiff-t-dns".into();
    let mut dns = DnsConfig::new(dns_ip, SocketAddr::new(IpAddr::V4(net.gateway()), 0));
    dns.upstreams = vec![upstream.addr];
    config.dns = Some(dns);
    let _table = Table("skiff-t-dns".into());
    let proxy = Proxy::start(client, config).await.unwrap();

    let r = pod_resolver(dns_ip);
    let web_ip = vec![web.to_string()];
    assert_eq!(a_records(&r, "web").await, web_ip);
    assert_eq!(a_records(&r, "web.default").await, web_ip);
    assert_eq!(
        a_records(&r, "web.default.svc.cluster.local.").await,
        web_ip
    );
    let mut all: Vec<String> = ips.iter().map(|i| i.to_string()).collect();
    all.sort();
    assert_eq!(a_records(&r, "db").await, all);
    assert_eq!(a_records(&r, "db-1.db").await, vec![ips[1].to_string()]);

    let srv = r
        .lookup("_pg._tcp.db.default.svc.cluster.local.", RecordType::SRV)
        .await
        .unwrap();
    let mut targets: Vec<String> = srv.answers().iter().map(|r| r.data.to_string()).collect();
    targets.sort();
    assert_eq!(
        targets,
        vec![
            "0 100 5432 db-0.db.default.svc.cluster.local.",
            "0 100 5432 db-1.db.default.svc.cluster.local."
        ]
    );

    let cname = r
        .lookup("docs.default.svc.cluster.local.", RecordType::CNAME)
        .await
        .unwrap();
    assert_eq!(cname.answers()[0].data.to_string(), "docs.example.test.");

    assert_eq!(
        a_records(&r, "outside.example.test.").await,
        vec!["10.234.9.9"]
    );
    let asked = upstream.queries.load(std::sync::atomic::Ordering::SeqCst);
    assert!(asked >= 1);
    // The answer is cached: asking again does not reach the upstream.
    assert_eq!(
        a_records(&r, "outside.example.test.").await,
        vec!["10.234.9.9"]
    );
    assert_eq!(
        upstream.queries.load(std::sync::atomic::Ordering::SeqCst),
        asked
    );
    assert!(a_records(&r, "missing.default.svc.cluster.local.").await[0].starts_with("error"));

    // From inside a pod, through the DNS service address.
    let out = net.pods[0].exec(&[
        "busybox",
        "nslookup",
        "web.default.svc.cluster.local",
        &dns_ip.to_string(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&web.to_string()), "{text}");

    proxy.shutdown(true).await.unwrap();
}
