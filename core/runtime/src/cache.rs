//! Shared informer caches: one list + watch per kind, shared by every controller, feeding
//! subscribers with changes.
//!
//! The kube-runtime `watcher` does the list, the watch, resuming from the last
//! resourceVersion on reconnect and relisting on 410 Gone; this module keeps the objects as
//! JSON (what scripts and plugins read), without their `managedFields` (bookkeeping of the
//! server's that no controller reads, often as big as the rest of the object), indexes them
//! by controller owner, and fans events out.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::Value;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use skiff_api::selector::{LabelSelector, Operator, Requirement};

use crate::controller::{KindRef, ObjectKey};
use crate::json_object::JsonObject;
use crate::resources::Resources;

/// Why a cache could not answer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kind did not finish its initial list in time (not served, or the server is down).
    #[error("cache of {kind} is not synced after {waited:?}")]
    NotSynced {
        /// The kind.
        kind: KindRef,
        /// How long the reader waited.
        waited: Duration,
    },
}

/// A change seen by an informer.
#[derive(Debug, Clone)]
pub enum CacheEvent {
    /// Added or modified (also every object again after a relist), with the version the
    /// cache held before, if any.
    Applied(Arc<Value>, Option<Arc<Value>>),
    /// Deleted (its last known state).
    Deleted(Arc<Value>),
}

impl CacheEvent {
    /// The object the event is about.
    pub fn object(&self) -> &Arc<Value> {
        match self {
            CacheEvent::Applied(obj, _) | CacheEvent::Deleted(obj) => obj,
        }
    }
}

type Subscriber = Arc<dyn Fn(&CacheEvent) + Send + Sync>;

/// The objects of one kind, by key, by the uid of their controller owner and by label.
#[derive(Default)]
struct Store {
    objects: BTreeMap<ObjectKey, Arc<Value>>,
    /// Controller owner uid → keys of the objects it controls, so a controller's children
    /// are found without going through every object of the namespace.
    by_controller: HashMap<String, BTreeSet<ObjectKey>>,
    /// Label `(key, value)` → keys of the objects carrying it, so a selector with an equality
    /// term (a ReplicaSet's, a Service's) visits the objects that can match, not the
    /// namespace's every object on each reconcile.
    by_label: HashMap<(String, String), BTreeSet<ObjectKey>>,
}

fn controller_uid(obj: &Value) -> Option<&str> {
    crate::cluster::controller_of(obj)?["uid"].as_str()
}

/// The string labels of an object, as the index keeps them.
fn labels(obj: &Value) -> impl Iterator<Item = (&String, &str)> {
    obj.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k, v.as_str()?)))
}

fn same_labels(a: &Value, b: &Value) -> bool {
    a.pointer("/metadata/labels") == b.pointer("/metadata/labels")
}

impl Store {
    fn from_objects(objects: BTreeMap<ObjectKey, Arc<Value>>) -> Self {
        let mut store = Store::default();
        for (key, obj) in objects {
            store.insert(key, obj);
        }
        store
    }

    fn index(&mut self, key: &ObjectKey, obj: &Value, controller: bool, labelled: bool) {
        if controller && let Some(uid) = controller_uid(obj) {
            self.by_controller
                .entry(uid.to_string())
                .or_default()
                .insert(key.clone());
        }
        if labelled {
            for (k, v) in labels(obj) {
                self.by_label
                    .entry((k.clone(), v.to_string()))
                    .or_default()
                    .insert(key.clone());
            }
        }
    }

    fn unindex(&mut self, key: &ObjectKey, obj: &Value, controller: bool, labelled: bool) {
        if controller
            && let Some(uid) = controller_uid(obj)
            && let Some(keys) = self.by_controller.get_mut(uid)
        {
            keys.remove(key);
            if keys.is_empty() {
                self.by_controller.remove(uid);
            }
        }
        if labelled {
            for (k, v) in labels(obj) {
                let pair = (k.clone(), v.to_string());
                if let Some(keys) = self.by_label.get_mut(&pair) {
                    keys.remove(key);
                    if keys.is_empty() {
                        self.by_label.remove(&pair);
                    }
                }
            }
        }
    }

    /// Stores `obj`; returns the version it replaces.
    fn insert(&mut self, key: ObjectKey, obj: Arc<Value>) -> Option<Arc<Value>> {
        // Most updates (status, bindings) change neither index: only what changed is redone.
        let old = self.objects.get(&key).cloned();
        let (controller, labelled) = match &old {
            Some(old) => (
                controller_uid(old) != controller_uid(&obj),
                !same_labels(old, &obj),
            ),
            None => (true, true),
        };
        if let Some(old) = &old {
            self.unindex(&key, old, controller, labelled);
        }
        self.index(&key, &obj, controller, labelled);
        self.objects.insert(key, obj)
    }

    fn remove(&mut self, key: &ObjectKey) {
        if let Some(old) = self.objects.remove(key) {
            self.unindex(key, &old, true, true);
        }
    }

    /// The keys that can match `selector`, from its narrowest equality term (`=`, `==`,
    /// `in`); `None` when it has none and every object must be looked at.
    fn candidates(&self, selector: &LabelSelector) -> Option<BTreeSet<&ObjectKey>> {
        let postings = |r: &Requirement| -> Vec<&BTreeSet<ObjectKey>> {
            r.values
                .iter()
                .filter_map(|v| self.by_label.get(&(r.key.clone(), v.clone())))
                .collect()
        };
        selector
            .requirements()
            .iter()
            .filter(|r| {
                matches!(
                    r.operator,
                    Operator::Equals | Operator::DoubleEquals | Operator::In
                )
            })
            .map(postings)
            .min_by_key(|sets| sets.iter().map(|s| s.len()).sum::<usize>())
            .map(|sets| sets.into_iter().flatten().collect())
    }
}

/// The cache of one kind.
pub struct Informer {
    kind: KindRef,
    store: RwLock<Store>,
    ready: watch::Sender<bool>,
    subscribers: RwLock<Vec<(u64, Subscriber)>>,
    next_id: AtomicU64,
}

impl Informer {
    pub(crate) fn new(kind: KindRef) -> Self {
        Informer {
            kind,
            store: RwLock::new(Store::default()),
            ready: watch::channel(false).0,
            subscribers: RwLock::new(Vec::new()),
            next_id: AtomicU64::new(1),
        }
    }

    /// The kind cached.
    pub fn kind(&self) -> &KindRef {
        &self.kind
    }

    /// Waits until the first list has been loaded.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<(), Error> {
        let mut ready = self.ready.subscribe();
        match tokio::time::timeout(timeout, ready.wait_for(|ready| *ready)).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(Error::NotSynced {
                kind: self.kind.clone(),
                waited: timeout,
            }),
        }
    }

    /// Whether the first list has been loaded.
    pub fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }

    /// One object.
    pub fn get(&self, key: &ObjectKey) -> Option<Arc<Value>> {
        self.store.read().unwrap().objects.get(key).cloned()
    }

    /// The objects whose controller ownerReference has `uid`.
    pub fn controlled_by(&self, uid: &str) -> Vec<Arc<Value>> {
        let store = self.store.read().unwrap();
        store
            .by_controller
            .get(uid)
            .into_iter()
            .flatten()
            .filter_map(|key| store.objects.get(key).cloned())
            .collect()
    }

    /// Every object of a namespace (`""` = all).
    pub fn list(&self, namespace: &str) -> Vec<Arc<Value>> {
        let store = self.store.read().unwrap();
        let objects = &store.objects;
        if namespace.is_empty() {
            return objects.values().cloned().collect();
        }
        // Keys sort by namespace first, so one namespace is one contiguous range.
        let first = ObjectKey {
            namespace: namespace.to_string(),
            name: String::new(),
        };
        objects
            .range(first..)
            .take_while(|(key, _)| key.namespace == namespace)
            .map(|(_, obj)| obj.clone())
            .collect()
    }

    /// The objects of a namespace (`""` = all) that `selector` matches, in key order.
    pub fn select(&self, namespace: &str, selector: &LabelSelector) -> Vec<Arc<Value>> {
        if selector.is_nothing() {
            return Vec::new();
        }
        let store = self.store.read().unwrap();
        let Some(keys) = store.candidates(selector) else {
            drop(store);
            return self
                .list(namespace)
                .into_iter()
                .filter(|obj| selector.matches_object(obj))
                .collect();
        };
        keys.into_iter()
            .filter(|key| namespace.is_empty() || key.namespace == namespace)
            .filter_map(|key| store.objects.get(key))
            .filter(|obj| selector.matches_object(obj))
            .cloned()
            .collect()
    }

    /// Calls `subscriber` for every later change; returns an id for [`Informer::unsubscribe`].
    pub fn subscribe(&self, subscriber: impl Fn(&CacheEvent) + Send + Sync + 'static) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.subscribers
            .write()
            .unwrap()
            .push((id, Arc::new(subscriber)));
        id
    }

    /// Stops calling a subscriber.
    pub fn unsubscribe(&self, id: u64) {
        self.subscribers
            .write()
            .unwrap()
            .retain(|(sid, _)| *sid != id);
    }

    fn dispatch(&self, event: CacheEvent) {
        let subscribers: Vec<Subscriber> = self
            .subscribers
            .read()
            .unwrap()
            .iter()
            .map(|(_, s)| s.clone())
            .collect();
        for subscriber in subscribers {
            subscriber(&event);
        }
    }

    /// The object as the cache keeps it: the JSON it was decoded into (already without
    /// `managedFields`), with the informer's type where the server left it out.
    fn normalize(&self, obj: JsonObject) -> Arc<Value> {
        Arc::new(obj.into_value(&self.kind.api_version, &self.kind.kind))
    }

    pub(crate) fn apply(&self, obj: Arc<Value>) {
        let previous = self
            .store
            .write()
            .unwrap()
            .insert(ObjectKey::of(&obj), obj.clone());
        self.dispatch(CacheEvent::Applied(obj, previous));
    }

    fn delete(&self, obj: Arc<Value>) {
        self.store.write().unwrap().remove(&ObjectKey::of(&obj));
        self.dispatch(CacheEvent::Deleted(obj));
    }

    /// Replaces the whole content after a (re)list; objects that vanished are deletions.
    fn replace(&self, fresh: BTreeMap<ObjectKey, Arc<Value>>) {
        let applied: Vec<Arc<Value>> = fresh.values().cloned().collect();
        let mut old = std::mem::replace(
            &mut *self.store.write().unwrap(),
            Store::from_objects(fresh),
        );
        let gone: Vec<ObjectKey> = old
            .objects
            .keys()
            .filter(|key| self.get(key).is_none())
            .cloned()
            .collect();
        for key in gone {
            if let Some(obj) = old.objects.remove(&key) {
                self.dispatch(CacheEvent::Deleted(obj));
            }
        }
        for obj in applied {
            let previous = old.objects.get(&ObjectKey::of(&obj)).cloned();
            self.dispatch(CacheEvent::Applied(obj, previous));
        }
        self.ready.send_replace(true);
    }

    async fn run(self: Arc<Self>, resources: Arc<Resources>, cancel: CancellationToken) {
        let resolved = loop {
            match resources.resolve(&self.kind).await {
                Ok(resolved) => break resolved,
                Err(error) => {
                    tracing::debug!(kind = %self.kind, %error, "kind not served yet, retrying");
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        };
        let api = resources.api(&resolved, "");
        let mut stream = watcher(api, watcher::Config::default())
            .default_backoff()
            .boxed();
        let mut buffer: Option<BTreeMap<ObjectKey, Arc<Value>>> = None;
        loop {
            let event = tokio::select! {
                _ = cancel.cancelled() => return,
                event = stream.next() => event,
            };
            match event {
                None => return,
                Some(Err(error)) => {
                    tracing::warn!(kind = %self.kind, %error, "watch failed, retrying");
                }
                Some(Ok(event)) => match event {
                    watcher::Event::Init => buffer = Some(BTreeMap::new()),
                    watcher::Event::InitApply(obj) => {
                        let obj = self.normalize(obj);
                        buffer
                            .get_or_insert_with(BTreeMap::new)
                            .insert(ObjectKey::of(&obj), obj);
                    }
                    watcher::Event::InitDone => self.replace(buffer.take().unwrap_or_default()),
                    watcher::Event::Apply(obj) => self.apply(self.normalize(obj)),
                    watcher::Event::Delete(obj) => self.delete(self.normalize(obj)),
                },
            }
        }
    }
}

/// All informers of a host, started on first use.
pub struct Caches {
    resources: Arc<Resources>,
    informers: Mutex<HashMap<KindRef, Arc<Informer>>>,
    cancel: CancellationToken,
    runtime: tokio::runtime::Handle,
}

impl Caches {
    /// Caches over `resources`; informers stop when `cancel` fires.
    pub fn new(resources: Arc<Resources>, cancel: CancellationToken) -> Self {
        Caches {
            resources,
            informers: Mutex::new(HashMap::new()),
            cancel,
            runtime: tokio::runtime::Handle::current(),
        }
    }

    /// The informer of `kind`, started if it is not running yet.
    pub fn informer(&self, kind: &KindRef) -> Arc<Informer> {
        let mut informers = self.informers.lock().unwrap();
        if let Some(informer) = informers.get(kind) {
            return informer.clone();
        }
        let informer = Arc::new(Informer::new(kind.clone()));
        informers.insert(kind.clone(), informer.clone());
        self.runtime.spawn(
            informer
                .clone()
                .run(self.resources.clone(), self.cancel.clone()),
        );
        informer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(namespace: &str, name: &str) -> Arc<Value> {
        Arc::new(json!({"metadata": {"namespace": namespace, "name": name}}))
    }

    #[test]
    fn listing_a_namespace_returns_exactly_its_objects() {
        let informer = Informer::new(KindRef::new("v1", "Pod"));
        for (ns, name) in [("a", "x"), ("ab", "y"), ("b", "z"), ("a", "w"), ("", "n")] {
            informer.apply(pod(ns, name));
        }
        let names = |ns: &str| -> Vec<String> {
            informer
                .list(ns)
                .iter()
                .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(names("a"), ["w", "x"]);
        assert_eq!(names("ab"), ["y"]);
        assert_eq!(names("b"), ["z"]);
        assert!(names("c").is_empty());
        assert_eq!(names("").len(), 5);
    }

    fn owned(name: &str, owner_uid: &str, controller: bool) -> Arc<Value> {
        Arc::new(
            json!({"metadata": {"namespace": "a", "name": name, "ownerReferences": [
                {"apiVersion": "v1", "kind": "X", "name": "x", "uid": owner_uid, "controller": controller}
            ]}}),
        )
    }

    fn names(objects: Vec<Arc<Value>>) -> Vec<String> {
        let mut names: Vec<String> = objects
            .iter()
            .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn controlled_objects_follow_changes_of_their_controller_reference() {
        let informer = Informer::new(KindRef::new("v1", "Pod"));
        informer.apply(owned("p1", "u1", true));
        informer.apply(owned("p2", "u1", true));
        informer.apply(owned("p3", "u1", false));
        informer.apply(owned("p4", "u2", true));
        assert_eq!(names(informer.controlled_by("u1")), ["p1", "p2"]);

        // Released, then taken over by another controller; deleted.
        informer.apply(pod("a", "p1"));
        informer.apply(owned("p2", "u2", true));
        assert!(informer.controlled_by("u1").is_empty());
        assert_eq!(names(informer.controlled_by("u2")), ["p2", "p4"]);
        informer.delete(owned("p4", "u2", true));
        assert_eq!(names(informer.controlled_by("u2")), ["p2"]);

        // A relist replaces the index with the fresh objects'.
        let fresh = BTreeMap::from([(ObjectKey::new("a", "p5"), owned("p5", "u3", true))]);
        informer.replace(fresh);
        assert!(informer.controlled_by("u2").is_empty());
        assert_eq!(names(informer.controlled_by("u3")), ["p5"]);
    }

    fn labelled(namespace: &str, name: &str, labels: Value) -> Arc<Value> {
        Arc::new(json!({"metadata": {"namespace": namespace, "name": name, "labels": labels}}))
    }

    fn selected(informer: &Informer, namespace: &str, selector: &str) -> Vec<String> {
        let selector = LabelSelector::parse(selector).unwrap();
        informer
            .select(namespace, &selector)
            .iter()
            .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn selecting_by_label_follows_label_changes_and_matches_like_a_scan() {
        let informer = Informer::new(KindRef::new("v1", "Pod"));
        informer.apply(labelled("a", "p1", json!({"app": "web", "tier": "front"})));
        informer.apply(labelled("a", "p2", json!({"app": "web"})));
        informer.apply(labelled("a", "p3", json!({"app": "db", "tier": "back"})));
        informer.apply(labelled("b", "p4", json!({"app": "web", "tier": "front"})));
        informer.apply(labelled("a", "p5", json!({"app": 7})));
        informer.apply(pod("a", "p6"));

        assert_eq!(selected(&informer, "a", "app=web"), ["p1", "p2"]);
        assert_eq!(selected(&informer, "", "app=web,tier=front"), ["p1", "p4"]);
        assert_eq!(
            selected(&informer, "a", "app in (web,db)"),
            ["p1", "p2", "p3"]
        );
        assert_eq!(selected(&informer, "a", "app=web,tier!=front"), ["p2"]);
        assert!(selected(&informer, "a", "app=cache").is_empty());
        // No equality term: every object of the namespace is looked at.
        assert_eq!(selected(&informer, "a", "!tier"), ["p2", "p5", "p6"]);
        assert_eq!(selected(&informer, "a", ""), ["p1", "p2", "p3", "p5", "p6"]);

        // Relabelled, unlabelled, deleted: the index follows.
        informer.apply(labelled("a", "p3", json!({"app": "web"})));
        informer.apply(pod("a", "p1"));
        informer.delete(labelled("a", "p2", json!({"app": "web"})));
        assert_eq!(selected(&informer, "a", "app=web"), ["p3"]);
        assert!(selected(&informer, "a", "tier=back").is_empty());

        // Every selector gives what matching each object of the namespace gives.
        for text in [
            "app=web",
            "app==web,tier=front",
            "app in (db,web)",
            "tier",
            "app!=web",
        ] {
            let selector = LabelSelector::parse(text).unwrap();
            let scanned: Vec<Arc<Value>> = informer
                .list("a")
                .into_iter()
                .filter(|o| selector.matches_object(o))
                .collect();
            assert_eq!(informer.select("a", &selector), scanned, "{text}");
        }

        // A relist rebuilds the index from the fresh objects.
        informer.replace(BTreeMap::from([(
            ObjectKey::new("a", "p9"),
            labelled("a", "p9", json!({"app": "web"})),
        )]));
        assert_eq!(selected(&informer, "", "app=web"), ["p9"]);
    }

    #[test]
    fn cached_objects_leave_out_managed_fields() {
        let informer = Informer::new(KindRef::new("v1", "Pod"));
        let obj: JsonObject = serde_json::from_value(json!({
            "metadata": {"namespace": "a", "name": "p", "managedFields": [
                {"manager": "m", "operation": "Update", "apiVersion": "v1"}
            ]}
        }))
        .unwrap();
        let cached = informer.normalize(obj);
        assert!(cached["metadata"].get("managedFields").is_none());
        assert_eq!(cached["metadata"]["name"], "p");
        assert_eq!(cached["kind"], "Pod");
        assert_eq!(cached["apiVersion"], "v1");
    }

    #[test]
    fn cached_objects_keep_their_type_and_body_in_the_usual_order() {
        let informer = Informer::new(KindRef::new("apps/v1", "Deployment"));
        let obj: JsonObject = serde_json::from_value(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"namespace": "a", "name": "d"},
            "spec": {"replicas": 2}, "status": {"replicas": 1}
        }))
        .unwrap();
        let cached = informer.normalize(obj);
        let keys: Vec<&str> = cached
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["apiVersion", "kind", "metadata", "spec", "status"]);
        assert_eq!(
            *cached,
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"namespace": "a", "name": "d"},
                   "spec": {"replicas": 2}, "status": {"replicas": 1}})
        );
    }
}
