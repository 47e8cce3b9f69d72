//! What the tests of a running proxy share: Service and EndpointSlice manifests, a guard for
//! the test's nftables table, and asking who answers.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A Service in `default` with `spec`.
pub fn service(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": "default"}, "spec": spec})
}

/// Ready endpoints on `node-1` for `ips`.
pub fn endpoints(ips: &[Ipv4Addr]) -> Value {
    json!(ips
        .iter()
        .map(|ip| json!({"addresses": [ip.to_string()], "conditions": {"ready": true}, "nodeName": "node-1"}))
        .collect::<Vec<_>>())
}

/// The EndpointSlice of `service` with port `http` 8080 on `ips`.
pub fn slice(service: &str, ips: &[Ipv4Addr]) -> Value {
    json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": format!("{service}-abc"), "namespace": "default",
            "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": endpoints(ips)})
}

/// Removes the test's table however the test ends.
pub struct Table(pub String);

impl Drop for Table {
    fn drop(&mut self) {
        let _ = std::process::Command::new("nft")
            .args(["delete", "table", "ip", &self.0])
            .output();
    }
}

/// Who answers `n` requests to `url`, from the host (`None`) or a namespace.
pub async fn answers(netns: Option<&str>, url: &str, n: usize) -> Vec<String> {
    let netns = netns.map(str::to_string);
    let url = url.to_string();
    tokio::task::spawn_blocking(move || {
        (0..n)
            .map(|_| {
                crate::netns::get_in(netns.as_deref(), &url).unwrap_or_else(|| "<failed>".into())
            })
            .collect()
    })
    .await
    .expect("request thread")
}

/// Waits until `check` holds, failing the test after `timeout`.
pub async fn eventually(what: &str, timeout: Duration, mut check: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: not within {timeout:?}");
}
