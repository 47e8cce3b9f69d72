//! Conformance of the real `skiff-hostpath` binary, driven over its unix socket the way the
//! upstream csi-sanity suite drives a driver: every call's happy path, its idempotent repeat,
//! and the spec's error codes for missing fields and unknown volumes.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use skiff_hostpath::csi::v1::controller_client::ControllerClient;
use skiff_hostpath::csi::v1::identity_client::IdentityClient;
use skiff_hostpath::csi::v1::node_client::NodeClient;
use skiff_hostpath::csi::v1::volume_capability::access_mode::Mode;
use skiff_hostpath::csi::v1::volume_capability::{
    AccessMode, AccessType, BlockVolume, MountVolume,
};
use skiff_hostpath::csi::v1::*;
use tonic::Code;
use tonic::transport::Channel;

const TOPOLOGY_KEY: &str = "topology.hostpath.csi.skiff.dev/node";

/// One running driver in its own temp dir. Dropping it stops the driver and unmounts whatever
/// is still mounted under the temp dir, so a failed assertion leaves nothing behind.
struct Driver {
    dir: tempfile::TempDir,
    node_id: String,
    extra: Vec<String>,
    child: Option<Child>,
    channel: Option<Channel>,
}

impl Driver {
    async fn start(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let node_id = format!("node-{}", std::process::id());
        let mut driver = Self {
            dir,
            node_id,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            child: None,
            channel: None,
        };
        driver.spawn().await;
        driver
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("sock").join("csi.sock")
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn volume_dir(&self, id: &str) -> PathBuf {
        self.root().join("volumes").join(id)
    }

    /// A fresh path under the temp dir for staging or publishing.
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join("mnt").join(name)
    }

    async fn spawn(&mut self) {
        let child = Command::new(env!("CARGO_BIN_EXE_skiff-hostpath"))
            .arg("--endpoint")
            .arg(format!("unix://{}", self.socket().display()))
            .arg("--node-id")
            .arg(&self.node_id)
            .arg("--root")
            .arg(self.root())
            .args(&self.extra)
            .env("RUST_LOG", "warn")
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.socket().exists()
                && let Ok(channel) = skiff_hostpath::connect(self.socket()).await
            {
                self.channel = Some(channel);
                return;
            }
            assert!(Instant::now() < deadline, "driver did not start serving");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends SIGTERM and waits for a clean exit. The test's own connection stays open on
    /// purpose: like the kubelet's, it must not keep the driver from stopping.
    async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
            let deadline = Instant::now() + Duration::from_secs(20);
            let status = loop {
                if let Some(status) = child.try_wait().unwrap() {
                    break status;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    panic!("driver did not stop after SIGTERM");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            assert!(status.success(), "driver exited with {status}");
        }
        self.channel = None;
    }

    fn identity(&self) -> IdentityClient<Channel> {
        IdentityClient::new(self.channel.clone().unwrap())
    }

    fn controller(&self) -> ControllerClient<Channel> {
        ControllerClient::new(self.channel.clone().unwrap())
    }

    fn node(&self) -> NodeClient<Channel> {
        NodeClient::new(self.channel.clone().unwrap())
    }

    async fn create(&self, name: &str, required_bytes: i64) -> Volume {
        self.controller()
            .create_volume(create_request(name, required_bytes, Mode::SingleNodeWriter))
            .await
            .unwrap()
            .into_inner()
            .volume
            .unwrap()
    }

    async fn stage(&self, id: &str, staging: &Path, mode: Mode) -> Result<(), tonic::Status> {
        self.node()
            .node_stage_volume(NodeStageVolumeRequest {
                volume_id: id.into(),
                staging_target_path: path_string(staging),
                volume_capability: Some(mount_capability(mode)),
                ..Default::default()
            })
            .await
            .map(|_| ())
    }

    async fn publish(
        &self,
        id: &str,
        staging: &Path,
        target: &Path,
        mode: Mode,
        readonly: bool,
    ) -> Result<(), tonic::Status> {
        self.node()
            .node_publish_volume(NodePublishVolumeRequest {
                volume_id: id.into(),
                staging_target_path: path_string(staging),
                target_path: path_string(target),
                volume_capability: Some(mount_capability(mode)),
                readonly,
                ..Default::default()
            })
            .await
            .map(|_| ())
    }

    async fn unpublish(&self, id: &str, target: &Path) -> Result<(), tonic::Status> {
        self.node()
            .node_unpublish_volume(NodeUnpublishVolumeRequest {
                volume_id: id.into(),
                target_path: path_string(target),
            })
            .await
            .map(|_| ())
    }

    async fn unstage(&self, id: &str, staging: &Path) -> Result<(), tonic::Status> {
        self.node()
            .node_unstage_volume(NodeUnstageVolumeRequest {
                volume_id: id.into(),
                staging_target_path: path_string(staging),
            })
            .await
            .map(|_| ())
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // Innermost mounts first, then whatever they covered.
        let mut leftovers = mounts_under(self.dir.path());
        leftovers.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        for path in leftovers {
            let _ = nix::mount::umount2(&path, nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

/// Mount points at or under `dir`, read from the mount table.
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let dir = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(PathBuf::from))
        .filter(|p| p.starts_with(&dir))
        .collect()
}

fn is_mounted(path: &Path) -> bool {
    mounts_under(path)
        .iter()
        .any(|p| p == &fs::canonicalize(path).unwrap_or_else(|_| path.to_owned()))
}

fn path_string(path: &Path) -> String {
    path.to_str().unwrap().to_owned()
}

fn mount_capability(mode: Mode) -> VolumeCapability {
    VolumeCapability {
        access_type: Some(AccessType::Mount(MountVolume::default())),
        access_mode: Some(AccessMode { mode: mode as i32 }),
    }
}

fn block_capability() -> VolumeCapability {
    VolumeCapability {
        access_type: Some(AccessType::Block(BlockVolume {})),
        access_mode: Some(AccessMode {
            mode: Mode::SingleNodeWriter as i32,
        }),
    }
}

fn create_request(name: &str, required_bytes: i64, mode: Mode) -> CreateVolumeRequest {
    CreateVolumeRequest {
        name: name.into(),
        capacity_range: Some(CapacityRange {
            required_bytes,
            limit_bytes: 0,
        }),
        volume_capabilities: vec![mount_capability(mode)],
        ..Default::default()
    }
}

fn code<T>(result: Result<T, tonic::Status>) -> Code {
    match result {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

const MIB: i64 = 1 << 20;

#[tokio::test]
async fn identity_reports_name_capabilities_and_readiness() {
    let driver = Driver::start(&[]).await;
    let mut identity = driver.identity();
    let info = identity
        .get_plugin_info(GetPluginInfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.name, "hostpath.csi.skiff.dev");
    assert!(!info.vendor_version.is_empty());

    let caps = identity
        .get_plugin_capabilities(GetPluginCapabilitiesRequest {})
        .await
        .unwrap()
        .into_inner();
    let services: HashSet<i32> = caps
        .capabilities
        .iter()
        .filter_map(|c| match &c.r#type {
            Some(plugin_capability::Type::Service(s)) => Some(s.r#type),
            _ => None,
        })
        .collect();
    use plugin_capability::service::Type as Service;
    assert!(services.contains(&(Service::ControllerService as i32)));
    assert!(services.contains(&(Service::VolumeAccessibilityConstraints as i32)));

    let probe = identity.probe(ProbeRequest {}).await.unwrap().into_inner();
    assert_eq!(probe.ready, Some(true));
}

#[tokio::test]
async fn controller_and_node_capabilities_are_advertised() {
    let driver = Driver::start(&[]).await;
    let caps = driver
        .controller()
        .controller_get_capabilities(ControllerGetCapabilitiesRequest {})
        .await
        .unwrap()
        .into_inner();
    let rpcs: HashSet<i32> = caps
        .capabilities
        .iter()
        .filter_map(|c| {
            c.r#type
                .as_ref()
                .map(|controller_service_capability::Type::Rpc(r)| r.r#type)
        })
        .collect();
    use controller_service_capability::rpc::Type as Rpc;
    for wanted in [Rpc::CreateDeleteVolume, Rpc::ListVolumes, Rpc::GetCapacity] {
        assert!(rpcs.contains(&(wanted as i32)), "{wanted:?} missing");
    }
    assert!(!rpcs.contains(&(Rpc::PublishUnpublishVolume as i32)));

    let node = driver
        .node()
        .node_get_capabilities(NodeGetCapabilitiesRequest {})
        .await
        .unwrap()
        .into_inner();
    let rpcs: HashSet<i32> = node
        .capabilities
        .iter()
        .filter_map(|c| {
            c.r#type
                .as_ref()
                .map(|node_service_capability::Type::Rpc(r)| r.r#type)
        })
        .collect();
    use node_service_capability::rpc::Type as NodeRpc;
    assert!(rpcs.contains(&(NodeRpc::StageUnstageVolume as i32)));
    assert!(rpcs.contains(&(NodeRpc::GetVolumeStats as i32)));
}

#[tokio::test]
async fn create_volume_without_name_or_capabilities_is_invalid() {
    let driver = Driver::start(&[]).await;
    let mut controller = driver.controller();
    let no_name = create_request("", MIB, Mode::SingleNodeWriter);
    assert_eq!(
        code(controller.create_volume(no_name).await),
        Code::InvalidArgument
    );
    let mut no_caps = create_request("vol", MIB, Mode::SingleNodeWriter);
    no_caps.volume_capabilities.clear();
    assert_eq!(
        code(controller.create_volume(no_caps).await),
        Code::InvalidArgument
    );
    let mut block = create_request("vol", MIB, Mode::SingleNodeWriter);
    block.volume_capabilities = vec![block_capability()];
    let status = controller.create_volume(block).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("block"), "{}", status.message());
    assert!(
        fs::read_dir(driver.root().join("volumes"))
            .unwrap()
            .next()
            .is_none()
    );
}

#[tokio::test]
async fn create_volume_is_idempotent_and_refuses_incompatible_sizes() {
    let driver = Driver::start(&[]).await;
    let first = driver.create("pvc-a", 10 * MIB).await;
    assert_eq!(first.capacity_bytes, 10 * MIB);
    assert!(driver.volume_dir(&first.volume_id).is_dir());
    assert_eq!(
        first.accessible_topology[0].segments.get(TOPOLOGY_KEY),
        Some(&driver.node_id)
    );

    let again = driver.create("pvc-a", 10 * MIB).await;
    assert_eq!(again.volume_id, first.volume_id);
    assert_eq!(again.capacity_bytes, first.capacity_bytes);

    let bigger = create_request("pvc-a", 20 * MIB, Mode::SingleNodeWriter);
    assert_eq!(
        code(driver.controller().create_volume(bigger).await),
        Code::AlreadyExists
    );
    let listed = driver
        .controller()
        .list_volumes(ListVolumesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.entries.len(), 1);
}

#[tokio::test]
async fn create_volume_beyond_the_maximum_size_is_out_of_range() {
    let driver = Driver::start(&["--max-volume-size", "1Mi"]).await;
    let too_big = create_request("big", 2 * MIB, Mode::SingleNodeWriter);
    assert_eq!(
        code(driver.controller().create_volume(too_big).await),
        Code::OutOfRange
    );
    let fits = create_request("small", MIB, Mode::SingleNodeWriter);
    assert_eq!(
        code(driver.controller().create_volume(fits).await),
        Code::Ok
    );
}

#[tokio::test]
async fn capacity_shrinks_as_volumes_are_created_and_runs_out() {
    let driver = Driver::start(&["--capacity", "10Mi"]).await;
    let capacity = |d: &Driver| {
        let mut c = d.controller();
        async move {
            c.get_capacity(GetCapacityRequest::default())
                .await
                .unwrap()
                .into_inner()
                .available_capacity
        }
    };
    assert_eq!(capacity(&driver).await, 10 * MIB);
    driver.create("a", 4 * MIB).await;
    assert_eq!(capacity(&driver).await, 6 * MIB);
    let too_much = create_request("b", 7 * MIB, Mode::SingleNodeWriter);
    assert_eq!(
        code(driver.controller().create_volume(too_much).await),
        Code::ResourceExhausted
    );
}

#[tokio::test]
async fn list_volumes_pages_through_every_volume() {
    let driver = Driver::start(&[]).await;
    let mut created = HashSet::new();
    for i in 0..5 {
        created.insert(driver.create(&format!("vol-{i}"), MIB).await.volume_id);
    }
    let mut seen = HashSet::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = driver
            .controller()
            .list_volumes(ListVolumesRequest {
                max_entries: 2,
                starting_token: token.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.entries.len() <= 2);
        for entry in page.entries {
            assert!(seen.insert(entry.volume.unwrap().volume_id), "listed twice");
        }
        pages += 1;
        if page.next_token.is_empty() {
            break;
        }
        token = page.next_token;
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, created);

    let bogus = ListVolumesRequest {
        max_entries: 0,
        starting_token: "invalid-token".into(),
    };
    assert_eq!(
        code(driver.controller().list_volumes(bogus).await),
        Code::Aborted
    );
}

#[tokio::test]
async fn validate_volume_capabilities_confirms_mounts_and_knows_its_volumes() {
    let driver = Driver::start(&[]).await;
    let volume = driver.create("v", MIB).await;
    let request = |id: &str, caps: Vec<VolumeCapability>| ValidateVolumeCapabilitiesRequest {
        volume_id: id.into(),
        volume_capabilities: caps,
        ..Default::default()
    };
    let mut controller = driver.controller();
    let rwx = vec![mount_capability(Mode::MultiNodeMultiWriter)];
    let ok = controller
        .validate_volume_capabilities(request(&volume.volume_id, rwx.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ok.confirmed.unwrap().volume_capabilities, rwx);

    let block = controller
        .validate_volume_capabilities(request(&volume.volume_id, vec![block_capability()]))
        .await
        .unwrap()
        .into_inner();
    assert!(block.confirmed.is_none());
    assert!(!block.message.is_empty());

    let unknown = request("no-such-volume", rwx.clone());
    assert_eq!(
        code(controller.validate_volume_capabilities(unknown).await),
        Code::NotFound
    );
    assert_eq!(
        code(
            controller
                .validate_volume_capabilities(request("", rwx))
                .await
        ),
        Code::InvalidArgument
    );
    assert_eq!(
        code(
            controller
                .validate_volume_capabilities(request(&volume.volume_id, vec![]))
                .await
        ),
        Code::InvalidArgument
    );
}

#[tokio::test]
async fn delete_volume_removes_the_directory_and_is_idempotent() {
    let driver = Driver::start(&[]).await;
    let volume = driver.create("doomed", MIB).await;
    let dir = driver.volume_dir(&volume.volume_id);
    fs::write(dir.join("data"), b"x").unwrap();
    let mut controller = driver.controller();
    let delete = |id: &str| DeleteVolumeRequest {
        volume_id: id.into(),
        ..Default::default()
    };
    assert_eq!(
        code(controller.delete_volume(delete("")).await),
        Code::InvalidArgument
    );
    assert_eq!(
        code(controller.delete_volume(delete("unknown")).await),
        Code::Ok
    );
    assert_eq!(
        code(controller.delete_volume(delete(&volume.volume_id)).await),
        Code::Ok
    );
    assert!(!dir.exists());
    assert_eq!(
        code(controller.delete_volume(delete(&volume.volume_id)).await),
        Code::Ok
    );
    let listed = controller
        .list_volumes(ListVolumesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(listed.entries.is_empty());
}

#[tokio::test]
async fn node_calls_refuse_missing_fields_and_unknown_volumes() {
    let driver = Driver::start(&[]).await;
    let volume = driver.create("v", MIB).await;
    let id = volume.volume_id.as_str();
    let staging = driver.path("staging");
    let target = driver.path("target");
    let rwo = Mode::SingleNodeWriter;

    assert_eq!(
        code(driver.stage("", &staging, rwo).await),
        Code::InvalidArgument
    );
    assert_eq!(
        code(driver.stage(id, Path::new(""), rwo).await),
        Code::InvalidArgument
    );
    let no_cap = NodeStageVolumeRequest {
        volume_id: id.into(),
        staging_target_path: path_string(&staging),
        ..Default::default()
    };
    assert_eq!(
        code(driver.node().node_stage_volume(no_cap).await),
        Code::InvalidArgument
    );
    assert_eq!(
        code(driver.stage("missing", &staging, rwo).await),
        Code::NotFound
    );

    assert_eq!(
        code(driver.publish("", &staging, &target, rwo, false).await),
        Code::InvalidArgument
    );
    assert_eq!(
        code(
            driver
                .publish(id, &staging, Path::new(""), rwo, false)
                .await
        ),
        Code::InvalidArgument
    );
    let no_cap = NodePublishVolumeRequest {
        volume_id: id.into(),
        staging_target_path: path_string(&staging),
        target_path: path_string(&target),
        ..Default::default()
    };
    assert_eq!(
        code(driver.node().node_publish_volume(no_cap).await),
        Code::InvalidArgument
    );
    assert_eq!(
        code(
            driver
                .publish("missing", &staging, &target, rwo, false)
                .await
        ),
        Code::NotFound
    );
    // Publishing before staging breaks the order the driver's capabilities promise.
    assert_eq!(
        code(driver.publish(id, &staging, &target, rwo, false).await),
        Code::FailedPrecondition
    );

    assert_eq!(
        code(driver.unpublish("", &target).await),
        Code::InvalidArgument
    );
    assert_eq!(
        code(driver.unpublish(id, Path::new("")).await),
        Code::InvalidArgument
    );
    assert_eq!(
        code(driver.unpublish("missing", &target).await),
        Code::NotFound
    );
    assert_eq!(
        code(driver.unstage("", &staging).await),
        Code::InvalidArgument
    );
    assert_eq!(
        code(driver.unstage(id, Path::new("")).await),
        Code::InvalidArgument
    );
    assert_eq!(
        code(driver.unstage("missing", &staging).await),
        Code::NotFound
    );
    assert!(mounts_under(driver.dir.path()).is_empty());
}

#[tokio::test]
async fn a_published_volume_carries_writes_into_its_directory() {
    let driver = Driver::start(&[]).await;
    let volume = driver.create("data", MIB).await;
    let id = volume.volume_id.as_str();
    let staging = driver.path("staging");
    let target = driver.path("pod/volumes/data");
    let rwo = Mode::SingleNodeWriter;

    driver.stage(id, &staging, rwo).await.unwrap();
    driver.stage(id, &staging, rwo).await.unwrap();
    assert!(is_mounted(&staging));
    driver
        .publish(id, &staging, &target, rwo, false)
        .await
        .unwrap();
    driver
        .publish(id, &staging, &target, rwo, false)
        .await
        .unwrap();
    assert!(is_mounted(&target));
    assert_eq!(
        mounts_under(&target).len(),
        1,
        "a repeated publish mounted twice"
    );
    // The same target asked read-only now is an incompatible publish.
    assert_eq!(
        code(driver.publish(id, &staging, &target, rwo, true).await),
        Code::AlreadyExists
    );

    fs::write(target.join("hello.txt"), b"from the pod").unwrap();
    assert_eq!(
        fs::read(driver.volume_dir(id).join("hello.txt")).unwrap(),
        b"from the pod"
    );
    assert_eq!(
        code(
            driver
                .controller()
                .delete_volume(DeleteVolumeRequest {
                    volume_id: id.into(),
                    ..Default::default()
                })
                .await
        ),
        Code::FailedPrecondition
    );

    let stats = driver
        .node()
        .node_get_volume_stats(NodeGetVolumeStatsRequest {
            volume_id: id.into(),
            volume_path: path_string(&target),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let units: Vec<_> = stats.usage.iter().map(|u| u.unit()).collect();
    assert_eq!(
        units,
        vec![volume_usage::Unit::Bytes, volume_usage::Unit::Inodes]
    );
    let bytes = &stats.usage[0];
    assert!(
        bytes.total > 0 && bytes.used > 0 && bytes.used <= bytes.total,
        "{bytes:?}"
    );

    driver.unpublish(id, &target).await.unwrap();
    driver.unpublish(id, &target).await.unwrap();
    assert!(!target.exists(), "the target the driver created is removed");
    driver.unstage(id, &staging).await.unwrap();
    driver.unstage(id, &staging).await.unwrap();
    assert!(mounts_under(driver.dir.path()).is_empty());
    assert_eq!(
        fs::read(driver.volume_dir(id).join("hello.txt")).unwrap(),
        b"from the pod"
    );
}

#[tokio::test]
async fn read_only_publishes_refuse_writes() {
    let driver = Driver::start(&[]).await;
    let volume = driver.create("shared", MIB).await;
    let id = volume.volume_id.as_str();
    fs::write(driver.volume_dir(id).join("seed"), b"seed").unwrap();
    let staging = driver.path("staging");

    // Read-only because of the access mode (ROX)...
    let rox = Mode::MultiNodeReaderOnly;
    driver.stage(id, &staging, rox).await.unwrap();
    let by_mode = driver.path("rox");
    driver
        .publish(id, &staging, &by_mode, rox, false)
        .await
        .unwrap();
    // ...and because the request says so, with a writer mode (RWX).
    let by_flag = driver.path("readonly");
    let rwx = Mode::MultiNodeMultiWriter;
    driver
        .publish(id, &staging, &by_flag, rwx, true)
        .await
        .unwrap();
    // A writer alongside still writes.
    let writer = driver.path("writer");
    driver
        .publish(id, &staging, &writer, rwx, false)
        .await
        .unwrap();

    for target in [&by_mode, &by_flag] {
        assert_eq!(fs::read(target.join("seed")).unwrap(), b"seed");
        let err = fs::write(target.join("new"), b"no").unwrap_err();
        assert_eq!(
            err.raw_os_error(),
            Some(nix::libc::EROFS),
            "{}",
            target.display()
        );
    }
    fs::write(writer.join("new"), b"yes").unwrap();
    assert_eq!(fs::read(by_mode.join("new")).unwrap(), b"yes");

    for target in [&by_mode, &by_flag, &writer] {
        driver.unpublish(id, target).await.unwrap();
    }
    driver.unstage(id, &staging).await.unwrap();
    assert!(mounts_under(driver.dir.path()).is_empty());
}

#[tokio::test]
async fn volume_stats_need_a_known_volume_and_an_existing_path() {
    let driver = Driver::start(&[]).await;
    let volume = driver.create("v", MIB).await;
    let request = |id: &str, path: &str| NodeGetVolumeStatsRequest {
        volume_id: id.into(),
        volume_path: path.into(),
        ..Default::default()
    };
    let mut node = driver.node();
    let dir = path_string(&driver.volume_dir(&volume.volume_id));
    assert_eq!(
        code(node.node_get_volume_stats(request("", &dir)).await),
        Code::InvalidArgument
    );
    assert_eq!(
        code(
            node.node_get_volume_stats(request(&volume.volume_id, ""))
                .await
        ),
        Code::InvalidArgument
    );
    assert_eq!(
        code(node.node_get_volume_stats(request("nope", &dir)).await),
        Code::NotFound
    );
    let missing = path_string(&driver.path("never-published"));
    assert_eq!(
        code(
            node.node_get_volume_stats(request(&volume.volume_id, &missing))
                .await
        ),
        Code::NotFound
    );
    assert_eq!(
        code(
            node.node_get_volume_stats(request(&volume.volume_id, &dir))
                .await
        ),
        Code::Ok
    );
}

#[tokio::test]
async fn node_info_names_the_node_and_its_topology() {
    let driver = Driver::start(&["--max-volumes-per-node", "42"]).await;
    let info = driver
        .node()
        .node_get_info(NodeGetInfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.node_id, driver.node_id);
    assert_eq!(info.max_volumes_per_node, 42);
    assert_eq!(
        info.accessible_topology.unwrap().segments,
        HashMap::from([(TOPOLOGY_KEY.to_string(), driver.node_id.clone())])
    );
}

#[tokio::test]
async fn volumes_on_another_node_are_refused() {
    let driver = Driver::start(&[]).await;
    let mut request = create_request("elsewhere", MIB, Mode::SingleNodeWriter);
    request.accessibility_requirements = Some(TopologyRequirement {
        requisite: vec![Topology {
            segments: HashMap::from([(TOPOLOGY_KEY.to_string(), "other-node".to_string())]),
        }],
        preferred: vec![],
    });
    assert_eq!(
        code(driver.controller().create_volume(request).await),
        Code::ResourceExhausted
    );
}

#[tokio::test]
async fn state_survives_a_driver_restart_and_sigterm_removes_the_socket() {
    let mut driver = Driver::start(&[]).await;
    let volume = driver.create("durable", 3 * MIB).await;
    fs::write(driver.volume_dir(&volume.volume_id).join("f"), b"kept").unwrap();
    driver.stop().await;
    assert!(!driver.socket().exists(), "socket left after SIGTERM");

    driver.spawn().await;
    let again = driver.create("durable", 3 * MIB).await;
    assert_eq!(again.volume_id, volume.volume_id);
    let listed = driver
        .controller()
        .list_volumes(ListVolumesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.entries.len(), 1);
    assert_eq!(
        fs::read(driver.volume_dir(&volume.volume_id).join("f")).unwrap(),
        b"kept"
    );
}

#[tokio::test]
async fn snapshots_copy_a_volume_and_restore_into_a_new_one() {
    let driver = Driver::start(&[]).await;
    let source = driver.create("source", MIB).await;
    let source_dir = driver.volume_dir(&source.volume_id);
    fs::write(source_dir.join("f"), b"before").unwrap();
    let mut controller = driver.controller();
    let take = |name: &str, volume: &str| CreateSnapshotRequest {
        name: name.into(),
        source_volume_id: volume.into(),
        ..Default::default()
    };
    let snapshot = controller
        .create_snapshot(take("snap", &source.volume_id))
        .await
        .unwrap()
        .into_inner()
        .snapshot
        .unwrap();
    assert!(snapshot.ready_to_use);
    assert_eq!(snapshot.source_volume_id, source.volume_id);
    let again = controller
        .create_snapshot(take("snap", &source.volume_id))
        .await
        .unwrap()
        .into_inner()
        .snapshot
        .unwrap();
    assert_eq!(again.snapshot_id, snapshot.snapshot_id);
    assert_eq!(
        code(
            controller
                .create_snapshot(take("", &source.volume_id))
                .await
        ),
        Code::InvalidArgument
    );
    assert_eq!(
        code(controller.create_snapshot(take("x", "")).await),
        Code::InvalidArgument
    );
    assert_eq!(
        code(controller.create_snapshot(take("x", "nope")).await),
        Code::NotFound
    );

    fs::write(source_dir.join("f"), b"after").unwrap();
    let mut restore = create_request("restored", MIB, Mode::SingleNodeWriter);
    restore.volume_content_source = Some(VolumeContentSource {
        r#type: Some(volume_content_source::Type::Snapshot(
            volume_content_source::SnapshotSource {
                snapshot_id: snapshot.snapshot_id.clone(),
            },
        )),
    });
    let restored = controller
        .create_volume(restore)
        .await
        .unwrap()
        .into_inner()
        .volume
        .unwrap();
    assert_eq!(
        fs::read(driver.volume_dir(&restored.volume_id).join("f")).unwrap(),
        b"before"
    );

    let listed = controller
        .list_snapshots(ListSnapshotsRequest {
            source_volume_id: source.volume_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.entries.len(), 1);
    let delete = DeleteSnapshotRequest {
        snapshot_id: snapshot.snapshot_id.clone(),
        ..Default::default()
    };
    assert_eq!(
        code(controller.delete_snapshot(delete.clone()).await),
        Code::Ok
    );
    assert_eq!(code(controller.delete_snapshot(delete).await), Code::Ok);
    let listed = controller
        .list_snapshots(ListSnapshotsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(listed.entries.is_empty());
    assert!(
        !driver
            .root()
            .join("snapshots")
            .join(&snapshot.snapshot_id)
            .exists()
    );
}

#[tokio::test]
async fn expanding_a_volume_grows_it_within_the_maximum() {
    let driver = Driver::start(&["--max-volume-size", "8Mi"]).await;
    let volume = driver.create("grow", MIB).await;
    let expand = |bytes: i64| ControllerExpandVolumeRequest {
        volume_id: volume.volume_id.clone(),
        capacity_range: Some(CapacityRange {
            required_bytes: bytes,
            limit_bytes: 0,
        }),
        ..Default::default()
    };
    let mut controller = driver.controller();
    let grown = controller
        .controller_expand_volume(expand(4 * MIB))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(grown.capacity_bytes, 4 * MIB);
    assert!(!grown.node_expansion_required);
    assert_eq!(
        code(controller.controller_expand_volume(expand(16 * MIB)).await),
        Code::OutOfRange
    );
    let listed = controller
        .list_volumes(ListVolumesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        listed.entries[0].volume.as_ref().unwrap().capacity_bytes,
        4 * MIB
    );
}

#[tokio::test]
async fn hard_limited_volumes_stop_writes_at_their_capacity_and_survive_a_reboot() {
    let mut driver = Driver::start(&[]).await;
    let mut request = create_request("capped", 8 * MIB, Mode::SingleNodeWriter);
    request.parameters.insert("hardLimit".into(), "true".into());
    let volume = driver
        .controller()
        .create_volume(request.clone())
        .await
        .unwrap()
        .into_inner()
        .volume
        .unwrap();
    let id = volume.volume_id.clone();
    let dir = driver.volume_dir(&id);
    assert!(
        is_mounted(&dir),
        "the image is mounted on the volume directory"
    );
    let mut plain = request.clone();
    plain.parameters.clear();
    assert_eq!(
        code(driver.controller().create_volume(plain).await),
        Code::AlreadyExists
    );
    let mut bad = create_request("bad", MIB, Mode::SingleNodeWriter);
    bad.parameters.insert("hardLimit".into(), "yes".into());
    assert_eq!(
        code(driver.controller().create_volume(bad).await),
        Code::InvalidArgument
    );

    let staging = driver.path("staging");
    let target = driver.path("target");
    let rwo = Mode::SingleNodeWriter;
    driver.stage(&id, &staging, rwo).await.unwrap();
    driver
        .publish(&id, &staging, &target, rwo, false)
        .await
        .unwrap();
    let stats = driver
        .node()
        .node_get_volume_stats(NodeGetVolumeStatsRequest {
            volume_id: id.clone(),
            volume_path: path_string(&target),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let total = stats.usage[0].total;
    assert!(total > 4 * MIB && total <= 8 * MIB, "total {total}");
    let too_much = vec![1u8; 9 * MIB as usize];
    let err = fs::write(target.join("big"), &too_much).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(nix::libc::ENOSPC));
    fs::write(target.join("small"), b"fits").unwrap();
    driver.unpublish(&id, &target).await.unwrap();
    driver.unstage(&id, &staging).await.unwrap();

    // A reboot drops the loop mount; the driver mounts the image again when it starts.
    driver.stop().await;
    nix::mount::umount2(&dir, nix::mount::MntFlags::empty()).unwrap();
    assert!(!is_mounted(&dir));
    driver.spawn().await;
    assert!(is_mounted(&dir));
    assert_eq!(fs::read(dir.join("small")).unwrap(), b"fits");

    // Growing a volume not in use grows its filesystem: what did not fit now does.
    let grown = driver
        .controller()
        .controller_expand_volume(ControllerExpandVolumeRequest {
            volume_id: id.clone(),
            capacity_range: Some(CapacityRange {
                required_bytes: 16 * MIB,
                limit_bytes: 0,
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(grown.capacity_bytes, 16 * MIB);
    assert!(is_mounted(&dir));
    fs::write(dir.join("big"), &too_much).unwrap();
    assert_eq!(fs::read(dir.join("small")).unwrap(), b"fits");

    let delete = DeleteVolumeRequest {
        volume_id: id.clone(),
        ..Default::default()
    };
    driver.controller().delete_volume(delete).await.unwrap();
    assert!(!dir.exists());
    assert!(
        !driver
            .root()
            .join("images")
            .join(format!("{id}.img"))
            .exists()
    );
    assert!(mounts_under(driver.dir.path()).is_empty());
}
