//! Where a node agent learns about its pods: one watch can feed many agents.
//!
//! A real node runs one agent over a watch filtered by `spec.nodeName`; a process simulating
//! many nodes runs one watch over every assigned pod and hands each agent its share, so N
//! agents cost one watch, not N.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use tokio::sync::mpsc;

/// A change to the pods bound to one node.
#[derive(Debug, Clone)]
pub enum PodEvent {
    /// The pod was created or changed.
    Applied(Arc<Pod>),
    /// The pod is gone from the API.
    Deleted(Arc<Pod>),
    /// A full listing finished: these uids are all the node's pods now; others are gone.
    Synced(HashSet<String>),
}

/// A feed of pod events per node.
pub trait PodSource: Send + Sync {
    /// The events for pods whose `spec.nodeName` is `node`, from a full listing on.
    fn subscribe(&self, node: &str) -> mpsc::UnboundedReceiver<PodEvent>;
}

#[derive(Default)]
struct Shared {
    subscribers: HashMap<String, mpsc::UnboundedSender<PodEvent>>,
    /// The pods by node as of the last full listing plus later events, replayed to late
    /// subscribers once `synced`.
    known: HashMap<String, HashMap<String, Arc<Pod>>>,
    synced: bool,
}

impl Shared {
    fn send(&self, node: &str, event: PodEvent) {
        if let Some(tx) = self.subscribers.get(node) {
            let _ = tx.send(event);
        }
    }
}

/// A [`PodSource`] over one API watch of pods.
pub struct WatchPodSource {
    shared: Arc<Mutex<Shared>>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for WatchPodSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchPodSource").finish_non_exhaustive()
    }
}

impl Drop for WatchPodSource {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn node_of(pod: &Pod) -> Option<String> {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .filter(|n| !n.is_empty())
}

fn uid_of(pod: &Pod) -> String {
    pod.metadata.uid.clone().unwrap_or_default()
}

impl WatchPodSource {
    /// Watches the pods of one node (`spec.nodeName=<node>`).
    pub fn for_node(client: Client, node: &str) -> Self {
        Self::with_selector(client, format!("spec.nodeName={node}"))
    }

    /// Watches every pod bound to some node, for many agents in one process.
    pub fn shared(client: Client) -> Self {
        Self::with_selector(client, "spec.nodeName!=".to_string())
    }

    fn with_selector(client: Client, selector: String) -> Self {
        let shared: Arc<Mutex<Shared>> = Arc::default();
        let api: Api<Pod> = Api::all(client);
        let config = watcher::Config::default().fields(&selector);
        let task = tokio::spawn({
            let shared = shared.clone();
            async move {
                // Field bookkeeping is never read by the agent: not keeping it makes the
                // pods held for many simulated nodes smaller.
                let mut stream = watcher(api, config)
                    .modify(|pod| pod.metadata.managed_fields = None)
                    .boxed();
                let mut listing: HashMap<String, HashMap<String, Arc<Pod>>> = HashMap::new();
                while let Some(event) = stream.next().await {
                    let event = match event {
                        Ok(e) => e,
                        Err(err) => {
                            tracing::debug!(error = %err, "pod watch failed, retrying");
                            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                            continue;
                        }
                    };
                    let mut s = shared.lock().unwrap();
                    match event {
                        watcher::Event::Init => listing.clear(),
                        watcher::Event::InitApply(pod) => {
                            if let Some(node) = node_of(&pod) {
                                let pod = Arc::new(pod);
                                listing
                                    .entry(node.clone())
                                    .or_default()
                                    .insert(uid_of(&pod), pod.clone());
                                s.send(&node, PodEvent::Applied(pod));
                            }
                        }
                        watcher::Event::InitDone => {
                            s.known = std::mem::take(&mut listing);
                            s.synced = true;
                            for node in s.subscribers.keys() {
                                let uids = s
                                    .known
                                    .get(node)
                                    .map(|m| m.keys().cloned().collect())
                                    .unwrap_or_default();
                                s.send(node, PodEvent::Synced(uids));
                            }
                        }
                        watcher::Event::Apply(pod) => {
                            if let Some(node) = node_of(&pod) {
                                let pod = Arc::new(pod);
                                s.known
                                    .entry(node.clone())
                                    .or_default()
                                    .insert(uid_of(&pod), pod.clone());
                                s.send(&node, PodEvent::Applied(pod));
                            }
                        }
                        watcher::Event::Delete(pod) => {
                            if let Some(node) = node_of(&pod) {
                                if let Some(m) = s.known.get_mut(&node) {
                                    m.remove(&uid_of(&pod));
                                }
                                s.send(&node, PodEvent::Deleted(Arc::new(pod)));
                            }
                        }
                    }
                }
            }
        });
        WatchPodSource { shared, task }
    }
}

impl PodSource for WatchPodSource {
    fn subscribe(&self, node: &str) -> mpsc::UnboundedReceiver<PodEvent> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut s = self.shared.lock().unwrap();
        // Replay under the lock so no event slips between the replay and live events.
        if s.synced {
            let pods = s.known.get(node).cloned().unwrap_or_default();
            for pod in pods.values() {
                let _ = tx.send(PodEvent::Applied(pod.clone()));
            }
            let _ = tx.send(PodEvent::Synced(pods.keys().cloned().collect()));
        }
        s.subscribers.insert(node.to_string(), tx);
        rx
    }
}
