//! The scheduler process: watches pods, nodes and namespaces into the cache and queue, runs
//! one scheduling attempt at a time, and writes bindings and statuses asynchronously.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::cache::Cache;
use crate::config::SchedulerConfig;
use crate::framework::{Framework, Placement, Plugin};
use crate::plugins::rhai::{self, RhaiPlugin};
use crate::plugins::volume_binding::Action;
use crate::pod_info::PodInfo;
use crate::queue::Queue;
use crate::{preemption, writer};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot load scheduler plugins")]
    Plugins(#[source] rhai::Error),
}

/// How long [`SchedulerHandle::shutdown`] waits for writes in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// A repeated failure message is recorded as an event again after this long.
const EVENT_REPEAT: Duration = Duration::from_secs(30);

/// What the scheduling loop reacts to.
enum Input {
    Pod(Box<Event<Pod>>),
    Node(Box<Event<Node>>),
    Namespace(Box<Event<Namespace>>),
    Claim(Box<Event<PersistentVolumeClaim>>),
    Volume(Box<Event<PersistentVolume>>),
    Class(Box<Event<StorageClass>>),
    /// A binding finished; the pod is given back on failure.
    Bound {
        pod: Arc<PodInfo>,
        result: Result<(), kube::Error>,
        /// The failure was in preparing the pod's volumes, not in the binding itself.
        volumes_failed: bool,
    },
}

/// The nodes the scheduler's cache holds, with the resourceVersion it last saw of each.
type KnownNodes = HashMap<String, u64>;

/// The scheduler; see [`Scheduler::start`].
#[derive(Debug)]
pub struct Scheduler;

/// A running scheduler.
#[derive(Debug)]
pub struct SchedulerHandle {
    cancel: CancellationToken,
    task: JoinHandle<()>,
    watchers: Vec<JoinHandle<()>>,
    writes: TaskTracker,
    known_nodes: watch::Receiver<KnownNodes>,
}

impl SchedulerHandle {
    /// Waits until the scheduler's cache holds node `name` at `resource_version` or later
    /// (any version when `None`); false when the scheduler stopped first. Pods created after
    /// this returns are scheduled with the node (or its update) taken into account: events
    /// from different watches have no order between them, so without this a pod may be
    /// placed before a node created just before it is seen.
    ///
    /// skiff's resourceVersions are one global, increasing revision (in the embedded store as
    /// in etcd), so they are compared as numbers.
    pub async fn wait_for_node(&self, name: &str, resource_version: Option<&str>) -> bool {
        let min = resource_version
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        let mut rx = self.known_nodes.clone();
        rx.wait_for(|known| known.get(name).is_some_and(|rv| *rv >= min))
            .await
            .is_ok()
    }

    /// Stops scheduling, then waits (a few seconds at most) for bindings in flight.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        for w in &self.watchers {
            w.abort();
        }
        let _ = self.task.await;
        self.writes.close();
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, self.writes.wait()).await;
    }
}

impl Scheduler {
    /// Loads the plugins and starts watching and scheduling in background tasks.
    pub fn start(client: kube::Client, config: SchedulerConfig) -> Result<SchedulerHandle, Error> {
        let mut plugins: Vec<Arc<dyn Plugin>> = config.plugins.clone();
        if let Some(dir) = &config.plugin_dir {
            for p in RhaiPlugin::load_dir(dir).map_err(Error::Plugins)? {
                tracing::info!(plugin = p.name(), "loaded scheduler plugin");
                plugins.push(Arc::new(p));
            }
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let watchers = vec![
            spawn_watch(Api::<Pod>::all(client.clone()), tx.clone(), Input::Pod),
            spawn_watch(Api::<Node>::all(client.clone()), tx.clone(), Input::Node),
            spawn_watch(
                Api::<Namespace>::all(client.clone()),
                tx.clone(),
                Input::Namespace,
            ),
            spawn_watch(
                Api::<PersistentVolumeClaim>::all(client.clone()),
                tx.clone(),
                Input::Claim,
            ),
            spawn_watch(
                Api::<PersistentVolume>::all(client.clone()),
                tx.clone(),
                Input::Volume,
            ),
            spawn_watch(
                Api::<StorageClass>::all(client.clone()),
                tx.clone(),
                Input::Class,
            ),
        ];
        let (known_tx, known_nodes) = watch::channel(KnownNodes::new());
        let cancel = CancellationToken::new();
        let writes = TaskTracker::new();
        let state = Loop {
            framework: Framework::new(plugins, config.percentage_of_nodes_to_score),
            semaphore: Arc::new(Semaphore::new(config.max_writes_in_flight.max(1))),
            config,
            client,
            cache: Cache::default(),
            queue: Queue::default(),
            binding: HashMap::new(),
            last_failure: HashMap::new(),
            relist_pods: None,
            relist_nodes: None,
            pods_synced: false,
            nodes_synced: false,
            tx,
            writes: writes.clone(),
            known_nodes: known_tx,
            events: Arc::new(ScheduledEvents::new()),
        };
        let task = tokio::spawn(state.run(rx, cancel.clone()));
        Ok(SchedulerHandle {
            cancel,
            task,
            watchers,
            writes,
            known_nodes,
        })
    }
}

fn spawn_watch<K>(
    api: Api<K>,
    tx: mpsc::UnboundedSender<Input>,
    wrap: fn(Box<Event<K>>) -> Input,
) -> JoinHandle<()>
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
{
    tokio::spawn(async move {
        let mut stream = watcher::watcher(api, watcher::Config::default())
            .default_backoff()
            // The server's field bookkeeping is never read here and is a good part of each
            // object: not keeping it makes the cache of every placed pod smaller.
            .modify(|obj| obj.meta_mut().managed_fields = None)
            .boxed();
        while let Some(item) = stream.next().await {
            match item {
                Ok(ev) => {
                    if tx.send(wrap(Box::new(ev))).is_err() {
                        return;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "scheduler watch failed, retrying"),
            }
        }
    })
}

/// The state owned by the scheduling loop: no locks, one task.
struct Loop {
    config: SchedulerConfig,
    client: kube::Client,
    framework: Framework,
    cache: Cache,
    queue: Queue,
    /// Pods picked for a node whose binding is not yet seen through the watch.
    binding: HashMap<String, Arc<PodInfo>>,
    /// Last failure message recorded as an event, per pod.
    last_failure: HashMap<String, (String, Instant)>,
    relist_pods: Option<HashSet<String>>,
    relist_nodes: Option<HashSet<String>>,
    pods_synced: bool,
    nodes_synced: bool,
    semaphore: Arc<Semaphore>,
    tx: mpsc::UnboundedSender<Input>,
    writes: TaskTracker,
    known_nodes: watch::Sender<KnownNodes>,
    events: Arc<ScheduledEvents>,
}

/// `Scheduled` events, written beside the bindings without holding their write slots, and
/// dropped while too many are queued: upstream's event broadcaster also drops events when
/// its queue (1,000) is full, so a burst of placements is not slowed by its own records.
#[derive(Debug)]
struct ScheduledEvents {
    queued: std::sync::atomic::AtomicUsize,
    writers: Semaphore,
}

impl ScheduledEvents {
    const MAX_QUEUED: usize = 1000;
    const WRITERS: usize = 8;

    fn new() -> ScheduledEvents {
        ScheduledEvents {
            queued: Default::default(),
            writers: Semaphore::new(Self::WRITERS),
        }
    }

    async fn record(&self, client: &kube::Client, pod: &PodInfo, message: &str) {
        use std::sync::atomic::Ordering;
        if self.queued.fetch_add(1, Ordering::Relaxed) >= Self::MAX_QUEUED {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            tracing::debug!(pod = %pod.key, "event queue full, Scheduled event dropped");
            return;
        }
        if let Ok(_permit) = self.writers.acquire().await
            && let Err(e) = writer::event(client, pod, "Normal", "Scheduled", message).await
        {
            tracing::debug!(error = %e, "cannot record event");
        }
        self.queued.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Loop {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Input>, cancel: CancellationToken) {
        let mut since_yield = 0u32;
        loop {
            while let Ok(input) = rx.try_recv() {
                self.handle(input);
            }
            if cancel.is_cancelled() {
                return;
            }
            let now = Instant::now();
            if self.pods_synced && self.nodes_synced && self.cache.volumes.synced() {
                self.queue.flush_stale(now);
                if let Some(pod) = self.queue.pop(now) {
                    self.schedule_one(pod);
                    since_yield += 1;
                    if since_yield >= 32 {
                        since_yield = 0;
                        tokio::task::yield_now().await;
                    }
                    continue;
                }
            }
            let wake = self
                .queue
                .next_wakeup()
                .unwrap_or_else(|| now + Duration::from_secs(3600));
            tokio::select! {
                _ = cancel.cancelled() => return,
                input = rx.recv() => match input {
                    Some(input) => self.handle(input),
                    None => return,
                },
                _ = tokio::time::sleep_until(wake.into()) => {}
            }
        }
    }

    fn handle(&mut self, input: Input) {
        let now = Instant::now();
        match input {
            Input::Pod(ev) => match *ev {
                Event::Init => self.relist_pods = Some(HashSet::new()),
                Event::InitApply(pod) => {
                    if let Some(seen) = &mut self.relist_pods {
                        seen.insert(key_of(&pod.metadata));
                    }
                    self.pod_applied(pod, now);
                }
                Event::InitDone => {
                    if let Some(seen) = self.relist_pods.take() {
                        let gone: Vec<String> = self
                            .cache
                            .placed_keys()
                            .chain(self.queue.keys())
                            .filter(|k| !seen.contains(*k))
                            .cloned()
                            .collect();
                        for key in gone {
                            self.pod_deleted(&key, now);
                        }
                    }
                    self.pods_synced = true;
                }
                Event::Apply(pod) => self.pod_applied(pod, now),
                Event::Delete(pod) => self.pod_deleted(&key_of(&pod.metadata), now),
            },
            Input::Node(ev) => match *ev {
                Event::Init => self.relist_nodes = Some(HashSet::new()),
                Event::InitApply(node) | Event::Apply(node) => {
                    let name = node.metadata.name.clone().unwrap_or_default();
                    if let Some(seen) = &mut self.relist_nodes {
                        seen.insert(name.clone());
                    }
                    let version = node
                        .metadata
                        .resource_version
                        .as_deref()
                        .and_then(|v| v.parse::<u64>().ok())
                        .unwrap_or(0);
                    if self.cache.upsert_node(Arc::new(node)) {
                        self.queue.move_all(now);
                    }
                    self.known_nodes.send_modify(|k| {
                        k.insert(name, version);
                    });
                }
                Event::InitDone => {
                    if let Some(seen) = self.relist_nodes.take() {
                        let gone: Vec<String> = self
                            .cache
                            .nodes()
                            .iter()
                            .map(|n| n.name.clone())
                            .filter(|n| !seen.contains(n))
                            .collect();
                        for n in gone {
                            self.cache.remove_node(&n);
                            self.known_nodes.send_modify(|k| {
                                k.remove(&n);
                            });
                        }
                    }
                    self.nodes_synced = true;
                    self.queue.move_all(now);
                }
                Event::Delete(node) => {
                    let name = node.metadata.name.as_deref().unwrap_or("");
                    self.cache.remove_node(name);
                    self.known_nodes.send_modify(|k| {
                        k.remove(name);
                    });
                }
            },
            Input::Namespace(ev) => match *ev {
                Event::Apply(ns) | Event::InitApply(ns) => {
                    let name = ns.metadata.name.clone().unwrap_or_default();
                    let labels = ns.metadata.labels.clone().unwrap_or_default();
                    if self.cache.namespaces.get(&name) != Some(&labels) {
                        self.cache.namespaces.insert(name, labels);
                        self.queue.move_all(now);
                    }
                }
                Event::Delete(ns) => {
                    self.cache
                        .namespaces
                        .remove(ns.metadata.name.as_deref().unwrap_or(""));
                }
                Event::Init | Event::InitDone => {}
            },
            // A claim, volume or class changing can make a waiting pod fit.
            Input::Claim(ev) => {
                if self.cache.volumes.claims.apply(*ev) {
                    self.queue.move_all(now);
                }
            }
            Input::Volume(ev) => {
                if self.cache.volumes.volumes.apply(*ev) {
                    self.queue.move_all(now);
                }
            }
            Input::Class(ev) => {
                if self.cache.volumes.classes.apply(*ev) {
                    self.queue.move_all(now);
                }
            }
            Input::Bound {
                pod,
                result,
                volumes_failed,
            } => match result {
                Ok(()) => {}
                Err(e) => {
                    tracing::info!(pod = %pod.key, error = %e, "binding failed");
                    self.binding.remove(&pod.key);
                    self.cache.forget(&pod.key);
                    // The pod itself is gone or already bound elsewhere; a failed volume
                    // write (a volume taken meanwhile, say) only needs another attempt.
                    let gone_or_taken = !volumes_failed
                        && matches!(&e, kube::Error::Api(s) if s.code == 404 || s.code == 409);
                    if !gone_or_taken {
                        self.queue.requeue(pod, now);
                    }
                    self.queue.move_all(now);
                }
            },
        }
    }

    fn pod_applied(&mut self, pod: Pod, now: Instant) {
        let info = PodInfo::new(Arc::new(pod));
        if info.node_name.is_some() {
            let info = Arc::new(info.placed());
            self.queue.remove(&info.key);
            self.binding.remove(&info.key);
            self.last_failure.remove(&info.key);
            self.cache.nominate(&info, None);
            let was_confirmed = self.cache.is_placed(&info.key);
            self.cache.upsert_placed(info.clone());
            // A new pod on a node or one that stopped holding resources can change
            // affinity, spreading and fit for pending pods.
            if !was_confirmed || info.finished || info.terminating {
                self.queue.move_all(now);
            }
            return;
        }
        let info = Arc::new(info);
        if self.binding.contains_key(&info.key) {
            return;
        }
        let ours = info.scheduler_name == self.config.scheduler_name;
        if !ours || info.terminating || info.gated {
            self.queue.remove(&info.key);
            return;
        }
        let nominated = info.nominated_node.clone();
        self.cache.nominate(&info, nominated.as_deref());
        self.queue.upsert(info, now);
    }

    fn pod_deleted(&mut self, key: &str, now: Instant) {
        if let Some(info) = self.queue.remove(key) {
            self.cache.nominate(&info, None);
        }
        self.binding.remove(key);
        self.last_failure.remove(key);
        if self.cache.remove_pod(key).is_some() {
            self.queue.move_all(now);
        }
    }

    fn schedule_one(&mut self, pod: Arc<PodInfo>) {
        let now = Instant::now();
        match self.framework.schedule(&pod, &self.cache) {
            Ok(placement) => {
                self.queue.done(&pod.key);
                self.last_failure.remove(&pod.key);
                self.cache.nominate(&pod, None);
                self.cache.assume(pod.clone(), &placement.node);
                for action in &placement.volumes {
                    match action {
                        Action::SelectNode { claim } => self.cache.volumes.assume_selected_node(
                            &format!(
                                "{}/{}",
                                pod.namespace,
                                claim.metadata.name.as_deref().unwrap_or("")
                            ),
                            &placement.node,
                        ),
                        Action::Reserve { volume, claim } => self
                            .cache
                            .volumes
                            .assume_claim_ref(volume.metadata.name.as_deref().unwrap_or(""), claim),
                    }
                }
                self.binding.insert(pod.key.clone(), pod.clone());
                self.spawn_bind(pod, placement);
            }
            Err(fit) => {
                let preempted = if fit.num_nodes == 0 {
                    Err(String::new())
                } else {
                    preemption::preempt(&self.framework, &pod, &self.cache, &fit)
                };
                let (message, nominated) = match preempted {
                    Ok(candidate) => {
                        tracing::info!(pod = %pod.key, node = %candidate.node,
                            victims = candidate.victims.len(), "preempting");
                        self.cache.nominate(&pod, Some(&candidate.node));
                        let grace = self.config.preemption_grace_period;
                        for v in candidate.victims {
                            self.spawn_write(move |client| async move {
                                writer::delete_victim(&client, &v, grace).await
                            });
                        }
                        (fit.message(None), Some(candidate.node))
                    }
                    Err(post) => (fit.message(Some(&post)), None),
                };
                self.queue.failed(&pod.key, true, now);
                tracing::debug!(pod = %pod.key, %message, "unschedulable");
                let record = match self.last_failure.get(&pod.key) {
                    Some((m, at)) => *m != message || now - *at >= EVENT_REPEAT,
                    None => true,
                };
                if record {
                    self.last_failure
                        .insert(pod.key.clone(), (message.clone(), now));
                }
                self.spawn_write(move |client| async move {
                    writer::mark_unschedulable(&client, &pod, &message, nominated.as_deref())
                        .await?;
                    if record {
                        writer::event(&client, &pod, "Warning", "FailedScheduling", &message)
                            .await?;
                    }
                    Ok(())
                });
            }
        }
    }

    /// Prepares the pod's volumes (selected node on waiting claims, reserved volumes), then
    /// binds the pod; the loop hears of the outcome.
    fn spawn_bind(&self, pod: Arc<PodInfo>, placement: Placement) {
        let Placement { node, volumes } = placement;
        let client = self.client.clone();
        let semaphore = self.semaphore.clone();
        let tx = self.tx.clone();
        let events = self.config.scheduled_events.then(|| self.events.clone());
        self.writes.spawn(async move {
            let Ok(permit) = semaphore.acquire().await else {
                return;
            };
            let mut volumes_failed = false;
            let mut result = Ok(());
            for action in &volumes {
                result = writer::prepare_volume(&client, action, &node).await;
                if result.is_err() {
                    volumes_failed = true;
                    break;
                }
            }
            if result.is_ok() {
                result = writer::bind(&client, &pod, &node).await;
            }
            let ok = result.is_ok();
            let _ = tx.send(Input::Bound {
                pod: pod.clone(),
                result,
                volumes_failed,
            });
            drop(permit);
            if let Some(events) = events.filter(|_| ok) {
                let msg = format!("Successfully assigned {} to {node}", pod.key);
                events.record(&client, &pod, &msg).await;
            }
        });
    }

    fn spawn_write<F, Fut>(&self, write: F)
    where
        F: FnOnce(kube::Client) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<(), kube::Error>> + Send,
    {
        let client = self.client.clone();
        let semaphore = self.semaphore.clone();
        self.writes.spawn(async move {
            let Ok(_permit) = semaphore.acquire().await else {
                return;
            };
            if let Err(e) = write(client).await {
                tracing::info!(error = %e, "scheduler write failed");
            }
        });
    }
}

fn key_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
    format!(
        "{}/{}",
        meta.namespace.as_deref().unwrap_or("default"),
        meta.name.as_deref().unwrap_or("")
    )
}
