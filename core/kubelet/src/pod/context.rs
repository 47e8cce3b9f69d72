//! What every pod worker of one node agent shares.

use std::path::PathBuf;
use std::sync::Arc;

use crate::cni::CniRuntime;
use crate::config::KubeletConfig;
use crate::files::Files;
use crate::runtime::ContainerRuntime;
use crate::volume::VolumePlugins;

use super::env::NodeResources;
use super::netns::NetnsOps;
use super::objects::Objects;

/// The node agent's dependencies, handed to each pod worker.
pub struct NodeContext {
    pub client: kube::Client,
    pub runtime: Arc<dyn ContainerRuntime>,
    pub cni: Option<CniRuntime>,
    pub config: KubeletConfig,
    pub objects: Arc<dyn Objects>,
    pub netns: Arc<dyn NetnsOps>,
    pub volume_plugins: VolumePlugins,
    /// Pod dirs and what is in them: the host's disk, or memory on a simulated node.
    pub files: Arc<dyn Files>,
    /// Addresses for pods when there is no network plugin (from `config.pod_addresses`).
    pub addresses: Option<super::addresses::AddressPool>,
}

impl std::fmt::Debug for NodeContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeContext")
            .field("node", &self.config.node_name)
            .finish_non_exhaustive()
    }
}

impl NodeContext {
    /// `<data dir>/pods/<uid>`.
    pub fn pod_dir(&self, uid: &str) -> PathBuf {
        self.config.data_dir.join("pods").join(uid)
    }

    /// The log file of one container attempt.
    pub fn log_path(&self, uid: &str, container: &str, attempt: u32) -> PathBuf {
        self.pod_dir(uid)
            .join("logs")
            .join(container)
            .join(format!("{attempt}.log"))
    }

    /// The pod's network namespace name.
    pub fn netns_name(&self, uid: &str) -> String {
        format!("{}{uid}", self.config.netns_prefix)
    }

    pub fn node_resources(&self) -> NodeResources {
        NodeResources {
            cpu: self.config.capacity.cpu,
            memory: self.config.capacity.memory_bytes,
        }
    }

    /// Network namespaces are only made when pods get a network from CNI.
    pub fn uses_netns(&self) -> bool {
        self.cni.is_some()
    }
}
