//! Storage for `skiff up`: the `skiff-hostpath` CSI driver as a child process registered
//! with the kubelet, the `csi-provisioner` plugin with its settings, the `CSIDriver` object
//! and the default StorageClass `skiff-hostpath`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::api::storage::v1::{CSIDriver, StorageClass};
use kube::Api;
use kube::api::PostParams;
use serde_json::json;
use skiff_kubelet::VolumePlugins;
use skiff_kubelet::volume::csi::registration::RegistrationConfig;
use skiff_kubelet::volume::csi::{CsiConfig, CsiPlugin};

/// The hostpath driver's name (`provisioner` of the default class).
pub const DRIVER: &str = "hostpath.csi.skiff.dev";
/// The default StorageClass `skiff up` creates.
pub const DEFAULT_CLASS: &str = "skiff-hostpath";
/// The driver executable.
const DRIVER_BINARY: &str = "skiff-hostpath";
/// The provisioner plugin library.
const PROVISIONER_LIBRARY: &str = "libskiff_csi_provisioner.so";

/// Where storage lives under the data dir.
#[derive(Debug, Clone)]
pub struct StorageDirs {
    /// Drivers' sockets: `<data dir>/plugins_registry`.
    pub registry: PathBuf,
    /// The hostpath driver's root: `<data dir>/csi/hostpath`.
    pub hostpath_root: PathBuf,
}

impl StorageDirs {
    pub fn new(data_dir: &Path) -> StorageDirs {
        StorageDirs {
            registry: data_dir.join("plugins_registry"),
            hostpath_root: data_dir.join("csi").join("hostpath"),
        }
    }

    /// The hostpath driver's socket, in the registration directory.
    pub fn hostpath_socket(&self) -> PathBuf {
        self.registry.join(format!("{DRIVER}.sock"))
    }
}

/// A file next to the running `skiff` executable, where `cargo build` and installs put the
/// other skiff binaries and libraries.
fn beside_exe(name: &str) -> Option<PathBuf> {
    let path = std::env::current_exe().ok()?.parent()?.join(name);
    path.exists().then_some(path)
}

/// The driver executable: next to `skiff`, then on `PATH`.
fn driver_binary() -> Option<PathBuf> {
    beside_exe(DRIVER_BINARY).or_else(|| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(DRIVER_BINARY))
                .find(|p| p.is_file())
        })
    })
}

/// The plugins directory the controller host loads from, holding the provisioner plugin.
///
/// With `--plugins-dir` that directory, given a copy of the provisioner from beside `skiff`
/// unless it has one; otherwise `<data dir>/plugins` with that copy. A copy, not a link:
/// the host only loads libraries that really sit in its directory.
pub fn plugins_dir(given: Option<&Path>, data_dir: &Path) -> anyhow::Result<Option<PathBuf>> {
    let dir = given
        .map(Path::to_path_buf)
        .unwrap_or_else(|| data_dir.join("plugins"));
    let installed = dir.join(PROVISIONER_LIBRARY);
    let Some(shipped) = beside_exe(PROVISIONER_LIBRARY) else {
        if !installed.exists() {
            tracing::warn!(
                "{PROVISIONER_LIBRARY} is neither beside the skiff binary nor in the plugins dir: no dynamic provisioning (build it with `cargo build -p skiff-csi-provisioner`)"
            );
        }
        return Ok(given
            .map(Path::to_path_buf)
            .or(installed.exists().then_some(dir)));
    };
    if given.is_some() && installed.exists() {
        return Ok(Some(dir));
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let same = std::fs::read(&installed).ok() == std::fs::read(&shipped).ok();
    if !same {
        // Renamed into place: a running process may still map the old file.
        let tmp = dir.join(format!(".{PROVISIONER_LIBRARY}.tmp"));
        std::fs::copy(&shipped, &tmp)
            .with_context(|| format!("cannot copy {} to {}", shipped.display(), tmp.display()))?;
        std::fs::rename(&tmp, &installed)
            .with_context(|| format!("cannot install {}", installed.display()))?;
    }
    Ok(Some(dir))
}

/// The running storage parts; stopped by [`Storage::stop`].
pub struct Storage {
    csi: Arc<CsiPlugin>,
    driver: Option<tokio::process::Child>,
    dirs: StorageDirs,
}

impl Storage {
    /// The volume plugins the kubelet gets (CSI).
    pub fn volume_plugins(&self) -> VolumePlugins {
        VolumePlugins(vec![self.csi.clone()])
    }

    /// Stops the driver. Its state file is replaced atomically, so a kill loses nothing;
    /// published volumes stay mounted for the containers that keep running.
    pub async fn stop(mut self) {
        if let Some(child) = &mut self.driver {
            let _ = child.start_kill();
            let _ = child.wait().await;
            let _ = std::fs::remove_file(self.dirs.hostpath_socket());
        }
    }
}

/// Starts the CSI side of the node `node_name`: the kubelet's CSI plugin with driver
/// registration, the hostpath driver (when its binary is found), and the API objects.
pub async fn start(
    client: &kube::Client,
    data_dir: &Path,
    node_name: &str,
) -> anyhow::Result<Storage> {
    let dirs = StorageDirs::new(data_dir);
    std::fs::create_dir_all(&dirs.registry)
        .with_context(|| format!("cannot create {}", dirs.registry.display()))?;
    let csi = CsiPlugin::start(
        CsiConfig::new(
            data_dir.join("kubelet"),
            RegistrationConfig::new(&dirs.registry, node_name),
        ),
        client.clone(),
    );
    let driver = match driver_binary() {
        Some(binary) => {
            std::fs::create_dir_all(&dirs.hostpath_root)
                .with_context(|| format!("cannot create {}", dirs.hostpath_root.display()))?;
            let child = tokio::process::Command::new(&binary)
                .arg("--endpoint")
                .arg(format!("unix://{}", dirs.hostpath_socket().display()))
                .arg("--node-id")
                .arg(node_name)
                .arg("--root")
                .arg(&dirs.hostpath_root)
                .env(
                    "RUST_LOG",
                    std::env::var("SKIFF_LOG").unwrap_or_else(|_| "warn".into()),
                )
                .stdin(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("cannot start {}", binary.display()))?;
            Some(child)
        }
        None => {
            tracing::warn!(
                "{DRIVER_BINARY} is neither beside the skiff binary nor on PATH: no CSI storage on this node (build it with `cargo build -p skiff-hostpath`)"
            );
            None
        }
    };
    if driver.is_some() {
        ensure_objects(client, &dirs)
            .await
            .context("cannot create the storage objects")?;
    }
    Ok(Storage { csi, driver, dirs })
}

/// The CSIDriver, the default StorageClass and the provisioner's settings, each created only
/// when missing so a user's changes stay.
async fn ensure_objects(client: &kube::Client, dirs: &StorageDirs) -> anyhow::Result<()> {
    let pp = PostParams::default();
    let drivers: Api<CSIDriver> = Api::all(client.clone());
    if drivers.get_opt(DRIVER).await?.is_none() {
        let driver: CSIDriver = serde_json::from_value(json!({
            "apiVersion": "storage.k8s.io/v1", "kind": "CSIDriver",
            "metadata": {"name": DRIVER},
            "spec": {
                "attachRequired": false,
                "podInfoOnMount": false,
                "volumeLifecycleModes": ["Persistent"],
                "fsGroupPolicy": "File",
            },
        }))?;
        create(&drivers, &pp, &driver).await?;
    }
    let classes: Api<StorageClass> = Api::all(client.clone());
    if classes.get_opt(DEFAULT_CLASS).await?.is_none() {
        create(&classes, &pp, &default_class()?).await?;
    }
    let namespaces: Api<Namespace> = Api::all(client.clone());
    if namespaces.get_opt("kube-system").await?.is_none() {
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "kube-system"}}))?;
        create(&namespaces, &pp, &ns).await?;
    }
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), "kube-system");
    let settings: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "skiff-csi-provisioner", "namespace": "kube-system"},
        "data": {
            "driver": DRIVER,
            "endpoint": format!("unix://{}", dirs.hostpath_socket().display()),
        },
    }))?;
    // Rewritten on every start: the socket follows the data dir.
    match maps.get_opt("skiff-csi-provisioner").await? {
        Some(mut existing) => {
            existing.data = settings.data;
            maps.replace("skiff-csi-provisioner", &pp, &existing)
                .await?;
        }
        None => create(&maps, &pp, &settings).await?,
    }
    Ok(())
}

/// The default class: volumes of the hostpath driver, deleted with their claim, bound as soon
/// as claimed (`Immediate`).
pub fn default_class() -> anyhow::Result<StorageClass> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {
            "name": DEFAULT_CLASS,
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": DRIVER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
        "allowVolumeExpansion": true,
    }))?)
}

/// Creates `object`, accepting that someone else just did.
async fn create<K>(api: &Api<K>, pp: &PostParams, object: &K) -> anyhow::Result<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    match api.create(pp, object).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_driver_socket_is_in_the_registration_dir_and_volumes_under_csi_hostpath() {
        let dirs = StorageDirs::new(Path::new("/d"));
        assert_eq!(
            dirs.hostpath_socket(),
            Path::new("/d/plugins_registry/hostpath.csi.skiff.dev.sock")
        );
        assert_eq!(dirs.hostpath_root, Path::new("/d/csi/hostpath"));
    }

    #[test]
    fn the_default_class_is_marked_default_and_deletes_its_volumes() {
        let class = default_class().unwrap();
        assert_eq!(class.provisioner, DRIVER);
        assert_eq!(class.reclaim_policy.as_deref(), Some("Delete"));
        assert_eq!(
            class.metadata.annotations.unwrap()["storageclass.kubernetes.io/is-default-class"],
            "true"
        );
    }

    #[test]
    fn a_given_plugins_dir_with_a_provisioner_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(PROVISIONER_LIBRARY), b"mine").unwrap();
        let chosen = plugins_dir(Some(dir.path()), Path::new("/nonexistent")).unwrap();
        assert_eq!(chosen.as_deref(), Some(dir.path()));
        assert_eq!(
            std::fs::read(dir.path().join(PROVISIONER_LIBRARY)).unwrap(),
            b"mine"
        );
    }
}
