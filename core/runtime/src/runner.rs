//! Running one controller: subscriptions to the shared caches feeding its work queue, a
//! worker calling reconcile on a blocking thread, retries, requeues and resync.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use kube::Client;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::cache::{CacheEvent, Caches, Informer};
use crate::cluster::{Cluster, controller_of};
use crate::controller::{Action, Context, Controller, KindRef, ObjectKey, ReconcileError};
use crate::events::EventRecorder;
use crate::metrics::Metrics;
use crate::queue::{Backoff, WorkQueue};
use crate::resources::Resources;

/// How many waiting changes one blocking call maps at most.
const MAP_BATCH: usize = 64;
/// The most workers a controller may ask for.
const MAX_WORKERS: usize = 64;

/// What every controller of a host shares.
#[derive(Clone)]
pub struct Shared {
    /// The API client.
    pub client: Client,
    /// Kind resolution.
    pub resources: Arc<Resources>,
    /// Informer caches.
    pub caches: Arc<Caches>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Whether this host leads.
    pub leading: watch::Receiver<bool>,
    /// Default resync period.
    pub resync: Duration,
    /// Retry backoff.
    pub backoff: Backoff,
}

/// Counters of one running controller.
#[derive(Default)]
pub struct Stats {
    /// Reconciles run.
    pub reconciles: AtomicU64,
    /// Reconciles failed.
    pub errors: AtomicU64,
    /// The last reconcile error.
    pub last_error: Mutex<Option<String>>,
}

/// A running controller; stops when dropped or [`Runner::stop`]ped.
pub struct Runner {
    cancel: CancellationToken,
    queue: Arc<WorkQueue>,
    subscriptions: Vec<(Arc<Informer>, u64)>,
    /// Its counters.
    pub stats: Arc<Stats>,
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.stop();
    }
}

fn owner_key(obj: &Value, primary: &KindRef) -> Option<ObjectKey> {
    let reference = controller_of(obj)?;
    let api_version = reference["apiVersion"].as_str()?;
    let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    (group == primary.group() && reference["kind"].as_str() == Some(primary.kind.as_str())).then(
        || {
            ObjectKey::new(
                obj["metadata"]["namespace"].as_str().unwrap_or_default(),
                reference["name"].as_str().unwrap_or_default(),
            )
        },
    )
}

impl Runner {
    /// Starts `controller`.
    pub fn start(
        controller: Arc<dyn Controller>,
        shared: &Shared,
        parent: &CancellationToken,
    ) -> Runner {
        let config = controller.config().clone();
        let name = config.name.clone();
        let cancel = parent.child_token();
        let queue = WorkQueue::new(shared.backoff);
        let stats = Arc::new(Stats::default());
        let cluster = Arc::new(Cluster::new(
            shared.caches.clone(),
            shared.resources.clone(),
            EventRecorder::new(shared.client.clone(), name.clone()),
            config.owns.clone(),
        ));
        let mut subscriptions = Vec::new();

        let primary = shared.caches.informer(&config.primary);
        let q = queue.clone();
        let id = primary.subscribe(move |event| q.add(ObjectKey::of(event.object())));
        subscriptions.push((primary.clone(), id));

        for owned in &config.owns {
            let informer = shared.caches.informer(owned);
            let q = queue.clone();
            let primary_kind = config.primary.clone();
            let id = informer.subscribe(move |event| {
                if let Some(key) = owner_key(event.object(), &primary_kind) {
                    q.add(key);
                }
            });
            subscriptions.push((informer, id));
        }

        let (mapped, mut to_map) =
            mpsc::unbounded_channel::<(String, Option<Arc<Vec<String>>>, CacheEvent)>();
        for watch in &config.watches {
            let informer = shared.caches.informer(&watch.kind);
            let mapped = mapped.clone();
            let function = watch.map.clone();
            let selected_by = watch.selected_by.clone();
            let orphans = watch.orphans;
            let fields = watch.fields.clone().map(Arc::new);
            let changed = watch.changed.clone();
            let primary = primary.clone();
            let q = queue.clone();
            let id = informer.subscribe(move |event| {
                // A modification of nothing the watch declared to matter is not mapped: the
                // script call costs far more than comparing a few fields.
                if let (Some(changed), CacheEvent::Applied(obj, Some(previous))) = (&changed, event)
                    && crate::projection::same_at(obj, previous, changed)
                {
                    return;
                }
                match (&function, &selected_by) {
                    (Some(function), _) => {
                        let _ = mapped.send((function.clone(), fields.clone(), event.clone()));
                    }
                    // Matching selectors is cheap enough to do as the change arrives.
                    (None, Some(path)) => {
                        crate::selected::selecting(&primary, path, orphans, event)
                            .into_iter()
                            .for_each(|key| q.add(key))
                    }
                    (None, None) => {}
                }
            });
            subscriptions.push((informer, id));
        }

        let context = {
            let cluster = cluster.clone();
            let name = name.clone();
            move || Context {
                name: name.clone(),
                now: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
                cluster: cluster.clone(),
            }
        };

        // Mapping watched objects to primaries (script code: on blocking threads). Changes
        // waiting together are mapped in one blocking call: a burst of pod changes would
        // otherwise hand each small mapping to a thread of its own.
        {
            let controller = controller.clone();
            let queue = queue.clone();
            let cancel = cancel.clone();
            let context = context.clone();
            let name = name.clone();
            tokio::spawn(async move {
                loop {
                    let mut batch = Vec::with_capacity(MAP_BATCH);
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        n = to_map.recv_many(&mut batch, MAP_BATCH) => if n == 0 { return },
                    };
                    let controller = controller.clone();
                    let ctx = context();
                    let mapped = tokio::task::spawn_blocking(move || {
                        batch
                            .into_iter()
                            .map(|(function, fields, event)| {
                                let obj = event.object();
                                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                    match &fields {
                                        Some(fields) => {
                                            controller.map_fields(&function, obj, fields, &ctx)
                                        }
                                        None => controller.map(&function, obj, &ctx),
                                    }
                                }))
                            })
                            .collect::<Vec<_>>()
                    })
                    .await;
                    let Ok(mapped) = mapped else { continue };
                    for keys in mapped {
                        match keys {
                            Ok(Ok(keys)) => keys.into_iter().for_each(|key| queue.add(key)),
                            Ok(Err(error)) => {
                                tracing::warn!(controller = %name, %error, "mapping failed")
                            }
                            Err(_) => tracing::warn!(controller = %name, "mapping panicked"),
                        }
                    }
                }
            });
        }

        // Initial fill and periodic resync of every primary.
        {
            let queue = queue.clone();
            let cancel = cancel.clone();
            let primary = primary.clone();
            let period = config
                .resync_seconds
                .filter(|s| s.is_finite() && *s > 0.0)
                .map(Duration::from_secs_f64)
                .unwrap_or(shared.resync);
            tokio::spawn(async move {
                loop {
                    if primary.is_ready() {
                        for obj in primary.list("") {
                            queue.add(ObjectKey::of(&obj));
                        }
                    }
                    let wait = if primary.is_ready() {
                        period
                    } else {
                        Duration::from_millis(200)
                    };
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            });
        }

        // The workers: the queue hands a key to one of them at a time.
        for _ in 0..config.workers.unwrap_or(1).clamp(1, MAX_WORKERS) {
            let queue = queue.clone();
            let cancel = cancel.clone();
            let stats = stats.clone();
            let metrics = shared.metrics.clone();
            let mut leading = shared.leading.clone();
            let cluster = cluster.clone();
            let primary = primary.clone();
            let controller = controller.clone();
            let context = context.clone();
            let name = name.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        led = leading.wait_for(|leading| *leading) => if led.is_err() { return },
                    }
                    let key = tokio::select! {
                        _ = cancel.cancelled() => return,
                        key = queue.get() => match key { Some(key) => key, None => return },
                    };
                    metrics.queue_depth(&name, queue.len());
                    if !*leading.borrow() {
                        queue.done(&key);
                        queue.add(key);
                        continue;
                    }
                    // The cached object is shared, not copied: reconciles only read it.
                    let obj: Arc<Value> = primary.get(&key).unwrap_or_else(|| {
                        Arc::new(json!({ "deleted": true, "namespace": key.namespace, "name": key.name }))
                    });
                    let ctx = context();
                    let started = Instant::now();
                    let result = {
                        let controller = controller.clone();
                        let obj = obj.clone();
                        tokio::task::spawn_blocking(move || controller.reconcile(&obj, &ctx))
                            .await
                            .unwrap_or_else(|e| {
                                Err(ReconcileError::new(format!("reconcile panicked: {e}")))
                            })
                    };
                    let took = started.elapsed();
                    stats.reconciles.fetch_add(1, Ordering::Relaxed);
                    metrics.reconciled(&name, took, result.is_err());
                    match result {
                        Ok(action) => {
                            queue.forget(&key);
                            if let Action::RequeueAfter(after) = action {
                                queue.add_after(key.clone(), after);
                            }
                        }
                        Err(error) => {
                            stats.errors.fetch_add(1, Ordering::Relaxed);
                            *stats.last_error.lock().unwrap() = Some(error.message.clone());
                            let delay = queue.add_rate_limited(key.clone());
                            tracing::warn!(controller = %name, object = %key, %error, retry_in = ?delay, "reconcile failed");
                            if obj.get("deleted").is_none() {
                                let cluster = cluster.clone();
                                let message = error.message.clone();
                                tokio::task::spawn_blocking(move || {
                                    if let Err(error) =
                                        cluster.event(&obj, "Warning", "ReconcileError", &message)
                                    {
                                        tracing::debug!(error = ?error, "could not record the reconcile error");
                                    }
                                });
                            }
                        }
                    }
                    queue.done(&key);
                    metrics.queue_depth(&name, queue.len());
                }
            });
        }

        Runner {
            cancel,
            queue,
            subscriptions,
            stats,
        }
    }

    /// Stops the controller: no more keys are handed out; a reconcile in progress finishes.
    pub fn stop(&mut self) {
        self.cancel.cancel();
        self.queue.shut_down();
        for (informer, id) in self.subscriptions.drain(..) {
            informer.unsubscribe(id);
        }
    }
}
