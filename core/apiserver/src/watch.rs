//! Watch hubs: one store watch per resource, fanned out to every watcher of that resource.
//!
//! A hub decodes each change once, keeps the most recent ones so a watcher can resume from a
//! recent `resourceVersion` without touching the store, and broadcasts new ones. Watchers
//! asking for older revisions than the hub holds get a store watch of their own, which
//! answers "compacted" (410 Gone) when the store no longer has them.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use futures::stream::{BoxStream, StreamExt};
use serde_json::Value;
use skiff_store::{EventKind, Revision, Store, WatchEvent};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::objects;

/// How many recent changes a hub keeps for resuming watchers.
const BACKLOG: usize = 4096;
/// How many changes a slow watcher may lag behind before it is cut off (it then resumes).
const CHANNEL: usize = 8192;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("store watch failed")]
    Store(#[source] skiff_store::Error),
    #[error("the watcher fell behind and was cut off")]
    Lagged,
}

/// One decoded change.
#[derive(Debug)]
pub struct Change {
    pub kind: EventKind,
    pub revision: Revision,
    /// The object after the change (for deletes, its last state), with `resourceVersion`
    /// set to the change's revision.
    pub object: Value,
    /// The object before an update.
    pub prev: Option<Value>,
}

/// A stream of changes for one watcher.
pub type ChangeStream = BoxStream<'static, Result<Arc<Change>, Error>>;

fn decode(ev: WatchEvent) -> Option<Change> {
    let object = objects::decode(&ev.kv).ok()?;
    let prev = ev.prev.as_ref().and_then(|p| objects::decode(p).ok());
    Some(Change {
        kind: ev.kind,
        revision: ev.kv.mod_revision,
        object,
        prev,
    })
}

struct Hub {
    /// Every change with a revision above this is in `backlog` (or was broadcast).
    complete_after: Revision,
    backlog: VecDeque<Arc<Change>>,
    tx: Option<broadcast::Sender<Arc<Change>>>,
}

/// The hubs of all resources, created on first watch.
pub struct WatchHubs {
    store: Arc<dyn Store>,
    hubs: Arc<Mutex<HashMap<String, Arc<Mutex<Hub>>>>>,
    shutdown: CancellationToken,
}

impl WatchHubs {
    pub fn new(store: Arc<dyn Store>, shutdown: CancellationToken) -> Self {
        WatchHubs {
            store,
            hubs: Arc::default(),
            shutdown,
        }
    }

    async fn hub(&self, prefix: &str) -> Result<Arc<Mutex<Hub>>, Error> {
        if let Some(h) = self.hubs.lock().expect("hub map").get(prefix) {
            return Ok(h.clone());
        }
        let start = self.store.current_revision().await.map_err(Error::Store)?;
        let mut stream = self
            .store
            .watch(prefix, start)
            .await
            .map_err(Error::Store)?;
        let (tx, _) = broadcast::channel(CHANNEL);
        let hub = Arc::new(Mutex::new(Hub {
            complete_after: start,
            backlog: VecDeque::new(),
            tx: Some(tx),
        }));
        {
            let mut map = self.hubs.lock().expect("hub map");
            if let Some(existing) = map.get(prefix) {
                return Ok(existing.clone());
            }
            map.insert(prefix.to_string(), hub.clone());
        }
        let task_hub = hub.clone();
        let hubs = self.hubs.clone();
        let key = prefix.to_string();
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    () = shutdown.cancelled() => break,
                    n = stream.next() => n,
                };
                let Some(Ok(ev)) = next else {
                    if let Some(Err(e)) = next {
                        tracing::warn!(prefix = %key, error = %e, "store watch ended");
                    }
                    break;
                };
                let Some(change) = decode(ev) else { continue };
                let change = Arc::new(change);
                let mut h = task_hub.lock().expect("hub");
                h.backlog.push_back(change.clone());
                if h.backlog.len() > BACKLOG
                    && let Some(old) = h.backlog.pop_front()
                {
                    h.complete_after = old.revision;
                }
                if let Some(tx) = &h.tx {
                    let _ = tx.send(change);
                }
            }
            let mut map = hubs.lock().expect("hub map");
            if map.get(&key).is_some_and(|h| Arc::ptr_eq(h, &task_hub)) {
                map.remove(&key);
            }
            task_hub.lock().expect("hub").tx = None;
        });
        Ok(hub)
    }

    /// Every change under `prefix` (a resource's key prefix) after revision `after`.
    pub async fn subscribe(&self, prefix: &str, after: Revision) -> Result<ChangeStream, Error> {
        let hub = self.hub(prefix).await?;
        let served = {
            let h = hub.lock().expect("hub");
            match &h.tx {
                Some(tx) if after >= h.complete_after => {
                    let backlog: Vec<Arc<Change>> = h
                        .backlog
                        .iter()
                        .filter(|c| c.revision > after)
                        .cloned()
                        .collect();
                    Some((backlog, tx.subscribe()))
                }
                _ => None,
            }
        };
        if let Some((backlog, rx)) = served {
            let live = futures::stream::unfold(rx, |mut rx| async move {
                match rx.recv().await {
                    Ok(c) => Some((Ok(c), rx)),
                    Err(broadcast::error::RecvError::Lagged(_)) => Some((Err(Error::Lagged), rx)),
                    Err(broadcast::error::RecvError::Closed) => None,
                }
            })
            .scan(false, |failed, item| {
                // Stop right after the first error.
                if *failed {
                    return futures::future::ready(None);
                }
                *failed = item.is_err();
                futures::future::ready(Some(item))
            });
            let old = futures::stream::iter(backlog.into_iter().map(Ok));
            return Ok(old.chain(live).boxed());
        }
        // Older than the hub: a store watch of its own.
        let stream = self
            .store
            .watch(prefix, after)
            .await
            .map_err(Error::Store)?;
        Ok(stream
            .filter_map(|r| async move {
                match r {
                    Ok(ev) => decode(ev).map(|c| Ok(Arc::new(c))),
                    Err(e) => Some(Err(Error::Store(e))),
                }
            })
            .boxed())
    }
}
