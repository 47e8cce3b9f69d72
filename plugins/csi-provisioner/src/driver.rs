//! The CSI Controller calls the provisioner makes (CreateVolume, DeleteVolume), run on the
//! plugin's own small tokio runtime because the SDK's reconcile is synchronous.

use std::collections::HashMap;
use std::sync::OnceLock;

use skiff_hostpath::csi::v1::controller_client::ControllerClient;
use skiff_hostpath::csi::v1::volume_capability::{
    AccessMode, AccessType, MountVolume, access_mode,
};
use skiff_hostpath::csi::v1::{
    CapacityRange, CreateVolumeRequest, DeleteVolumeRequest, Topology, TopologyRequirement, Volume,
    VolumeCapability,
};

/// Why a driver call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot start the provisioner's runtime")]
    Runtime(#[source] std::io::Error),
    #[error("cannot reach the CSI driver")]
    Connect(#[source] skiff_hostpath::client::Error),
    #[error("CreateVolume failed: {}", .0.message())]
    Create(#[source] tonic::Status),
    #[error("DeleteVolume failed: {}", .0.message())]
    Delete(#[source] tonic::Status),
}

/// What a new volume should be.
#[derive(Debug, Clone, Default)]
pub struct VolumeRequest {
    /// The CSI volume name (`pvc-<claim uid>`), which makes CreateVolume idempotent.
    pub name: String,
    /// Bytes requested by the claim.
    pub required_bytes: i64,
    /// The claim's access modes (`ReadWriteOnce`, ...).
    pub access_modes: Vec<String>,
    /// Filesystem type, empty for the driver's default.
    pub fs_type: String,
    /// The StorageClass parameters meant for the driver.
    pub parameters: HashMap<String, String>,
    /// Topology segments the volume must be reachable from (the selected node's), if any.
    pub requisite: Option<HashMap<String, String>>,
}

fn runtime() -> Result<&'static tokio::runtime::Runtime, Error> {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("csi-provisioner")
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    Ok(RUNTIME.get_or_init(|| rt))
}

/// The CSI access mode for a Kubernetes access mode, as upstream's external-provisioner maps them.
fn csi_mode(mode: &str) -> access_mode::Mode {
    match mode {
        "ReadOnlyMany" => access_mode::Mode::MultiNodeReaderOnly,
        "ReadWriteMany" => access_mode::Mode::MultiNodeMultiWriter,
        "ReadWriteOncePod" => access_mode::Mode::SingleNodeSingleWriter,
        _ => access_mode::Mode::SingleNodeWriter,
    }
}

fn capabilities(request: &VolumeRequest) -> Vec<VolumeCapability> {
    let modes = if request.access_modes.is_empty() {
        vec!["ReadWriteOnce".to_string()]
    } else {
        request.access_modes.clone()
    };
    modes
        .iter()
        .map(|mode| VolumeCapability {
            access_type: Some(AccessType::Mount(MountVolume {
                fs_type: request.fs_type.clone(),
                ..Default::default()
            })),
            access_mode: Some(AccessMode {
                mode: csi_mode(mode) as i32,
            }),
        })
        .collect()
}

/// Creates the volume (idempotent by name) on the driver at `endpoint`.
pub fn create_volume(endpoint: &str, request: &VolumeRequest) -> Result<Volume, Error> {
    let message = CreateVolumeRequest {
        name: request.name.clone(),
        capacity_range: Some(CapacityRange {
            required_bytes: request.required_bytes,
            limit_bytes: 0,
        }),
        volume_capabilities: capabilities(request),
        parameters: request.parameters.clone(),
        accessibility_requirements: request.requisite.as_ref().map(|segments| {
            let topology = Topology {
                segments: segments.clone(),
            };
            TopologyRequirement {
                requisite: vec![topology.clone()],
                preferred: vec![topology],
            }
        }),
        ..Default::default()
    };
    runtime()?.block_on(async {
        let channel = skiff_hostpath::connect(endpoint)
            .await
            .map_err(Error::Connect)?;
        let reply = ControllerClient::new(channel)
            .create_volume(message)
            .await
            .map_err(Error::Create)?;
        Ok(reply.into_inner().volume.unwrap_or_default())
    })
}

/// Deletes the volume; a volume already gone is a success, as the CSI spec says.
pub fn delete_volume(endpoint: &str, volume_id: &str) -> Result<(), Error> {
    let message = DeleteVolumeRequest {
        volume_id: volume_id.to_string(),
        ..Default::default()
    };
    runtime()?.block_on(async {
        let channel = skiff_hostpath::connect(endpoint)
            .await
            .map_err(Error::Connect)?;
        ControllerClient::new(channel)
            .delete_volume(message)
            .await
            .map_err(Error::Delete)?;
        Ok(())
    })
}
