//! Simulated nodes (kwok-style): the real node agent over the [`SimulatedRuntime`], so pods
//! bound to them go Running at once, report status and heartbeat like any node, without
//! containers. `skiff up --sim-nodes N` and the controller tests start them the same way.
//!
//! Pods get addresses from `198.18.0.0/15` (the range set aside for benchmarking, never
//! routed), a /25 per node; nodes past the 1,024th reuse the ranges from the start, so their
//! pods' addresses may repeat those of other nodes. Nothing is attached to them.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ipnet::Ipv4Net;

use crate::KubeletConfig;
use crate::files::MemoryFiles;
use crate::kubelet::{Error, Kubelet, KubeletHandle, Seams};
use crate::pod::source::{PodSource, WatchPodSource};
use crate::runtime::ContainerRuntime;
use crate::runtime::simulated::SimulatedRuntime;

/// The label every simulated Node carries.
pub const SIMULATED_LABEL: &str = "skiff.dev/simulated";

/// The range simulated pods' addresses come from.
const POD_RANGE: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 0);
const NODE_PREFIX: u8 = 25;
const NODE_RANGES: u32 = 1 << (NODE_PREFIX - 15);

/// What the simulated nodes of one cluster share: one watch of bound pods, the
/// `fail-times` counts of their runtimes, and the memory their pod dirs are kept in (they
/// outlive an agent's restart, as files on a disk would).
pub struct SimulatedNodes {
    client: kube::Client,
    source: Arc<dyn PodSource>,
    runtimes: SimulatedRuntime,
    files: Arc<MemoryFiles>,
    data_dir: PathBuf,
}

impl std::fmt::Debug for SimulatedNodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatedNodes")
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

/// One running simulated node: its agent and its runtime (to steer it, or to start the
/// agent again over the same containers).
#[derive(Debug)]
pub struct SimulatedNode {
    pub handle: KubeletHandle,
    pub runtime: Arc<SimulatedRuntime>,
}

impl SimulatedNodes {
    /// Simulated nodes keeping their data under `data_dir/<node>` (in memory).
    pub fn new(client: kube::Client, data_dir: &Path) -> Self {
        SimulatedNodes {
            source: Arc::new(WatchPodSource::shared(client.clone())),
            client,
            runtimes: SimulatedRuntime::new(),
            files: Arc::new(MemoryFiles::default()),
            data_dir: data_dir.to_path_buf(),
        }
    }

    /// The memory the simulated nodes' pod dirs are kept in.
    pub fn files(&self) -> Arc<MemoryFiles> {
        self.files.clone()
    }

    /// The agent configuration of simulated node number `index` called `name`: its data dir,
    /// the simulated label and its pod address range. Adjust it before [`Self::start`].
    pub fn config(&self, name: &str, index: u32) -> KubeletConfig {
        let mut config = KubeletConfig::new(name, self.data_dir.join(name));
        config.labels.insert(SIMULATED_LABEL.into(), "true".into());
        config.pod_addresses = Some(pod_range(index));
        config
    }

    /// Starts a simulated node on a fresh runtime.
    pub async fn start(&self, config: KubeletConfig) -> Result<SimulatedNode, Error> {
        self.restart(config, Arc::new(self.runtimes.sibling()))
            .await
    }

    /// Starts a node agent again over the containers of `runtime` (they kept running while
    /// the agent was stopped), as a restarted kubelet adopts what its runtime runs.
    pub async fn restart(
        &self,
        config: KubeletConfig,
        runtime: Arc<SimulatedRuntime>,
    ) -> Result<SimulatedNode, Error> {
        let seams = Seams {
            source: Some(self.source.clone()),
            files: Some(self.files.clone()),
            ..Default::default()
        };
        let dynamic: Arc<dyn ContainerRuntime> = runtime.clone();
        let handle = Kubelet::start_with(self.client.clone(), dynamic, None, config, seams).await?;
        Ok(SimulatedNode { handle, runtime })
    }
}

/// The pod address range of simulated node `index`.
fn pod_range(index: u32) -> Ipv4Net {
    let offset = (index % NODE_RANGES) << (32 - NODE_PREFIX);
    Ipv4Net::new(Ipv4Addr::from(u32::from(POD_RANGE) + offset), NODE_PREFIX)
        .expect("a /25 is a valid prefix")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_get_disjoint_ranges_inside_the_benchmarking_block() {
        let block: Ipv4Net = "198.18.0.0/15".parse().unwrap();
        let first = pod_range(0);
        let second = pod_range(1);
        let last = pod_range(NODE_RANGES - 1);
        assert_eq!(first.to_string(), "198.18.0.0/25");
        assert_eq!(second.to_string(), "198.18.0.128/25");
        assert!(block.contains(&last) && !last.contains(&first));
        assert_eq!(last.to_string(), "198.19.255.128/25");
        assert!(first.hosts().count() >= 110, "room for a node's pod limit");
    }
}
