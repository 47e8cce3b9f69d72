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
//!
//! Watchers that pin a resource's indexed field (every kubelet watches `spec.nodeName=<its
//! node>`) join a channel of that value instead of the hub's main one, as upstream's watch
//! cache triggers do: a change wakes the watchers of the node it was and is on, not all of
//! them. With a thousand nodes that is the difference between one wake-up per change and a
//! thousand.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, OnceLock};

use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use serde_json::Value;
use skiff_api::ResourceInfo;
use skiff_store::{EventKind, Revision, Store, WatchEvent, WatchStream};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::objects;
use crate::partial::{self, Paths};

/// How many recent changes a hub keeps for resuming watchers.
const BACKLOG: usize = 4096;
/// How many changes a slow watcher may lag behind before it is cut off (it then resumes).
const CHANNEL: usize = 8192;
/// The same for the channel of one indexed value: there is one per node, and a channel
/// holds its capacity from the start.
const VALUE_CHANNEL: usize = 1024;

/// A field the hub of a resource reads from every change, so that watchers pinning its value
/// get only the changes whose object had or has that value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Index {
    /// A pod's `spec.nodeName` (the empty string while unscheduled).
    NodeName,
}

impl Index {
    /// The indexed field of a resource, if it has one.
    pub fn of(info: &ResourceInfo) -> Option<Index> {
        (info.group.is_empty() && info.plural == "pods").then_some(Index::NodeName)
    }

    /// The field's path, as a field selector names it.
    pub fn field(self) -> &'static str {
        match self {
            Index::NodeName => "spec.nodeName",
        }
    }

    /// The field's value in a stored object, read as a field selector reads it (missing or
    /// `null` is ""). Only the path is decoded; anything else in the bytes is skipped.
    fn value_of(self, bytes: &[u8]) -> String {
        static NODE_NAME: LazyLock<Paths> = LazyLock::new(|| Paths::of([Index::NodeName.field()]));
        let paths = match self {
            Index::NodeName => &*NODE_NAME,
        };
        partial::pick(bytes, paths)
            .map(|v| skiff_api::selector::field_value(&v, self.field()))
            .unwrap_or_default()
    }

    /// The values a change concerns: the object's now and, when different, before.
    fn values(self, event: &WatchEvent) -> (String, Option<String>) {
        let now = self.value_of(&event.kv.value);
        let before = event
            .prev
            .as_ref()
            .map(|p| self.value_of(&p.value))
            .filter(|b| *b != now);
        (now, before)
    }
}

/// What a watcher pins: the value of its resource's indexed field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trigger {
    pub index: Index,
    pub value: String,
}

impl Trigger {
    fn concerns(&self, event: &WatchEvent) -> bool {
        let (now, before) = self.index.values(event);
        now == self.value || before.is_some_and(|b| b == self.value)
    }
}

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
    /// What watchers' filters picked, per state (before the change or not) and set of
    /// paths: the watchers of one kind of selector (all label selectors read the labels)
    /// share one pick.
    picked: Mutex<Vec<Picked>>,
    encoded: OnceLock<Option<Encoded>>,
    /// The same without `metadata.managedFields`, for watchers that asked for it.
    encoded_lean: OnceLock<Option<Encoded>>,
}

/// The fields of one state of a change that one set of paths names.
#[derive(Debug)]
struct Picked {
    prev: bool,
    paths: Paths,
    view: Option<Arc<Value>>,
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
            picked: Mutex::new(Vec::new()),
            encoded: OnceLock::new(),
            encoded_lean: OnceLock::new(),
        }
    }

    /// The store key of the object.
    pub fn key(&self) -> &str {
        &self.event.kv.key
    }

    /// The object after the change (for deletes, its last state), with `resourceVersion`
    /// set to the change's revision; `None` when the stored bytes are not an object.
    pub fn object(&self) -> Option<&Value> {
        self.object
            .get_or_init(|| objects::decode(&self.event.kv).ok())
            .as_ref()
    }

    /// Whether the change carries the object's state before it.
    pub fn has_prev(&self) -> bool {
        self.event.prev.is_some()
    }

    /// The fields `paths` names of the object (with `prev`, of its state before the change;
    /// `None` when there is none or the bytes are not JSON), picked from the stored bytes by
    /// the first watcher that asks for these paths and shared with the others.
    pub fn pick(&self, paths: &Paths, prev: bool) -> Option<Arc<Value>> {
        let mut picked = self.picked.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = picked.iter().find(|p| p.prev == prev && p.paths == *paths) {
            return p.view.clone();
        }
        let bytes = if prev {
            self.event.prev.as_ref().map(|kv| &kv.value)
        } else {
            Some(&self.event.kv.value)
        };
        let view = bytes
            .and_then(|b| partial::pick(b, paths).ok())
            .map(Arc::new);
        picked.push(Picked {
            prev,
            paths: paths.clone(),
            view: view.clone(),
        });
        view
    }

    /// The object's JSON with the `apiVersion` and `kind` of `info` (`lean`: without
    /// `metadata.managedFields`): spliced from the stored bytes by the first watcher that
    /// asks, then shared (every watcher of one hub serves the same type; another type is
    /// encoded apart).
    pub fn encoded(&self, info: &ResourceInfo, lean: bool) -> Option<Bytes> {
        let encode = || {
            if let Some(json) = objects::served_json(&self.event.kv, info, lean) {
                return Some(Bytes::from(json));
            }
            let mut obj = objects::with_type(self.object()?.clone(), info);
            if lean {
                crate::response::drop_managed_fields(&mut obj);
            }
            Some(Bytes::from(serde_json::to_vec(&obj).ok()?))
        };
        let cell = if lean {
            &self.encoded_lean
        } else {
            &self.encoded
        };
        let shared = cell.get_or_init(|| {
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

/// A watcher's changes, and how far the hub has got.
pub struct Subscription {
    pub changes: ChangeStream,
    /// The revision up to which the hub has handed out every change, when the watcher reads
    /// straight from the hub: once `changes` has nothing waiting, the watcher has seen every
    /// change of its own up to there (a triggered watcher sees no others, so its own last
    /// change says little about how current it is).
    pub progress: Option<Arc<AtomicI64>>,
}

struct Hub {
    /// Every change with a revision above this is in `backlog` (or was broadcast).
    complete_after: Revision,
    /// Kept undecoded: a decoded pod is several times its JSON.
    backlog: VecDeque<Arc<WatchEvent>>,
    tx: Option<broadcast::Sender<Arc<Change>>>,
    /// Channels of the watchers pinning one value of `index`.
    by_value: HashMap<String, broadcast::Sender<Arc<Change>>>,
    index: Option<Index>,
    /// The last revision sent to every channel (see [`Subscription::progress`]).
    dispatched: Arc<AtomicI64>,
}

impl Hub {
    /// Records a change and sends it to the watchers it concerns.
    fn dispatch(&mut self, ev: Arc<WatchEvent>) {
        self.backlog.push_back(ev.clone());
        if self.backlog.len() > BACKLOG
            && let Some(old) = self.backlog.pop_front()
        {
            self.complete_after = old.kv.mod_revision;
        }
        let revision = ev.kv.mod_revision;
        let change = Arc::new(Change::new(ev));
        if let Some(tx) = &self.tx {
            let _ = tx.send(change.clone());
        }
        if let Some(index) = self.index
            && !self.by_value.is_empty()
        {
            let (now, before) = index.values(&change.event);
            for value in std::iter::once(now).chain(before) {
                let gone = self
                    .by_value
                    .get(&value)
                    .is_some_and(|tx| tx.send(change.clone()).is_err());
                if gone {
                    self.by_value.remove(&value);
                }
            }
        }
        self.dispatched.store(revision, Ordering::Release);
    }

    /// A receiver of the main channel, or of the trigger's value's channel.
    fn receiver(&mut self, trigger: Option<&Trigger>) -> Option<broadcast::Receiver<Arc<Change>>> {
        let tx = self.tx.as_ref()?;
        let Some(trigger) = trigger else {
            return Some(tx.subscribe());
        };
        self.index = Some(trigger.index);
        // Values whose watchers all left are dropped here or at their next change.
        self.by_value.retain(|_, tx| tx.receiver_count() > 0);
        Some(
            self.by_value
                .entry(trigger.value.clone())
                .or_insert_with(|| broadcast::channel(VALUE_CHANNEL).0)
                .subscribe(),
        )
    }
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
            by_value: HashMap::new(),
            index: None,
            dispatched: Arc::new(AtomicI64::new(start)),
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
                task_hub.lock().expect("hub").dispatch(Arc::new(ev));
            }
            let mut map = hubs.lock().expect("hub map");
            if map.get(&key).is_some_and(|h| Arc::ptr_eq(h, &task_hub)) {
                map.remove(&key);
            }
            let mut h = task_hub.lock().expect("hub");
            h.tx = None;
            h.by_value.clear();
        });
        Ok(hub)
    }

    /// Every change under `prefix` (a resource's key prefix) after revision `after`; with a
    /// trigger, at least every change whose object had or has the trigger's value (the
    /// watcher still filters what it gets).
    pub async fn subscribe(
        &self,
        prefix: &str,
        after: Revision,
        trigger: Option<Trigger>,
    ) -> Result<Subscription, Error> {
        let hub = self.hub(prefix).await?;
        let joined = {
            let mut h = hub.lock().expect("hub");
            h.receiver(trigger.as_ref()).map(|rx| {
                let backlog: Vec<Arc<WatchEvent>> = h
                    .backlog
                    .iter()
                    .filter(|e| e.kv.mod_revision > after)
                    .filter(|e| trigger.as_ref().is_none_or(|t| t.concerns(e)))
                    .cloned()
                    .collect();
                (h.complete_after, backlog, rx, h.dispatched.clone())
            })
        };
        let joined = match joined {
            Some((complete_after, backlog, rx, dispatched)) if after >= complete_after => {
                return Ok(Subscription {
                    changes: fresh(backlog).chain(live(rx)).boxed(),
                    progress: Some(dispatched),
                });
            }
            other => other.map(|(c, b, rx, _)| (c, b, rx)),
        };
        // Older than the hub holds, or the hub is closing: a store watch of its own.
        let history = self
            .store
            .watch(prefix, after)
            .await
            .map_err(Error::Store)?;
        let changes = match joined {
            Some((complete_after, backlog, rx)) => {
                catch_up(history, complete_after, backlog, live(rx))
            }
            None => from_store(history),
        };
        Ok(Subscription {
            changes,
            progress: None,
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
            .subscribe(PREFIX, store.current_revision().await.unwrap(), None)
            .await
            .unwrap()
            .changes;
        let in_hub = put(&*store, "c", 3).await;
        assert_eq!(take(&mut current, 1).await, vec![in_hub]);
        let mut old = hubs.subscribe(PREFIX, before, None).await.unwrap().changes;
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
        let mut one = hubs.subscribe(PREFIX, now, None).await.unwrap().changes;
        let mut two = hubs.subscribe(PREFIX, now, None).await.unwrap().changes;
        let rev = put(&*store, "a", 1).await;
        let a = one.next().await.unwrap().unwrap();
        let b = two.next().await.unwrap().unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let info = skiff_api::Registry::builtin()
            .by_plural("", "v1", "configmaps")
            .expect("config maps are registered")
            .clone();
        let json = a.encoded(&info, false).unwrap();
        assert!(json.as_ptr() == b.encoded(&info, false).unwrap().as_ptr());
        let lean = a.encoded(&info, true).unwrap();
        assert!(lean.as_ptr() == b.encoded(&info, true).unwrap().as_ptr());
        assert!(lean.as_ptr() != json.as_ptr());
        let obj: Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(obj["kind"], "ConfigMap");
        assert_eq!(obj["apiVersion"], "v1");
        assert_eq!(obj["metadata"]["resourceVersion"], rev.to_string());
        assert_eq!(obj["data"]["n"], 1);

        // Filters reading the same fields share one pick; other fields are picked apart.
        let labels = Paths::of(["metadata.labels"]);
        let first = a.pick(&labels, false).unwrap();
        assert!(Arc::ptr_eq(&first, &b.pick(&labels, false).unwrap()));
        let data = a.pick(&Paths::of(["data"]), false).unwrap();
        assert!(!Arc::ptr_eq(&first, &data));
        assert_eq!(*data, json!({"data": {"n": 1}}));
        assert!(
            a.pick(&labels, true).is_none(),
            "a creation has no state before"
        );
    }

    const PODS: &str = "/registry/core/pods/";

    async fn put_pod(store: &dyn Store, name: &str, node: Option<&str>) -> Revision {
        let key = format!("{PODS}default/{name}");
        let value = |node: Option<&str>| {
            serde_json::to_vec(&json!({"metadata": {"name": name}, "spec": {"nodeName": node}}))
                .unwrap()
        };
        match store.get(&key).await.unwrap() {
            None => store.create(&key, value(node)).await.unwrap().mod_revision,
            Some(kv) => {
                store
                    .update(&key, value(node), kv.mod_revision)
                    .await
                    .unwrap()
                    .mod_revision
            }
        }
    }

    fn pinned(value: &str) -> Option<Trigger> {
        Some(Trigger {
            index: Index::NodeName,
            value: value.into(),
        })
    }

    #[tokio::test]
    async fn a_pinned_watcher_gets_the_changes_of_its_value_before_and_after() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let hubs = WatchHubs::new(store.clone(), CancellationToken::new());
        let early = put_pod(&*store, "early", Some("n1")).await;
        let now = store.current_revision().await.unwrap();
        let mut all = hubs.subscribe(PODS, now, None).await.unwrap().changes;
        let n1 = hubs.subscribe(PODS, now, pinned("n1")).await.unwrap();
        let mut n1_changes = n1.changes;
        let mut unscheduled = hubs.subscribe(PODS, now, pinned("")).await.unwrap().changes;
        let elsewhere = put_pod(&*store, "a", Some("n2")).await;
        let pending = put_pod(&*store, "b", None).await;
        let bound = put_pod(&*store, "b", Some("n1")).await;
        let own = put_pod(&*store, "c", Some("n1")).await;
        assert_eq!(
            take(&mut all, 4).await,
            vec![elsewhere, pending, bound, own]
        );
        assert_eq!(take(&mut n1_changes, 2).await, vec![bound, own]);
        assert_eq!(take(&mut unscheduled, 2).await, vec![pending, bound]);
        // Every change up to the last was handed out, whether or not it was n1's.
        let far = put_pod(&*store, "d", Some("n2")).await;
        assert_eq!(take(&mut all, 1).await, vec![far]);
        let progress = n1.progress.expect("joined the hub directly");
        assert!(progress.load(Ordering::Acquire) >= far);

        // A late watcher of n1 gets n1's changes from the backlog only.
        let late = hubs.subscribe(PODS, early, pinned("n1")).await.unwrap();
        let mut late = late.changes;
        assert_eq!(take(&mut late, 2).await, vec![bound, own]);
        let next = put_pod(&*store, "e", Some("n1")).await;
        assert_eq!(take(&mut late, 1).await, vec![next]);
    }

    #[tokio::test]
    async fn a_value_whose_watchers_left_has_no_channel_left() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let hubs = WatchHubs::new(store.clone(), CancellationToken::new());
        let now = store.current_revision().await.unwrap();
        let gone = hubs.subscribe(PODS, now, pinned("n1")).await.unwrap();
        drop(gone);
        let mut all = hubs.subscribe(PODS, now, None).await.unwrap().changes;
        let rev = put_pod(&*store, "a", Some("n1")).await;
        assert_eq!(take(&mut all, 1).await, vec![rev]);
        let hub = hubs.hub(PODS).await.unwrap();
        assert!(hub.lock().unwrap().by_value.is_empty());
    }
}
