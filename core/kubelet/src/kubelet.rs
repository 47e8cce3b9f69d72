//! The node agent: registers the Node, heartbeats, adopts what the runtime already runs and
//! runs one worker per pod bound to the node.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::cni::{Attachment, CniRuntime};
use crate::config::KubeletConfig;
use crate::files::{Files, HostFiles};
use crate::node;
use crate::pod::context::NodeContext;
use crate::pod::netns::{IpNetns, NetnsOps};
use crate::pod::objects::{ApiObjects, Objects};
use crate::pod::source::{PodEvent, PodSource, WatchPodSource};
use crate::pod::worker::{self, PodWorker};
use crate::runtime::{ContainerRuntime, ContainerStatus};
use crate::streaming::NodeStreaming;

/// Errors starting a node agent.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to register the node")]
    Register(#[source] node::Error),
    #[error("failed to list the runtime's containers")]
    Runtime(#[source] crate::runtime::Error),
    #[error("failed to create the data directory {path}")]
    DataDir {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Seams a node agent can be given instead of its defaults.
#[derive(Clone, Default)]
pub struct Seams {
    /// Where pods come from. Default: a watch of this node's pods.
    pub source: Option<Arc<dyn PodSource>>,
    /// ConfigMap and Secret reads. Default: through the API.
    pub objects: Option<Arc<dyn Objects>>,
    /// Network namespace creation. Default: `ip netns`.
    pub netns: Option<Arc<dyn NetnsOps>>,
    /// The node agent's files (pod dirs). Default: the host's.
    pub files: Option<Arc<dyn Files>>,
}

impl std::fmt::Debug for Seams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Seams").finish_non_exhaustive()
    }
}

/// The node agent.
#[derive(Debug)]
pub struct Kubelet;

/// A running node agent; dropping it (or [`KubeletHandle::stop`]) stops the agent but
/// leaves containers running, like stopping a real kubelet.
pub struct KubeletHandle {
    ctx: Arc<NodeContext>,
    main: JoinHandle<()>,
    heartbeat: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for KubeletHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeletHandle")
            .field("node", &self.ctx.config.node_name)
            .finish_non_exhaustive()
    }
}

impl KubeletHandle {
    /// The node's name.
    pub fn node_name(&self) -> &str {
        &self.ctx.config.node_name
    }

    /// Serves `log`/`exec` for this node's pods, for the API server's streaming seam.
    pub fn streaming(&self) -> NodeStreaming {
        NodeStreaming::new(self.ctx.runtime.clone(), self.ctx.config.clone())
    }

    /// Stops the agent (containers keep running) and waits for its tasks to end.
    pub async fn stop(mut self) {
        self.main.abort();
        let _ = (&mut self.main).await;
        if let Some(h) = self.heartbeat.take() {
            h.abort();
            let _ = h.await;
        }
    }
}

impl Drop for KubeletHandle {
    fn drop(&mut self) {
        self.main.abort();
        if let Some(h) = &self.heartbeat {
            h.abort();
        }
    }
}

impl Kubelet {
    /// Starts a node agent watching its own pods.
    pub async fn start(
        client: kube::Client,
        runtime: Arc<dyn ContainerRuntime>,
        cni: Option<CniRuntime>,
        config: KubeletConfig,
    ) -> Result<KubeletHandle, Error> {
        Self::start_with(client, runtime, cni, config, Seams::default()).await
    }

    /// Starts a node agent with some seams replaced (e.g. one shared pod source for many
    /// simulated nodes: [`WatchPodSource::shared`]).
    pub async fn start_with(
        client: kube::Client,
        runtime: Arc<dyn ContainerRuntime>,
        cni: Option<CniRuntime>,
        config: KubeletConfig,
        seams: Seams,
    ) -> Result<KubeletHandle, Error> {
        let files = seams.files.unwrap_or_else(|| Arc::new(HostFiles));
        files
            .create_dir_all(&config.data_dir.join("pods"))
            .map_err(|source| Error::DataDir {
                path: config.data_dir.clone(),
                source,
            })?;
        if config.register_node {
            node::register(&client, &config)
                .await
                .map_err(Error::Register)?;
        }
        let heartbeat = config
            .register_node
            .then(|| tokio::spawn(node::heartbeat(client.clone(), config.clone())));
        let source = seams.source.unwrap_or_else(|| {
            Arc::new(WatchPodSource::for_node(client.clone(), &config.node_name))
        });
        let ctx = Arc::new(NodeContext {
            objects: seams
                .objects
                .unwrap_or_else(|| Arc::new(ApiObjects::new(client.clone()))),
            netns: seams.netns.unwrap_or_else(|| Arc::new(IpNetns)),
            volume_plugins: config.volume_plugins.clone(),
            files,
            addresses: config
                .pod_addresses
                .map(crate::pod::addresses::AddressPool::new),
            client,
            runtime,
            cni,
            config,
        });
        let existing = ctx.runtime.list().await.map_err(Error::Runtime)?;
        let events = source.subscribe(&ctx.config.node_name);
        // The source lives as long as the agent's loop (dropping it ends its watch).
        let main = tokio::spawn(run(ctx.clone(), source, events, existing));
        Ok(KubeletHandle {
            ctx,
            main,
            heartbeat,
        })
    }
}

fn uid_of(pod: &Pod) -> String {
    pod.metadata.uid.clone().unwrap_or_default()
}

async fn run(
    ctx: Arc<NodeContext>,
    _source: Arc<dyn PodSource>,
    mut events: mpsc::UnboundedReceiver<PodEvent>,
    existing: Vec<ContainerStatus>,
) {
    let mut adoptable: HashMap<String, Vec<ContainerStatus>> = HashMap::new();
    for c in existing {
        adoptable.entry(c.pod().uid).or_default().push(c);
    }
    let mut workers: HashMap<String, watch::Sender<Option<Arc<Pod>>>> = HashMap::new();
    let mut tasks: JoinSet<String> = JoinSet::new();
    let mut cleaned = false;
    loop {
        let event = tokio::select! {
            e = events.recv() => match e { Some(e) => e, None => return },
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                if let Ok(uid) = done {
                    workers.remove(&uid);
                }
                continue;
            }
        };
        match event {
            PodEvent::Applied(pod) => {
                let uid = uid_of(&pod);
                if let Some(tx) = workers.get(&uid) {
                    tx.send_replace(Some(pod));
                    continue;
                }
                let (tx, rx) = watch::channel(Some(pod));
                let worker = PodWorker::new(
                    ctx.clone(),
                    uid.clone(),
                    adoptable.remove(&uid).unwrap_or_default(),
                );
                tasks.spawn(async move {
                    worker.run(rx).await;
                    uid
                });
                workers.insert(uid_of_tx(&tx), tx);
            }
            PodEvent::Deleted(pod) => {
                if let Some(tx) = workers.get(&uid_of(&pod)) {
                    tx.send_replace(None);
                }
            }
            PodEvent::Synced(present) => {
                for (uid, tx) in &workers {
                    if !present.contains(uid) {
                        tx.send_replace(None);
                    }
                }
                if !cleaned {
                    cleaned = true;
                    let leftovers: Vec<(String, Vec<ContainerStatus>)> = adoptable
                        .drain()
                        .filter(|(uid, _)| !present.contains(uid))
                        .collect();
                    // Listed now, before any new pod's worker makes its directory.
                    let stale_dirs: Vec<String> = ctx
                        .files
                        .read_dir(&ctx.config.data_dir.join("pods"))
                        .into_iter()
                        .flatten()
                        .map(|name| name.to_string_lossy().into_owned())
                        .filter(|uid| !present.contains(uid))
                        .collect();
                    tokio::spawn(clean_up(ctx.clone(), present, leftovers, stale_dirs));
                }
            }
        }
    }
}

fn uid_of_tx(tx: &watch::Sender<Option<Arc<Pod>>>) -> String {
    tx.borrow().as_deref().map(uid_of).unwrap_or_default()
}

/// Removes what pods deleted while the agent was down left behind: containers, pod dirs,
/// network namespaces and CNI attachments; then lets CNI collect stale attachments.
async fn clean_up(
    ctx: Arc<NodeContext>,
    present: HashSet<String>,
    leftovers: Vec<(String, Vec<ContainerStatus>)>,
    stale_dirs: Vec<String>,
) {
    for (uid, containers) in leftovers {
        for c in containers {
            let _ = ctx
                .runtime
                .stop(&c.id, std::time::Duration::from_secs(2))
                .await;
            let _ = ctx.runtime.remove(&c.id).await;
        }
        if let Err(e) = worker::release(&ctx, &uid, None, None).await {
            tracing::warn!(pod = %uid, error = %e, "cleaning up a deleted pod");
        }
    }
    for uid in stale_dirs {
        if let Err(e) = worker::release(&ctx, &uid, None, None).await {
            tracing::warn!(pod = %uid, error = %e, "cleaning up a deleted pod");
        }
    }
    if let Some(cni) = &ctx.cni {
        let valid: Vec<Attachment> = present
            .iter()
            .map(|uid| Attachment {
                container_id: uid.clone(),
                ifname: "eth0".into(),
            })
            .collect();
        if let Err(e) = cni.gc(&valid).await {
            tracing::debug!(error = %e, "cni gc");
        }
    }
}
