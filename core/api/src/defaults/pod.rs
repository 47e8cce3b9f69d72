//! Pod and pod-template defaults.
//!
//! Upstream splits them: PodSpec defaults apply wherever a PodSpec appears (templates too), while
//! a few (service links, service account, priority, tolerations for unready nodes) only
//! materialise on Pods themselves, set by defaulting and admission at creation.

use serde_json::{Map, Value, json};

use super::{child, items, root, set};

/// Defaults of a Pod object.
pub fn pod(obj: &mut Value) {
    let Some(spec) = child(root(obj), "spec") else {
        return;
    };
    pod_spec(spec);
    set(spec, "enableServiceLinks", true);
    set(spec, "serviceAccountName", "default");
    let account = spec["serviceAccountName"].clone();
    set(spec, "serviceAccount", account);
    let has_class = spec
        .get("priorityClassName")
        .and_then(Value::as_str)
        .is_some_and(|c| !c.is_empty());
    if !has_class {
        set(spec, "priority", 0);
    }
    set(spec, "preemptionPolicy", "PreemptLowerPriority");
    default_tolerations(spec);
    for list in ["initContainers", "containers"] {
        for c in items(spec, list) {
            requests_from_limits(c);
        }
    }
}

/// Defaults of a pod template (`{metadata, spec}`), as found in workload specs.
pub fn template(template: Option<&mut Value>) {
    let Some(template) = template.filter(|t| t.is_object()) else {
        return;
    };
    let map = root(template);
    if let Some(spec) = child(map, "spec") {
        pod_spec(spec);
    }
}

/// Defaults every PodSpec gets.
pub fn pod_spec(spec: &mut Map<String, Value>) {
    set(spec, "dnsPolicy", "ClusterFirst");
    set(spec, "restartPolicy", "Always");
    set(spec, "schedulerName", "default-scheduler");
    set(spec, "securityContext", json!({}));
    set(spec, "terminationGracePeriodSeconds", 30);
    let host_network = spec.get("hostNetwork").and_then(Value::as_bool) == Some(true);
    for list in ["initContainers", "containers"] {
        for c in items(spec, list) {
            container(c, host_network);
        }
    }
    for v in items(spec, "volumes") {
        volume(v);
    }
}

fn container(c: &mut Map<String, Value>, host_network: bool) {
    let image = c.get("image").and_then(Value::as_str).unwrap_or_default();
    let policy = pull_policy(image);
    set(c, "imagePullPolicy", policy);
    set(c, "terminationMessagePath", "/dev/termination-log");
    set(c, "terminationMessagePolicy", "File");
    set(c, "resources", json!({}));
    for p in items(c, "ports") {
        set(p, "protocol", "TCP");
        if host_network && let Some(port) = p.get("containerPort").cloned() {
            set(p, "hostPort", port);
        }
    }
    for e in items(c, "env") {
        if let Some(field_ref) = e
            .get_mut("valueFrom")
            .and_then(|v| v.get_mut("fieldRef"))
            .and_then(Value::as_object_mut)
        {
            set(field_ref, "apiVersion", "v1");
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = c.get_mut(probe).and_then(Value::as_object_mut) {
            set(p, "timeoutSeconds", 1);
            set(p, "periodSeconds", 10);
            set(p, "successThreshold", 1);
            set(p, "failureThreshold", 3);
            if let Some(http) = p.get_mut("httpGet").and_then(Value::as_object_mut) {
                set(http, "scheme", "HTTP");
                set(http, "path", "/");
            }
        }
    }
}

/// `Always` for `:latest` or untagged images, `IfNotPresent` for tags and digests.
pub fn pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, tag)) if tag != "latest" => "IfNotPresent",
        _ => "Always",
    }
}

fn volume(v: &mut Map<String, Value>) {
    for source in ["configMap", "secret", "downwardAPI", "projected"] {
        if let Some(s) = v.get_mut(source).and_then(Value::as_object_mut) {
            set(s, "defaultMode", 420);
        }
    }
    if let Some(h) = v.get_mut("hostPath").and_then(Value::as_object_mut) {
        set(h, "type", "");
    }
    if let Some(d) = v.get_mut("downwardAPI").and_then(Value::as_object_mut) {
        for i in items(d, "items") {
            if let Some(f) = i.get_mut("fieldRef").and_then(Value::as_object_mut) {
                set(f, "apiVersion", "v1");
            }
        }
    }
}

/// Upstream copies each limit into a missing request of the same resource.
fn requests_from_limits(c: &mut Map<String, Value>) {
    let Some(resources) = c.get_mut("resources").and_then(Value::as_object_mut) else {
        return;
    };
    let Some(limits) = resources.get("limits").and_then(Value::as_object).cloned() else {
        return;
    };
    if limits.is_empty() {
        return;
    }
    let Some(requests) = child(resources, "requests") else {
        return;
    };
    for (name, q) in limits {
        set(requests, &name, q);
    }
}

/// Pods tolerate unready and unreachable nodes for 300 s unless they say otherwise.
fn default_tolerations(spec: &mut Map<String, Value>) {
    let slot = spec
        .entry("tolerations")
        .or_insert_with(|| Value::Array(Vec::new()));
    if slot.is_null() {
        *slot = Value::Array(Vec::new());
    }
    let Some(list) = slot.as_array_mut() else {
        return;
    };
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ] {
        let covered = list.iter().any(|t| {
            let k = t.get("key").and_then(Value::as_str).unwrap_or_default();
            let effect = t.get("effect").and_then(Value::as_str).unwrap_or_default();
            let exists = t.get("operator").and_then(Value::as_str) == Some("Exists");
            (k == key || (k.is_empty() && exists)) && (effect.is_empty() || effect == "NoExecute")
        });
        if !covered {
            list.push(json!({
                "key": key,
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policy_follows_the_tag() {
        assert_eq!(pull_policy("nginx"), "Always");
        assert_eq!(pull_policy("nginx:latest"), "Always");
        assert_eq!(pull_policy("nginx:1.27"), "IfNotPresent");
        assert_eq!(pull_policy("localhost:5000/busybox"), "Always");
        assert_eq!(pull_policy("localhost:5000/busybox:1"), "IfNotPresent");
        assert_eq!(pull_policy("busybox@sha256:abcd"), "IfNotPresent");
    }

    #[test]
    fn a_pod_reads_back_like_from_kubernetes() {
        let mut p = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "containers": [{
                    "name": "web", "image": "nginx:1.27",
                    "ports": [{"containerPort": 80}],
                    "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                    "readinessProbe": {"httpGet": {"port": 80}},
                    "resources": {"limits": {"cpu": "500m"}},
                    "volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg"}]
                }],
                "volumes": [{"name": "cfg", "configMap": {"name": "cfg"}}]
            }
        });
        pod(&mut p);
        insta::assert_json_snapshot!(p);
    }

    #[test]
    fn user_values_are_kept() {
        let mut p = json!({"spec": {
            "restartPolicy": "Never", "dnsPolicy": "Default", "serviceAccountName": "robot",
            "priorityClassName": "high", "terminationGracePeriodSeconds": 5,
            "tolerations": [{"operator": "Exists"}],
            "containers": [{"name": "c", "image": "busybox", "imagePullPolicy": "Never",
                "ports": [{"containerPort": 53, "protocol": "UDP"}],
                "resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "100m"}}}]
        }});
        pod(&mut p);
        let s = &p["spec"];
        assert_eq!(s["restartPolicy"], "Never");
        assert_eq!(s["dnsPolicy"], "Default");
        assert_eq!(s["serviceAccount"], "robot");
        assert_eq!(s["terminationGracePeriodSeconds"], 5);
        assert!(
            s.get("priority").is_none(),
            "a priority class is resolved by the server"
        );
        assert_eq!(s["tolerations"].as_array().unwrap().len(), 1);
        let c = &s["containers"][0];
        assert_eq!(c["imagePullPolicy"], "Never");
        assert_eq!(c["ports"][0]["protocol"], "UDP");
        assert_eq!(c["resources"]["requests"]["cpu"], "100m");
    }

    #[test]
    fn host_network_pods_publish_container_ports_on_the_host() {
        let mut p = json!({"spec": {"hostNetwork": true, "containers": [{"name": "c", "image": "x", "ports": [{"containerPort": 8080}]}]}});
        pod(&mut p);
        assert_eq!(p["spec"]["containers"][0]["ports"][0]["hostPort"], 8080);
    }

    #[test]
    fn templates_get_pod_spec_defaults_only() {
        let mut t = json!({"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}});
        template(Some(&mut t));
        let s = &t["spec"];
        assert_eq!(s["restartPolicy"], "Always");
        assert_eq!(s["schedulerName"], "default-scheduler");
        assert_eq!(s["containers"][0]["terminationMessagePolicy"], "File");
        assert!(s.get("enableServiceLinks").is_none());
        assert!(s.get("serviceAccountName").is_none());
        assert!(s.get("tolerations").is_none());
    }
}
