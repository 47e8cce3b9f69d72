//! Pod volumes: emptyDir, hostPath, configMap, secret, downwardAPI and projected built in;
//! everything else (CSI) through a [`VolumePlugin`].

pub mod atomic;
pub mod csi;
pub mod projection;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::{Pod, Volume};

use crate::files::{Files, Kind};
use crate::pod::downward::Facts;
use crate::pod::env::NodeResources;
use crate::pod::objects::Objects;

/// Errors preparing or removing volumes (the pod waits in `ContainerCreating`).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("volume {volume}: {message}")]
    Invalid { volume: String, message: String },
    #[error("volume {volume}: failed to project files")]
    Projection {
        volume: String,
        #[source]
        source: projection::Error,
    },
    #[error("volume {volume}: io error on {path}")]
    Io {
        volume: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("volume {volume}: mount failed")]
    Mount {
        volume: String,
        #[source]
        source: nix::Error,
    },
    #[error("volume {volume}: no plugin handles this volume type")]
    Unsupported { volume: String },
    #[error("volume {volume}: plugin failed: {message}")]
    Plugin { volume: String, message: String },
}

/// What a volume plugin gets to prepare a volume.
pub struct VolumeContext<'a> {
    pub pod: &'a Pod,
    /// The volume's directory in the pod dir (`<pod dir>/volumes/<name>`).
    pub dir: PathBuf,
    pub objects: &'a dyn Objects,
    pub facts: &'a Facts,
    pub node: NodeResources,
}

/// A volume type the kubelet does not know itself (CSI, ...). Calls are idempotent: `set_up`
/// runs on every sync of a pod and must be cheap when nothing changed.
#[async_trait]
pub trait VolumePlugin: Send + Sync {
    /// Whether this plugin serves `volume`.
    fn handles(&self, volume: &Volume) -> bool;
    /// Makes the volume ready; returns the host path bind-mounted into containers.
    async fn set_up(&self, ctx: &VolumeContext<'_>, volume: &Volume) -> Result<PathBuf, Error>;
    /// Undoes `set_up` for a pod that is gone (`dir` as in the context).
    async fn tear_down(&self, pod_uid: &str, volume: &str, dir: &Path) -> Result<(), Error>;
    /// Undoes whatever `set_up` recorded under a gone pod's volume root (`<pod dir>/volumes`),
    /// for pods whose spec is no longer known (deleted while the kubelet was down). Plugins
    /// that keep no record need nothing here.
    async fn tear_down_recorded(&self, _pod_uid: &str, _root: &Path) -> Result<(), Error> {
        Ok(())
    }
}

/// The plugins a kubelet consults, in order, for volume types it does not know.
#[derive(Clone, Default)]
pub struct VolumePlugins(pub Vec<Arc<dyn VolumePlugin>>);

impl std::fmt::Debug for VolumePlugins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VolumePlugins({})", self.0.len())
    }
}

fn io(volume: &str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let volume = volume.to_string();
    let path = path.to_path_buf();
    move |source| Error::Io {
        volume,
        path,
        source,
    }
}

/// The host paths of a pod's volumes by name.
pub type Prepared = BTreeMap<String, PathBuf>;

fn host_path(
    files: &dyn Files,
    name: &str,
    hp: &k8s_openapi::api::core::v1::HostPathVolumeSource,
) -> Result<PathBuf, Error> {
    let path = PathBuf::from(&hp.path);
    let kind = hp.type_.as_deref().unwrap_or("");
    let meta = files.metadata(&path);
    let invalid = |message: String| Error::Invalid {
        volume: name.into(),
        message,
    };
    let is = |k: Kind| meta.as_ref().is_ok_and(|m| m.kind == k);
    match kind {
        "" => {}
        "DirectoryOrCreate" => {
            if meta.is_err() {
                files.create_dir_all(&path).map_err(io(name, &path))?;
            } else if !is(Kind::Dir) {
                return Err(invalid(format!(
                    "hostPath type check failed: {} is not a directory",
                    hp.path
                )));
            }
        }
        "FileOrCreate" => {
            if meta.is_err() {
                if let Some(parent) = path.parent() {
                    files.create_dir_all(parent).map_err(io(name, parent))?;
                }
                files.write(&path, b"").map_err(io(name, &path))?;
            } else if !is(Kind::File) {
                return Err(invalid(format!(
                    "hostPath type check failed: {} is not a file",
                    hp.path
                )));
            }
        }
        other => {
            if meta.is_err() {
                return Err(invalid(format!(
                    "hostPath type check failed: {} does not exist",
                    hp.path
                )));
            }
            let wanted = match other {
                "Directory" => Kind::Dir,
                "File" => Kind::File,
                "Socket" => Kind::Socket,
                "CharDevice" => Kind::CharDevice,
                "BlockDevice" => Kind::BlockDevice,
                _ => return Err(invalid(format!("unknown hostPath type {other:?}"))),
            };
            if !is(wanted) {
                return Err(invalid(format!(
                    "hostPath type check failed: {} is not a {other}",
                    hp.path
                )));
            }
        }
    }
    Ok(path)
}

/// Prepares (or refreshes) every volume of `pod` under `pod_dir/volumes`.
pub async fn set_up_all(
    files: &dyn Files,
    pod: &Pod,
    pod_dir: &Path,
    objects: &dyn Objects,
    facts: &Facts,
    node: NodeResources,
    plugins: &VolumePlugins,
) -> Result<Prepared, Error> {
    let mut prepared = Prepared::new();
    let volumes: Vec<Volume> = pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.clone())
        .unwrap_or_default();
    for volume in &volumes {
        let name = volume.name.as_str();
        let dir = pod_dir.join("volumes").join(name);
        let path = if let Some(ed) = &volume.empty_dir {
            files.create_dir_all(&dir).map_err(io(name, &dir))?;
            if ed.medium.as_deref() == Some("Memory") {
                let size = ed
                    .size_limit
                    .as_ref()
                    .and_then(|q| skiff_api::validation::Quantity::parse(&q.0).ok())
                    .map(|q| format!("size={}", q.value()));
                files
                    .mount_tmpfs(&dir, size.as_deref())
                    .map_err(|source| Error::Mount {
                        volume: name.into(),
                        source,
                    })?;
            }
            files.set_mode(&dir, 0o777).map_err(io(name, &dir))?;
            dir
        } else if let Some(hp) = &volume.host_path {
            host_path(files, name, hp)?
        } else if volume.config_map.is_some()
            || volume.secret.is_some()
            || volume.downward_api.is_some()
            || volume.projected.is_some()
        {
            let projected = projection::files(volume, pod, objects, facts, node)
                .await
                .map_err(|source| Error::Projection {
                    volume: name.into(),
                    source,
                })?;
            if let Some(projected) = projected {
                atomic::write(files, &dir, &projected).map_err(|source| Error::Projection {
                    volume: name.into(),
                    source: projection::Error::Write(source),
                })?;
            } else {
                files.create_dir_all(&dir).map_err(io(name, &dir))?;
            }
            dir
        } else {
            let plugin = plugins
                .0
                .iter()
                .find(|p| p.handles(volume))
                .ok_or_else(|| Error::Unsupported {
                    volume: name.into(),
                })?;
            let ctx = VolumeContext {
                pod,
                dir,
                objects,
                facts,
                node,
            };
            plugin.set_up(&ctx, volume).await?
        };
        prepared.insert(name.to_string(), path);
    }
    Ok(prepared)
}

/// Removes the volumes of a pod that is gone: plugin tear-down, tmpfs unmounts, then the
/// pod's volume directory (host paths are never touched).
pub async fn tear_down_all(
    files: &dyn Files,
    pod_uid: &str,
    pod: Option<&Pod>,
    pod_dir: &Path,
    plugins: &VolumePlugins,
) -> Result<(), Error> {
    let root = pod_dir.join("volumes");
    let volumes: Vec<Volume> = pod
        .and_then(|p| p.spec.as_ref())
        .and_then(|s| s.volumes.clone())
        .unwrap_or_default();
    for volume in &volumes {
        let builtin = volume.empty_dir.is_some()
            || volume.host_path.is_some()
            || volume.config_map.is_some()
            || volume.secret.is_some()
            || volume.downward_api.is_some()
            || volume.projected.is_some();
        if builtin {
            continue;
        }
        if let Some(plugin) = plugins.0.iter().find(|p| p.handles(volume)) {
            plugin
                .tear_down(pod_uid, &volume.name, &root.join(&volume.name))
                .await?;
        }
    }
    for plugin in &plugins.0 {
        plugin.tear_down_recorded(pod_uid, &root).await?;
    }
    for name in files.read_dir(&root).into_iter().flatten() {
        files.unmount(&root.join(name));
    }
    match files.remove_dir_all(&root) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io("*", &root)(e)),
    }
}
