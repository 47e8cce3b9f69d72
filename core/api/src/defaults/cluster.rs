//! Defaults of the remaining kinds: Namespace, Endpoints, HPA, NetworkPolicy, role bindings, CRDs.

use serde_json::{Value, json};

use super::{child, items, root, set};

pub fn namespace(obj: &mut Value) {
    let map = root(obj);
    let name = map
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if !name.is_empty()
        && let Some(labels) = child(map, "metadata").and_then(|m| child(m, "labels"))
    {
        // Upstream always sets this label to the name, so selectors can target namespaces.
        labels.insert("kubernetes.io/metadata.name".into(), Value::from(name));
    }
    if let Some(spec) = child(map, "spec") {
        set(spec, "finalizers", json!(["kubernetes"]));
    }
    if let Some(status) = child(map, "status") {
        set(status, "phase", "Active");
    }
}

pub fn endpoints(obj: &mut Value) {
    let map = root(obj);
    for subset in items(map, "subsets") {
        for port in items(subset, "ports") {
            set(port, "protocol", "TCP");
        }
    }
}

pub fn hpa(obj: &mut Value) {
    let Some(spec) = child(root(obj), "spec") else {
        return;
    };
    set(spec, "minReplicas", 1);
    let no_metrics = spec
        .get("metrics")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    if no_metrics {
        spec.insert(
            "metrics".into(),
            json!([{"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 80}}}]),
        );
    }
    // Upstream completes a behavior the user started, but adds none by itself.
    let Some(behavior) = spec.get_mut("behavior").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(up) = child(behavior, "scaleUp") {
        set(up, "stabilizationWindowSeconds", 0);
        set(up, "selectPolicy", "Max");
        set(
            up,
            "policies",
            json!([
                {"type": "Pods", "value": 4, "periodSeconds": 15},
                {"type": "Percent", "value": 100, "periodSeconds": 15}
            ]),
        );
    }
    if let Some(down) = child(behavior, "scaleDown") {
        set(down, "stabilizationWindowSeconds", 300);
        set(down, "selectPolicy", "Max");
        set(
            down,
            "policies",
            json!([{"type": "Percent", "value": 100, "periodSeconds": 15}]),
        );
    }
}

pub fn network_policy(obj: &mut Value) {
    let Some(spec) = child(root(obj), "spec") else {
        return;
    };
    for direction in ["ingress", "egress"] {
        for rule in items(spec, direction) {
            for port in items(rule, "ports") {
                set(port, "protocol", "TCP");
            }
        }
    }
    let has_egress = spec.get("egress").is_some_and(|e| !e.is_null());
    let types = if has_egress {
        json!(["Ingress", "Egress"])
    } else {
        json!(["Ingress"])
    };
    set(spec, "policyTypes", types);
}

pub fn role_binding(obj: &mut Value) {
    let map = root(obj);
    for subject in items(map, "subjects") {
        let kind = subject
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if kind == "User" || kind == "Group" {
            set(subject, "apiGroup", "rbac.authorization.k8s.io");
        }
    }
}

pub fn crd(obj: &mut Value) {
    let Some(spec) = child(root(obj), "spec") else {
        return;
    };
    if let Some(names) = child(spec, "names") {
        let kind = names
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if !kind.is_empty() {
            set(names, "singular", kind.to_lowercase());
            set(names, "listKind", format!("{kind}List"));
        }
    }
    if let Some(conversion) = child(spec, "conversion") {
        set(conversion, "strategy", "None");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_are_active_with_the_kubernetes_finalizer_and_name_label() {
        let mut ns = json!({"metadata": {"name": "team-a"}});
        namespace(&mut ns);
        assert_eq!(
            ns,
            json!({
                "metadata": {"name": "team-a", "labels": {"kubernetes.io/metadata.name": "team-a"}},
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"}
            })
        );
        let mut ns = json!({"metadata": {"name": "x"}, "spec": {"finalizers": []}, "status": {"phase": "Terminating"}});
        namespace(&mut ns);
        assert_eq!(ns["spec"]["finalizers"], json!([]));
        assert_eq!(ns["status"]["phase"], "Terminating");
    }

    #[test]
    fn an_autoscaler_reads_back_like_from_kubernetes() {
        let mut h = json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxReplicas": 5}});
        hpa(&mut h);
        insta::assert_json_snapshot!(h);
        assert!(h["spec"].get("behavior").is_none());
    }

    #[test]
    fn a_started_autoscaler_behavior_is_completed() {
        let mut h =
            json!({"spec": {"behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}}});
        hpa(&mut h);
        let b = &h["spec"]["behavior"];
        assert_eq!(b["scaleDown"]["stabilizationWindowSeconds"], 60);
        assert_eq!(b["scaleDown"]["selectPolicy"], "Max");
        assert_eq!(
            b["scaleUp"]["policies"][0],
            json!({"type": "Pods", "value": 4, "periodSeconds": 15})
        );
    }

    #[test]
    fn autoscaler_metrics_given_by_the_user_are_kept() {
        let metrics = json!([{"type": "Resource", "resource": {"name": "memory", "target": {"type": "Utilization", "averageUtilization": 60}}}]);
        let mut h = json!({"spec": {"minReplicas": 2, "metrics": metrics.clone()}});
        hpa(&mut h);
        assert_eq!(h["spec"]["metrics"], metrics);
        assert_eq!(h["spec"]["minReplicas"], 2);
    }

    #[test]
    fn network_policies_name_their_directions() {
        let mut n = json!({"spec": {"ingress": [{"ports": [{"port": 80}]}]}});
        network_policy(&mut n);
        assert_eq!(n["spec"]["policyTypes"], json!(["Ingress"]));
        assert_eq!(n["spec"]["ingress"][0]["ports"][0]["protocol"], "TCP");
        let mut n = json!({"spec": {"egress": []}});
        network_policy(&mut n);
        assert_eq!(n["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
    }

    #[test]
    fn user_and_group_subjects_get_the_rbac_group() {
        let mut b = json!({"subjects": [{"kind": "User", "name": "alice"}, {"kind": "ServiceAccount", "name": "sa", "namespace": "x"}]});
        role_binding(&mut b);
        assert_eq!(b["subjects"][0]["apiGroup"], "rbac.authorization.k8s.io");
        assert!(b["subjects"][1].get("apiGroup").is_none());
    }

    #[test]
    fn crds_get_singular_list_kind_and_no_conversion() {
        let mut c = json!({"spec": {"names": {"kind": "Website", "plural": "websites"}}});
        crd(&mut c);
        assert_eq!(c["spec"]["names"]["singular"], "website");
        assert_eq!(c["spec"]["names"]["listKind"], "WebsiteList");
        assert_eq!(c["spec"]["conversion"]["strategy"], "None");
    }

    #[test]
    fn endpoint_ports_default_to_tcp() {
        let mut e = json!({"subsets": [{"ports": [{"port": 80}]}]});
        endpoints(&mut e);
        assert_eq!(e["subsets"][0]["ports"][0]["protocol"], "TCP");
    }
}
