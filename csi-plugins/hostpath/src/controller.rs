//! The CSI Controller service: creating, listing, sizing, snapshotting and deleting volumes.
//!
//! A volume is a directory under `<root>/volumes`; a snapshot a full copy of one under
//! `<root>/snapshots`. The driver runs one instance per node and its volumes are reachable
//! only there, which every volume's accessible topology says.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tonic::{Request, Response, Status};

use crate::config::TOPOLOGY_NODE_KEY;
use crate::csi::v1::controller_server::Controller;
use crate::csi::v1::controller_service_capability::{self, rpc};
use crate::csi::v1::volume_content_source::{self, SnapshotSource, VolumeSource};
use crate::csi::v1::*;
use crate::driver::{Driver, internal};
use crate::state::{self, ContentSource};
use crate::{capability, hardlimit};

/// The size of a volume whose request names none: 1 GiB, as most drivers choose.
pub const DEFAULT_VOLUME_SIZE: i64 = 1 << 30;

/// Prefix of the page tokens of `ListVolumes` and `ListSnapshots`; what follows is the last id
/// returned. Anything else is a token this driver never handed out.
const TOKEN_PREFIX: &str = "after/";

/// Why volume content could not be copied.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot create directory {path}")]
    CreateDir {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot remove directory {path}")]
    RemoveDir {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot run cp to copy {from}")]
    SpawnCopy {
        from: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("copying {from} failed: {stderr}")]
    Copy {
        from: std::path::PathBuf,
        stderr: String,
    },
    #[error("cannot set up the hard size limit")]
    HardLimit(#[source] hardlimit::Error),
    #[error("cannot save the driver state")]
    State(#[source] state::Error),
}

/// Serves Controller for one driver.
#[derive(Debug, Clone)]
pub struct ControllerService {
    driver: Arc<Driver>,
}

impl ControllerService {
    pub fn new(driver: Arc<Driver>) -> Self {
        Self { driver }
    }

    fn topology(&self) -> Topology {
        Topology {
            segments: HashMap::from([(
                TOPOLOGY_NODE_KEY.to_owned(),
                self.driver.config.node_id.clone(),
            )]),
        }
    }

    /// Whether a topology names this driver's node, or names no node at all.
    fn reaches(&self, topology: &Topology) -> bool {
        topology
            .segments
            .get(TOPOLOGY_NODE_KEY)
            .is_none_or(|node| *node == self.driver.config.node_id)
    }

    fn to_csi(&self, volume: &state::Volume) -> Volume {
        Volume {
            capacity_bytes: volume.capacity_bytes,
            volume_id: volume.id.clone(),
            volume_context: HashMap::new(),
            content_source: volume.source.as_ref().map(|s| VolumeContentSource {
                r#type: Some(match s {
                    ContentSource::Snapshot(id) => {
                        volume_content_source::Type::Snapshot(SnapshotSource {
                            snapshot_id: id.clone(),
                        })
                    }
                    ContentSource::Volume(id) => {
                        volume_content_source::Type::Volume(VolumeSource {
                            volume_id: id.clone(),
                        })
                    }
                }),
            }),
            accessible_topology: vec![self.topology()],
        }
    }
}

fn snapshot_to_csi(snapshot: &state::Snapshot) -> Snapshot {
    Snapshot {
        size_bytes: snapshot.size_bytes,
        snapshot_id: snapshot.id.clone(),
        source_volume_id: snapshot.source_volume_id.clone(),
        creation_time: Some(prost_types::Timestamp {
            seconds: snapshot.created_at,
            nanos: 0,
        }),
        ready_to_use: true,
        group_snapshot_id: String::new(),
    }
}

/// The size to create for a capacity range, or why the range is unusable.
fn requested_size(range: Option<&CapacityRange>, max: i64) -> Result<i64, Status> {
    let (required, limit) = range.map_or((0, 0), |r| (r.required_bytes, r.limit_bytes));
    if required < 0 || limit < 0 {
        return Err(Status::invalid_argument(
            "capacity range must not be negative",
        ));
    }
    if limit > 0 && required > limit {
        return Err(Status::invalid_argument(format!(
            "required bytes {required} exceed limit bytes {limit}"
        )));
    }
    let size = match (required, limit) {
        (0, 0) => DEFAULT_VOLUME_SIZE,
        (0, limit) => limit.min(DEFAULT_VOLUME_SIZE),
        (required, _) => required,
    };
    if size > max {
        return Err(Status::out_of_range(format!(
            "{size} bytes exceed the maximum volume size of {max} bytes"
        )));
    }
    Ok(size)
}

/// The `hardLimit` StorageClass parameter: `"true"` backs the volume by a filesystem image of
/// exactly its size.
fn hard_limit_parameter(parameters: &HashMap<String, String>) -> Result<bool, Status> {
    match parameters.get("hardLimit").map(String::as_str) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(Status::invalid_argument(format!(
            "parameter hardLimit must be \"true\" or \"false\", not {other:?}"
        ))),
    }
}

/// Whether an existing volume satisfies a repeated request's capacity range.
fn fits(capacity: i64, range: Option<&CapacityRange>) -> bool {
    range.is_none_or(|r| {
        capacity >= r.required_bytes && (r.limit_bytes == 0 || capacity <= r.limit_bytes)
    })
}

/// Creates an empty volume directory that any container user may write to.
fn make_volume_dir(path: &Path) -> Result<(), Error> {
    let err = |source| Error::CreateDir {
        path: path.to_owned(),
        source,
    };
    fs::create_dir_all(path).map_err(err)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o777)).map_err(err)
}

fn remove_dir(path: &Path) -> Result<(), Error> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::RemoveDir {
            path: path.to_owned(),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// Copies the content of `from` into the existing directory `to`, keeping owners, modes,
/// links and times. `cp -a` does this completely (xattrs, sparse files, hard links), which a
/// hand-written walk would not.
fn copy_tree(from: &Path, to: &Path) -> Result<(), Error> {
    let output = Command::new("cp")
        .arg("-a")
        .arg("--reflink=auto")
        .arg(from.join("."))
        .arg(to)
        .output()
        .map_err(|source| Error::SpawnCopy {
            from: from.to_owned(),
            source,
        })?;
    if !output.status.success() {
        return Err(Error::Copy {
            from: from.to_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(())
}

/// Splits `items` (sorted by id) into one page after `token`, returning the page and the token
/// of the next one (empty on the last page).
fn page<T>(
    items: impl Iterator<Item = (String, T)>,
    max_entries: i32,
    token: &str,
) -> Result<(Vec<T>, String), Status> {
    if max_entries < 0 {
        return Err(Status::invalid_argument("max_entries must not be negative"));
    }
    let after = if token.is_empty() {
        None
    } else {
        Some(
            token
                .strip_prefix(TOKEN_PREFIX)
                .ok_or_else(|| Status::aborted(format!("unknown starting token {token:?}")))?,
        )
    };
    let mut rest = items
        .filter(|(id, _)| after.is_none_or(|a| id.as_str() > a))
        .peekable();
    let limit = if max_entries == 0 {
        usize::MAX
    } else {
        max_entries as usize
    };
    let mut out = Vec::new();
    let mut last = String::new();
    while out.len() < limit {
        match rest.next() {
            Some((id, item)) => {
                last = id;
                out.push(item);
            }
            None => break,
        }
    }
    let next = if rest.peek().is_some() {
        format!("{TOKEN_PREFIX}{last}")
    } else {
        String::new()
    };
    Ok((out, next))
}

fn now_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn controller_capability(kind: rpc::Type) -> ControllerServiceCapability {
    ControllerServiceCapability {
        r#type: Some(controller_service_capability::Type::Rpc(
            controller_service_capability::Rpc {
                r#type: kind as i32,
            },
        )),
    }
}

#[tonic::async_trait]
impl Controller for ControllerService {
    async fn create_volume(
        &self,
        request: Request<CreateVolumeRequest>,
    ) -> Result<Response<CreateVolumeResponse>, Status> {
        let req = request.into_inner();
        if req.name.is_empty() {
            return Err(Status::invalid_argument("volume name is required"));
        }
        if req.volume_capabilities.is_empty() {
            return Err(Status::invalid_argument("volume capabilities are required"));
        }
        capability::check_all(&req.volume_capabilities)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let size = requested_size(
            req.capacity_range.as_ref(),
            self.driver.config.max_volume_size,
        )?;
        let hard_limit = hard_limit_parameter(&req.parameters)?;
        let source = match req.volume_content_source.and_then(|s| s.r#type) {
            None => None,
            Some(volume_content_source::Type::Snapshot(s)) => {
                Some(ContentSource::Snapshot(s.snapshot_id))
            }
            Some(volume_content_source::Type::Volume(v)) => {
                Some(ContentSource::Volume(v.volume_id))
            }
        };

        let mut store = self.driver.store();
        if let Some(existing) = store.state().volume_by_name(&req.name) {
            if !fits(existing.capacity_bytes, req.capacity_range.as_ref()) {
                return Err(Status::already_exists(format!(
                    "volume {:?} exists with {} bytes, outside the requested range",
                    req.name, existing.capacity_bytes
                )));
            }
            if existing.hard_limit != hard_limit {
                return Err(Status::already_exists(format!(
                    "volume {:?} exists with another hardLimit",
                    req.name
                )));
            }
            if existing.source != source {
                return Err(Status::already_exists(format!(
                    "volume {:?} exists with another content source",
                    req.name
                )));
            }
            return Ok(Response::new(CreateVolumeResponse {
                volume: Some(self.to_csi(existing)),
            }));
        }
        if let Some(requirement) = &req.accessibility_requirements
            && !requirement.requisite.is_empty()
            && !requirement.requisite.iter().any(|t| self.reaches(t))
        {
            return Err(Status::resource_exhausted(format!(
                "volumes of this driver live on node {} only, which no requisite topology allows",
                self.driver.config.node_id
            )));
        }
        let free = self.driver.config.capacity - store.state().claimed_bytes();
        if size > free {
            return Err(Status::resource_exhausted(format!(
                "{size} bytes asked, {free} bytes left"
            )));
        }
        let content_dir =
            match &source {
                None => None,
                Some(ContentSource::Snapshot(id)) => {
                    let snapshot = store.state().snapshots.get(id).ok_or_else(|| {
                        Status::not_found(format!("snapshot {id} does not exist"))
                    })?;
                    if snapshot.size_bytes > size {
                        return Err(Status::out_of_range(format!(
                            "snapshot {id} holds {} bytes, more than the {size} bytes asked",
                            snapshot.size_bytes
                        )));
                    }
                    Some(store.snapshot_dir(id))
                }
                Some(ContentSource::Volume(id)) => {
                    let volume =
                        store.state().volumes.get(id).ok_or_else(|| {
                            Status::not_found(format!("volume {id} does not exist"))
                        })?;
                    if volume.capacity_bytes > size {
                        return Err(Status::out_of_range(format!(
                            "volume {id} holds {} bytes, more than the {size} bytes asked",
                            volume.capacity_bytes
                        )));
                    }
                    Some(store.volume_dir(id))
                }
            };

        let id = uuid::Uuid::new_v4().to_string();
        let dir = store.volume_dir(&id);
        let volume = state::Volume {
            id: id.clone(),
            name: req.name.clone(),
            capacity_bytes: size,
            source,
            staged: vec![],
            published: Default::default(),
            hard_limit,
        };
        let image = store.image_path(&id);
        let created = make_volume_dir(&dir)
            .and_then(|()| {
                if hard_limit {
                    hardlimit::create(&image, size)
                        .and_then(|()| hardlimit::attach(&image, &dir))
                        .map_err(Error::HardLimit)
                } else {
                    Ok(())
                }
            })
            .and_then(|()| content_dir.map_or(Ok(()), |from| copy_tree(&from, &dir)))
            .and_then(|()| {
                store
                    .update(|s| s.volumes.insert(id.clone(), volume.clone()))
                    .map_err(Error::State)
            });
        if let Err(e) = created {
            if hard_limit {
                let _ = hardlimit::detach(&dir);
                let _ = hardlimit::remove(&image);
            }
            let _ = remove_dir(&dir);
            return Err(internal(&e));
        }
        tracing::info!(volume = %id, name = %req.name, bytes = size, "created volume");
        Ok(Response::new(CreateVolumeResponse {
            volume: Some(self.to_csi(&volume)),
        }))
    }

    async fn delete_volume(
        &self,
        request: Request<DeleteVolumeRequest>,
    ) -> Result<Response<DeleteVolumeResponse>, Status> {
        let id = request.into_inner().volume_id;
        if id.is_empty() {
            return Err(Status::invalid_argument("volume id is required"));
        }
        let mut store = self.driver.store();
        let Some(volume) = store.state().volumes.get(&id) else {
            return Ok(Response::new(DeleteVolumeResponse {}));
        };
        if !volume.published.is_empty() || !volume.staged.is_empty() {
            return Err(Status::failed_precondition(format!(
                "volume {id} is still staged or published on this node"
            )));
        }
        if volume.hard_limit {
            let dir = store.volume_dir(&id);
            hardlimit::detach(&dir)
                .and_then(|()| hardlimit::remove(&store.image_path(&id)))
                .map_err(|e| internal(&e))?;
        }
        remove_dir(&store.volume_dir(&id)).map_err(|e| internal(&e))?;
        store
            .update(|s| s.volumes.remove(&id))
            .map_err(|e| internal(&e))?;
        tracing::info!(volume = %id, "deleted volume");
        Ok(Response::new(DeleteVolumeResponse {}))
    }

    async fn controller_publish_volume(
        &self,
        _: Request<ControllerPublishVolumeRequest>,
    ) -> Result<Response<ControllerPublishVolumeResponse>, Status> {
        Err(Status::unimplemented("hostpath volumes need no attaching"))
    }

    async fn controller_unpublish_volume(
        &self,
        _: Request<ControllerUnpublishVolumeRequest>,
    ) -> Result<Response<ControllerUnpublishVolumeResponse>, Status> {
        Err(Status::unimplemented("hostpath volumes need no attaching"))
    }

    async fn validate_volume_capabilities(
        &self,
        request: Request<ValidateVolumeCapabilitiesRequest>,
    ) -> Result<Response<ValidateVolumeCapabilitiesResponse>, Status> {
        let req = request.into_inner();
        if req.volume_id.is_empty() {
            return Err(Status::invalid_argument("volume id is required"));
        }
        if req.volume_capabilities.is_empty() {
            return Err(Status::invalid_argument("volume capabilities are required"));
        }
        if !self
            .driver
            .store()
            .state()
            .volumes
            .contains_key(&req.volume_id)
        {
            return Err(Status::not_found(format!(
                "volume {} does not exist",
                req.volume_id
            )));
        }
        let response = match capability::check_all(&req.volume_capabilities) {
            Ok(()) => ValidateVolumeCapabilitiesResponse {
                confirmed: Some(validate_volume_capabilities_response::Confirmed {
                    volume_context: req.volume_context,
                    volume_capabilities: req.volume_capabilities,
                    parameters: req.parameters,
                    mutable_parameters: req.mutable_parameters,
                }),
                message: String::new(),
            },
            Err(e) => ValidateVolumeCapabilitiesResponse {
                confirmed: None,
                message: e.to_string(),
            },
        };
        Ok(Response::new(response))
    }

    async fn list_volumes(
        &self,
        request: Request<ListVolumesRequest>,
    ) -> Result<Response<ListVolumesResponse>, Status> {
        let req = request.into_inner();
        let store = self.driver.store();
        let volumes = store.state().volumes.iter().map(|(id, v)| (id.clone(), v));
        let (page, next_token) = page(volumes, req.max_entries, &req.starting_token)?;
        let entries = page
            .into_iter()
            .map(|v| list_volumes_response::Entry {
                volume: Some(self.to_csi(v)),
                status: None,
            })
            .collect();
        Ok(Response::new(ListVolumesResponse {
            entries,
            next_token,
        }))
    }

    async fn get_capacity(
        &self,
        request: Request<GetCapacityRequest>,
    ) -> Result<Response<GetCapacityResponse>, Status> {
        let req = request.into_inner();
        let config = &self.driver.config;
        let usable = capability::check_all(&req.volume_capabilities).is_ok()
            && req
                .accessible_topology
                .as_ref()
                .is_none_or(|t| self.reaches(t));
        let available = if usable {
            (config.capacity - self.driver.store().state().claimed_bytes()).max(0)
        } else {
            0
        };
        Ok(Response::new(GetCapacityResponse {
            available_capacity: available,
            maximum_volume_size: Some(config.max_volume_size.min(available)),
            minimum_volume_size: None,
        }))
    }

    async fn controller_get_capabilities(
        &self,
        _: Request<ControllerGetCapabilitiesRequest>,
    ) -> Result<Response<ControllerGetCapabilitiesResponse>, Status> {
        Ok(Response::new(ControllerGetCapabilitiesResponse {
            capabilities: [
                rpc::Type::CreateDeleteVolume,
                rpc::Type::ListVolumes,
                rpc::Type::GetCapacity,
                rpc::Type::CreateDeleteSnapshot,
                rpc::Type::ListSnapshots,
                rpc::Type::CloneVolume,
                rpc::Type::ExpandVolume,
            ]
            .into_iter()
            .map(controller_capability)
            .collect(),
        }))
    }

    async fn create_snapshot(
        &self,
        request: Request<CreateSnapshotRequest>,
    ) -> Result<Response<CreateSnapshotResponse>, Status> {
        let req = request.into_inner();
        if req.name.is_empty() {
            return Err(Status::invalid_argument("snapshot name is required"));
        }
        if req.source_volume_id.is_empty() {
            return Err(Status::invalid_argument("source volume id is required"));
        }
        let mut store = self.driver.store();
        if let Some(existing) = store.state().snapshot_by_name(&req.name) {
            if existing.source_volume_id != req.source_volume_id {
                return Err(Status::already_exists(format!(
                    "snapshot {:?} exists for another volume",
                    req.name
                )));
            }
            return Ok(Response::new(CreateSnapshotResponse {
                snapshot: Some(snapshot_to_csi(existing)),
            }));
        }
        let volume = store
            .state()
            .volumes
            .get(&req.source_volume_id)
            .ok_or_else(|| {
                Status::not_found(format!("volume {} does not exist", req.source_volume_id))
            })?;
        let snapshot = state::Snapshot {
            id: uuid::Uuid::new_v4().to_string(),
            name: req.name,
            source_volume_id: volume.id.clone(),
            size_bytes: volume.capacity_bytes,
            created_at: now_seconds(),
        };
        let dir = store.snapshot_dir(&snapshot.id);
        let taken = make_volume_dir(&dir)
            .and_then(|()| copy_tree(&store.volume_dir(&snapshot.source_volume_id), &dir))
            .and_then(|()| {
                store
                    .update(|s| s.snapshots.insert(snapshot.id.clone(), snapshot.clone()))
                    .map_err(Error::State)
            });
        if let Err(e) = taken {
            let _ = remove_dir(&dir);
            return Err(internal(&e));
        }
        tracing::info!(snapshot = %snapshot.id, volume = %snapshot.source_volume_id, "took snapshot");
        Ok(Response::new(CreateSnapshotResponse {
            snapshot: Some(snapshot_to_csi(&snapshot)),
        }))
    }

    async fn delete_snapshot(
        &self,
        request: Request<DeleteSnapshotRequest>,
    ) -> Result<Response<DeleteSnapshotResponse>, Status> {
        let id = request.into_inner().snapshot_id;
        if id.is_empty() {
            return Err(Status::invalid_argument("snapshot id is required"));
        }
        let mut store = self.driver.store();
        if store.state().snapshots.contains_key(&id) {
            remove_dir(&store.snapshot_dir(&id)).map_err(|e| internal(&e))?;
            store
                .update(|s| s.snapshots.remove(&id))
                .map_err(|e| internal(&e))?;
            tracing::info!(snapshot = %id, "deleted snapshot");
        }
        Ok(Response::new(DeleteSnapshotResponse {}))
    }

    async fn list_snapshots(
        &self,
        request: Request<ListSnapshotsRequest>,
    ) -> Result<Response<ListSnapshotsResponse>, Status> {
        let req = request.into_inner();
        let store = self.driver.store();
        let snapshots = store
            .state()
            .snapshots
            .iter()
            .filter(|(id, s)| {
                (req.snapshot_id.is_empty() || **id == req.snapshot_id)
                    && (req.source_volume_id.is_empty()
                        || s.source_volume_id == req.source_volume_id)
            })
            .map(|(id, s)| (id.clone(), s));
        let (page, next_token) = page(snapshots, req.max_entries, &req.starting_token)?;
        let entries = page
            .into_iter()
            .map(|s| list_snapshots_response::Entry {
                snapshot: Some(snapshot_to_csi(s)),
            })
            .collect();
        Ok(Response::new(ListSnapshotsResponse {
            entries,
            next_token,
        }))
    }

    /// Grows a volume's capacity. A plain directory has no size of its own, so only the record
    /// changes; a hard-limited volume's image and filesystem grow while mounted. Shrinking is
    /// never done.
    async fn controller_expand_volume(
        &self,
        request: Request<ControllerExpandVolumeRequest>,
    ) -> Result<Response<ControllerExpandVolumeResponse>, Status> {
        let req = request.into_inner();
        if req.volume_id.is_empty() {
            return Err(Status::invalid_argument("volume id is required"));
        }
        let range = req
            .capacity_range
            .ok_or_else(|| Status::invalid_argument("capacity range is required"))?;
        let size = requested_size(Some(&range), self.driver.config.max_volume_size)?;
        let mut store = self.driver.store();
        let volume =
            store.state().volumes.get(&req.volume_id).ok_or_else(|| {
                Status::not_found(format!("volume {} does not exist", req.volume_id))
            })?;
        let (current, hard_limit) = (volume.capacity_bytes, volume.hard_limit);
        let in_use = !volume.staged.is_empty() || !volume.published.is_empty();
        if size > current {
            let free = self.driver.config.capacity - store.state().claimed_bytes();
            if size - current > free {
                return Err(Status::resource_exhausted(format!(
                    "{} more bytes asked, {free} bytes left",
                    size - current
                )));
            }
            if hard_limit {
                let dir = store.volume_dir(&req.volume_id);
                hardlimit::grow(&store.image_path(&req.volume_id), &dir, size, in_use)
                    .map_err(|e| internal(&e))?;
            }
            store
                .update(|s| {
                    if let Some(v) = s.volumes.get_mut(&req.volume_id) {
                        v.capacity_bytes = size;
                    }
                })
                .map_err(|e| internal(&e))?;
            tracing::info!(volume = %req.volume_id, bytes = size, "expanded volume");
        }
        Ok(Response::new(ControllerExpandVolumeResponse {
            capacity_bytes: size.max(current),
            node_expansion_required: false,
        }))
    }

    async fn controller_get_volume(
        &self,
        request: Request<ControllerGetVolumeRequest>,
    ) -> Result<Response<ControllerGetVolumeResponse>, Status> {
        let id = request.into_inner().volume_id;
        if id.is_empty() {
            return Err(Status::invalid_argument("volume id is required"));
        }
        let store = self.driver.store();
        let volume = store
            .state()
            .volumes
            .get(&id)
            .ok_or_else(|| Status::not_found(format!("volume {id} does not exist")))?;
        let published_node_ids = if volume.published.is_empty() {
            vec![]
        } else {
            vec![self.driver.config.node_id.clone()]
        };
        Ok(Response::new(ControllerGetVolumeResponse {
            volume: Some(self.to_csi(volume)),
            status: Some(controller_get_volume_response::VolumeStatus {
                published_node_ids,
                volume_condition: Some(VolumeCondition {
                    abnormal: !store.volume_dir(&id).is_dir(),
                    message: String::new(),
                }),
            }),
        }))
    }

    async fn controller_modify_volume(
        &self,
        _: Request<ControllerModifyVolumeRequest>,
    ) -> Result<Response<ControllerModifyVolumeResponse>, Status> {
        Err(Status::unimplemented(
            "hostpath volumes have no mutable parameters",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(required_bytes: i64, limit_bytes: i64) -> CapacityRange {
        CapacityRange {
            required_bytes,
            limit_bytes,
        }
    }

    #[test]
    fn sizes_follow_the_capacity_range() {
        assert_eq!(requested_size(None, i64::MAX).unwrap(), DEFAULT_VOLUME_SIZE);
        assert_eq!(requested_size(Some(&range(10, 0)), i64::MAX).unwrap(), 10);
        assert_eq!(requested_size(Some(&range(0, 20)), i64::MAX).unwrap(), 20);
        assert_eq!(requested_size(Some(&range(5, 20)), i64::MAX).unwrap(), 5);
    }

    #[test]
    fn unusable_ranges_get_spec_codes() {
        let code = |r, max| requested_size(Some(&r), max).unwrap_err().code();
        assert_eq!(code(range(30, 20), i64::MAX), tonic::Code::InvalidArgument);
        assert_eq!(code(range(-1, 0), i64::MAX), tonic::Code::InvalidArgument);
        assert_eq!(code(range(100, 0), 99), tonic::Code::OutOfRange);
    }

    #[test]
    fn existing_volumes_fit_ranges_that_contain_their_capacity() {
        assert!(fits(10, None));
        assert!(fits(10, Some(&range(10, 0))));
        assert!(fits(10, Some(&range(5, 10))));
        assert!(!fits(10, Some(&range(11, 0))));
        assert!(!fits(10, Some(&range(0, 9))));
    }

    fn ids(n: usize) -> Vec<(String, usize)> {
        (0..n).map(|i| (format!("id{i:02}"), i)).collect()
    }

    #[test]
    fn pages_continue_after_the_last_returned_id() {
        let (first, token) = page(ids(5).into_iter(), 2, "").unwrap();
        assert_eq!(first, vec![0, 1]);
        assert_eq!(token, "after/id01");
        let (second, token) = page(ids(5).into_iter(), 2, &token).unwrap();
        assert_eq!(second, vec![2, 3]);
        let (third, token) = page(ids(5).into_iter(), 2, &token).unwrap();
        assert_eq!(third, vec![4]);
        assert_eq!(token, "");
    }

    #[test]
    fn a_page_survives_deletion_of_its_last_entry() {
        let (_, token) = page(ids(4).into_iter(), 2, "").unwrap();
        let without_last: Vec<_> = ids(4).into_iter().filter(|(id, _)| id != "id01").collect();
        let (rest, _) = page(without_last.into_iter(), 0, &token).unwrap();
        assert_eq!(rest, vec![2, 3]);
    }

    #[test]
    fn foreign_tokens_abort_and_negative_sizes_are_invalid() {
        assert_eq!(
            page(ids(1).into_iter(), 0, "bogus").unwrap_err().code(),
            tonic::Code::Aborted
        );
        assert_eq!(
            page(ids(1).into_iter(), -1, "").unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
    }

    #[test]
    fn copied_trees_keep_content_and_modes() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("from");
        let to = dir.path().join("to");
        fs::create_dir_all(from.join("sub")).unwrap();
        fs::write(from.join("sub/file"), b"data").unwrap();
        fs::set_permissions(from.join("sub/file"), fs::Permissions::from_mode(0o640)).unwrap();
        fs::create_dir(&to).unwrap();
        copy_tree(&from, &to).unwrap();
        assert_eq!(fs::read(to.join("sub/file")).unwrap(), b"data");
        let mode = fs::metadata(to.join("sub/file"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o640);
    }
}
