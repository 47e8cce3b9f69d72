//! Simulated nodes for the controller tests: the same node agents over the simulated
//! runtime that `skiff up --sim-nodes` runs, and the real scheduler placing pods on them.
//! Pods are steered by the simulated runtime's annotations (`sim.skiff.dev/exit-code`,
//! `fail-times`, `exec-exit-code`; see `skiff_kubelet::runtime::simulated`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use kube::api::DeleteParams;
use kube::{Api, Client};
use skiff_kubelet::runtime::simulated::SimulatedRuntime;
use skiff_kubelet::simulated::{SimulatedNode, SimulatedNodes};
use skiff_kubelet::{Capacity, KubeletConfig};
use skiff_scheduler::{Scheduler, SchedulerConfig, SchedulerHandle};
use tokio::sync::Mutex;

/// A node the tests started: its configuration, runtime and, while its agent runs, the agent.
struct Entry {
    config: KubeletConfig,
    runtime: Arc<SimulatedRuntime>,
    agent: Option<SimulatedNode>,
}

/// A set of simulated nodes and the scheduler; both stop on drop (the scheduler first).
pub struct SimNodes {
    client: Client,
    nodes: SimulatedNodes,
    entries: Mutex<BTreeMap<String, Entry>>,
    count: std::sync::atomic::AtomicU32,
    scheduler: Option<SchedulerHandle>,
    dir: tempfile::TempDir,
}

impl SimNodes {
    /// Starts the scheduler and registers `names` as simulated nodes.
    pub async fn start(client: Client, names: &[&str]) -> SimNodes {
        let dir = tempfile::tempdir().expect("temp dir");
        let scheduler =
            Scheduler::start(client.clone(), SchedulerConfig::default()).expect("scheduler starts");
        let sim = SimNodes {
            nodes: SimulatedNodes::new(client.clone(), dir.path()),
            client,
            entries: Mutex::default(),
            count: Default::default(),
            scheduler: Some(scheduler),
            dir,
        };
        for name in names {
            sim.add_node(name).await;
        }
        sim
    }

    /// Where the nodes' data dirs are (`<dir>/<node>`); their pod dirs are in [`Self::files`].
    pub fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// The memory the nodes keep their pod dirs in.
    pub fn files(&self) -> Arc<skiff_kubelet::files::MemoryFiles> {
        self.nodes.files()
    }

    /// Adds a simulated node and waits until its Node is registered.
    pub async fn add_node(&self, name: &str) {
        let index = self
            .count
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut config = self.nodes.config(name, index);
        // Quick heartbeats, so the node lifecycle tests can use short grace periods.
        config.heartbeat_interval = Duration::from_secs(1);
        config.capacity = Capacity {
            cpu: 8,
            memory_bytes: 16 << 30,
            pods: 110,
            ..config.capacity
        };
        let agent = self
            .nodes
            .start(config.clone())
            .await
            .expect("simulated node starts");
        let runtime = agent.runtime.clone();
        // Pods created from now on are placed with this node in view.
        let scheduler = self.scheduler.as_ref().expect("scheduler running");
        assert!(
            scheduler.wait_for_node(name, None).await,
            "scheduler stopped"
        );
        self.entries.lock().await.insert(
            name.to_string(),
            Entry {
                config,
                runtime,
                agent: Some(agent),
            },
        );
    }

    /// Stops a node's agent (heartbeat, status, pods), as if the machine went away; its
    /// simulated containers keep running.
    pub async fn stop_heartbeat(&self, name: &str) {
        let agent = self
            .entries
            .lock()
            .await
            .get_mut(name)
            .and_then(|e| e.agent.take());
        if let Some(agent) = agent {
            agent.handle.stop().await;
        }
    }

    /// Starts a stopped node's agent again over the same containers.
    pub async fn resume_heartbeat(&self, name: &str) {
        let mut entries = self.entries.lock().await;
        let entry = entries.get_mut(name).expect("a node this set started");
        if entry.agent.is_none() {
            let agent = self
                .nodes
                .restart(entry.config.clone(), entry.runtime.clone())
                .await
                .expect("simulated node restarts");
            entry.agent = Some(agent);
        }
    }

    /// Stops a node's agent and deletes its Node object.
    pub async fn remove_node(&self, name: &str) {
        self.stop_heartbeat(name).await;
        self.entries.lock().await.remove(name);
        let nodes: Api<Node> = Api::all(self.client.clone());
        nodes
            .delete(name, &DeleteParams::default())
            .await
            .expect("node deleted");
    }
}

impl Drop for SimNodes {
    fn drop(&mut self) {
        if let (Some(scheduler), Ok(runtime)) =
            (self.scheduler.take(), tokio::runtime::Handle::try_current())
        {
            runtime.spawn(scheduler.shutdown());
        }
    }
}
