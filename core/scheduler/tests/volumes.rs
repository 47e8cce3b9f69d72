//! Volume placement: claims must exist and be bound (or wait for their first consumer), bound
//! volumes pin pods to their topology, waiting claims get the chosen node or a free volume.

mod support;

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use support::Cluster;

const NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";

async fn create<K>(api: Api<K>, obj: Value)
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + serde::Serialize,
{
    let obj: K = serde_json::from_value(obj).unwrap();
    api.create(&PostParams::default(), &obj).await.unwrap();
}

async fn class(c: &Cluster, name: &str, mode: &str, provisioner: &str, allowed: Value) {
    let mut sc = json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": name}, "provisioner": provisioner, "volumeBindingMode": mode});
    if !allowed.is_null() {
        sc["allowedTopologies"] = allowed;
    }
    create(Api::<StorageClass>::all(c.client.clone()), sc).await;
}

async fn claim(c: &Cluster, name: &str, class: &str, volume: Option<&str>) {
    let mut pvc = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": class,
            "resources": {"requests": {"storage": "1Gi"}}}});
    if let Some(v) = volume {
        pvc["spec"]["volumeName"] = json!(v);
    }
    create(claims(c), pvc).await;
}

/// A volume usable only on nodes whose `key` label is `value`.
async fn volume(c: &Cluster, name: &str, class: &str, key: &str, value: &str) {
    create(
        Api::<PersistentVolume>::all(c.client.clone()),
        json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                "storageClassName": class, "persistentVolumeReclaimPolicy": "Delete",
                "csi": {"driver": "hostpath.csi.skiff.dev", "volumeHandle": name},
                "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                    {"key": key, "operator": "In", "values": [value]}]}]}}}}),
    )
    .await;
}

fn claims(c: &Cluster) -> Api<PersistentVolumeClaim> {
    Api::namespaced(c.client.clone(), "default")
}

/// A pod mounting the claim.
fn using(claim: &str) -> Value {
    json!({"spec": {"volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]}})
}

async fn zoned_nodes(c: &Cluster, nodes: &[(&str, &str)]) {
    for (name, zone) in nodes {
        c.node(
            name,
            "4",
            "8Gi",
            json!({"metadata": {"labels": {"zone": zone}}}),
        )
        .await;
    }
}

/// Waits for the pod's `PodScheduled=False` message to become `want`.
async fn message_becomes(c: &Cluster, pod: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let p = c.pods().get(pod).await.unwrap();
        assert!(
            p.spec.as_ref().unwrap().node_name.is_none(),
            "{pod} was scheduled"
        );
        let message = p
            .status
            .and_then(|s| s.conditions)
            .and_then(|c| c.into_iter().find(|c| c.type_ == "PodScheduled"))
            .and_then(|c| c.message)
            .unwrap_or_default();
        if message == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{pod}: {message:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_and_unbound_immediate_claims_keep_the_pod_pending_until_bound() {
    let c = Cluster::start().await;
    zoned_nodes(&c, &[("n1", "a")]).await;
    c.pod("app", "100m", using("data")).await;
    message_becomes(
        &c,
        "app",
        &format!(
            "0/1 nodes are available: persistentvolumeclaim \"data\" not found. \
             preemption: 0/1 nodes are available: 1 {NOT_HELPFUL}."
        ),
    )
    .await;
    class(
        &c,
        "standard",
        "Immediate",
        "hostpath.csi.skiff.dev",
        Value::Null,
    )
    .await;
    claim(&c, "data", "standard", None).await;
    message_becomes(
        &c,
        "app",
        &format!(
            "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims. \
             preemption: 0/1 nodes are available: 1 {NOT_HELPFUL}."
        ),
    )
    .await;
    // The claim gets bound to a volume usable on n1: the waiting pod is placed.
    volume(&c, "pv-data", "standard", "zone", "a").await;
    claims(&c)
        .patch(
            "data",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"volumeName": "pv-data"}})),
        )
        .await
        .unwrap();
    assert_eq!(c.scheduled("app").await, "n1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bound_volumes_pin_pods_to_the_nodes_their_topology_allows() {
    let c = Cluster::start().await;
    zoned_nodes(&c, &[("n1", "a"), ("n2", "b"), ("n3", "b")]).await;
    class(
        &c,
        "standard",
        "Immediate",
        "hostpath.csi.skiff.dev",
        Value::Null,
    )
    .await;
    volume(&c, "pv-a", "standard", "zone", "a").await;
    claim(&c, "in-a", "standard", Some("pv-a")).await;
    for i in 0..3 {
        let name = format!("a{i}");
        c.pod(&name, "100m", using("in-a")).await;
        assert_eq!(c.scheduled(&name).await, "n1");
    }
    volume(&c, "pv-c", "standard", "zone", "c").await;
    claim(&c, "in-c", "standard", Some("pv-c")).await;
    c.pod("nowhere", "100m", using("in-c")).await;
    message_becomes(
        &c,
        "nowhere",
        &format!(
            "0/3 nodes are available: 3 node(s) had volume node affinity conflict. \
             preemption: 0/3 nodes are available: 3 {NOT_HELPFUL}."
        ),
    )
    .await;
    claim(&c, "lost", "standard", Some("pv-gone")).await;
    c.pod("orphan", "100m", using("lost")).await;
    message_becomes(
        &c,
        "orphan",
        &format!(
            "0/3 nodes are available: 3 node(s) unavailable due to one or more pvc(s) bound to \
             non-existent pv(s). preemption: 0/3 nodes are available: 3 {NOT_HELPFUL}."
        ),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_claims_get_the_chosen_node_within_the_allowed_topologies() {
    let c = Cluster::start().await;
    zoned_nodes(&c, &[("n1", "a"), ("n2", "b"), ("n3", "a")]).await;
    let only = |zone: &str| json!([{"matchLabelExpressions": [{"key": "zone", "values": [zone]}]}]);
    class(
        &c,
        "in-b",
        "WaitForFirstConsumer",
        "hostpath.csi.skiff.dev",
        only("b"),
    )
    .await;
    claim(&c, "data", "in-b", None).await;
    c.pod("app", "100m", using("data")).await;
    assert_eq!(c.scheduled("app").await, "n2");
    let pvc = claims(&c).get("data").await.unwrap();
    let annotations = pvc.metadata.annotations.unwrap_or_default();
    assert_eq!(
        annotations
            .get("volume.kubernetes.io/selected-node")
            .map(String::as_str),
        Some("n2")
    );
    // Unrestricted classes provision anywhere; the claim follows its pod's node.
    class(
        &c,
        "anywhere",
        "WaitForFirstConsumer",
        "hostpath.csi.skiff.dev",
        Value::Null,
    )
    .await;
    claim(&c, "scratch", "anywhere", None).await;
    c.pod(
        "pinned",
        "100m",
        json!({"spec": {"nodeSelector": {"kubernetes.io/hostname": "n3"},
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "scratch"}}]}}),
    )
    .await;
    assert_eq!(c.scheduled("pinned").await, "n3");
    let pvc = claims(&c).get("scratch").await.unwrap();
    assert_eq!(
        pvc.metadata.annotations.unwrap_or_default()["volume.kubernetes.io/selected-node"],
        "n3"
    );
    class(
        &c,
        "in-c",
        "WaitForFirstConsumer",
        "hostpath.csi.skiff.dev",
        only("c"),
    )
    .await;
    claim(&c, "far", "in-c", None).await;
    c.pod("stuck", "100m", using("far")).await;
    message_becomes(
        &c,
        "stuck",
        &format!(
            "0/3 nodes are available: 3 node(s) didn't find available persistent volumes to \
             bind. preemption: 0/3 nodes are available: 3 {NOT_HELPFUL}."
        ),
    )
    .await;
    let pvc = claims(&c).get("far").await.unwrap();
    assert!(pvc.metadata.annotations.unwrap_or_default().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_volumes_made_beforehand_draw_their_claims_pods_and_are_reserved() {
    let c = Cluster::start().await;
    zoned_nodes(&c, &[("n1", "a"), ("n2", "a"), ("n3", "a")]).await;
    class(
        &c,
        "local",
        "WaitForFirstConsumer",
        "kubernetes.io/no-provisioner",
        Value::Null,
    )
    .await;
    volume(&c, "disk-n2", "local", "kubernetes.io/hostname", "n2").await;
    claim(&c, "first", "local", None).await;
    c.pod("app", "100m", using("first")).await;
    assert_eq!(c.scheduled("app").await, "n2");
    let pv = Api::<PersistentVolume>::all(c.client.clone())
        .get("disk-n2")
        .await
        .unwrap();
    let reserved = pv.spec.unwrap().claim_ref.expect("the volume is reserved");
    assert_eq!(
        (reserved.namespace.as_deref(), reserved.name.as_deref()),
        (Some("default"), Some("first"))
    );
    // The only volume is taken: a second claim of the class fits no node.
    claim(&c, "second", "local", None).await;
    c.pod("late", "100m", using("second")).await;
    message_becomes(
        &c,
        "late",
        &format!(
            "0/3 nodes are available: 3 node(s) didn't find available persistent volumes to \
             bind. preemption: 0/3 nodes are available: 3 {NOT_HELPFUL}."
        ),
    )
    .await;
}
