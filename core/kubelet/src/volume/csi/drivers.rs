//! The CSI drivers registered on this node: name, socket, node id, topology and whether the
//! driver stages volumes, learned from the driver itself over its socket.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::Duration;

use skiff_hostpath::csi::v1::identity_client::IdentityClient;
use skiff_hostpath::csi::v1::node_client::NodeClient;
use skiff_hostpath::csi::v1::node_service_capability::{Type as CapabilityType, rpc};
use skiff_hostpath::csi::v1::{
    GetPluginInfoRequest, NodeGetCapabilitiesRequest, NodeGetInfoRequest,
};
use tonic::transport::Channel;

/// How long one call to a driver may take before the driver counts as not answering.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Errors talking to a driver.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot reach the CSI driver socket {path}")]
    Connect {
        path: PathBuf,
        #[source]
        source: skiff_hostpath::client::Error,
    },
    #[error("{call} failed")]
    Call {
        call: &'static str,
        #[source]
        source: tonic::Status,
    },
    #[error("{call} timed out")]
    Timeout { call: &'static str },
    #[error("the driver at {path} reports no name")]
    NoName { path: PathBuf },
}

/// Runs one driver call with [`CALL_TIMEOUT`], naming the call in errors.
pub async fn call<T>(
    call: &'static str,
    fut: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T, Error> {
    match tokio::time::timeout(CALL_TIMEOUT, fut).await {
        Ok(Ok(r)) => Ok(r.into_inner()),
        Ok(Err(source)) => Err(Error::Call { call, source }),
        Err(_) => Err(Error::Timeout { call }),
    }
}

/// One registered driver.
#[derive(Debug, Clone)]
pub struct Driver {
    pub name: String,
    pub endpoint: PathBuf,
    /// The id the driver knows this node by (CSINode `nodeID`).
    pub node_id: String,
    /// Topology segments of this node (become Node labels and CSINode `topologyKeys`).
    pub topology: BTreeMap<String, String>,
    /// Whether the driver has STAGE_UNSTAGE_VOLUME (a node-global staging path per volume).
    pub stages: bool,
    /// Volumes the driver accepts on this node; 0 means no limit.
    pub max_volumes: i64,
    /// An open channel (tonic reconnects it if the driver restarts).
    pub channel: Channel,
}

/// Opens a channel to the socket at `path`.
pub async fn connect(path: &Path) -> Result<Channel, Error> {
    skiff_hostpath::connect(path)
        .await
        .map_err(|source| Error::Connect {
            path: path.to_path_buf(),
            source,
        })
}

/// Asks the driver at `endpoint` who it is: GetPluginInfo, NodeGetInfo, NodeGetCapabilities.
pub async fn probe(endpoint: &Path) -> Result<Driver, Error> {
    let channel = connect(endpoint).await?;
    let info = call(
        "GetPluginInfo",
        IdentityClient::new(channel.clone()).get_plugin_info(GetPluginInfoRequest {}),
    )
    .await?;
    if info.name.is_empty() {
        return Err(Error::NoName {
            path: endpoint.to_path_buf(),
        });
    }
    let mut node = NodeClient::new(channel.clone());
    let node_info = call("NodeGetInfo", node.node_get_info(NodeGetInfoRequest {})).await?;
    let caps = call(
        "NodeGetCapabilities",
        node.node_get_capabilities(NodeGetCapabilitiesRequest {}),
    )
    .await?;
    let stages = caps.capabilities.iter().any(|c| {
        matches!(&c.r#type, Some(CapabilityType::Rpc(r)) if r.r#type() == rpc::Type::StageUnstageVolume)
    });
    Ok(Driver {
        name: info.name,
        endpoint: endpoint.to_path_buf(),
        node_id: node_info.node_id,
        topology: node_info
            .accessible_topology
            .map(|t| t.segments.into_iter().collect())
            .unwrap_or_default(),
        stages,
        max_volumes: node_info.max_volumes_per_node,
        channel,
    })
}

/// The drivers of this node by name.
#[derive(Debug, Default)]
pub struct Drivers {
    by_name: RwLock<HashMap<String, Driver>>,
}

impl Drivers {
    pub fn get(&self, name: &str) -> Option<Driver> {
        self.by_name.read().unwrap().get(name).cloned()
    }

    pub fn insert(&self, driver: Driver) {
        self.by_name
            .write()
            .unwrap()
            .insert(driver.name.clone(), driver);
    }

    /// Removes the driver serving `endpoint`, returning its name.
    pub fn remove_endpoint(&self, endpoint: &Path) -> Option<String> {
        let mut map = self.by_name.write().unwrap();
        let name = map
            .values()
            .find(|d| d.endpoint == endpoint)
            .map(|d| d.name.clone())?;
        map.remove(&name);
        Some(name)
    }

    /// The registered drivers' names.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.by_name.read().unwrap().keys().cloned().collect();
        names.sort();
        names
    }
}
