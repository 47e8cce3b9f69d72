//! Namespace rules: the namespaces every cluster starts with, and no new content in a
//! missing or terminating namespace.

use serde_json::{Value, json};
use skiff_api::{Registry, ResourceInfo, Status, meta};
use skiff_store::Store;

use crate::objects;

/// Created at start when missing.
pub const INITIAL: [&str; 4] = ["default", "kube-system", "kube-public", "kube-node-lease"];

fn namespaces(registry: &Registry) -> ResourceInfo {
    registry
        .by_plural("", "v1", "namespaces")
        .cloned()
        .expect("namespaces are a built-in resource")
}

/// The namespaces resource, looked up once (every namespaced create checks its namespace).
fn namespaces_info() -> &'static ResourceInfo {
    static INFO: std::sync::LazyLock<ResourceInfo> =
        std::sync::LazyLock::new(|| namespaces(&Registry::builtin()));
    &INFO
}

/// A new namespace object as the server would store it.
pub fn new_namespace(name: &str) -> Value {
    let mut ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": name,
        "labels": {"kubernetes.io/metadata.name": name},
    }});
    prepare_create(&mut ns);
    meta::set(&mut ns, "uid", uuid::Uuid::new_v4().to_string());
    meta::set(&mut ns, "creationTimestamp", meta::now());
    ns
}

/// Creates the initial namespaces that do not exist yet.
pub async fn bootstrap(store: &dyn Store, registry: &Registry) -> Result<(), skiff_store::Error> {
    let info = namespaces(registry);
    for name in INITIAL {
        let key = info.key(None, name);
        if store.get(&key).await?.is_none() {
            match store
                .create(&key, objects::encode(&new_namespace(name)))
                .await
            {
                Ok(_) | Err(skiff_store::Error::AlreadyExists(_)) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// Upstream defaults of a new namespace: the `kubernetes` finalizer, phase `Active` and the
/// `kubernetes.io/metadata.name` label.
pub fn prepare_create(ns: &mut Value) {
    if ns.pointer("/spec/finalizers").is_none() {
        ns["spec"] = json!({"finalizers": ["kubernetes"]});
    }
    ns["status"] = json!({"phase": "Active"});
    if let Some(name) = meta::name(ns).map(str::to_string) {
        let m = meta::metadata_mut(ns);
        let labels = m.entry("labels").or_insert_with(|| json!({}));
        if let Some(l) = labels.as_object_mut() {
            l.insert("kubernetes.io/metadata.name".into(), json!(name));
        }
    }
}

/// 404 when the namespace is missing, 403 when it is being deleted.
pub async fn check_can_create(
    store: &dyn Store,
    info: &ResourceInfo,
    namespace: &str,
    name: &str,
) -> Result<(), Status> {
    // Every namespaced create reads its namespace: decode only the two fields that matter
    // instead of the whole object into a `Value` (a measurable share of a create).
    #[derive(serde::Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    struct Meta {
        deletion_timestamp: Option<serde::de::IgnoredAny>,
    }
    #[derive(serde::Deserialize, Default)]
    struct Phase {
        phase: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Lifecycle {
        #[serde(default)]
        metadata: Meta,
        #[serde(default)]
        status: Phase,
    }
    let nsinfo = namespaces_info();
    let kv = match store.get(&nsinfo.key(None, namespace)).await {
        Ok(Some(kv)) => kv,
        Ok(None) => return Err(Status::not_found(&nsinfo.group, &nsinfo.plural, namespace)),
        Err(e) => return Err(objects::store_error(e, nsinfo, namespace)),
    };
    let ns: Lifecycle = serde_json::from_slice(&kv.value)
        .map_err(|e| Status::internal(format!("stored object {} is not JSON: {e}", kv.key)))?;
    if ns.metadata.deletion_timestamp.is_some() || ns.status.phase.as_deref() == Some("Terminating")
    {
        return Err(Status::new(
            403,
            "Forbidden",
            format!(
                "{} \"{name}\" is forbidden: unable to create new content in namespace {namespace} because it is being terminated",
                if info.group.is_empty() { info.plural.clone() } else { format!("{}.{}", info.plural, info.group) }
            ),
        )
        .with_details(&info.group, &info.plural, name));
    }
    Ok(())
}

/// Whether a namespace being deleted has no finalizers left and can go.
pub fn can_be_removed(ns: &Value) -> bool {
    meta::is_deleting(ns)
        && meta::finalizers(ns).is_empty()
        && ns
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_none_or(|a| a.is_empty())
}
