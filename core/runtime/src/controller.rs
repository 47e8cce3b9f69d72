//! The one controller contract shared by Rhai scripts and native plugins.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::cluster::Cluster;

/// A kind, as `apiVersion` + `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
pub struct KindRef {
    /// `v1`, `apps/v1`, `example.com/v1alpha1`, ...
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// `Pod`, `ReplicaSet`, ...
    pub kind: String,
}

impl KindRef {
    /// A kind from its two parts.
    pub fn new(api_version: impl Into<String>, kind: impl Into<String>) -> Self {
        KindRef {
            api_version: api_version.into(),
            kind: kind.into(),
        }
    }

    /// The API group (`""` for the core group).
    pub fn group(&self) -> &str {
        self.api_version
            .rsplit_once('/')
            .map(|(g, _)| g)
            .unwrap_or("")
    }
}

impl std::fmt::Display for KindRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.api_version, self.kind)
    }
}

/// Another kind a controller watches, with how its objects map to primary keys: a function of
/// the controller, or the primaries' label selectors.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct WatchRef {
    /// The watched kind.
    #[serde(flatten)]
    pub kind: KindRef,
    /// The mapping function (`fn(obj) -> [#{namespace, name}]` in Rhai). Exactly one of
    /// `map` and `selected_by` is given.
    #[serde(default)]
    pub map: Option<String>,
    /// Instead of a function, the path of a label selector in the primaries (such as
    /// `spec.selector`): an object maps to the primaries of its namespace whose selector
    /// there matches its labels, before or after the change (see [`crate::selected`]).
    #[serde(default)]
    pub selected_by: Option<String>,
    /// With `selected_by`: only objects without a controller ownerReference are mapped (the
    /// orphans a primary may adopt; owned ones reach their owner through `owns`).
    #[serde(default)]
    pub orphans: bool,
    /// The fields the function reads (dotted paths such as `metadata` or `spec.nodeName`):
    /// when given, it gets only those, with `apiVersion` and `kind`; otherwise the whole
    /// object.
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    /// The fields whose change matters (dotted paths): when given, a modified object is
    /// mapped only if one of them differs from the version seen before; added and deleted
    /// objects always are. Without it every change is mapped.
    #[serde(default)]
    pub changed: Option<Vec<String>>,
}

/// What a controller declares: the shape of a script's `config()` map.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ControllerConfig {
    /// Unique controller name (also the Event source component and the metrics label).
    pub name: String,
    /// The kind it reconciles; keys in its work queue are objects of this kind.
    pub primary: KindRef,
    /// Kinds whose objects are mapped to their controller owner (ownerReferences).
    #[serde(default)]
    pub owns: Vec<KindRef>,
    /// Other kinds, mapped to primaries by a controller function.
    #[serde(default)]
    pub watches: Vec<WatchRef>,
    /// Period of full resync; `None` takes the host's default.
    #[serde(default)]
    pub resync_seconds: Option<f64>,
    /// How many keys are reconciled at once (never one key twice at once); 1 when not
    /// given. A reconcile that waits on the API (a batch of creates) holds its worker
    /// meanwhile, so a controller of many objects wants several, as upstream's
    /// `--concurrent-*-syncs`.
    #[serde(default)]
    pub workers: Option<usize>,
}

impl ControllerConfig {
    /// What is wrong with the declared watches (how they map, their `fields` and `changed`),
    /// if anything.
    pub fn check_fields(&self) -> Result<(), String> {
        for watch in &self.watches {
            match (&watch.map, &watch.selected_by) {
                (Some(_), None) if watch.orphans => {
                    return Err(format!(
                        "watch of {}: orphans applies to selected_by, not to a mapping function",
                        watch.kind
                    ));
                }
                (Some(_), None) => {}
                (None, Some(path)) => crate::projection::check(std::slice::from_ref(path))
                    .map_err(|e| format!("watch of {}: selected_by: {e}", watch.kind))?,
                _ => {
                    return Err(format!(
                        "watch of {} needs either map (a function) or selected_by (a selector's path)",
                        watch.kind
                    ));
                }
            }
            for fields in [&watch.fields, &watch.changed].into_iter().flatten() {
                crate::projection::check(fields)
                    .map_err(|e| format!("watch of {}: {e}", watch.kind))?;
            }
        }
        Ok(())
    }
}

/// A namespaced name: a work-queue key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
pub struct ObjectKey {
    /// Namespace (`""` for cluster-scoped objects).
    #[serde(default)]
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjectKey {
    /// A key from its parts.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        ObjectKey {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// The key of a JSON object (its metadata namespace and name).
    pub fn of(obj: &Value) -> Self {
        let meta = &obj["metadata"];
        ObjectKey::new(
            meta["namespace"].as_str().unwrap_or_default(),
            meta["name"].as_str().unwrap_or_default(),
        )
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.namespace.is_empty() {
            f.write_str(&self.name)
        } else {
            write!(f, "{}/{}", self.namespace, self.name)
        }
    }
}

/// What to do after a successful reconcile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    /// Nothing until something changes.
    Wait,
    /// Reconcile again after this long.
    RequeueAfter(Duration),
}

/// Why a reconcile failed; the message names the script and line where there is one.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ReconcileError {
    /// Human-readable cause.
    pub message: String,
}

impl ReconcileError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        ReconcileError {
            message: message.into(),
        }
    }
}

/// What a reconcile gets besides the object.
#[derive(Clone)]
pub struct Context {
    /// The controller's name.
    pub name: String,
    /// When the reconcile started (RFC 3339).
    pub now: String,
    /// Reads from the shared caches and writes through the API, for this controller.
    pub cluster: Arc<Cluster>,
}

/// A controller: declared watches plus a reconcile function. Both methods are synchronous and
/// run on blocking threads; `reconcile` of one controller is never run twice at once.
pub trait Controller: Send + Sync {
    /// What the controller watches.
    fn config(&self) -> &ControllerConfig;

    /// Reconciles one primary object (or `{deleted: true, namespace, name}` when it is gone).
    fn reconcile(&self, obj: &Value, ctx: &Context) -> Result<Action, ReconcileError>;

    /// Maps an object of a watched kind to primary keys with the named function.
    fn map(
        &self,
        function: &str,
        obj: &Value,
        ctx: &Context,
    ) -> Result<Vec<ObjectKey>, ReconcileError> {
        let _ = (obj, ctx);
        Err(ReconcileError::new(format!(
            "controller has no mapping function {function}"
        )))
    }

    /// Maps only the `fields` of a watched object (dotted paths, as a watch declares them).
    /// The default hands their JSON projection to [`Controller::map`]; a host with values of
    /// its own builds them from the object directly.
    fn map_fields(
        &self,
        function: &str,
        obj: &Value,
        fields: &[String],
        ctx: &Context,
    ) -> Result<Vec<ObjectKey>, ReconcileError> {
        self.map(function, &crate::projection::project(obj, fields), ctx)
    }
}
