//! A controller's view of the cluster: reads from the shared caches, writes through the API.
//!
//! Every method is synchronous: controllers (Rhai scripts, plugins) run on blocking threads,
//! and each call blocks that thread on the host's async runtime.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{
    DeleteParams, EvictParams, Patch, PatchParams, PostParams, Preconditions, PropagationPolicy,
};
use kube::{Api, Client};
use serde_json::{Value, json};

use crate::cache::Caches;
use crate::controller::{KindRef, ObjectKey};
use crate::discovery::ServedResource;
use crate::events::EventRecorder;
use crate::json_object::JsonObject;
use crate::resources::Resources;
use crate::selector;

/// How many creates [`Cluster::create_all`] keeps in flight.
pub const CREATES_AT_ONCE: usize = 16;

/// How long a read waits for the first list of a kind no one watched before.
const SYNC_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a cluster call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kind is not served.
    #[error(transparent)]
    Resolve(#[from] crate::resources::Error),
    /// The cache of the kind is not synced.
    #[error(transparent)]
    Cache(#[from] crate::cache::Error),
    /// The API server answered with an error.
    #[error("{verb} {target}: {source}")]
    Api {
        /// What was attempted.
        verb: &'static str,
        /// The object, as `kind namespace/name`.
        target: String,
        /// The server's answer.
        #[source]
        source: kube::Error,
    },
    /// The argument is not a usable object.
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// A selector does not parse.
    #[error(transparent)]
    Selector(#[from] selector::Error),
    /// An Event could not be recorded.
    #[error(transparent)]
    Event(#[from] crate::events::Error),
    /// Discovery failed.
    #[error(transparent)]
    Discovery(#[from] crate::discovery::Error),
}

impl Error {
    /// Whether the server answered 409 Conflict (a stale update).
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Api { source: kube::Error::Api(status), .. } if status.is_conflict())
    }

    fn status_code(&self) -> Option<u16> {
        match self {
            Error::Api {
                source: kube::Error::Api(status),
                ..
            } => Some(status.code),
            _ => None,
        }
    }
}

/// Options of a delete.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    /// `Orphan`, `Background` or `Foreground`.
    pub propagation_policy: Option<String>,
    /// Grace period override.
    pub grace_period_seconds: Option<u32>,
    /// `{uid, resourceVersion}` that must still hold.
    pub preconditions: Option<Value>,
}

/// The cluster as one controller sees it.
#[derive(Clone)]
pub struct Cluster {
    caches: Arc<Caches>,
    resources: Arc<Resources>,
    events: EventRecorder,
    owns: Vec<KindRef>,
    runtime: tokio::runtime::Handle,
}

fn kind_of(obj: &Value) -> Result<KindRef, Error> {
    match (obj["apiVersion"].as_str(), obj["kind"].as_str()) {
        (Some(api_version), Some(kind)) => Ok(KindRef::new(api_version, kind)),
        _ => Err(Error::Invalid("object without apiVersion and kind".into())),
    }
}

/// The body of a write: a script's object goes out as it is (the server checks it).
fn body(obj: &Value) -> Result<JsonObject, Error> {
    if !obj.is_object() {
        return Err(Error::Invalid("not an object".into()));
    }
    Ok(JsonObject::new(obj.clone()))
}

fn to_value(obj: JsonObject) -> Value {
    obj.value
}

/// Whether every field present in `desired` has the same value in `existing` (objects are
/// compared key by key, everything else as a whole).
pub fn contains(existing: &Value, desired: &Value) -> bool {
    match (existing, desired) {
        (Value::Object(have), Value::Object(want)) => want.iter().all(|(key, value)| {
            have.get(key).is_some_and(|have| contains(have, value))
                || (value.is_null() && !have.contains_key(key))
        }),
        _ => existing == desired,
    }
}

/// The controller ownerReference of an object, if it has one.
pub fn controller_of(obj: &Value) -> Option<&Value> {
    obj["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|reference| reference["controller"].as_bool() == Some(true))
}

/// `child` with a controller ownerReference to `owner` (replacing any other controller one).
pub fn with_owner(mut child: Value, owner: &Value) -> Result<Value, Error> {
    let reference = json!({
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": true,
        "blockOwnerDeletion": true,
    });
    if reference["uid"].as_str().is_none() || reference["name"].as_str().is_none() {
        return Err(Error::Invalid(
            "owner without metadata.name and metadata.uid".into(),
        ));
    }
    let meta = child
        .as_object_mut()
        .ok_or_else(|| Error::Invalid("child is not a map".into()))?
        .entry("metadata")
        .or_insert_with(|| json!({}));
    let meta = meta
        .as_object_mut()
        .ok_or_else(|| Error::Invalid("child metadata is not a map".into()))?;
    let mut references: Vec<Value> = meta
        .get("ownerReferences")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    references.retain(|r| r["controller"].as_bool() != Some(true) && r["uid"] != reference["uid"]);
    references.push(reference);
    meta.insert("ownerReferences".into(), Value::Array(references));
    Ok(child)
}

impl Cluster {
    /// A view for a controller owning `owns` (used by [`Cluster::sync_children`]).
    pub fn new(
        caches: Arc<Caches>,
        resources: Arc<Resources>,
        events: EventRecorder,
        owns: Vec<KindRef>,
    ) -> Self {
        Cluster {
            caches,
            resources,
            events,
            owns,
            runtime: tokio::runtime::Handle::current(),
        }
    }

    fn client(&self) -> &Client {
        self.resources.client()
    }

    fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    fn informer(&self, kind: &KindRef) -> Result<Arc<crate::cache::Informer>, Error> {
        let informer = self.caches.informer(kind);
        if !informer.is_ready() {
            self.block_on(informer.wait_ready(SYNC_TIMEOUT))?;
        }
        Ok(informer)
    }

    /// An object from the cache.
    pub fn get(&self, kind: &KindRef, namespace: &str, name: &str) -> Result<Option<Value>, Error> {
        let informer = self.informer(kind)?;
        Ok(informer
            .get(&ObjectKey::new(namespace, name))
            .map(|obj| (*obj).clone()))
    }

    /// Objects from the cache in `namespace` (`""` = all) matching `selector`.
    pub fn list(
        &self,
        kind: &KindRef,
        namespace: &str,
        selector: &Value,
    ) -> Result<Vec<Arc<Value>>, Error> {
        let selector = selector::from_value(selector)?;
        Ok(self.informer(kind)?.select(namespace, &selector))
    }

    /// Every resource the server serves, at its most stable version, custom resources
    /// included: discovered again once the CRD cache shows a change.
    pub fn api_resources(&self) -> Result<Arc<Vec<ServedResource>>, Error> {
        let crds = self.informer(&KindRef::new(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
        ))?;
        let crds = crds.list("");
        Ok(self.block_on(self.resources.discovery().resources(&crds))?)
    }

    /// The objects of `kind` whose controller ownerReference is the owner with `uid`, in the
    /// owner's `namespace` (`""` for a cluster-scoped owner).
    pub fn children(
        &self,
        uid: &str,
        namespace: &str,
        kind: &KindRef,
    ) -> Result<Vec<Arc<Value>>, Error> {
        let informer = self.informer(kind)?;
        Ok(informer
            .controlled_by(uid)
            .into_iter()
            // A namespaced owner controls objects of its own namespace only.
            .filter(|obj| {
                namespace.is_empty() || obj["metadata"]["namespace"].as_str() == Some(namespace)
            })
            .collect())
    }

    /// An object's type and metadata only (upstream's `PartialObjectMetadata`), for
    /// controllers that look at ownership and lifecycle rather than content: much less to
    /// hand to a script than the whole object.
    pub fn get_meta(
        &self,
        kind: &KindRef,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Value>, Error> {
        self.get_fields(kind, namespace, name, &["metadata"])
    }

    /// An object's type and the values at `fields` (dotted paths): a script checking one
    /// field of a node or a set (its taints, its strategy) need not convert all of it.
    pub fn get_fields<S: AsRef<str>>(
        &self,
        kind: &KindRef,
        namespace: &str,
        name: &str,
        fields: &[S],
    ) -> Result<Option<Value>, Error> {
        let informer = self.informer(kind)?;
        Ok(informer
            .get(&ObjectKey::new(namespace, name))
            .map(|obj| crate::projection::project(&obj, fields)))
    }

    /// The type and metadata of every object of `kind` in `namespace` (`""` = all).
    pub fn list_meta(&self, kind: &KindRef, namespace: &str) -> Result<Vec<Value>, Error> {
        let informer = self.informer(kind)?;
        Ok(informer
            .list(namespace)
            .iter()
            .map(|obj| crate::projection::project(obj, &["metadata"]))
            .collect())
    }

    /// Whether objects of a served kind live in namespaces; `None` for a kind not served.
    pub fn is_namespaced(&self, api_version: &str, kind: &str) -> Result<Option<bool>, Error> {
        let group = KindRef::new(api_version, kind).group().to_string();
        Ok(self
            .api_resources()?
            .iter()
            .find(|r| r.group == group && r.kind == kind)
            .map(|r| r.namespaced))
    }

    fn api_for(&self, kind: &KindRef, namespace: &str) -> Result<Api<JsonObject>, Error> {
        let resolved = self.block_on(self.resources.resolve(kind))?;
        Ok(self.resources.api(&resolved, namespace))
    }

    fn target(kind: &KindRef, namespace: &str, name: &str) -> String {
        format!("{} {}", kind.kind, ObjectKey::new(namespace, name))
    }

    fn namespace_name(obj: &Value) -> (String, String) {
        let key = ObjectKey::of(obj);
        (key.namespace, key.name)
    }

    /// Creates an object.
    pub fn create(&self, obj: &Value) -> Result<Value, Error> {
        let kind = kind_of(obj)?;
        let (namespace, name) = Self::namespace_name(obj);
        let api = self.api_for(&kind, &namespace)?;
        let created = self
            .block_on(api.create(&PostParams::default(), &body(obj)?))
            .map_err(|source| Error::Api {
                verb: "create",
                target: Self::target(&kind, &namespace, &name),
                source,
            })?;
        Ok(to_value(created))
    }

    /// Creates several objects, up to [`CREATES_AT_ONCE`] requests in flight, as upstream's
    /// controllers create a batch of pods. Every create is attempted; the first failure (in
    /// the order given) is the error, otherwise the created objects in that order.
    pub fn create_all(&self, objects: &[Value]) -> Result<Vec<Value>, Error> {
        use futures::StreamExt;
        // Everything is checked before the first request goes out; the requests themselves
        // are made as they are sent: a request's future holds the whole client pipeline's
        // state, and hundreds of them made at once were a large allocation per batch.
        let prepared = objects
            .iter()
            .map(|obj| {
                let kind = kind_of(obj)?;
                let (namespace, name) = Self::namespace_name(obj);
                let api = self.api_for(&kind, &namespace)?;
                Ok((kind, namespace, name, api, body(obj)?))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let results: Vec<Result<Value, Error>> = self.block_on(
            futures::stream::iter(prepared)
                .map(|(kind, namespace, name, api, body)| async move {
                    api.create(&PostParams::default(), &body)
                        .await
                        .map(to_value)
                        .map_err(|source| Error::Api {
                            verb: "create",
                            target: Self::target(&kind, &namespace, &name),
                            source,
                        })
                })
                .buffered(CREATES_AT_ONCE)
                .collect(),
        );
        results.into_iter().collect()
    }

    /// Replaces an object (its resourceVersion makes a stale update a conflict).
    pub fn update(&self, obj: &Value) -> Result<Value, Error> {
        let kind = kind_of(obj)?;
        let (namespace, name) = Self::namespace_name(obj);
        let api = self.api_for(&kind, &namespace)?;
        let updated = self
            .block_on(api.replace(&name, &PostParams::default(), &body(obj)?))
            .map_err(|source| Error::Api {
                verb: "update",
                target: Self::target(&kind, &namespace, &name),
                source,
            })?;
        Ok(to_value(updated))
    }

    /// Replaces an object's status subresource.
    pub fn update_status(&self, obj: &Value) -> Result<Value, Error> {
        let kind = kind_of(obj)?;
        let (namespace, name) = Self::namespace_name(obj);
        let api = self.api_for(&kind, &namespace)?;
        let updated = self
            .block_on(api.replace_status(&name, &PostParams::default(), &body(obj)?))
            .map_err(|source| Error::Api {
                verb: "update status of",
                target: Self::target(&kind, &namespace, &name),
                source,
            })?;
        Ok(to_value(updated))
    }

    /// Replaces a namespace's `spec.finalizers` through its `finalize` subresource (the only
    /// way the server lets them change, as upstream).
    pub fn finalize(&self, namespace: &Value) -> Result<Value, Error> {
        let kind = kind_of(namespace)?;
        let (_, name) = Self::namespace_name(namespace);
        let api = self.api_for(&kind, "")?;
        let updated = self
            .block_on(api.replace_subresource("finalize", &name, &PostParams::default(), namespace))
            .map_err(|source| Error::Api {
                verb: "finalize",
                target: Self::target(&kind, "", &name),
                source,
            })?;
        Ok(to_value(updated))
    }

    /// Applies a JSON merge patch.
    pub fn patch(
        &self,
        kind: &KindRef,
        namespace: &str,
        name: &str,
        patch: &Value,
    ) -> Result<Value, Error> {
        let api = self.api_for(kind, namespace)?;
        let patched = self
            .block_on(api.patch(name, &PatchParams::default(), &Patch::Merge(patch)))
            .map_err(|source| Error::Api {
                verb: "patch",
                target: Self::target(kind, namespace, name),
                source,
            })?;
        Ok(to_value(patched))
    }

    /// Deletes an object; `None` when it was already gone.
    pub fn delete(
        &self,
        kind: &KindRef,
        namespace: &str,
        name: &str,
        options: &DeleteOptions,
    ) -> Result<Option<Value>, Error> {
        let api = self.api_for(kind, namespace)?;
        let params = DeleteParams {
            propagation_policy: match options.propagation_policy.as_deref() {
                None => None,
                Some("Orphan") => Some(PropagationPolicy::Orphan),
                Some("Background") => Some(PropagationPolicy::Background),
                Some("Foreground") => Some(PropagationPolicy::Foreground),
                Some(other) => {
                    return Err(Error::Invalid(format!("unknown propagationPolicy {other}")));
                }
            },
            grace_period_seconds: options.grace_period_seconds,
            preconditions: options.preconditions.as_ref().map(|p| Preconditions {
                uid: p["uid"].as_str().map(str::to_string),
                resource_version: p["resourceVersion"].as_str().map(str::to_string),
            }),
            ..Default::default()
        };
        match self.block_on(api.delete(name, &params)) {
            Ok(either) => Ok(either.left().map(to_value).or(Some(Value::Null))),
            Err(kube::Error::Api(status)) if status.is_not_found() => Ok(None),
            Err(source) => Err(Error::Api {
                verb: "delete",
                target: Self::target(kind, namespace, name),
                source,
            }),
        }
    }

    /// Evicts a pod through the eviction subresource (honours PodDisruptionBudgets).
    pub fn evict(&self, namespace: &str, name: &str) -> Result<(), Error> {
        let pods: Api<Pod> = Api::namespaced(self.client().clone(), namespace);
        self.block_on(pods.evict(name, &EvictParams::default()))
            .map(drop)
            .map_err(|source| Error::Api {
                verb: "evict",
                target: Self::target(&KindRef::new("v1", "Pod"), namespace, name),
                source,
            })
    }

    /// Records an Event about `obj` from this controller.
    pub fn event(
        &self,
        obj: &Value,
        event_type: &str,
        reason: &str,
        message: &str,
    ) -> Result<(), Error> {
        Ok(self.block_on(self.events.record(obj, event_type, reason, message))?)
    }

    /// Makes the children of `owner` match `desired` (metacontroller style): creates missing
    /// ones with a controller ownerReference, updates those whose fields differ from the
    /// desired ones (only fields present in `desired` count), deletes owned children of the
    /// desired kinds and of the controller's owned kinds that are not desired. Returns the
    /// resulting children.
    pub fn sync_children(&self, owner: &Value, desired: &[Value]) -> Result<Vec<Value>, Error> {
        let owner_namespace = owner["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let mut kinds: Vec<KindRef> = self.owns.clone();
        let mut wanted = std::collections::BTreeSet::new();
        let mut result = Vec::new();
        for child in desired {
            let kind = kind_of(child)?;
            if !kinds.contains(&kind) {
                kinds.push(kind.clone());
            }
            let name = child["metadata"]["name"]
                .as_str()
                .ok_or_else(|| Error::Invalid("a desired child has no metadata.name".into()))?
                .to_string();
            let mut child = child.clone();
            if child["metadata"]["namespace"].as_str().is_none() && !owner_namespace.is_empty() {
                child["metadata"]["namespace"] = Value::String(owner_namespace.clone());
            }
            let namespace = child["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            wanted.insert((kind.clone(), namespace.clone(), name.clone()));
            let child = with_owner(child, owner)?;
            let existing = self.get(&kind, &namespace, &name)?;
            let obj = match existing {
                None => match self.create(&child) {
                    Ok(created) => created,
                    // The cache lags our own earlier create: fall through to an update.
                    Err(error) if error.status_code() == Some(409) => {
                        let api = self.api_for(&kind, &namespace)?;
                        let current =
                            self.block_on(api.get(&name)).map_err(|source| Error::Api {
                                verb: "get",
                                target: Self::target(&kind, &namespace, &name),
                                source,
                            })?;
                        self.update_child(to_value(current), &child, owner)?
                    }
                    Err(error) => return Err(error),
                },
                Some(existing) => self.update_child(existing, &child, owner)?,
            };
            result.push(obj);
        }
        let meta = &owner["metadata"];
        let uid = meta["uid"].as_str().unwrap_or_default();
        let owner_namespace = meta["namespace"].as_str().unwrap_or_default();
        for kind in &kinds {
            for child in self.children(uid, owner_namespace, kind)? {
                let (namespace, name) = Self::namespace_name(&child);
                if !wanted.contains(&(kind.clone(), namespace.clone(), name.clone()))
                    && child["metadata"]["deletionTimestamp"].is_null()
                {
                    self.delete(
                        kind,
                        &namespace,
                        &name,
                        &DeleteOptions {
                            propagation_policy: Some("Background".into()),
                            ..Default::default()
                        },
                    )?;
                }
            }
        }
        Ok(result)
    }

    fn update_child(
        &self,
        existing: Value,
        desired: &Value,
        owner: &Value,
    ) -> Result<Value, Error> {
        let owner_uid = owner["metadata"]["uid"].as_str().unwrap_or_default();
        if let Some(reference) = controller_of(&existing)
            && reference["uid"].as_str() != Some(owner_uid)
        {
            return Err(Error::Invalid(format!(
                "{} {} is controlled by {} {}",
                existing["kind"].as_str().unwrap_or_default(),
                ObjectKey::of(&existing),
                reference["kind"].as_str().unwrap_or_default(),
                reference["name"].as_str().unwrap_or_default(),
            )));
        }
        // Keep the child's other ownerReferences: the desired list is the existing one with
        // our controller reference set.
        let references = with_owner(
            json!({ "metadata": { "ownerReferences": existing["metadata"]["ownerReferences"] } }),
            owner,
        )?;
        let mut desired = desired.clone();
        desired["metadata"]["ownerReferences"] = references["metadata"]["ownerReferences"].clone();
        if contains(&existing, &desired) {
            return Ok(existing);
        }
        let mut merged = existing;
        json_patch::merge(&mut merged, &desired);
        self.update(&merged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_compares_only_desired_fields() {
        let existing = json!({"metadata": {"name": "a", "uid": "1"}, "data": {"x": "1", "y": "2"}});
        assert!(contains(&existing, &json!({"data": {"x": "1"}})));
        assert!(!contains(&existing, &json!({"data": {"x": "2"}})));
        assert!(!contains(&existing, &json!({"data": {"z": "1"}})));
    }

    #[test]
    fn with_owner_replaces_the_controller_reference() {
        let owner =
            json!({"apiVersion": "v1", "kind": "A", "metadata": {"name": "a", "uid": "u1"}});
        let child = json!({"metadata": {"ownerReferences": [
            {"apiVersion": "v1", "kind": "B", "name": "b", "uid": "u2", "controller": true},
            {"apiVersion": "v1", "kind": "C", "name": "c", "uid": "u3"}
        ]}});
        let child = with_owner(child, &owner).unwrap();
        let references = child["metadata"]["ownerReferences"].as_array().unwrap();
        assert_eq!(references.len(), 2);
        assert_eq!(controller_of(&child).unwrap()["uid"], "u1");
        assert_eq!(controller_of(&child).unwrap()["blockOwnerDeletion"], true);
    }
}
