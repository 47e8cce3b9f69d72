//! Test harness: an API server in-process on 127.0.0.1:0 with a scheduler attached, Node
//! objects created directly, and the real `kubectl`.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::{Value, json};
use skiff_scheduler::{Scheduler, SchedulerConfig, SchedulerHandle};

pub struct Cluster {
    pub server: Option<skiff_apiserver::Server>,
    pub scheduler: Option<SchedulerHandle>,
    pub client: kube::Client,
    pub dir: tempfile::TempDir,
    /// Nodes created so far, to recognise a message written after the scheduler saw them all.
    pub node_count: std::sync::atomic::AtomicUsize,
}

impl Cluster {
    pub async fn start() -> Cluster {
        Cluster::with(SchedulerConfig::default()).await
    }

    pub async fn with(config: SchedulerConfig) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let mut c = skiff_apiserver::Config::new(dir.path());
        c.listen = "127.0.0.1:0".parse().unwrap();
        let server = skiff_apiserver::start(c).await.unwrap();
        let kc = kube::config::Kubeconfig::read_from(server.kubeconfig_path()).unwrap();
        let kconfig = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .unwrap();
        let client = kube::Client::try_from(kconfig).unwrap();
        let scheduler = Scheduler::start(client.clone(), config).unwrap();
        Cluster {
            server: Some(server),
            scheduler: Some(scheduler),
            client,
            dir,
            node_count: Default::default(),
        }
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.server
            .as_ref()
            .unwrap()
            .kubeconfig_path()
            .to_path_buf()
    }

    pub fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), "default")
    }

    pub fn nodes(&self) -> Api<Node> {
        Api::all(self.client.clone())
    }

    /// Creates a Ready node with `cpu`, `memory` and 110 pods of allocatable; `extra` is
    /// merged into the object (labels, taints, ...).
    pub async fn node(&self, name: &str, cpu: &str, memory: &str, extra: Value) {
        let mut node = json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "spec": {},
            "status": {
                "capacity": {"cpu": cpu, "memory": memory, "pods": "110", "ephemeral-storage": "100Gi"},
                "allocatable": {"cpu": cpu, "memory": memory, "pods": "110", "ephemeral-storage": "100Gi"},
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                    "lastHeartbeatTime": "2024-01-01T00:00:00Z", "lastTransitionTime": "2024-01-01T00:00:00Z"}],
            },
        });
        merge(&mut node, extra);
        let node: Node = serde_json::from_value(node).unwrap();
        let created = self
            .nodes()
            .create(&PostParams::default(), &node)
            .await
            .unwrap();
        self.node_count
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.scheduler_sees(&created).await;
    }

    /// Waits until the scheduler has seen the node as it is now (after a cordon, say), so
    /// pods created next are placed with it taken into account.
    pub async fn node_seen(&self, name: &str) {
        let node = self.nodes().get(name).await.unwrap();
        self.scheduler_sees(&node).await;
    }

    async fn scheduler_sees(&self, node: &Node) {
        let scheduler = self.scheduler.as_ref().expect("a scheduler runs");
        let name = node.metadata.name.as_deref().unwrap();
        let seen = tokio::time::timeout(
            Duration::from_secs(20),
            scheduler.wait_for_node(name, node.metadata.resource_version.as_deref()),
        )
        .await;
        assert_eq!(seen, Ok(true), "the scheduler did not see node {name}");
    }

    /// Creates a pod in `default` with one container requesting `cpu`; `extra` is merged in.
    pub async fn pod(&self, name: &str, cpu: &str, extra: Value) {
        let mut pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "busybox",
                "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}}}]},
        });
        merge(&mut pod, extra);
        let pod: Pod = serde_json::from_value(pod).unwrap();
        self.pods()
            .create(&PostParams::default(), &pod)
            .await
            .unwrap();
    }

    /// Waits for the pod to be bound; returns its node.
    pub async fn scheduled(&self, name: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let pod = self.pods().get(name).await.unwrap();
            if let Some(n) = pod.spec.and_then(|s| s.node_name) {
                return n;
            }
            assert!(
                Instant::now() < deadline,
                "{name} was not scheduled: {:?}",
                pod.status
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for `PodScheduled=False` written after the scheduler saw every node created so far;
    /// returns its message.
    pub async fn unschedulable(&self, name: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let pod = self.pods().get(name).await.unwrap();
            let spec = pod.spec.clone().unwrap_or_default();
            assert!(
                spec.node_name.is_none(),
                "{name} was scheduled to {:?}",
                spec.node_name
            );
            let cond = pod
                .status
                .and_then(|s| s.conditions)
                .and_then(|c| c.into_iter().find(|c| c.type_ == "PodScheduled"));
            let nodes = self.node_count.load(std::sync::atomic::Ordering::SeqCst);
            let current = |m: &str| {
                if nodes == 0 {
                    m == "no nodes available to schedule pods"
                } else {
                    m.starts_with(&format!("0/{nodes} nodes are available"))
                }
            };
            if let Some(c) = cond
                && c.status == "False"
                && current(c.message.as_deref().unwrap_or(""))
            {
                assert_eq!(c.reason.as_deref(), Some("Unschedulable"));
                return c.message.unwrap_or_default();
            }
            assert!(
                Instant::now() < deadline,
                "{name} has no PodScheduled=False condition"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Asserts the pod stays unbound for a while (after the scheduler tried it).
    pub async fn stays_pending(&self, name: &str) -> String {
        let message = self.unschedulable(name).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let pod = self.pods().get(name).await.unwrap();
        assert!(
            pod.spec.unwrap().node_name.is_none(),
            "{name} was scheduled"
        );
        message
    }

    pub async fn events_for(&self, name: &str) -> Vec<Event> {
        let events: Api<Event> = Api::namespaced(self.client.clone(), "default");
        events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|e| e.involved_object.name.as_deref() == Some(name))
            .collect()
    }

    pub async fn gone(&self, name: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.pods().get_opt(name).await.unwrap().is_some() {
            assert!(Instant::now() < deadline, "{name} was not deleted");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn delete_now(&self, name: &str) {
        self.pods()
            .delete(name, &DeleteParams::default().grace_period(0))
            .await
            .unwrap();
    }

    /// Runs the real kubectl against the cluster in a blocking thread; returns stdout, and
    /// fails the test when kubectl fails.
    pub async fn kubectl(&self, args: &[&str]) -> String {
        let mut cmd = std::process::Command::new("kubectl");
        cmd.arg("--kubeconfig").arg(self.kubeconfig());
        cmd.arg("--cache-dir")
            .arg(self.dir.path().join("kubectl-cache"));
        cmd.args(args);
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            if let Some(s) = self.scheduler.take() {
                handle.spawn(s.shutdown());
            }
            if let Some(server) = self.server.take() {
                handle.spawn(server.shutdown());
            }
        }
    }
}

/// JSON merge (objects recursively, everything else replaced).
pub fn merge(base: &mut Value, extra: Value) {
    match (base, extra) {
        (Value::Object(b), Value::Object(e)) => {
            for (k, v) in e {
                merge(b.entry(k).or_insert(Value::Null), v);
            }
        }
        (b, e) => *b = e,
    }
}
