//! Static binding with the `pv-binder` and `pv-controller` scripts, checked with the real
//! kubectl: smallest fitting volume, unsatisfiable claims, reclaim of static volumes and PVC
//! protection.

use std::time::Duration;

use serde_json::{Value, json};
use skiff_storage_tests::cluster::TestCluster;
use skiff_storage_tests::wait::eventually;

const WAIT: Duration = Duration::from_secs(30);

fn volume(name: &str, size: &str, class: &str, policy: &str, labels: Value) -> String {
    json!({
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "capacity": {"storage": size},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": policy,
            "storageClassName": class,
            "hostPath": {"path": format!("/tmp/{name}")},
        },
    })
    .to_string()
}

fn claim(name: &str, size: &str, class: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": class,
            "resources": {"requests": {"storage": size}},
        },
    })
}

async fn phase(cluster: &TestCluster, args: &[&str]) -> Option<String> {
    let obj = cluster.get_json(args).await?;
    obj["status"]["phase"].as_str().map(str::to_string)
}

async fn wait_phase(cluster: &TestCluster, args: &[&str], want: &str) -> Value {
    eventually(&format!("{args:?} {want}"), WAIT, || async {
        let obj = cluster.get_json(args).await?;
        (obj["status"]["phase"] == want).then_some(obj)
    })
    .await
}

async fn events_for(cluster: &TestCluster, name: &str) -> Vec<Value> {
    let list = cluster
        .get_json(&[
            "events",
            "-n",
            "default",
            "--field-selector",
            &format!("involvedObject.name={name}"),
        ])
        .await
        .unwrap_or(json!({"items": []}));
    list["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_claim_binds_to_the_smallest_volume_that_fits_and_kubectl_shows_it_bound() {
    let cluster = TestCluster::start().await;
    cluster
        .apply(&volume("pv-small", "1Gi", "", "Retain", json!({})))
        .await;
    cluster
        .apply(&volume("pv-large", "10Gi", "", "Retain", json!({})))
        .await;
    cluster
        .apply(&volume("pv-fit", "5Gi", "", "Retain", json!({})))
        .await;
    cluster
        .apply(&volume(
            "pv-other-class",
            "3Gi",
            "gold",
            "Retain",
            json!({}),
        ))
        .await;
    for pv in ["pv-small", "pv-large", "pv-fit", "pv-other-class"] {
        wait_phase(&cluster, &["pv", pv], "Available").await;
    }
    cluster.apply(&claim("data", "2Gi", "").to_string()).await;

    let pvc = wait_phase(&cluster, &["pvc", "data", "-n", "default"], "Bound").await;
    assert_eq!(pvc["spec"]["volumeName"], "pv-fit");
    assert_eq!(pvc["status"]["capacity"]["storage"], "5Gi");
    assert_eq!(pvc["status"]["accessModes"], json!(["ReadWriteOnce"]));
    let annotations = &pvc["metadata"]["annotations"];
    assert_eq!(annotations["pv.kubernetes.io/bind-completed"], "yes");
    assert_eq!(annotations["pv.kubernetes.io/bound-by-controller"], "yes");
    assert!(
        pvc["metadata"]["finalizers"]
            .as_array()
            .unwrap()
            .contains(&json!("kubernetes.io/pvc-protection"))
    );

    let pv = wait_phase(&cluster, &["pv", "pv-fit"], "Bound").await;
    assert_eq!(pv["spec"]["claimRef"]["name"], "data");
    assert_eq!(pv["spec"]["claimRef"]["uid"], pvc["metadata"]["uid"]);
    assert!(
        pv["metadata"]["finalizers"]
            .as_array()
            .unwrap()
            .contains(&json!("kubernetes.io/pv-protection"))
    );
    for other in ["pv-small", "pv-large", "pv-other-class"] {
        assert_eq!(
            phase(&cluster, &["pv", other]).await.as_deref(),
            Some("Available")
        );
    }

    let table = cluster
        .kubectl_ok(&["get", "pvc", "data", "-n", "default"], None)
        .await;
    let row = table.lines().nth(1).expect("a row for the claim");
    let columns: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        &columns[..4],
        &["data", "Bound", "pv-fit", "5Gi"],
        "{table}"
    );

    // Retain: deleting the claim leaves the volume Released, not deleted.
    cluster
        .kubectl_ok(
            &["delete", "pvc", "data", "-n", "default", "--wait=false"],
            None,
        )
        .await;
    let released = wait_phase(&cluster, &["pv", "pv-fit"], "Released").await;
    assert_eq!(released["spec"]["persistentVolumeReclaimPolicy"], "Retain");
    let table = cluster.kubectl_ok(&["get", "pv", "pv-fit"], None).await;
    assert!(table.contains("Released"), "{table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn selectors_and_pre_binding_choose_the_volume() {
    let cluster = TestCluster::start().await;
    cluster
        .apply(&volume("pv-a", "1Gi", "", "Retain", json!({"tier": "a"})))
        .await;
    cluster
        .apply(&volume("pv-b", "8Gi", "", "Retain", json!({"tier": "b"})))
        .await;
    cluster
        .apply(&volume("pv-c", "2Gi", "", "Retain", json!({})))
        .await;
    let mut selecting = claim("selecting", "1Gi", "");
    selecting["spec"]["selector"] = json!({"matchLabels": {"tier": "b"}});
    cluster.apply(&selecting.to_string()).await;
    let mut named = claim("named", "1Gi", "");
    named["spec"]["volumeName"] = json!("pv-c");
    cluster.apply(&named.to_string()).await;

    let pvc = wait_phase(&cluster, &["pvc", "selecting", "-n", "default"], "Bound").await;
    assert_eq!(pvc["spec"]["volumeName"], "pv-b");
    let pvc = wait_phase(&cluster, &["pvc", "named", "-n", "default"], "Bound").await;
    assert_eq!(pvc["spec"]["volumeName"], "pv-c");
    assert_eq!(
        pvc["metadata"]["annotations"]["pv.kubernetes.io/bound-by-controller"],
        Value::Null
    );
    wait_phase(&cluster, &["pv", "pv-c"], "Bound").await;
    assert_eq!(
        phase(&cluster, &["pv", "pv-a"]).await.as_deref(),
        Some("Available")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_claim_nothing_satisfies_stays_pending_with_an_event() {
    let cluster = TestCluster::start().await;
    cluster
        .apply(&volume("pv-tiny", "1Gi", "", "Retain", json!({})))
        .await;
    cluster.apply(&claim("huge", "100Gi", "").to_string()).await;
    let event = eventually("FailedBinding event", WAIT, || async {
        events_for(&cluster, "huge")
            .await
            .into_iter()
            .find(|e| e["reason"] == "FailedBinding")
    })
    .await;
    assert_eq!(event["type"], "Warning");
    assert_eq!(
        event["message"],
        "no persistent volumes available for this claim and no storage class is set"
    );
    let table = cluster
        .kubectl_ok(&["get", "pvc", "huge", "-n", "default"], None)
        .await;
    assert!(table.lines().nth(1).unwrap().contains("Pending"), "{table}");
    assert_eq!(
        phase(&cluster, &["pv", "pv-tiny"]).await.as_deref(),
        Some("Available")
    );

    // A bigger volume arriving later is bound at once.
    cluster
        .apply(&volume("pv-huge", "200Gi", "", "Retain", json!({})))
        .await;
    let pvc = wait_phase(&cluster, &["pvc", "huge", "-n", "default"], "Bound").await;
    assert_eq!(pvc["spec"]["volumeName"], "pv-huge");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_static_volume_with_reclaim_policy_delete_goes_with_its_claim() {
    let cluster = TestCluster::start().await;
    cluster
        .apply(&volume("pv-scratch", "1Gi", "", "Delete", json!({})))
        .await;
    cluster
        .apply(&claim("scratch", "1Gi", "").to_string())
        .await;
    wait_phase(&cluster, &["pvc", "scratch", "-n", "default"], "Bound").await;
    cluster
        .kubectl_ok(&["delete", "pvc", "scratch", "-n", "default"], None)
        .await;
    eventually("volume deleted", WAIT, || async {
        cluster
            .get_json(&["pv", "pv-scratch"])
            .await
            .is_none()
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_claim_in_use_by_a_pod_is_kept_until_the_pod_is_gone() {
    let cluster = TestCluster::start().await;
    cluster
        .apply(&volume("pv-used", "1Gi", "", "Retain", json!({})))
        .await;
    cluster.apply(&claim("used", "1Gi", "").to_string()).await;
    wait_phase(&cluster, &["pvc", "used", "-n", "default"], "Bound").await;
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "user", "namespace": "default"},
        "spec": {
            "containers": [{"name": "c", "image": "busybox", "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "used"}}],
        },
    });
    cluster.apply(&pod.to_string()).await;
    cluster
        .kubectl_ok(
            &["delete", "pvc", "used", "-n", "default", "--wait=false"],
            None,
        )
        .await;
    // Give the binder time to (wrongly) let go; the claim must stay, terminating.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let pvc = cluster
        .get_json(&["pvc", "used", "-n", "default"])
        .await
        .expect("claim kept while the pod uses it");
    assert!(pvc["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(
        pvc["metadata"]["finalizers"],
        json!(["kubernetes.io/pvc-protection"])
    );
    let table = cluster
        .kubectl_ok(&["get", "pvc", "used", "-n", "default"], None)
        .await;
    assert!(table.contains("Terminating"), "{table}");
    assert_eq!(
        phase(&cluster, &["pv", "pv-used"]).await.as_deref(),
        Some("Bound")
    );

    cluster
        .kubectl_ok(
            &[
                "delete",
                "pod",
                "user",
                "-n",
                "default",
                "--grace-period=0",
                "--force",
            ],
            None,
        )
        .await;
    eventually("claim gone after its pod", WAIT, || async {
        cluster
            .get_json(&["pvc", "used", "-n", "default"])
            .await
            .is_none()
            .then_some(())
    })
    .await;
    wait_phase(&cluster, &["pv", "pv-used"], "Released").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bound_volume_is_kept_until_its_claim_is_gone() {
    let cluster = TestCluster::start().await;
    cluster
        .apply(&volume("pv-held", "1Gi", "", "Retain", json!({})))
        .await;
    cluster.apply(&claim("holder", "1Gi", "").to_string()).await;
    wait_phase(&cluster, &["pvc", "holder", "-n", "default"], "Bound").await;
    wait_phase(&cluster, &["pv", "pv-held"], "Bound").await;
    cluster
        .kubectl_ok(&["delete", "pv", "pv-held", "--wait=false"], None)
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pv = cluster
        .get_json(&["pv", "pv-held"])
        .await
        .expect("bound volume kept");
    assert!(pv["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(
        pv["metadata"]["finalizers"],
        json!(["kubernetes.io/pv-protection"])
    );

    cluster
        .kubectl_ok(&["delete", "pvc", "holder", "-n", "default"], None)
        .await;
    eventually("volume gone after its claim", WAIT, || async {
        cluster
            .get_json(&["pv", "pv-held"])
            .await
            .is_none()
            .then_some(())
    })
    .await;
}
