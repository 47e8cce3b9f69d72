//! CSI volumes: pods' `persistentVolumeClaim` volumes whose PV is served by a CSI driver
//! registered on this node (see [`registration`]).
//!
//! Set-up waits for the claim to be Bound, reads its PV, stages the volume once per node
//! (NodeStageVolume onto a global path under the kubelet dir, when the driver stages) and
//! publishes it into the pod's volume directory (NodePublishVolume), which the containers
//! then get bind-mounted. A [`record`] beside the volume directory keeps what tear-down needs;
//! tear-down unpublishes, and unstages once no record on the node uses the volume any more.
//! PVs backed by a host path (`spec.hostPath`) are used in place, as upstream does.

pub mod drivers;
pub mod record;
pub mod registration;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use k8s_openapi::api::core::v1::{CSIPersistentVolumeSource, PersistentVolume, Volume};
use sha2::{Digest, Sha256};
use skiff_hostpath::csi::v1::node_client::NodeClient;
use skiff_hostpath::csi::v1::volume_capability::access_mode::Mode;
use skiff_hostpath::csi::v1::volume_capability::{AccessMode, AccessType, MountVolume};
use skiff_hostpath::csi::v1::{
    NodePublishVolumeRequest, NodeStageVolumeRequest, NodeUnpublishVolumeRequest,
    NodeUnstageVolumeRequest, VolumeCapability,
};
use tonic::Code;

use super::{VolumeContext, VolumePlugin};
use crate::files::is_mount_point;
use crate::pod::objects::Objects;
use drivers::{Drivers, call};
use record::Record;
use registration::RegistrationConfig;

/// Why a CSI volume could not be set up or torn down (the pod stays in ContainerCreating and
/// the kubelet tries again).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("persistentvolumeclaim \"{claim}\" not found")]
    ClaimMissing { claim: String },
    #[error("persistentvolumeclaim \"{claim}\" is not bound")]
    NotBound { claim: String },
    #[error("persistentvolume \"{volume}\" of claim \"{claim}\" not found")]
    VolumeMissing { claim: String, volume: String },
    #[error("persistentvolume \"{volume}\" is neither a CSI nor a hostPath volume")]
    UnsupportedVolume { volume: String },
    #[error("CSI driver {driver} is not registered on this node")]
    NotRegistered { driver: String },
    #[error("cannot read the claim's objects")]
    Objects(#[source] crate::pod::objects::Error),
    #[error("volume record")]
    Record(#[source] record::Error),
    #[error("CSI driver {driver}")]
    Driver {
        driver: String,
        #[source]
        source: drivers::Error,
    },
    #[error("cannot create {path}")]
    Dir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("host path of the claim's volume")]
    HostPath(#[source] Box<super::Error>),
    #[error("{path} is still mounted after NodeUnpublishVolume")]
    StillMounted { path: PathBuf },
}

/// Where the CSI plugin keeps things and how long set-up waits for a claim to bind.
#[derive(Debug, Clone)]
pub struct CsiConfig {
    /// The kubelet's data dir: pods in `<dir>/pods`, staging paths in
    /// `<dir>/plugins/kubernetes.io/csi/<driver>/<sha256 of the handle>/globalmount`.
    pub kubelet_dir: PathBuf,
    /// Driver registration (directory, node name, polling interval).
    pub registration: RegistrationConfig,
    /// How long one set-up waits for an unbound claim before reporting it. Default 2 s: a
    /// claim created with its pod usually binds within that, sparing a whole retry period.
    pub bind_wait: Duration,
}

impl CsiConfig {
    pub fn new(kubelet_dir: impl Into<PathBuf>, registration: RegistrationConfig) -> Self {
        CsiConfig {
            kubelet_dir: kubelet_dir.into(),
            registration,
            bind_wait: Duration::from_secs(2),
        }
    }
}

/// Aborts a task when dropped.
#[derive(Debug)]
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The CSI [`VolumePlugin`].
#[derive(Debug)]
pub struct CsiPlugin {
    config: CsiConfig,
    drivers: Arc<Drivers>,
    /// Set-up and tear-down of CSI volumes run one at a time, so staging decisions (is any
    /// other pod using this volume?) see a settled set of records.
    lock: tokio::sync::Mutex<()>,
    _registration: Option<AbortOnDrop>,
}

/// The CSI access mode for a PV's access modes (upstream's mapping).
pub fn access_mode(modes: &[String]) -> Mode {
    let has = |m: &str| modes.iter().any(|x| x == m);
    if has("ReadWriteOncePod") {
        Mode::SingleNodeSingleWriter
    } else if has("ReadWriteMany") {
        Mode::MultiNodeMultiWriter
    } else if has("ReadWriteOnce") {
        Mode::SingleNodeWriter
    } else if has("ReadOnlyMany") {
        Mode::MultiNodeReaderOnly
    } else {
        Mode::SingleNodeWriter
    }
}

/// The node-global staging path of `handle` of `driver`.
pub fn staging_path(kubelet_dir: &Path, driver: &str, handle: &str) -> PathBuf {
    let digest = hex::encode(Sha256::digest(handle.as_bytes()));
    kubelet_dir
        .join("plugins/kubernetes.io/csi")
        .join(driver)
        .join(digest)
        .join("globalmount")
}

fn capability(pv: &PersistentVolume, csi: &CSIPersistentVolumeSource) -> VolumeCapability {
    let spec = pv.spec.as_ref();
    let modes = spec
        .and_then(|s| s.access_modes.clone())
        .unwrap_or_default();
    VolumeCapability {
        access_type: Some(AccessType::Mount(MountVolume {
            fs_type: csi.fs_type.clone().unwrap_or_default(),
            mount_flags: spec
                .and_then(|s| s.mount_options.clone())
                .unwrap_or_default(),
            volume_mount_group: String::new(),
        })),
        access_mode: Some(AccessMode {
            mode: access_mode(&modes) as i32,
        }),
    }
}

fn ignore_not_found<T>(result: Result<T, drivers::Error>) -> Result<(), drivers::Error> {
    match result {
        Ok(_) => Ok(()),
        Err(drivers::Error::Call { source, .. }) if source.code() == Code::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

impl CsiPlugin {
    /// A plugin without driver registration (drivers added through [`CsiPlugin::drivers`]).
    pub fn new(config: CsiConfig) -> CsiPlugin {
        CsiPlugin {
            config,
            drivers: Arc::new(Drivers::default()),
            lock: tokio::sync::Mutex::new(()),
            _registration: None,
        }
    }

    /// The plugin with its registration loop running (until the plugin is dropped).
    pub fn start(config: CsiConfig, client: kube::Client) -> Arc<CsiPlugin> {
        let mut plugin = CsiPlugin::new(config);
        std::fs::create_dir_all(&plugin.config.registration.dir).ok();
        let task = tokio::spawn(registration::run(
            plugin.config.registration.clone(),
            plugin.drivers.clone(),
            client,
        ));
        plugin._registration = Some(AbortOnDrop(task));
        Arc::new(plugin)
    }

    /// The drivers registered on this node.
    pub fn drivers(&self) -> &Arc<Drivers> {
        &self.drivers
    }

    fn pods_dir(&self) -> PathBuf {
        self.config.kubelet_dir.join("pods")
    }

    /// The claim's PV once the claim is Bound, waiting up to `bind_wait`.
    async fn bound_volume(
        &self,
        objects: &dyn Objects,
        namespace: &str,
        claim: &str,
    ) -> Result<PersistentVolume, Error> {
        let deadline = Instant::now() + self.config.bind_wait;
        let volume_name = loop {
            let found = objects
                .claim(namespace, claim)
                .await
                .map_err(Error::Objects)?;
            let bound = found.as_ref().and_then(|c| {
                let phase = c.status.as_ref().and_then(|s| s.phase.as_deref());
                let name = c.spec.as_ref().and_then(|s| s.volume_name.clone());
                name.filter(|n| phase == Some("Bound") && !n.is_empty())
            });
            if let Some(name) = bound {
                break name;
            }
            if Instant::now() >= deadline {
                return Err(match found {
                    None => Error::ClaimMissing {
                        claim: claim.into(),
                    },
                    Some(_) => Error::NotBound {
                        claim: claim.into(),
                    },
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        objects
            .persistent_volume(&volume_name)
            .await
            .map_err(Error::Objects)?
            .ok_or(Error::VolumeMissing {
                claim: claim.into(),
                volume: volume_name,
            })
    }

    async fn set_up_claim(
        &self,
        ctx: &VolumeContext<'_>,
        claim: &str,
        claim_read_only: bool,
    ) -> Result<PathBuf, Error> {
        let target = ctx.dir.clone();
        let record_path = record::path_for(&target);
        let _guard = self.lock.lock().await;
        // Every sync comes here: once published, nothing needs the API or the driver.
        if record::read(&record_path).map_err(Error::Record)?.is_some() && is_mount_point(&target) {
            return Ok(target);
        }
        let namespace = ctx.pod.metadata.namespace.as_deref().unwrap_or("default");
        let pv = self.bound_volume(ctx.objects, namespace, claim).await?;
        let pv_name = pv.metadata.name.clone().unwrap_or_default();
        let spec = pv.spec.clone().unwrap_or_default();
        if let Some(hp) = &spec.host_path {
            // Persistent volumes live on the host (this plugin serves real nodes).
            return super::host_path(&crate::files::HostFiles, claim, hp)
                .map_err(|e| Error::HostPath(Box::new(e)));
        }
        let Some(csi) = spec.csi.clone() else {
            return Err(Error::UnsupportedVolume { volume: pv_name });
        };
        let driver = self
            .drivers
            .get(&csi.driver)
            .ok_or_else(|| Error::NotRegistered {
                driver: csi.driver.clone(),
            })?;
        let driver_err = |source| Error::Driver {
            driver: csi.driver.clone(),
            source,
        };
        let read_only = claim_read_only || csi.read_only.unwrap_or(false);
        let capability = capability(&pv, &csi);
        let volume_context: HashMap<String, String> = csi
            .volume_attributes
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        let staging = driver
            .stages
            .then(|| staging_path(&self.config.kubelet_dir, &csi.driver, &csi.volume_handle));
        // Recorded first: whatever happens next, tear-down knows what to undo.
        let record = Record {
            driver: csi.driver.clone(),
            endpoint: driver.endpoint.clone(),
            volume_handle: csi.volume_handle.clone(),
            staging_path: staging.clone(),
            target_path: target.clone(),
            persistent_volume: pv_name,
        };
        record::write(&record_path, &record).map_err(Error::Record)?;
        let mut node = NodeClient::new(driver.channel.clone());
        if let Some(staging) = &staging {
            let parent = staging.parent().unwrap_or(staging);
            std::fs::create_dir_all(parent).map_err(|source| Error::Dir {
                path: parent.to_path_buf(),
                source,
            })?;
            call(
                "NodeStageVolume",
                node.node_stage_volume(NodeStageVolumeRequest {
                    volume_id: csi.volume_handle.clone(),
                    publish_context: HashMap::new(),
                    staging_target_path: staging.display().to_string(),
                    volume_capability: Some(capability.clone()),
                    secrets: HashMap::new(),
                    volume_context: volume_context.clone(),
                }),
            )
            .await
            .map_err(driver_err)?;
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|source| Error::Dir {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        call(
            "NodePublishVolume",
            node.node_publish_volume(NodePublishVolumeRequest {
                volume_id: csi.volume_handle.clone(),
                publish_context: HashMap::new(),
                staging_target_path: staging
                    .as_ref()
                    .map(|s| s.display().to_string())
                    .unwrap_or_default(),
                target_path: target.display().to_string(),
                volume_capability: Some(capability),
                readonly: read_only,
                secrets: HashMap::new(),
                volume_context,
            }),
        )
        .await
        .map_err(driver_err)?;
        tracing::info!(pod = ?ctx.pod.metadata.name, claim, volume = %csi.volume_handle, "CSI volume published");
        Ok(target)
    }

    /// Unpublishes the volume of the record at `path`, unstages it when no other pod on the
    /// node uses it, then forgets the record.
    async fn tear_down_record(&self, path: &Path) -> Result<(), Error> {
        let _guard = self.lock.lock().await;
        let Some(record) = record::read(path).map_err(Error::Record)? else {
            return Ok(());
        };
        let driver_err = |source| Error::Driver {
            driver: record.driver.clone(),
            source,
        };
        let channel = match self.drivers.get(&record.driver) {
            Some(d) => d.channel,
            None => drivers::connect(&record.endpoint)
                .await
                .map_err(driver_err)?,
        };
        let mut node = NodeClient::new(channel);
        ignore_not_found(
            call(
                "NodeUnpublishVolume",
                node.node_unpublish_volume(NodeUnpublishVolumeRequest {
                    volume_id: record.volume_handle.clone(),
                    target_path: record.target_path.display().to_string(),
                }),
            )
            .await,
        )
        .map_err(driver_err)?;
        // The pod dir is removed next: a volume still mounted there would lose its data.
        if is_mount_point(&record.target_path) {
            return Err(Error::StillMounted {
                path: record.target_path.clone(),
            });
        }
        if let Some(staging) = &record.staging_path {
            let others = record::users(
                &self.pods_dir(),
                &record.driver,
                &record.volume_handle,
                path,
            );
            if others == 0 {
                ignore_not_found(
                    call(
                        "NodeUnstageVolume",
                        node.node_unstage_volume(NodeUnstageVolumeRequest {
                            volume_id: record.volume_handle.clone(),
                            staging_target_path: staging.display().to_string(),
                        }),
                    )
                    .await,
                )
                .map_err(driver_err)?;
                // The per-volume directory above `globalmount` is ours (upstream removes it).
                if let Some(volume_dir) = staging.parent()
                    && !is_mount_point(staging)
                {
                    let _ = std::fs::remove_dir(staging);
                    let _ = std::fs::remove_dir(volume_dir);
                }
            }
        }
        record::remove(path).map_err(Error::Record)?;
        tracing::info!(volume = %record.volume_handle, target = %record.target_path.display(), "CSI volume unpublished");
        Ok(())
    }
}

fn plugin_error(volume: &str, e: &Error) -> super::Error {
    super::Error::Plugin {
        volume: volume.into(),
        message: crate::pod::worker::error_chain(e),
    }
}

#[async_trait]
impl VolumePlugin for CsiPlugin {
    fn handles(&self, volume: &Volume) -> bool {
        volume.persistent_volume_claim.is_some()
    }

    async fn set_up(
        &self,
        ctx: &VolumeContext<'_>,
        volume: &Volume,
    ) -> Result<PathBuf, super::Error> {
        let Some(source) = &volume.persistent_volume_claim else {
            return Err(super::Error::Unsupported {
                volume: volume.name.clone(),
            });
        };
        self.set_up_claim(ctx, &source.claim_name, source.read_only.unwrap_or(false))
            .await
            .map_err(|e| plugin_error(&volume.name, &e))
    }

    async fn tear_down(
        &self,
        _pod_uid: &str,
        volume: &str,
        dir: &Path,
    ) -> Result<(), super::Error> {
        self.tear_down_record(&record::path_for(dir))
            .await
            .map_err(|e| plugin_error(volume, &e))
    }

    async fn tear_down_recorded(&self, _pod_uid: &str, root: &Path) -> Result<(), super::Error> {
        for path in record::in_dir(root) {
            self.tear_down_record(&path)
                .await
                .map_err(|e| plugin_error(&path.display().to_string(), &e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
