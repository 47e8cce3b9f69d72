//! Every filter with a pod that must fit and one that must not, against a real API server.

mod support;

use serde_json::json;
use support::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_requests_must_fit_what_is_left_of_allocatable() {
    let c = Cluster::start().await;
    c.node("small", "1", "4Gi", json!({})).await;
    c.node("big", "4", "4Gi", json!({})).await;
    c.pod("fits-big", "3", json!({})).await;
    assert_eq!(c.scheduled("fits-big").await, "big");
    c.pod("fits-small", "900m", json!({})).await;
    assert_eq!(c.scheduled("fits-small").await, "small");
    c.pod("too-big", "2", json!({})).await;
    let msg = c.stays_pending("too-big").await;
    assert_eq!(
        msg,
        "0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: \
         2 No preemption victims found for incoming pod."
    );
    c.pod(
        "too-much-memory",
        "10m",
        json!({"spec": {"containers": [{"name": "c", "image": "busybox",
            "resources": {"requests": {"cpu": "10m", "memory": "5Gi"}}}]}}),
    )
    .await;
    assert!(
        c.stays_pending("too-much-memory")
            .await
            .contains("2 Insufficient memory")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_containers_count_with_their_peak() {
    let c = Cluster::start().await;
    c.node("n1", "2", "4Gi", json!({})).await;
    c.pod(
        "big-init",
        "100m",
        json!({"spec": {"initContainers": [{"name": "i", "image": "busybox",
            "resources": {"requests": {"cpu": "3"}}}]}}),
    )
    .await;
    assert!(
        c.stays_pending("big-init")
            .await
            .contains("1 Insufficient cpu")
    );
    c.pod(
        "small-init",
        "100m",
        json!({"spec": {"initContainers": [{"name": "i", "image": "busybox",
            "resources": {"requests": {"cpu": "1500m"}}}]}}),
    )
    .await;
    assert_eq!(c.scheduled("small-init").await, "n1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_selector_and_required_node_affinity_choose_nodes() {
    let c = Cluster::start().await;
    c.node(
        "ssd",
        "2",
        "4Gi",
        json!({"metadata": {"labels": {"disk": "ssd", "cores": "8"}}}),
    )
    .await;
    c.node(
        "hdd",
        "2",
        "4Gi",
        json!({"metadata": {"labels": {"disk": "hdd", "cores": "2"}}}),
    )
    .await;
    c.pod(
        "sel",
        "100m",
        json!({"spec": {"nodeSelector": {"disk": "ssd"}}}),
    )
    .await;
    assert_eq!(c.scheduled("sel").await, "ssd");
    let affinity = |exprs: serde_json::Value| {
        json!({"spec": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
            {"nodeSelectorTerms": [{"matchExpressions": exprs}]}}}}})
    };
    c.pod(
        "gt",
        "100m",
        affinity(json!([{"key": "cores", "operator": "Gt", "values": ["4"]}])),
    )
    .await;
    assert_eq!(c.scheduled("gt").await, "ssd");
    c.pod(
        "notin",
        "100m",
        affinity(json!([{"key": "disk", "operator": "NotIn", "values": ["ssd"]}])),
    )
    .await;
    assert_eq!(c.scheduled("notin").await, "hdd");
    c.pod(
        "by-name",
        "100m",
        json!({"spec": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
            {"nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["hdd"]}]}]}}}}}),
    )
    .await;
    assert_eq!(c.scheduled("by-name").await, "hdd");
    c.pod(
        "nowhere",
        "100m",
        json!({"spec": {"nodeSelector": {"disk": "nvme"}}}),
    )
    .await;
    assert_eq!(
        c.stays_pending("nowhere").await,
        "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. \
         preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
    );
    c.pod(
        "no-gpu",
        "100m",
        affinity(json!([{"key": "gpu", "operator": "Exists"}])),
    )
    .await;
    c.stays_pending("no-gpu").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taints_repel_and_tolerations_admit() {
    let c = Cluster::start().await;
    c.node(
        "cp",
        "2",
        "4Gi",
        json!({"spec": {"taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]}}),
    )
    .await;
    c.pod("plain", "100m", json!({})).await;
    assert_eq!(
        c.stays_pending("plain").await,
        "0/1 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }. \
         preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
    );
    c.pod(
        "tolerant",
        "100m",
        json!({"spec": {"tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}]}}),
    )
    .await;
    assert_eq!(c.scheduled("tolerant").await, "cp");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_ports_cannot_be_used_twice_on_a_node() {
    let c = Cluster::start().await;
    c.node("n1", "2", "4Gi", json!({})).await;
    let port = |p: i32| {
        json!({"spec": {"containers": [{"name": "c", "image": "busybox",
            "ports": [{"containerPort": 80, "hostPort": p}]}]}})
    };
    c.pod("first", "100m", port(8080)).await;
    assert_eq!(c.scheduled("first").await, "n1");
    c.pod("other-port", "100m", port(8081)).await;
    assert_eq!(c.scheduled("other-port").await, "n1");
    c.pod("same-port", "100m", port(8080)).await;
    assert!(c.stays_pending("same-port").await.starts_with(
        "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports."
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_anti_affinity_spreads_replicas_one_per_node() {
    let c = Cluster::start().await;
    for n in ["n1", "n2", "n3"] {
        c.node(n, "4", "8Gi", json!({})).await;
    }
    let replica = json!({
        "metadata": {"labels": {"app": "web"}},
        "spec": {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}]}}}
    });
    let mut nodes = Vec::new();
    for i in 0..3 {
        let name = format!("web-{i}");
        c.pod(&name, "100m", replica.clone()).await;
        nodes.push(c.scheduled(&name).await);
    }
    nodes.sort();
    assert_eq!(nodes, ["n1", "n2", "n3"]);
    c.pod("web-3", "100m", replica.clone()).await;
    let msg = c.stays_pending("web-3").await;
    assert!(
        msg.starts_with(
            "0/3 nodes are available: 3 node(s) didn't satisfy existing pods anti-affinity rules."
        ),
        "{msg}"
    );
    // A pod without the label is not repelled by the replicas' anti-affinity...
    c.pod("other", "100m", json!({})).await;
    c.scheduled("other").await;
    // ...and a pod avoiding the replicas finds no node either.
    c.pod(
        "avoider",
        "100m",
        json!({"spec": {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}]}}}}),
    )
    .await;
    assert!(
        c.stays_pending("avoider").await.starts_with(
            "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules."
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_pod_affinity_follows_the_selected_pods_topology() {
    let c = Cluster::start().await;
    c.node(
        "a1",
        "4",
        "8Gi",
        json!({"metadata": {"labels": {"zone": "a"}}}),
    )
    .await;
    c.node(
        "b1",
        "4",
        "8Gi",
        json!({"metadata": {"labels": {"zone": "b"}}}),
    )
    .await;
    c.node(
        "b2",
        "4",
        "8Gi",
        json!({"metadata": {"labels": {"zone": "b"}}}),
    )
    .await;
    c.pod("db", "100m", json!({"metadata": {"labels": {"app": "db"}}, "spec": {"nodeSelector": {"kubernetes.io/hostname": "a1"}}})).await;
    assert_eq!(c.scheduled("db").await, "a1");
    let near = |app: &str| {
        json!({"spec": {"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": "zone"}]}}}})
    };
    for i in 0..3 {
        let name = format!("near-db-{i}");
        c.pod(&name, "100m", near("db")).await;
        assert_eq!(c.scheduled(&name).await, "a1");
    }
    c.pod("near-cache", "100m", near("cache")).await;
    assert!(
        c.stays_pending("near-cache")
            .await
            .starts_with("0/3 nodes are available: 3 node(s) didn't match pod affinity rules.")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topology_spread_do_not_schedule_keeps_the_skew() {
    let c = Cluster::start().await;
    c.node(
        "a1",
        "8",
        "8Gi",
        json!({"metadata": {"labels": {"zone": "a"}}}),
    )
    .await;
    c.node(
        "b1",
        "8",
        "8Gi",
        json!({"metadata": {"labels": {"zone": "b"}}}),
    )
    .await;
    c.node("nolabel", "8", "8Gi", json!({})).await;
    let spread = json!({
        "metadata": {"labels": {"app": "s"}},
        "spec": {
            "nodeSelector": {"zone": "a"},
            "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone",
                "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "s"}},
                "nodeAffinityPolicy": "Ignore"}]}
    });
    // Two pods pinned to zone a by their selector: the first fits (skew 1), the second would
    // make it 2 while zone b has none.
    c.pod("s-0", "100m", spread.clone()).await;
    assert_eq!(c.scheduled("s-0").await, "a1");
    c.pod("s-1", "100m", spread.clone()).await;
    assert!(c.stays_pending("s-1").await.starts_with(
        "0/3 nodes are available: 1 node(s) didn't match pod topology spread constraints, \
         2 node(s) didn't match Pod's node affinity/selector."
    ));
    c.pod(
        "by-rack",
        "100m",
        json!({"metadata": {"labels": {"app": "r"}}, "spec": {"topologySpreadConstraints": [{"maxSkew": 1,
            "topologyKey": "rack", "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "r"}}}]}}),
    )
    .await;
    assert!(c.stays_pending("by-rack").await.starts_with(
        "0/3 nodes are available: 3 node(s) didn't match pod topology spread constraints (missing required label)."
    ));
    // Free spreading alternates zones.
    let free = json!({
        "metadata": {"labels": {"app": "f"}},
        "spec": {"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone",
            "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "f"}}}]}
    });
    let mut zones = Vec::new();
    for i in 0..4 {
        let name = format!("f-{i}");
        c.pod(&name, "100m", free.clone()).await;
        zones.push(c.scheduled(&name).await);
    }
    zones.sort();
    assert_eq!(zones, ["a1", "a1", "b1", "b1"]);
}
