//! The CSI Node service: making a volume's directory appear where a pod's containers see it.
//!
//! Staging bind-mounts the volume directory onto the staging path the orchestrator chose once
//! per node; publishing bind-mounts it onto each pod's target path, read-only when the request
//! or the access mode says so. Every call checks the mount table as well as the state file, so
//! repeating a call, or calling after a reboot dropped the mounts, converges on the same
//! result.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::capability;
use crate::config::TOPOLOGY_NODE_KEY;
use crate::csi::v1::node_server::Node;
use crate::csi::v1::node_service_capability::{self, rpc};
use crate::csi::v1::*;
use crate::driver::{Driver, internal};
use crate::mount;

/// Serves Node for one driver.
#[derive(Debug, Clone)]
pub struct NodeService {
    driver: Arc<Driver>,
}

impl NodeService {
    pub fn new(driver: Arc<Driver>) -> Self {
        Self { driver }
    }
}

fn required<'a>(value: &'a str, what: &str) -> Result<&'a str, Status> {
    if value.is_empty() {
        Err(Status::invalid_argument(format!("{what} is required")))
    } else {
        Ok(value)
    }
}

fn checked_capability(capability: Option<&VolumeCapability>) -> Result<&VolumeCapability, Status> {
    let capability =
        capability.ok_or_else(|| Status::invalid_argument("volume capability is required"))?;
    capability::check(capability).map_err(|e| Status::invalid_argument(e.to_string()))?;
    Ok(capability)
}

fn not_found(id: &str) -> Status {
    Status::not_found(format!("volume {id} does not exist"))
}

/// Whether `path` is a mount point now, and whether that mount is read-only.
fn mounted(path: &Path) -> Result<Option<bool>, Status> {
    Ok(mount::find(path)
        .map_err(|e| internal(&e))?
        .map(|m| m.read_only))
}

fn create_dir(path: &Path) -> Result<(), Status> {
    fs::create_dir_all(path)
        .map_err(|e| Status::internal(format!("cannot create {}: {e}", path.display())))
}

fn bind(source: &Path, target: &Path, read_only: bool) -> Result<(), Status> {
    mount::bind(source, target, read_only).map_err(|e| internal(&e))
}

fn unmount(target: &Path) -> Result<(), Status> {
    mount::unmount(target).map_err(|e| internal(&e))
}

fn node_capability(kind: rpc::Type) -> NodeServiceCapability {
    NodeServiceCapability {
        r#type: Some(node_service_capability::Type::Rpc(
            node_service_capability::Rpc {
                r#type: kind as i32,
            },
        )),
    }
}

/// Bytes and inodes of the filesystem holding `path`.
fn usage(path: &Path) -> Result<Vec<VolumeUsage>, nix::Error> {
    let stats = nix::sys::statvfs::statvfs(path)?;
    let fragment = stats.fragment_size() as i64;
    let blocks = stats.blocks() as i64;
    let files = stats.files() as i64;
    Ok(vec![
        VolumeUsage {
            available: stats.blocks_available() as i64 * fragment,
            total: blocks * fragment,
            used: (blocks - stats.blocks_free() as i64) * fragment,
            unit: volume_usage::Unit::Bytes as i32,
        },
        VolumeUsage {
            available: stats.files_available() as i64,
            total: files,
            used: files - stats.files_free() as i64,
            unit: volume_usage::Unit::Inodes as i32,
        },
    ])
}

#[tonic::async_trait]
impl Node for NodeService {
    async fn node_stage_volume(
        &self,
        request: Request<NodeStageVolumeRequest>,
    ) -> Result<Response<NodeStageVolumeResponse>, Status> {
        let req = request.into_inner();
        let id = required(&req.volume_id, "volume id")?;
        let staging = PathBuf::from(required(&req.staging_target_path, "staging target path")?);
        let capability = checked_capability(req.volume_capability.as_ref())?;
        let read_only = capability::is_read_only(capability);

        let mut store = self.driver.store();
        let volume = store.state().volumes.get(id).ok_or_else(|| not_found(id))?;
        let recorded = volume.staged.contains(&staging);
        match mounted(&staging)? {
            Some(_) if recorded => return Ok(Response::new(NodeStageVolumeResponse {})),
            Some(_) => {
                return Err(Status::already_exists(format!(
                    "{} is already a mount point of something else",
                    staging.display()
                )));
            }
            None => {}
        }
        create_dir(&staging)?;
        bind(&store.volume_dir(id), &staging, read_only)?;
        if !recorded {
            let saved = store.update(|s| {
                if let Some(v) = s.volumes.get_mut(id) {
                    v.staged.push(staging.clone());
                }
            });
            if let Err(e) = saved {
                let _ = mount::unmount(&staging);
                return Err(internal(&e));
            }
        }
        tracing::info!(volume = %id, path = %staging.display(), "staged volume");
        Ok(Response::new(NodeStageVolumeResponse {}))
    }

    async fn node_unstage_volume(
        &self,
        request: Request<NodeUnstageVolumeRequest>,
    ) -> Result<Response<NodeUnstageVolumeResponse>, Status> {
        let req = request.into_inner();
        let id = required(&req.volume_id, "volume id")?;
        let staging = PathBuf::from(required(&req.staging_target_path, "staging target path")?);

        let mut store = self.driver.store();
        let volume = store.state().volumes.get(id).ok_or_else(|| not_found(id))?;
        let recorded = volume.staged.contains(&staging);
        if recorded && mounted(&staging)?.is_some() {
            unmount(&staging)?;
        }
        if recorded {
            store
                .update(|s| {
                    if let Some(v) = s.volumes.get_mut(id) {
                        v.staged.retain(|p| *p != staging);
                    }
                })
                .map_err(|e| internal(&e))?;
            tracing::info!(volume = %id, path = %staging.display(), "unstaged volume");
        }
        Ok(Response::new(NodeUnstageVolumeResponse {}))
    }

    async fn node_publish_volume(
        &self,
        request: Request<NodePublishVolumeRequest>,
    ) -> Result<Response<NodePublishVolumeResponse>, Status> {
        let req = request.into_inner();
        let id = required(&req.volume_id, "volume id")?;
        let target = PathBuf::from(required(&req.target_path, "target path")?);
        let capability = checked_capability(req.volume_capability.as_ref())?;
        let read_only = req.readonly || capability::is_read_only(capability);

        let mut store = self.driver.store();
        let volume = store.state().volumes.get(id).ok_or_else(|| not_found(id))?;
        // The driver offers STAGE_UNSTAGE_VOLUME, so the spec has publish follow a stage.
        if req.staging_target_path.is_empty() {
            return Err(Status::failed_precondition(
                "staging target path is required",
            ));
        }
        if !volume
            .staged
            .contains(&PathBuf::from(&req.staging_target_path))
        {
            return Err(Status::failed_precondition(format!(
                "volume {id} is not staged at {}",
                req.staging_target_path
            )));
        }
        let recorded = volume.published.get(&target).copied();
        match (mounted(&target)?, recorded) {
            (Some(_), Some(was_read_only)) if was_read_only == read_only => {
                return Ok(Response::new(NodePublishVolumeResponse {}));
            }
            (Some(_), Some(_)) => {
                return Err(Status::already_exists(format!(
                    "volume {id} is published at {} with another read-only setting",
                    target.display()
                )));
            }
            (Some(_), None) => {
                return Err(Status::already_exists(format!(
                    "{} is already a mount point of something else",
                    target.display()
                )));
            }
            (None, _) => {}
        }
        create_dir(&target)?;
        bind(&store.volume_dir(id), &target, read_only)?;
        let saved = store.update(|s| {
            if let Some(v) = s.volumes.get_mut(id) {
                v.published.insert(target.clone(), read_only);
            }
        });
        if let Err(e) = saved {
            let _ = mount::unmount(&target);
            return Err(internal(&e));
        }
        tracing::info!(volume = %id, path = %target.display(), read_only, "published volume");
        Ok(Response::new(NodePublishVolumeResponse {}))
    }

    async fn node_unpublish_volume(
        &self,
        request: Request<NodeUnpublishVolumeRequest>,
    ) -> Result<Response<NodeUnpublishVolumeResponse>, Status> {
        let req = request.into_inner();
        let id = required(&req.volume_id, "volume id")?;
        let target = PathBuf::from(required(&req.target_path, "target path")?);

        let mut store = self.driver.store();
        let volume = store.state().volumes.get(id).ok_or_else(|| not_found(id))?;
        if !volume.published.contains_key(&target) {
            return Ok(Response::new(NodeUnpublishVolumeResponse {}));
        }
        if mounted(&target)?.is_some() {
            unmount(&target)?;
        }
        // The spec has the driver remove the target it created; a non-empty directory is not
        // ours to remove, and an already missing one is fine.
        if let Err(e) = fs::remove_dir(&target)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %target.display(), error = %e, "target left in place");
        }
        store
            .update(|s| {
                if let Some(v) = s.volumes.get_mut(id) {
                    v.published.remove(&target);
                }
            })
            .map_err(|e| internal(&e))?;
        tracing::info!(volume = %id, path = %target.display(), "unpublished volume");
        Ok(Response::new(NodeUnpublishVolumeResponse {}))
    }

    async fn node_get_volume_stats(
        &self,
        request: Request<NodeGetVolumeStatsRequest>,
    ) -> Result<Response<NodeGetVolumeStatsResponse>, Status> {
        let req = request.into_inner();
        let id = required(&req.volume_id, "volume id")?;
        let path = PathBuf::from(required(&req.volume_path, "volume path")?);
        if !self.driver.store().state().volumes.contains_key(id) {
            return Err(not_found(id));
        }
        if !path.exists() {
            return Err(Status::not_found(format!(
                "volume path {} does not exist",
                path.display()
            )));
        }
        let usage = usage(&path).map_err(|e| {
            Status::internal(format!(
                "cannot read filesystem statistics of {}: {e}",
                path.display()
            ))
        })?;
        Ok(Response::new(NodeGetVolumeStatsResponse {
            usage,
            volume_condition: None,
        }))
    }

    async fn node_expand_volume(
        &self,
        _: Request<NodeExpandVolumeRequest>,
    ) -> Result<Response<NodeExpandVolumeResponse>, Status> {
        Err(Status::unimplemented(
            "directories need no node-side expansion",
        ))
    }

    async fn node_get_capabilities(
        &self,
        _: Request<NodeGetCapabilitiesRequest>,
    ) -> Result<Response<NodeGetCapabilitiesResponse>, Status> {
        Ok(Response::new(NodeGetCapabilitiesResponse {
            capabilities: vec![
                node_capability(rpc::Type::StageUnstageVolume),
                node_capability(rpc::Type::GetVolumeStats),
            ],
        }))
    }

    async fn node_get_info(
        &self,
        _: Request<NodeGetInfoRequest>,
    ) -> Result<Response<NodeGetInfoResponse>, Status> {
        let config = &self.driver.config;
        Ok(Response::new(NodeGetInfoResponse {
            node_id: config.node_id.clone(),
            max_volumes_per_node: config.max_volumes_per_node,
            accessible_topology: Some(Topology {
                segments: HashMap::from([(TOPOLOGY_NODE_KEY.to_owned(), config.node_id.clone())]),
            }),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_reports_bytes_then_inodes_with_used_within_total() {
        let dir = tempfile::tempdir().unwrap();
        let usage = usage(dir.path()).unwrap();
        assert_eq!(usage[0].unit(), volume_usage::Unit::Bytes);
        assert_eq!(usage[1].unit(), volume_usage::Unit::Inodes);
        for u in &usage {
            assert!(u.total > 0, "{u:?}");
            assert!(u.used <= u.total && u.available <= u.total, "{u:?}");
        }
    }
}
