//! Upstream's defaults for built-in kinds, applied before validation and storage so objects
//! read back exactly as they would from Kubernetes (`kubectl get -o yaml` shows the same fields).
//!
//! Defaults only fill fields that are missing or `null`; a value the user set is never changed.

pub mod batch;
pub mod cluster;
pub mod pod;
pub mod schema;
pub mod service;
pub mod storage;
pub mod workloads;

use serde_json::{Map, Value};

pub use batch::job_selector;
pub use schema::apply_schema_defaults;

use crate::registry::ResourceInfo;

/// Fills in the defaults of the resource `info` in place. Unknown kinds are left untouched.
pub fn apply(info: &ResourceInfo, obj: &mut Value) {
    if !obj.is_object() {
        return;
    }
    match (info.group.as_str(), info.kind.as_str()) {
        ("", "Pod") => pod::pod(obj),
        ("", "PodTemplate") => pod::template(obj.get_mut("template")),
        ("", "Service") => service::service(obj),
        ("", "Secret") => set(root(obj), "type", "Opaque"),
        ("", "Namespace") => cluster::namespace(obj),
        ("", "PersistentVolume") => storage::volume(obj),
        ("", "PersistentVolumeClaim") => storage::claim(obj),
        ("", "Endpoints") => cluster::endpoints(obj),
        ("apps", "Deployment") => workloads::deployment(obj),
        ("apps", "ReplicaSet") => workloads::replica_set(obj),
        ("apps", "StatefulSet") => workloads::stateful_set(obj),
        ("apps", "DaemonSet") => workloads::daemon_set(obj),
        ("batch", "Job") => batch::job(obj),
        ("batch", "CronJob") => batch::cron_job(obj),
        ("autoscaling", "HorizontalPodAutoscaler") => cluster::hpa(obj),
        ("networking.k8s.io", "NetworkPolicy") => cluster::network_policy(obj),
        ("storage.k8s.io", "StorageClass") => storage::storage_class(obj),
        ("scheduling.k8s.io", "PriorityClass") => {
            set(root(obj), "preemptionPolicy", "PreemptLowerPriority")
        }
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            cluster::role_binding(obj)
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => cluster::crd(obj),
        _ => {}
    }
}

/// The top-level map of an object (callers have checked it is one).
fn root(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = Value::Object(Map::new());
    }
    obj.as_object_mut().expect("just made an object")
}

/// The map under `key`, created when missing or `null`. A non-object value is left alone and a
/// detached map is returned, so defaults never replace what the user wrote.
fn child<'a>(map: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Map<String, Value>> {
    let slot = map.entry(key.to_string()).or_insert(Value::Null);
    if slot.is_null() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut()
}

/// Sets `key` to `value` unless it already holds a non-null value.
fn set(map: &mut Map<String, Value>, key: &str, value: impl Into<Value>) {
    let slot = map.entry(key.to_string()).or_insert(Value::Null);
    if slot.is_null() {
        *slot = value.into();
    }
}

/// The items of the array under `key`, when it is one.
fn items<'a>(
    map: &'a mut Map<String, Value>,
    key: &str,
) -> impl Iterator<Item = &'a mut Map<String, Value>> {
    map.get_mut(key)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object_mut)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;
    use serde_json::json;

    fn defaulted(resource: &str, mut obj: Value) -> Value {
        let registry = Registry::builtin();
        apply(registry.resolve(resource).unwrap(), &mut obj);
        obj
    }

    #[test]
    fn secrets_default_to_opaque() {
        assert_eq!(defaulted("secrets", json!({}))["type"], "Opaque");
        assert_eq!(
            defaulted("secrets", json!({"type": "kubernetes.io/tls"}))["type"],
            "kubernetes.io/tls"
        );
    }

    #[test]
    fn null_fields_count_as_unset_and_non_objects_are_left_alone() {
        let d = defaulted(
            "deployments",
            json!({"spec": {"replicas": null, "strategy": "odd"}}),
        );
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(d["spec"]["strategy"], "odd");
    }

    #[test]
    fn unknown_kinds_are_untouched() {
        let obj = json!({"spec": {"x": null}});
        assert_eq!(defaulted("leases", obj.clone()), obj);
    }

    #[test]
    fn priority_classes_preempt_lower_priority() {
        assert_eq!(
            defaulted("priorityclasses", json!({"value": 10}))["preemptionPolicy"],
            "PreemptLowerPriority"
        );
    }
}
