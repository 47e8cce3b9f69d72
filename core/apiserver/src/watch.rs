//! Watch hubs: one store watch per resource, fanned out to every watcher of that resource.
//!
//! A hub keeps the most recent changes (as the store's bytes) so a watcher can resume from a
//! recent `resourceVersion` without touching the store, and broadcasts new ones. A broadcast
//! change is decoded, and encoded for the wire, once for all its watchers rather than once
//! per watcher: with a thousand nodes' worth of pods, the fan-out is where an API server
//! spends its time.
//!
//! A watcher asking for an older revision than the hub holds reads the gap from a store
//! watch of its own (which answers "compacted", 410 Gone, when the store no longer has it),
//! then joins the hub at the first change the hub also has.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use serde_json::Value;
use skiff_api::ResourceInfo;
use skiff_store::{EventKind, Revision, Store, WatchEvent, WatchStream};
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

/// One change, decoded on first use by any of the watchers it reaches and shared by all.
#[derive(Debug)]
pub struct Change {
    pub kind: EventKind,
    pub revision: Revision,
    event: Arc<WatchEvent>,
    object: OnceLock<Option<Value>>,
    prev: OnceLock<Option<Value>>,
    encoded: OnceLock<Option<Encoded>>,
}

/// The object as sent to watchers, with the type it was encoded for.
#[derive(Debug)]
struct Encoded {
    group: String,
    version: String,
    kind: String,
    json: Bytes,
}

impl Encoded {
    /// Compared field by field: this runs per watcher per change.
    fn is_for(&self, info: &ResourceInfo) -> bool {
        self.kind == info.kind && self.version == info.version && self.group == info.group
    }
}

impl Change {
    pub(crate) fn new(event: Arc<WatchEvent>) -> Self {
        Change {
            kind: event.kind,
            revision: event.kv.mod_revision,
            event,
            object: OnceLock::new(),
            prev: OnceLock::new(),
            encoded: OnceLock::new(),
        }
    }

    /// The object after the change (for deletes, its last state), with `resourceVersion`
    /// set to the change's revision; `None` when the stored bytes are not an object.
    pub fn object(&self) -> Option<&Value> {
        self.object
            .get_or_init(|| objects::decode(&self.event.kv).ok())
            .as_ref()
    }

    /// The object before an update.
    pub fn prev(&self) -> Option<&Value> {
        self.prev
            .get_or_init(|| {
                self.event
                    .prev
                    .as_ref()
                    .and_then(|p| objects::decode(p).ok())
            })
            .as_ref()
    }

    /// The object's JSON with the `apiVersion` and `kind` of `info`: encoded by the first
    /// watcher that asks, then shared (every watcher of one hub serves the same type; another
    /// type is encoded apart).
    pub fn encoded(&self, info: &ResourceInfo) -> Option<Bytes> {
        let encode = || {
            let obj = objects::with_type(self.object()?.clone(), info);
            Some(Bytes::from(serde_json::to_vec(&obj).ok()?))
        };
        let shared = self.encoded.get_or_init(|| {
            Some(Encoded {
                group: info.group.clone(),
                version: info.version.clone(),
                kind: info.kind.clone(),
                json: encode()?,
            })
        });
        match shared {
            Some(e) if e.is_for(info) => Some(e.json.clone()),
            _ => encode(),
        }
    }
}

/// A stream of changes for one watcher.
pub type ChangeStream = BoxStream<'static, Result<Arc<Change>, Error>>;

struct Hub {
    /// Every change with a revision above this is in `backlog` (or was broadcast).
    complete_after: Revision,
    /// Kept undecoded: a decoded pod is several times its JSON.
    backlog: VecDeque<Arc<WatchEvent>>,
    tx: Option<broadcast::Sender<Arc<Change>>>,
}

/// The hubs of all resources, created on first watch.
pub struct WatchHubs {
    store: Arc<dyn Store>,
    hubs: Arc<Mutex<HashMap<String, Arc<Mutex<Hub>>>>>,
    shutdown: CancellationToken,
}

/// Changes from the hub's channel, ending after the first error.
fn live(rx: broadcast::Receiver<Arc<Change>>) -> ChangeStream {
    stream::unfold(rx, |mut rx| async move {
        match rx.recv().await {
            Ok(c) => Some((Ok(c), rx)),
            Err(broadcast::error::RecvError::Lagged(_)) => Some((Err(Error::Lagged), rx)),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    })
    .scan(false, |failed, item| {
        if *failed {
            return futures::future::ready(None);
        }
        *failed = item.is_err();
        futures::future::ready(Some(item))
    })
    .boxed()
}

fn fresh(events: Vec<Arc<WatchEvent>>) -> ChangeStream {
    stream::iter(events.into_iter().map(|e| Ok(Arc::new(Change::new(e))))).boxed()
}

fn from_store(history: WatchStream) -> ChangeStream {
    history
        .map(|r| match r {
            Ok(ev) => Ok(Arc::new(Change::new(Arc::new(ev)))),
            Err(e) => Err(Error::Store(e)),
        })
        .boxed()
}

/// A watcher behind the hub: the store's changes until one at or past `complete_after`
/// (the hub has every change after that), then the hub's changes after the last one sent.
fn catch_up(
    history: WatchStream,
    complete_after: Revision,
    backlog: Vec<Arc<WatchEvent>>,
    live: ChangeStream,
) -> ChangeStream {
    enum Phase {
        History(WatchStream, Vec<Arc<WatchEvent>>, ChangeStream),
        Hub(ChangeStream),
        Done,
    }
    stream::unfold(
        Phase::History(history, backlog, live),
        move |phase| async move {
            match phase {
                Phase::Done => None,
                Phase::Hub(mut hub) => hub.next().await.map(|c| (c, Phase::Hub(hub))),
                Phase::History(mut history, backlog, live) => match history.next().await {
                    None => None,
                    Some(Err(e)) => Some((Err(Error::Store(e)), Phase::Done)),
                    Some(Ok(ev)) => {
                        let sent = ev.kv.mod_revision;
                        let change = Ok(Arc::new(Change::new(Arc::new(ev))));
                        if sent < complete_after {
                            return Some((change, Phase::History(history, backlog, live)));
                        }
                        let rest = backlog
                            .into_iter()
                            .filter(|e| e.kv.mod_revision > sent)
                            .collect();
                        let newer = live.filter(move |c| {
                            futures::future::ready(c.as_ref().map_or(true, |c| c.revision > sent))
                        });
                        Some((change, Phase::Hub(fresh(rest).chain(newer).boxed())))
                    }
                },
            }
        },
    )
    .boxed()
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
                let ev = Arc::new(ev);
                let mut h = task_hub.lock().expect("hub");
                h.backlog.push_back(ev.clone());
                if h.backlog.len() > BACKLOG
                    && let Some(old) = h.backlog.pop_front()
                {
                    h.complete_after = old.kv.mod_revision;
                }
                if let Some(tx) = &h.tx {
                    let _ = tx.send(Arc::new(Change::new(ev)));
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
        let joined = {
            let h = hub.lock().expect("hub");
            h.tx.as_ref().map(|tx| {
                let backlog: Vec<Arc<WatchEvent>> = h
                    .backlog
                    .iter()
                    .filter(|e| e.kv.mod_revision > after)
                    .cloned()
                    .collect();
                (h.complete_after, backlog, tx.subscribe())
            })
        };
        let joined = match joined {
            Some((complete_after, backlog, rx)) if after >= complete_after => {
                return Ok(fresh(backlog).chain(live(rx)).boxed());
            }
            other => other,
        };
        // Older than the hub holds, or the hub is closing: a store watch of its own.
        let history = self
            .store
            .watch(prefix, after)
            .await
            .map_err(Error::Store)?;
        Ok(match joined {
            Some((complete_after, backlog, rx)) => {
                catch_up(history, complete_after, backlog, live(rx))
            }
            None => from_store(history),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;
    use skiff_store::{EmbeddedConfig, EmbeddedStore};

    use super::*;

    const PREFIX: &str = "/registry/configmaps/";

    async fn put(store: &dyn Store, name: &str, n: i64) -> Revision {
        let value = serde_json::to_vec(&json!({"metadata": {"name": name}, "data": {"n": n}}));
        store
            .create(&format!("{PREFIX}default/{name}"), value.unwrap())
            .await
            .unwrap()
            .mod_revision
    }

    async fn take(stream: &mut ChangeStream, n: usize) -> Vec<Revision> {
        let mut seen = Vec::new();
        while seen.len() < n {
            let next = tokio::time::timeout(Duration::from_secs(10), stream.next()).await;
            let change = next
                .expect("a change in time")
                .expect("open")
                .expect("no error");
            seen.push(change.revision);
        }
        seen
    }

    fn open(dir: &tempfile::TempDir) -> Arc<dyn Store> {
        Arc::new(EmbeddedStore::open(EmbeddedConfig::new(dir.path().join("s.redb"))).unwrap())
    }

    #[tokio::test]
    async fn a_watcher_older_than_the_hub_gets_every_change_once_then_joins_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let hubs = WatchHubs::new(store.clone(), CancellationToken::new());
        let before = store.current_revision().await.unwrap();
        let early: Vec<Revision> = [put(&*store, "a", 1).await, put(&*store, "b", 2).await].into();
        // The hub starts here; the old watcher must still see a and b from the store.
        let mut current = hubs
            .subscribe(PREFIX, store.current_revision().await.unwrap())
            .await
            .unwrap();
        let in_hub = put(&*store, "c", 3).await;
        assert_eq!(take(&mut current, 1).await, vec![in_hub]);
        let mut old = hubs.subscribe(PREFIX, before).await.unwrap();
        let later = put(&*store, "d", 4).await;
        let seen = take(&mut old, 4).await;
        assert_eq!(seen, vec![early[0], early[1], in_hub, later]);
        // Nothing more than that: the next change comes once, from the hub.
        let last = put(&*store, "e", 5).await;
        assert_eq!(take(&mut old, 1).await, vec![last]);
        assert_eq!(take(&mut current, 2).await, vec![later, last]);
    }

    #[tokio::test]
    async fn watchers_of_one_change_share_its_decoding_and_encoding() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let hubs = WatchHubs::new(store.clone(), CancellationToken::new());
        let now = store.current_revision().await.unwrap();
        let mut one = hubs.subscribe(PREFIX, now).await.unwrap();
        let mut two = hubs.subscribe(PREFIX, now).await.unwrap();
        let rev = put(&*store, "a", 1).await;
        let a = one.next().await.unwrap().unwrap();
        let b = two.next().await.unwrap().unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let info = skiff_api::Registry::builtin()
            .by_plural("", "v1", "configmaps")
            .expect("config maps are registered")
            .clone();
        let json = a.encoded(&info).unwrap();
        assert!(json.as_ptr() == b.encoded(&info).unwrap().as_ptr());
        let obj: Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(obj["kind"], "ConfigMap");
        assert_eq!(obj["apiVersion"], "v1");
        assert_eq!(obj["metadata"]["resourceVersion"], rev.to_string());
        assert_eq!(obj["data"]["n"], 1);
    }
}
