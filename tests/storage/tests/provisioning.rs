//! Dynamic provisioning by the CSI provisioner plugin against a real `skiff-hostpath`
//! driver process: a claim of a CSI class gets a volume directory and a Bound PV; Delete
//! removes both when the claim goes, Retain keeps them and the PV shows Released.

use std::time::Duration;

use serde_json::{Value, json};
use skiff_storage_tests::cluster::TestCluster;
use skiff_storage_tests::driver::HostpathDriver;
use skiff_storage_tests::wait::eventually;

const WAIT: Duration = Duration::from_secs(30);
const DRIVER: &str = "hostpath.csi.skiff.dev";

fn class(name: &str, policy: &str, mode: &str) -> String {
    json!({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": name},
        "provisioner": DRIVER,
        "reclaimPolicy": policy,
        "volumeBindingMode": mode,
    })
    .to_string()
}

fn claim(name: &str, class: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": class,
            "resources": {"requests": {"storage": "64Mi"}},
        },
    })
}

async fn bound_claim(cluster: &TestCluster, name: &str) -> Value {
    eventually(&format!("claim {name} bound"), WAIT, || async {
        let pvc = cluster.get_json(&["pvc", name, "-n", "default"]).await?;
        (pvc["status"]["phase"] == "Bound").then_some(pvc)
    })
    .await
}

async fn setup(policy: &str) -> (TestCluster, HostpathDriver) {
    let cluster = TestCluster::start().await;
    let driver = HostpathDriver::start("storage-node").await;
    cluster.use_driver(&driver.socket()).await;
    cluster.apply(&class("csi", policy, "Immediate")).await;
    (cluster, driver)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_claim_of_a_csi_class_gets_a_volume_and_loses_it_with_reclaim_policy_delete() {
    let (cluster, driver) = setup("Delete").await;
    cluster.apply(&claim("dyn", "csi").to_string()).await;
    let pvc = bound_claim(&cluster, "dyn").await;
    let uid = pvc["metadata"]["uid"].as_str().unwrap();
    let pv_name = format!("pvc-{uid}");
    assert_eq!(pvc["spec"]["volumeName"], pv_name);
    assert_eq!(pvc["status"]["capacity"]["storage"], "64Mi");

    let pv = eventually("provisioned volume bound", WAIT, || async {
        let pv = cluster.get_json(&["pv", &pv_name]).await?;
        (pv["status"]["phase"] == "Bound").then_some(pv)
    })
    .await;
    assert_eq!(
        pv["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"],
        DRIVER
    );
    assert_eq!(pv["spec"]["csi"]["driver"], DRIVER);
    assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Delete");
    assert_eq!(pv["spec"]["storageClassName"], "csi");
    assert_eq!(pv["spec"]["claimRef"]["uid"], uid);
    let handle = pv["spec"]["csi"]["volumeHandle"]
        .as_str()
        .unwrap()
        .to_string();
    let dir = driver.volume_dir(&handle);
    assert!(dir.is_dir(), "{} was not created", dir.display());
    let events = cluster
        .kubectl_ok(
            &[
                "get",
                "events",
                "-n",
                "default",
                "--field-selector",
                "involvedObject.name=dyn",
            ],
            None,
        )
        .await;
    assert!(events.contains("ProvisioningSucceeded"), "{events}");
    let table = cluster
        .kubectl_ok(&["get", "pvc", "dyn", "-n", "default"], None)
        .await;
    assert!(table.lines().nth(1).unwrap().contains("Bound"), "{table}");

    cluster
        .kubectl_ok(&["delete", "pvc", "dyn", "-n", "default"], None)
        .await;
    eventually("provisioned volume deleted", WAIT, || async {
        cluster
            .get_json(&["pv", &pv_name])
            .await
            .is_none()
            .then_some(())
    })
    .await;
    assert!(!dir.exists(), "{} was not removed", dir.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reclaim_policy_retain_keeps_the_directory_and_the_volume_shows_released() {
    let (cluster, driver) = setup("Retain").await;
    cluster.apply(&claim("kept", "csi").to_string()).await;
    let pvc = bound_claim(&cluster, "kept").await;
    let pv_name = pvc["spec"]["volumeName"].as_str().unwrap().to_string();
    let pv = cluster.get_json(&["pv", &pv_name]).await.unwrap();
    let dir = driver.volume_dir(pv["spec"]["csi"]["volumeHandle"].as_str().unwrap());
    assert!(dir.is_dir());

    cluster
        .kubectl_ok(&["delete", "pvc", "kept", "-n", "default"], None)
        .await;
    eventually("provisioned volume released", WAIT, || async {
        let pv = cluster.get_json(&["pv", &pv_name]).await?;
        (pv["status"]["phase"] == "Released").then_some(())
    })
    .await;
    let table = cluster.kubectl_ok(&["get", "pv", &pv_name], None).await;
    assert!(table.contains("Released"), "{table}");
    // Still there a moment later: nothing deletes a retained volume.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(cluster.get_json(&["pv", &pv_name]).await.is_some());
    assert!(dir.is_dir(), "{} was removed", dir.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wait_for_first_consumer_provisions_on_the_selected_nodes_topology() {
    let (cluster, driver) = setup("Delete").await;
    cluster
        .apply(&class("local", "Delete", "WaitForFirstConsumer"))
        .await;
    let node = json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "storage-node", "labels": {"topology.hostpath.csi.skiff.dev/node": driver.node_id}},
    });
    cluster.apply(&node.to_string()).await;
    cluster.apply(&claim("late", "local").to_string()).await;
    let waiting = eventually("WaitForFirstConsumer event", WAIT, || async {
        let events = cluster
            .kubectl_ok(
                &[
                    "get",
                    "events",
                    "-n",
                    "default",
                    "--field-selector",
                    "involvedObject.name=late",
                ],
                None,
            )
            .await;
        events.contains("WaitForFirstConsumer").then_some(events)
    })
    .await;
    assert!(waiting.contains("waiting for first consumer"), "{waiting}");
    let pvc = cluster
        .get_json(&["pvc", "late", "-n", "default"])
        .await
        .unwrap();
    assert_eq!(pvc["status"]["phase"], "Pending");
    assert!(
        cluster
            .get_json(&[
                "pv",
                &format!("pvc-{}", pvc["metadata"]["uid"].as_str().unwrap())
            ])
            .await
            .is_none()
    );

    cluster
        .kubectl_ok(
            &[
                "annotate",
                "pvc",
                "late",
                "-n",
                "default",
                "volume.kubernetes.io/selected-node=storage-node",
            ],
            None,
        )
        .await;
    let pvc = bound_claim(&cluster, "late").await;
    let pv = cluster
        .get_json(&["pv", pvc["spec"]["volumeName"].as_str().unwrap()])
        .await
        .unwrap();
    let term =
        &pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0];
    assert_eq!(term["key"], "topology.hostpath.csi.skiff.dev/node");
    assert_eq!(term["values"], json!([driver.node_id]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_driver_that_cannot_be_reached_gives_a_provisioning_failed_event() {
    let cluster = TestCluster::start().await;
    let dir = tempfile::tempdir().unwrap();
    cluster.use_driver(&dir.path().join("absent.sock")).await;
    cluster.apply(&class("csi", "Delete", "Immediate")).await;
    cluster.apply(&claim("orphan", "csi").to_string()).await;
    let events = eventually("ProvisioningFailed event", WAIT, || async {
        let events = cluster
            .kubectl_ok(
                &[
                    "get",
                    "events",
                    "-n",
                    "default",
                    "--field-selector",
                    "involvedObject.name=orphan",
                ],
                None,
            )
            .await;
        events.contains("ProvisioningFailed").then_some(events)
    })
    .await;
    assert!(events.contains("absent.sock"), "{events}");
    let pvc = cluster
        .get_json(&["pvc", "orphan", "-n", "default"])
        .await
        .unwrap();
    assert_eq!(pvc["status"]["phase"], "Pending");
    assert_eq!(
        pvc["metadata"]["annotations"]["volume.kubernetes.io/storage-provisioner"],
        DRIVER
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_existing_volume_of_the_class_is_bound_instead_of_provisioning_one() {
    let (cluster, driver) = setup("Delete").await;
    let pv = json!({
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": "pv-static"},
        "spec": {
            "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
            "storageClassName": "csi", "persistentVolumeReclaimPolicy": "Retain",
            "hostPath": {"path": "/tmp/pv-static"},
        },
    });
    cluster.apply(&pv.to_string()).await;
    eventually("static volume available", WAIT, || async {
        let pv = cluster.get_json(&["pv", "pv-static"]).await?;
        (pv["status"]["phase"] == "Available").then_some(())
    })
    .await;
    cluster
        .apply(&claim("prefers-static", "csi").to_string())
        .await;
    let pvc = bound_claim(&cluster, "prefers-static").await;
    assert_eq!(pvc["spec"]["volumeName"], "pv-static");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pvs = cluster.get_json(&["pv"]).await.unwrap();
    let names: Vec<&str> = pvs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pv| pv["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["pv-static"]);
    let volumes = std::fs::read_dir(driver.volume_dir("x").parent().unwrap())
        .map(|rd| rd.count())
        .unwrap_or(0);
    assert_eq!(volumes, 0, "the driver created a volume nobody needs");
}
