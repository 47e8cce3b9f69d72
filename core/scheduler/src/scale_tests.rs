//! Scheduling many pods onto many nodes through the cache and framework alone (no API), the
//! core of the throughput target.

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use crate::cache::Cache;
use crate::framework::Framework;
use crate::pod_info::PodInfo;

#[test]
fn thousands_of_replicas_fill_a_thousand_nodes_evenly_without_overcommit() {
    let mut cache = Cache::default();
    for i in 0..1000 {
        let node = serde_json::from_value(json!({
            "metadata": {"name": format!("node-{i:04}"), "labels": {"kubernetes.io/hostname": format!("node-{i:04}")}},
            "status": {"allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"},
                "conditions": [{"type": "Ready", "status": "True"}]}
        }))
        .unwrap();
        cache.upsert_node(Arc::new(node));
    }
    let mut framework = Framework::new(Vec::new(), None);
    let pods = 5000;
    let started = Instant::now();
    for i in 0..pods {
        let pod = serde_json::from_value(json!({
            "metadata": {"name": format!("web-{i}"), "namespace": "default", "labels": {"app": "web"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
                    "uid": "rs-uid", "controller": true}]},
            "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}
        }))
        .unwrap();
        let info = Arc::new(PodInfo::new(Arc::new(pod)));
        let placed = framework.schedule(&info, &cache).expect("a node fits");
        cache.assume(info, &placed.node);
    }
    let rate = f64::from(pods) / started.elapsed().as_secs_f64();
    eprintln!("scheduled {pods} pods onto 1000 nodes at {rate:.0} pods/s (framework only)");
    let counts: Vec<usize> = cache.nodes().iter().map(|n| n.pods.len()).collect();
    assert_eq!(counts.iter().sum::<usize>(), pods as usize);
    for n in cache.nodes() {
        assert!(n.requested.milli_cpu <= n.allocatable.milli_cpu);
    }
    // Least-allocated and owner spreading keep the nodes within a few pods of each other.
    let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
    assert!(max - min <= 3, "uneven spread: {min}..{max}");
}
