//! Validation of objects before they are stored: metadata, the built-in kinds' common rules, and
//! CustomResourceDefinition schemas.
//!
//! Every problem becomes a [`StatusCause`] worded like upstream, so `kubectl` shows the same
//! `The Deployment "web" is invalid: spec.replicas: Invalid value: ...` text users know. Checks
//! run on defaulted objects but tolerate missing optional fields, so callers may validate first.

pub mod batch;
pub mod cluster;
pub mod config;
pub mod crd;
pub mod field;
pub mod meta;
pub mod names;
pub mod networking;
pub mod pod;
pub mod quantity;
pub mod schema;
pub mod service;
pub mod storage;
pub mod workloads;

use serde_json::Value;

pub use meta::NameRule;
pub use quantity::Quantity;
pub use schema::{prune, validate_against_schema};

use crate::registry::ResourceInfo;
use crate::status::StatusCause;

/// Validates a whole object of the resource `info`: metadata first, then the kind's own rules.
///
/// Kinds without rules of their own (and custom resources, whose schema is checked with
/// [`validate_against_schema`]) get the metadata checks only.
pub fn validate(info: &ResourceInfo, obj: &Value) -> Vec<StatusCause> {
    let mut causes = meta::validate_object_meta(obj, info.namespaced(), name_rule(info));
    let kind_causes = match (info.group.as_str(), info.kind.as_str()) {
        ("", "Pod") => pod::validate_pod_spec(
            obj.get("spec").unwrap_or(&Value::Null),
            &field::Path::new("spec"),
        ),
        ("", "PodTemplate") => {
            pod::validate_template(obj.get("template"), &field::Path::new("template"))
        }
        ("", "Service") => service::validate_service(obj),
        ("", "ConfigMap") => config::validate_config_map(obj),
        ("", "Secret") => config::validate_secret(obj),
        ("", "Namespace") => cluster::validate_namespace(obj),
        ("", "Node") => cluster::validate_node(obj),
        ("", "PersistentVolumeClaim") => storage::validate_claim(obj),
        ("", "PersistentVolume") => storage::validate_volume(obj),
        ("apps", "Deployment") => workloads::validate_deployment(obj),
        ("apps", "ReplicaSet") => workloads::validate_replica_set(obj),
        ("apps", "StatefulSet") => workloads::validate_stateful_set(obj),
        ("apps", "DaemonSet") => workloads::validate_daemon_set(obj),
        ("batch", "Job") => batch::validate_job(obj),
        ("batch", "CronJob") => batch::validate_cron_job(obj),
        ("autoscaling", "HorizontalPodAutoscaler") => cluster::validate_hpa(obj),
        ("networking.k8s.io", "Ingress") => networking::validate_ingress(obj),
        ("networking.k8s.io", "IngressClass") => networking::validate_ingress_class(obj),
        ("storage.k8s.io", "StorageClass") => storage::validate_storage_class(obj),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => crd::validate_crd(obj),
        _ => Vec::new(),
    };
    causes.extend(kind_causes);
    causes
}

/// The syntax object names of a resource must follow, as upstream chooses it per kind.
pub fn name_rule(info: &ResourceInfo) -> NameRule {
    match (info.group.as_str(), info.kind.as_str()) {
        ("", "Namespace") => NameRule::Label,
        ("", "Service") => NameRule::Dns1035,
        ("rbac.authorization.k8s.io", _) => NameRule::PathSegment,
        _ => NameRule::Subdomain,
    }
}

/// The items of a JSON array, or none when the value is missing or not an array.
pub(crate) fn as_array(v: Option<&Value>) -> &[Value] {
    v.and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// The string at `key`, or "" when missing or not a string.
pub(crate) fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// Reports `key` of `obj` when it is an integer below `min`.
pub(crate) fn check_min(
    obj: &Value,
    key: &str,
    path: &field::Path,
    min: i64,
    causes: &mut Vec<StatusCause>,
) {
    if let Some(v) = obj.get(key).filter(|v| !v.is_null()) {
        match v.as_i64() {
            Some(n) if n < min => causes.push(field::invalid(
                &path.child(key),
                v,
                &format!("must be greater than or equal to {min}"),
            )),
            Some(_) => {}
            None => causes.push(field::invalid(&path.child(key), v, "must be an integer")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;
    use serde_json::json;

    fn check(resource: &str, obj: Value) -> Vec<String> {
        let registry = Registry::builtin();
        let info = registry.resolve(resource).expect("known resource");
        validate(info, &obj)
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    #[test]
    fn pods_get_metadata_and_spec_checks() {
        let m = check(
            "pods",
            json!({"metadata": {"name": "Bad_Name"}, "spec": {"containers": [{"name": "c"}]}}),
        );
        assert_eq!(m.len(), 2, "{m:?}");
        assert!(m[0].starts_with("metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"));
        assert_eq!(m[1], "spec.containers[0].image: Required value");
        assert!(check("pods", json!({"metadata": {"name": "web"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}})).is_empty());
    }

    #[test]
    fn namespaces_and_services_use_label_names() {
        assert!(
            check("namespaces", json!({"metadata": {"name": "team.a"}}))[0]
                .contains("RFC 1123 label")
        );
        assert!(check("namespaces", json!({"metadata": {"name": "team-a"}})).is_empty());
        let m = check(
            "services",
            json!({"metadata": {"name": "1web"}, "spec": {"ports": [{"port": 80}]}}),
        );
        assert!(
            m[0].starts_with("metadata.name: Invalid value: \"1web\": a DNS-1035 label"),
            "{m:?}"
        );
    }

    #[test]
    fn rbac_names_may_contain_colons() {
        assert!(
            check(
                "clusterroles",
                json!({"metadata": {"name": "system:controller:x"}})
            )
            .is_empty()
        );
        assert!(!check("clusterroles", json!({"metadata": {"name": "a/b"}})).is_empty());
    }

    #[test]
    fn every_built_in_kind_is_routed_to_its_rules() {
        let cases = [
            (
                "deployments",
                json!({"metadata": {"name": "d"}, "spec": {}}),
                "spec.selector: Required value",
            ),
            (
                "replicasets",
                json!({"metadata": {"name": "r"}, "spec": {}}),
                "spec.selector: Required value",
            ),
            (
                "statefulsets",
                json!({"metadata": {"name": "s"}, "spec": {}}),
                "spec.selector: Required value",
            ),
            (
                "daemonsets",
                json!({"metadata": {"name": "d"}, "spec": {}}),
                "spec.selector: Required value",
            ),
            (
                "jobs",
                json!({"metadata": {"name": "j"}, "spec": {}}),
                "spec.template: Required value",
            ),
            (
                "cronjobs",
                json!({"metadata": {"name": "c"}, "spec": {}}),
                "spec.schedule: Required value",
            ),
            (
                "services",
                json!({"metadata": {"name": "s"}, "spec": {}}),
                "spec.ports: Required value",
            ),
            (
                "configmaps",
                json!({"metadata": {"name": "c"}, "data": {"a b": "x"}}),
                "data[a b]: Invalid value",
            ),
            (
                "secrets",
                json!({"metadata": {"name": "s"}, "type": "kubernetes.io/tls"}),
                "data[tls.crt]: Required value",
            ),
            (
                "nodes",
                json!({"metadata": {"name": "n"}, "spec": {"taints": [{"key": "k"}]}}),
                "spec.taints[0].effect: Required value",
            ),
            (
                "persistentvolumeclaims",
                json!({"metadata": {"name": "p"}, "spec": {}}),
                "spec.accessModes: Required value",
            ),
            (
                "persistentvolumes",
                json!({"metadata": {"name": "p"}, "spec": {}}),
                "spec.accessModes: Required value",
            ),
            (
                "ingresses",
                json!({"metadata": {"name": "i"}, "spec": {}}),
                "spec: Invalid value",
            ),
            (
                "storageclasses",
                json!({"metadata": {"name": "s"}}),
                "provisioner: Required value",
            ),
            (
                "hpa",
                json!({"metadata": {"name": "h"}, "spec": {}}),
                "spec.scaleTargetRef.kind: Required value",
            ),
            (
                "crd",
                json!({"metadata": {"name": "a.b.c"}, "spec": {}}),
                "spec.group: Required value",
            ),
            (
                "podtemplates",
                json!({"metadata": {"name": "t"}}),
                "template: Required value",
            ),
        ];
        for (resource, obj, expected) in cases {
            let m = check(resource, obj);
            assert!(
                m.iter().any(|s| s.starts_with(expected)),
                "{resource}: {m:?}"
            );
        }
    }

    #[test]
    fn minimum_checks_reject_non_integers() {
        let mut causes = Vec::new();
        check_min(
            &json!({"n": "x"}),
            "n",
            &field::Path::new("spec"),
            0,
            &mut causes,
        );
        assert_eq!(
            causes[0].message,
            "Invalid value: \"x\": must be an integer"
        );
    }
}
