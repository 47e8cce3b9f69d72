//! Pod spec checks, shared by Pods and by the pod templates of every workload kind.

use std::collections::HashSet;

use serde_json::Value;

use super::field::{self, Path};
use super::{as_array, meta, names, quantity, str_of};
use crate::status::StatusCause;

const RESTART_POLICIES: [&str; 3] = ["Always", "Never", "OnFailure"];
const DNS_POLICIES: [&str; 4] = ["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"];
const PULL_POLICIES: [&str; 3] = ["Always", "IfNotPresent", "Never"];
const PROTOCOLS: [&str; 3] = ["SCTP", "TCP", "UDP"];
const TAINT_EFFECTS: [&str; 3] = ["NoExecute", "NoSchedule", "PreferNoSchedule"];
const TOLERATION_OPERATORS: [&str; 2] = ["Equal", "Exists"];

/// Validates a PodSpec at `path` (`spec` for Pods, `spec.template.spec` in templates).
pub fn validate_pod_spec(spec: &Value, path: &Path) -> Vec<StatusCause> {
    let mut causes = Vec::new();
    let volumes = validate_volumes(spec, path, &mut causes);
    let containers = as_array(spec.get("containers"));
    if containers.is_empty() {
        causes.push(field::required(&path.child("containers"), ""));
    }
    let mut seen = HashSet::new();
    for list in ["initContainers", "containers"] {
        for (i, c) in as_array(spec.get(list)).iter().enumerate() {
            let p = path.child(list).index(i);
            validate_container(c, &p, &volumes, &mut seen, &mut causes);
        }
    }
    if let Some(policy) = spec.get("restartPolicy").filter(|v| !v.is_null()) {
        check_enum(
            policy,
            &path.child("restartPolicy"),
            &RESTART_POLICIES,
            &mut causes,
        );
    }
    if let Some(policy) = spec.get("dnsPolicy").filter(|v| !v.is_null()) {
        check_enum(policy, &path.child("dnsPolicy"), &DNS_POLICIES, &mut causes);
    }
    causes.extend(meta::validate_labels(
        spec.get("nodeSelector"),
        &path.child("nodeSelector"),
    ));
    for key in ["terminationGracePeriodSeconds", "activeDeadlineSeconds"] {
        if let Some(n) = spec.get(key).and_then(Value::as_i64) {
            let minimum = if key == "activeDeadlineSeconds" { 1 } else { 0 };
            if n < minimum {
                causes.push(field::invalid(
                    &path.child(key),
                    &Value::from(n),
                    &format!("must be greater than or equal to {minimum}"),
                ));
            }
        }
    }
    for (i, t) in as_array(spec.get("tolerations")).iter().enumerate() {
        let p = path.child("tolerations").index(i);
        if let Some(op) = t.get("operator").filter(|v| !v.is_null()) {
            check_enum(op, &p.child("operator"), &TOLERATION_OPERATORS, &mut causes);
            if op == "Exists" && !str_of(t, "value").is_empty() {
                causes.push(field::invalid(
                    &p.child("operator"),
                    op,
                    "value must be empty when `operator` is 'Exists'",
                ));
            }
        }
        if let Some(effect) = t.get("effect").filter(|v| !v.is_null() && *v != "") {
            check_enum(effect, &p.child("effect"), &TAINT_EFFECTS, &mut causes);
        }
    }
    causes
}

/// Validates a pod template (`metadata` labels/annotations and its spec).
pub fn validate_template(template: Option<&Value>, path: &Path) -> Vec<StatusCause> {
    let Some(template) = template.filter(|t| t.is_object()) else {
        return vec![field::required(path, "")];
    };
    let mut causes = Vec::new();
    let meta_path = path.child("metadata");
    let meta = template.get("metadata");
    causes.extend(meta::validate_labels(
        meta.and_then(|m| m.get("labels")),
        &meta_path.child("labels"),
    ));
    causes.extend(meta::validate_annotations(
        meta.and_then(|m| m.get("annotations")),
        &meta_path.child("annotations"),
    ));
    let spec = template.get("spec").unwrap_or(&Value::Null);
    causes.extend(validate_pod_spec(spec, &path.child("spec")));
    causes
}

/// Requires a template's `restartPolicy`, when set, to be one of `allowed`.
pub fn check_template_restart_policy(
    template: Option<&Value>,
    path: &Path,
    allowed: &[&str],
) -> Vec<StatusCause> {
    let mut causes = Vec::new();
    if let Some(policy) = template
        .and_then(|t| t.pointer("/spec/restartPolicy"))
        .filter(|v| !v.is_null())
        && policy.as_str().is_some_and(|p| !allowed.contains(&p))
    {
        causes.push(field::not_supported(
            &path.child("spec").child("restartPolicy"),
            policy,
            allowed,
        ));
    }
    causes
}

pub(super) fn check_enum(
    value: &Value,
    path: &Path,
    allowed: &[&str],
    causes: &mut Vec<StatusCause>,
) {
    if !value.as_str().is_some_and(|v| allowed.contains(&v)) {
        causes.push(field::not_supported(path, value, allowed));
    }
}

fn validate_volumes(spec: &Value, path: &Path, causes: &mut Vec<StatusCause>) -> HashSet<String> {
    let mut names_seen = HashSet::new();
    for (i, v) in as_array(spec.get("volumes")).iter().enumerate() {
        let p = path.child("volumes").index(i).child("name");
        let name = str_of(v, "name");
        if name.is_empty() {
            causes.push(field::required(&p, ""));
            continue;
        }
        causes.extend(field::invalid_each(&p, name, names::dns1123_label(name)));
        if !names_seen.insert(name.to_string()) {
            causes.push(field::duplicate(&p, &Value::from(name)));
        }
    }
    names_seen
}

fn validate_container(
    c: &Value,
    path: &Path,
    volumes: &HashSet<String>,
    seen: &mut HashSet<String>,
    causes: &mut Vec<StatusCause>,
) {
    let name = str_of(c, "name");
    let name_path = path.child("name");
    if name.is_empty() {
        causes.push(field::required(&name_path, ""));
    } else {
        causes.extend(field::invalid_each(
            &name_path,
            name,
            names::dns1123_label(name),
        ));
        if !seen.insert(name.to_string()) {
            causes.push(field::duplicate(&name_path, &Value::from(name)));
        }
    }
    if str_of(c, "image").trim().is_empty() {
        causes.push(field::required(&path.child("image"), ""));
    }
    if let Some(policy) = c.get("imagePullPolicy").filter(|v| !v.is_null()) {
        check_enum(
            policy,
            &path.child("imagePullPolicy"),
            &PULL_POLICIES,
            causes,
        );
    }
    let mut port_names = HashSet::new();
    for (i, port) in as_array(c.get("ports")).iter().enumerate() {
        let p = path.child("ports").index(i);
        match port.get("containerPort") {
            None | Some(Value::Null) => causes.push(field::required(&p.child("containerPort"), "")),
            Some(v) => check_port(v, &p.child("containerPort"), causes),
        }
        if let Some(v) = port.get("hostPort").filter(|v| !v.is_null() && **v != 0) {
            check_port(v, &p.child("hostPort"), causes);
        }
        if let Some(proto) = port.get("protocol").filter(|v| !v.is_null()) {
            check_enum(proto, &p.child("protocol"), &PROTOCOLS, causes);
        }
        let pname = str_of(port, "name");
        if !pname.is_empty() {
            causes.extend(field::invalid_each(
                &p.child("name"),
                pname,
                names::port_name(pname),
            ));
            if !port_names.insert(pname.to_string()) {
                causes.push(field::duplicate(&p.child("name"), &Value::from(pname)));
            }
        }
    }
    for (i, env) in as_array(c.get("env")).iter().enumerate() {
        let p = path.child("env").index(i).child("name");
        let n = str_of(env, "name");
        if n.is_empty() {
            causes.push(field::required(&p, ""));
        } else {
            causes.extend(field::invalid_each(&p, n, names::env_var_name(n)));
        }
    }
    for (i, m) in as_array(c.get("volumeMounts")).iter().enumerate() {
        let p = path.child("volumeMounts").index(i);
        let n = str_of(m, "name");
        if n.is_empty() {
            causes.push(field::required(&p.child("name"), ""));
        } else if !volumes.contains(n) {
            causes.push(field::not_found(&p.child("name"), &Value::from(n)));
        }
        if str_of(m, "mountPath").is_empty() {
            causes.push(field::required(&p.child("mountPath"), ""));
        }
    }
    validate_resources(c.get("resources"), &path.child("resources"), causes);
}

fn check_port(v: &Value, path: &Path, causes: &mut Vec<StatusCause>) {
    match v.as_i64() {
        Some(n) => causes.extend(
            names::port_number(n)
                .into_iter()
                .map(|e| field::invalid(path, v, &e)),
        ),
        None => causes.push(field::invalid(path, v, "must be an integer")),
    }
}

/// The string form of a quantity given as a JSON string or number.
pub(super) fn quantity_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Checks `requests`/`limits` quantities and that no request exceeds its limit.
pub fn validate_resources(resources: Option<&Value>, path: &Path, causes: &mut Vec<StatusCause>) {
    let Some(resources) = resources else {
        return;
    };
    let mut parsed: [Vec<(String, quantity::Quantity)>; 2] = [Vec::new(), Vec::new()];
    for (slot, which) in ["limits", "requests"].iter().enumerate() {
        let Some(map) = resources.get(*which).and_then(Value::as_object) else {
            continue;
        };
        for (name, v) in map {
            let p = path.child(which).key(name);
            causes.extend(field::invalid_each(&p, name, names::qualified_name(name)));
            let Some(text) = quantity_text(v) else {
                causes.push(field::invalid(&p, v, "must be a quantity"));
                continue;
            };
            match quantity::parse(&text) {
                Ok(q) if q.is_negative() => causes.push(field::invalid_str(
                    &p,
                    &text,
                    "must be greater than or equal to 0",
                )),
                Ok(q) => parsed[slot].push((name.clone(), q)),
                Err(e) => causes.push(field::invalid_str(&p, &text, &e.to_string())),
            }
        }
    }
    let [limits, requests] = parsed;
    for (name, request) in &requests {
        if let Some((_, limit)) = limits.iter().find(|(n, _)| n == name)
            && request > limit
        {
            causes.push(field::invalid_str(
                &path.child("requests"),
                request.as_str(),
                &format!("must be less than or equal to {name} limit of {limit}"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(spec: Value) -> Vec<String> {
        validate_pod_spec(&spec, &Path::new("spec"))
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    #[test]
    fn a_minimal_pod_spec_is_valid() {
        assert!(check(json!({"containers": [{"name": "app", "image": "busybox"}]})).is_empty());
    }

    #[test]
    fn containers_are_required() {
        assert_eq!(check(json!({})), vec!["spec.containers: Required value"]);
        assert_eq!(
            check(json!({"containers": []})),
            vec!["spec.containers: Required value"]
        );
    }

    #[test]
    fn container_names_must_be_unique_labels_and_images_present() {
        let m = check(json!({
            "initContainers": [{"name": "a", "image": "x"}],
            "containers": [{"name": "a", "image": "x"}, {"name": "B", "image": ""}, {"image": "x"}]
        }));
        assert!(
            m.contains(&"spec.containers[0].name: Duplicate value: \"a\"".to_string()),
            "{m:?}"
        );
        assert!(
            m.iter()
                .any(|s| s.starts_with("spec.containers[1].name: Invalid value: \"B\""))
        );
        assert!(m.contains(&"spec.containers[1].image: Required value".to_string()));
        assert!(m.contains(&"spec.containers[2].name: Required value".to_string()));
        assert_eq!(m.len(), 4, "{m:?}");
    }

    #[test]
    fn ports_must_be_in_range_with_known_protocols() {
        let m = check(json!({"containers": [{"name": "a", "image": "x", "ports": [
            {"containerPort": 0},
            {"containerPort": 80, "protocol": "tcp", "hostPort": 70000},
            {"name": "http"},
            {"containerPort": 8080, "name": "Bad_Name"}
        ]}]}));
        assert_eq!(
            m,
            vec![
                "spec.containers[0].ports[0].containerPort: Invalid value: 0: must be between 1 and 65535, inclusive",
                "spec.containers[0].ports[1].hostPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
                "spec.containers[0].ports[1].protocol: Unsupported value: \"tcp\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
                "spec.containers[0].ports[2].containerPort: Required value",
                "spec.containers[0].ports[3].name: Invalid value: \"Bad_Name\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
            ]
        );
    }

    #[test]
    fn restart_and_pull_policies_are_enums() {
        let m = check(json!({"restartPolicy": "Sometimes", "containers": [
            {"name": "a", "image": "x", "imagePullPolicy": "Maybe"}
        ]}));
        assert_eq!(
            m,
            vec![
                "spec.containers[0].imagePullPolicy: Unsupported value: \"Maybe\": supported values: \"Always\", \"IfNotPresent\", \"Never\"",
                "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"Never\", \"OnFailure\"",
            ]
        );
    }

    #[test]
    fn resource_quantities_must_parse_and_requests_fit_limits() {
        let m = check(
            json!({"containers": [{"name": "a", "image": "x", "resources": {
                "limits": {"cpu": "1", "memory": "lots"},
                "requests": {"cpu": "2", "memory": 128}
            }}]}),
        );
        assert_eq!(m.len(), 2, "{m:?}");
        assert!(m[0].starts_with("spec.containers[0].resources.limits[memory]: Invalid value: \"lots\": quantities must match the regular expression"));
        assert_eq!(
            m[1],
            "spec.containers[0].resources.requests: Invalid value: \"2\": must be less than or equal to cpu limit of 1"
        );
        assert!(check(json!({"containers": [{"name": "a", "image": "x", "resources": {
            "limits": {"cpu": "500m", "memory": "1Gi"}, "requests": {"cpu": "0.5", "memory": "512Mi"}
        }}]})).is_empty());
    }

    #[test]
    fn mounts_must_name_a_declared_volume() {
        let m = check(json!({
            "volumes": [{"name": "data", "emptyDir": {}}, {"name": "data"}],
            "containers": [{"name": "a", "image": "x", "volumeMounts": [
                {"name": "data", "mountPath": "/d"}, {"name": "cfg", "mountPath": "/c"}, {"name": "data"}
            ]}]
        }));
        assert_eq!(
            m,
            vec![
                "spec.volumes[1].name: Duplicate value: \"data\"",
                "spec.containers[0].volumeMounts[1].name: Not found: \"cfg\"",
                "spec.containers[0].volumeMounts[2].mountPath: Required value",
            ]
        );
    }

    #[test]
    fn env_names_and_tolerations_are_checked() {
        let m = check(json!({
            "containers": [{"name": "a", "image": "x", "env": [{"name": "1BAD"}, {"name": "GOOD", "value": "1"}]}],
            "tolerations": [{"key": "k", "operator": "Exists", "value": "v"}, {"operator": "Equal", "effect": "Never"}]
        }));
        assert_eq!(m.len(), 3, "{m:?}");
        assert!(m[0].starts_with("spec.containers[0].env[0].name: Invalid value: \"1BAD\""));
        assert_eq!(
            m[1],
            "spec.tolerations[0].operator: Invalid value: \"Exists\": value must be empty when `operator` is 'Exists'"
        );
        assert!(m[2].starts_with("spec.tolerations[1].effect: Unsupported value: \"Never\""));
    }

    #[test]
    fn templates_are_required_and_their_labels_checked() {
        let p = Path::new("spec").child("template");
        let c = validate_template(None, &p);
        assert_eq!(c[0].field, "spec.template");
        let c = validate_template(
            Some(
                &json!({"metadata": {"labels": {"a": "-"}}, "spec": {"containers": [{"name": "a", "image": "x"}]}}),
            ),
            &p,
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].field, "spec.template.metadata.labels");
        let c = check_template_restart_policy(
            Some(&json!({"spec": {"restartPolicy": "Never"}})),
            &p,
            &["Always"],
        );
        assert_eq!(
            c[0].message,
            "Unsupported value: \"Never\": supported values: \"Always\""
        );
    }
}
