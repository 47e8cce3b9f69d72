//! Partial syncs in a running proxy: after the first sync, changes reach the kernel as
//! transactions of what changed, leave the same rules as a proxy replacing its table on every
//! sync, and keep the session affinity of clients whose endpoint stayed.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};
use skiff_network_tests::proxy::{Table, answers, endpoints, eventually, service, slice};
use skiff_network_tests::{Cluster, TestNet};
use skiff_proxy::nft::{self, Nft, NftCommand};
use skiff_proxy::{Proxy, ProxyConfig};

/// Applies with the real `nft` and keeps every script.
#[derive(Clone, Default)]
struct Recorded {
    scripts: Arc<Mutex<Vec<String>>>,
}

impl Nft for Recorded {
    fn apply(&self, script: &str) -> Result<(), nft::Error> {
        self.scripts.lock().unwrap().push(script.to_string());
        NftCommand.apply(script)
    }
}

/// The table as `nft -j` lists it, without what differs between two tables holding the same
/// rules: the table's name, handles, the order chains were created in and the order of map
/// and set elements.
fn normalized(table: &str) -> BTreeMap<String, Value> {
    let out = std::process::Command::new("nft")
        .args(["-j", "list", "table", "ip", table])
        .output()
        .unwrap();
    let Ok(listing) = serde_json::from_slice::<Value>(&out.stdout) else {
        return BTreeMap::new();
    };
    let mut objects = BTreeMap::new();
    let mut rules: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for item in listing["nftables"].as_array().into_iter().flatten() {
        let Some((kind, body)) = item.as_object().and_then(|o| o.iter().next()) else {
            continue;
        };
        let mut body = body.clone();
        let Some(fields) = body.as_object_mut() else {
            continue;
        };
        fields.remove("handle");
        fields.remove("table");
        match kind.as_str() {
            "metainfo" | "table" => {}
            "rule" => {
                let chain = fields["chain"].as_str().unwrap_or_default().to_string();
                rules.entry(chain).or_default().push(fields["expr"].clone());
            }
            _ => {
                if let Some(Value::Array(elems)) = fields.get_mut("elem") {
                    elems.sort_by_key(Value::to_string);
                }
                let name = fields["name"].as_str().unwrap_or_default().to_string();
                objects.insert(format!("{kind} {name}"), body);
            }
        }
    }
    for (chain, exprs) in rules {
        objects.insert(format!("rules {chain}"), Value::Array(exprs));
    }
    objects
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_sync_partially_to_the_rules_a_full_sync_writes_and_keep_affinity() {
    let mut net = TestNet::new("ps", 236);
    for name in ["pod-a", "pod-b", "pod-c"] {
        net.add_pod(name);
    }
    let ips: Vec<_> = net.pods.iter().map(|p| p.ip).collect();
    let cluster = Cluster::start().await;
    let client = cluster.client().await;
    let sticky = net.service_ip(50);
    cluster
        .create(service(
            "sticky",
            json!({"clusterIP": sticky.to_string(), "sessionAffinity": "ClientIP",
            "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}),
        ))
        .await;
    cluster.create(slice("sticky", &ips)).await;
    cluster
        .create(service(
            "web",
            json!({"clusterIP": net.service_ip(51).to_string(),
            "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}),
        ))
        .await;
    cluster.create(slice("web", &ips)).await;

    let _partial_table = Table("skiff-t-ps".into());
    let _full_table = Table("skiff-t-psf".into());
    let recorded = Recorded::default();
    let mut config = ProxyConfig::new("node-1");
    config.table = "skiff-t-ps".into();
    let proxy = Proxy::start_with(client.clone(), config.clone(), Arc::new(recorded.clone()))
        .await
        .unwrap();

    let url = format!("http://{sticky}/");
    let client_ns = net.pods[0].netns.clone();
    let mut pinned = String::new();
    eventually(
        "the sticky service answers",
        Duration::from_secs(10),
        async || {
            pinned = answers(Some(&client_ns), &url, 1).await.remove(0);
            pinned.starts_with("pod-")
        },
    )
    .await;

    // Another endpoint of the sticky service goes, a service goes, a service comes.
    let dropped = net
        .pods
        .iter()
        .find(|p| p.name != pinned)
        .unwrap()
        .name
        .clone();
    let stays: Vec<_> = net
        .pods
        .iter()
        .filter(|p| p.name != dropped)
        .map(|p| p.ip)
        .collect();
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "default");
    slices
        .patch(
            "sticky-abc",
            &PatchParams::default(),
            &Patch::Merge(json!({"endpoints": endpoints(&stays)})),
        )
        .await
        .unwrap();
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    services.delete("web", &Default::default()).await.unwrap();
    let added = net.service_ip(52);
    cluster
        .create(service(
            "added",
            json!({"clusterIP": added.to_string(),
            "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}),
        ))
        .await;
    cluster.create(slice("added", &ips[1..])).await;

    let gone = net.service_ip(51).to_string();
    let dropped_ip = net.pods.iter().find(|p| p.name == dropped).unwrap().ip;
    let dropped_chain = format!(
        "ep_default_sticky_tcp_80_{}_8080",
        dropped_ip.to_string().replace('.', "_")
    );
    eventually(
        "the changes reach the table",
        Duration::from_secs(10),
        async || {
            let text = serde_json::to_string(&normalized("skiff-t-ps")).unwrap();
            text.contains(&added.to_string())
                && !text.contains(&gone)
                && !text.contains(&dropped_chain)
        },
    )
    .await;
    let scripts = recorded.scripts.lock().unwrap().clone();
    assert!(scripts[0].contains("delete table ip skiff-t-ps\n"));
    assert!(scripts.len() > 1, "no change was applied");
    for s in &scripts[1..] {
        assert!(!s.contains("delete table"), "not a partial sync: {s}");
    }
    // Under full syncs the affinity sets were recreated empty on every change.
    let got: HashSet<String> = answers(Some(&client_ns), &url, 12)
        .await
        .into_iter()
        .collect();
    assert_eq!(got, HashSet::from([pinned.clone()]), "affinity lost");
    assert!(answers(Some(&client_ns), &format!("http://{added}/"), 1).await[0].starts_with("pod-"));

    // The same cluster through a proxy whose every sync replaces its table writes the same
    // rules (affinity sets aside: the test's client filled one of them).
    config.table = "skiff-t-psf".into();
    config.full_sync_interval = Duration::ZERO;
    let full = Proxy::start(client.clone(), config).await.unwrap();
    let without_affinity = |mut rules: BTreeMap<String, Value>| {
        for (name, set) in rules.iter_mut() {
            if name.starts_with("set aff_") {
                set.as_object_mut().unwrap().remove("elem");
            }
        }
        rules
    };
    assert_eq!(
        without_affinity(normalized("skiff-t-ps")),
        without_affinity(normalized("skiff-t-psf"))
    );

    proxy.shutdown(true).await.unwrap();
    full.shutdown(true).await.unwrap();
}
