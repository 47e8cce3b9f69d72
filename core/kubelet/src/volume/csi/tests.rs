//! The CSI plugin against a real `skiff-hostpath` driver process (`cargo build -p
//! skiff-hostpath` first): publish into pods, one staging shared by the pods of a node,
//! tear-down from records alone, and a clear message for an unbound claim.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod, Volume};
use serde_json::json;
use skiff_hostpath::csi::v1::controller_client::ControllerClient;
use skiff_hostpath::csi::v1::volume_capability::{AccessMode, AccessType, MountVolume};
use skiff_hostpath::csi::v1::{CreateVolumeRequest, VolumeCapability};

use super::registration::RegistrationConfig;
use super::*;
use crate::pod::downward::Facts;
use crate::pod::env::NodeResources;
use crate::pod::objects::MemoryObjects;
use crate::volume::{VolumeContext, VolumePlugin};

/// A driver process on a socket in its own temp dir, killed on drop.
struct Driver {
    dir: tempfile::TempDir,
    child: Child,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    async fn start() -> Driver {
        let exe = std::env::current_exe().unwrap();
        let binary = exe
            .parent()
            .and_then(Path::parent)
            .unwrap()
            .join("skiff-hostpath");
        assert!(
            binary.exists(),
            "{} is missing: run `cargo build -p skiff-hostpath` with the same target dir",
            binary.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(binary)
            .arg("--endpoint")
            .arg(dir.path().join("csi.sock"))
            .args(["--node-id", "node-a", "--root"])
            .arg(dir.path().join("root"))
            .env("RUST_LOG", "warn")
            .spawn()
            .unwrap();
        let driver = Driver { dir, child };
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::UnixStream::connect(driver.socket())
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "driver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        driver
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("csi.sock")
    }

    async fn create_volume(&self, name: &str) -> String {
        let channel = skiff_hostpath::connect(self.socket()).await.unwrap();
        let created = ControllerClient::new(channel)
            .create_volume(CreateVolumeRequest {
                name: name.into(),
                volume_capabilities: vec![VolumeCapability {
                    access_type: Some(AccessType::Mount(MountVolume::default())),
                    access_mode: Some(AccessMode {
                        mode: Mode::SingleNodeWriter as i32,
                    }),
                }],
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        created.volume.unwrap().volume_id
    }
}

fn claim(bound_to: Option<&str>) -> PersistentVolumeClaim {
    serde_json::from_value(json!({
        "metadata": {"name": "data", "namespace": "default"},
        "spec": {"accessModes": ["ReadWriteOnce"], "volumeName": bound_to.unwrap_or("")},
        "status": {"phase": if bound_to.is_some() { "Bound" } else { "Pending" }},
    }))
    .unwrap()
}

fn persistent_volume(handle: &str) -> PersistentVolume {
    serde_json::from_value(json!({
        "metadata": {"name": "pv-1"},
        "spec": {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"},
            "csi": {"driver": "hostpath.csi.skiff.dev", "volumeHandle": handle}},
    }))
    .unwrap()
}

fn pod(uid: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": format!("p-{uid}"), "namespace": "default", "uid": uid},
        "spec": {"containers": [], "volumes": [
            {"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]},
    }))
    .unwrap()
}

fn volume() -> Volume {
    serde_json::from_value(json!({"name": "data", "persistentVolumeClaim": {"claimName": "data"}}))
        .unwrap()
}

fn target(kubelet: &Path, uid: &str) -> PathBuf {
    kubelet.join("pods").join(uid).join("volumes").join("data")
}

async fn set_up(
    plugin: &CsiPlugin,
    objects: &MemoryObjects,
    kubelet: &Path,
    uid: &str,
) -> Result<PathBuf, crate::volume::Error> {
    let pod = pod(uid);
    let ctx = VolumeContext {
        pod: &pod,
        dir: target(kubelet, uid),
        objects,
        facts: &Facts::default(),
        node: NodeResources::default(),
    };
    plugin.set_up(&ctx, &volume()).await
}

fn new_plugin(kubelet: &Path) -> CsiPlugin {
    let mut config = CsiConfig::new(
        kubelet,
        RegistrationConfig::new(kubelet.join("registry"), "node-a"),
    );
    config.bind_wait = Duration::from_millis(300);
    CsiPlugin::new(config)
}

#[tokio::test]
async fn pods_share_one_staging_and_the_last_tear_down_unstages_from_records_alone() {
    let driver = Driver::start().await;
    let handle = driver.create_volume("shared").await;
    let kubelet = tempfile::tempdir().unwrap();
    let kubelet = kubelet.path();
    let plugin = new_plugin(kubelet);
    let registered = drivers::probe(&driver.socket()).await.unwrap();
    assert_eq!(registered.name, "hostpath.csi.skiff.dev");
    assert_eq!(registered.node_id, "node-a");
    assert!(registered.stages);
    assert_eq!(
        registered
            .topology
            .get("topology.hostpath.csi.skiff.dev/node"),
        Some(&"node-a".to_string())
    );
    plugin.drivers().insert(registered);
    let objects = MemoryObjects::default();
    objects.put_claim(claim(Some("pv-1")));
    objects.put_persistent_volume(persistent_volume(&handle));

    let first = set_up(&plugin, &objects, kubelet, "uid-1").await.unwrap();
    assert_eq!(first, target(kubelet, "uid-1"));
    // Idempotent: a second sync changes nothing.
    set_up(&plugin, &objects, kubelet, "uid-1").await.unwrap();
    let second = set_up(&plugin, &objects, kubelet, "uid-2").await.unwrap();
    let staging = staging_path(kubelet, "hostpath.csi.skiff.dev", &handle);
    for path in [&first, &second, &staging] {
        assert!(is_mount_point(path), "{} is not mounted", path.display());
    }
    std::fs::write(first.join("note"), b"written by pod 1").unwrap();
    assert_eq!(
        std::fs::read(second.join("note")).unwrap(),
        b"written by pod 1"
    );
    let stored = driver
        .dir
        .path()
        .join("root/volumes")
        .join(&handle)
        .join("note");
    assert_eq!(std::fs::read(stored).unwrap(), b"written by pod 1");

    // Pod 1 goes: its target is unpublished, the staging stays for pod 2.
    plugin.tear_down("uid-1", "data", &first).await.unwrap();
    assert!(!is_mount_point(&first));
    assert!(is_mount_point(&staging));
    assert!(!record::path_for(&first).exists());

    // Pod 2 goes after a restart: a fresh plugin with no API objects, only the record.
    let restarted = new_plugin(kubelet);
    restarted
        .tear_down_recorded("uid-2", &kubelet.join("pods/uid-2/volumes"))
        .await
        .unwrap();
    assert!(!is_mount_point(&second));
    assert!(!is_mount_point(&staging));
    assert!(!staging.exists());
    assert!(record::in_dir(&kubelet.join("pods/uid-2/volumes")).is_empty());
}

#[tokio::test]
async fn an_unbound_claim_is_named_and_nothing_is_recorded() {
    let kubelet = tempfile::tempdir().unwrap();
    let plugin = new_plugin(kubelet.path());
    let objects = MemoryObjects::default();
    objects.put_claim(claim(None));
    let err = set_up(&plugin, &objects, kubelet.path(), "uid-1")
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("persistentvolumeclaim \"data\" is not bound"),
        "{err}"
    );
    let missing = MemoryObjects::default();
    let err = set_up(&plugin, &missing, kubelet.path(), "uid-1")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not found"), "{err}");
    assert!(record::in_dir(&kubelet.path().join("pods/uid-1/volumes")).is_empty());
}

#[tokio::test]
async fn a_volume_of_an_unregistered_driver_says_so() {
    let kubelet = tempfile::tempdir().unwrap();
    let plugin = new_plugin(kubelet.path());
    let objects = MemoryObjects::default();
    objects.put_claim(claim(Some("pv-1")));
    objects.put_persistent_volume(persistent_volume("h"));
    let err = set_up(&plugin, &objects, kubelet.path(), "uid-1")
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("CSI driver hostpath.csi.skiff.dev is not registered on this node"),
        "{err}"
    );
}

#[test]
fn access_modes_map_to_csi_modes_as_upstream() {
    let modes = |m: &[&str]| access_mode(&m.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    assert_eq!(modes(&["ReadWriteOnce"]), Mode::SingleNodeWriter);
    assert_eq!(modes(&["ReadOnlyMany"]), Mode::MultiNodeReaderOnly);
    assert_eq!(
        modes(&["ReadWriteMany", "ReadWriteOnce"]),
        Mode::MultiNodeMultiWriter
    );
    assert_eq!(modes(&["ReadWriteOncePod"]), Mode::SingleNodeSingleWriter);
}
