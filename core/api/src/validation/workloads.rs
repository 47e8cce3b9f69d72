//! Deployment, ReplicaSet, StatefulSet and DaemonSet checks, and the selector/template rule
//! shared with Jobs.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use super::field::{self, Path};
use super::pod::{check_enum, check_template_restart_policy, validate_template};
use super::{check_min, storage};
use crate::selector::{LabelSelector, labels_of};
use crate::status::StatusCause;

static PERCENT_RE: LazyLock<Regex> = LazyLock::new(|| Regex::new("^[0-9]+%$").unwrap());

/// Checks `spec.selector` is present, valid, not empty, and selects the template's labels.
pub fn validate_selector(spec: &Value, path: &Path, kind: &str) -> Vec<StatusCause> {
    let mut causes = Vec::new();
    let sel_path = path.child("selector");
    let selector = match spec.get("selector") {
        None | Some(Value::Null) => {
            causes.push(field::required(&sel_path, ""));
            return causes;
        }
        Some(s) => s,
    };
    let parsed = match LabelSelector::from_json(selector) {
        Ok(p) => p,
        Err(e) => {
            causes.push(field::invalid(&sel_path, selector, &e.to_string()));
            return causes;
        }
    };
    if parsed.is_everything() {
        causes.push(field::invalid(
            &sel_path,
            selector,
            &format!("empty selector is invalid for {}", kind.to_lowercase()),
        ));
        return causes;
    }
    let template = spec.get("template").unwrap_or(&Value::Null);
    let labels = labels_of(template);
    if !parsed.matches(&labels) {
        let shown: Vec<String> = labels.iter().map(|(k, v)| format!("{k:?}:{v:?}")).collect();
        // Upstream prints the labels as a Go map literal; keep that shape.
        causes.push(StatusCause {
            reason: "FieldValueInvalid".into(),
            message: format!(
                "Invalid value: map[string]string{{{}}}: `selector` does not match template `labels`",
                shown.join(", ")
            ),
            field: path
                .child("template")
                .child("metadata")
                .child("labels")
                .to_string(),
        });
    }
    causes
}

/// `maxUnavailable`/`maxSurge`: a non-negative integer or a percentage up to 100%.
pub fn validate_int_or_percent(value: &Value, path: &Path) -> Vec<StatusCause> {
    match value {
        Value::Number(n) => {
            if n.as_i64().is_some_and(|n| n >= 0) {
                Vec::new()
            } else {
                vec![field::invalid(
                    path,
                    value,
                    "must be greater than or equal to 0",
                )]
            }
        }
        Value::String(s) if PERCENT_RE.is_match(s) => {
            let pct: u64 = s.trim_end_matches('%').parse().unwrap_or(u64::MAX);
            if pct > 100 {
                vec![field::invalid(path, value, "must not be greater than 100%")]
            } else {
                Vec::new()
            }
        }
        Value::String(_) => vec![field::invalid(
            path,
            value,
            "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
        )],
        _ => vec![field::invalid(
            path,
            value,
            "must be an integer or percentage",
        )],
    }
}

fn is_zero(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Number(n)) => n.as_i64() == Some(0),
        Some(Value::String(s)) => s.trim_end_matches('%').parse::<u64>() == Ok(0),
        _ => false,
    }
}

fn validate_rolling(ru: &Value, path: &Path, causes: &mut Vec<StatusCause>, surge_required: bool) {
    for key in ["maxUnavailable", "maxSurge"] {
        if let Some(v) = ru.get(key).filter(|v| !v.is_null()) {
            causes.extend(validate_int_or_percent(v, &path.child(key)));
        }
    }
    if surge_required && is_zero(ru.get("maxSurge")) && is_zero(ru.get("maxUnavailable")) {
        let v = ru.get("maxUnavailable").cloned().unwrap_or(Value::from(0));
        causes.push(field::invalid(
            &path.child("maxUnavailable"),
            &v,
            "may not be 0 when `maxSurge` is 0",
        ));
    }
}

fn common(spec: &Value, path: &Path, kind: &str, causes: &mut Vec<StatusCause>) {
    for key in ["replicas", "minReadySeconds", "revisionHistoryLimit"] {
        check_min(spec, key, path, 0, causes);
    }
    causes.extend(validate_selector(spec, path, kind));
    let template = spec.get("template");
    causes.extend(validate_template(template, &path.child("template")));
    causes.extend(check_template_restart_policy(
        template,
        &path.child("template"),
        &["Always"],
    ));
}

pub fn validate_deployment(obj: &Value) -> Vec<StatusCause> {
    let mut causes = Vec::new();
    let path = Path::new("spec");
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    common(spec, &path, "Deployment", &mut causes);
    check_min(spec, "progressDeadlineSeconds", &path, 0, &mut causes);
    if let (Some(deadline), Some(ready)) = (
        spec.get("progressDeadlineSeconds").and_then(Value::as_i64),
        spec.get("minReadySeconds").and_then(Value::as_i64),
    ) && deadline <= ready
    {
        causes.push(field::invalid(
            &path.child("progressDeadlineSeconds"),
            &Value::from(deadline),
            "must be greater than minReadySeconds",
        ));
    }
    if let Some(strategy) = spec.get("strategy").filter(|s| s.is_object()) {
        let sp = path.child("strategy");
        let kind = strategy.get("type").and_then(Value::as_str);
        if let Some(t) = strategy.get("type").filter(|v| !v.is_null()) {
            check_enum(
                t,
                &sp.child("type"),
                &["Recreate", "RollingUpdate"],
                &mut causes,
            );
        }
        let rolling = strategy.get("rollingUpdate").filter(|v| !v.is_null());
        match (kind, rolling) {
            (Some("Recreate"), Some(_)) => causes.push(field::forbidden(
                &sp.child("rollingUpdate"),
                "may not be specified when strategy `type` is 'Recreate'",
            )),
            (_, Some(ru)) => validate_rolling(ru, &sp.child("rollingUpdate"), &mut causes, true),
            _ => {}
        }
    }
    causes
}

pub fn validate_replica_set(obj: &Value) -> Vec<StatusCause> {
    let mut causes = Vec::new();
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    common(spec, &Path::new("spec"), "ReplicaSet", &mut causes);
    causes
}

/// The StatefulSet spec with a volume for each `volumeClaimTemplates` entry the template does
/// not define itself: containers mount the claims by template name, and each pod gets those
/// volumes from its own claims, so the template's mounts are checked against both.
fn with_claim_volumes(spec: &Value) -> std::borrow::Cow<'_, Value> {
    let claims: Vec<&str> = super::as_array(spec.get("volumeClaimTemplates"))
        .iter()
        .filter_map(|c| c.pointer("/metadata/name").and_then(Value::as_str))
        .collect();
    if claims.is_empty() {
        return std::borrow::Cow::Borrowed(spec);
    }
    let mut spec = spec.clone();
    if let Some(pod) = spec
        .pointer_mut("/template/spec")
        .and_then(Value::as_object_mut)
    {
        let volumes = pod
            .entry("volumes")
            .or_insert_with(|| Value::Array(Vec::new()));
        if !volumes.is_array() {
            *volumes = Value::Array(Vec::new());
        }
        if let Some(list) = volumes.as_array_mut() {
            for name in claims {
                if !list
                    .iter()
                    .any(|v| v.get("name").and_then(Value::as_str) == Some(name))
                {
                    list.push(serde_json::json!({
                        "name": name,
                        "persistentVolumeClaim": {"claimName": name},
                    }));
                }
            }
        }
    }
    std::borrow::Cow::Owned(spec)
}

pub fn validate_stateful_set(obj: &Value) -> Vec<StatusCause> {
    let mut causes = Vec::new();
    let path = Path::new("spec");
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    common(&with_claim_volumes(spec), &path, "StatefulSet", &mut causes);
    if let Some(p) = spec.get("podManagementPolicy").filter(|v| !v.is_null()) {
        check_enum(
            p,
            &path.child("podManagementPolicy"),
            &["OrderedReady", "Parallel"],
            &mut causes,
        );
    }
    if let Some(strategy) = spec.get("updateStrategy").filter(|s| s.is_object()) {
        let sp = path.child("updateStrategy");
        if let Some(t) = strategy.get("type").filter(|v| !v.is_null()) {
            check_enum(
                t,
                &sp.child("type"),
                &["OnDelete", "RollingUpdate"],
                &mut causes,
            );
        }
        if let Some(ru) = strategy.get("rollingUpdate").filter(|v| v.is_object()) {
            let rp = sp.child("rollingUpdate");
            check_min(ru, "partition", &rp, 0, &mut causes);
            if let Some(v) = ru.get("maxUnavailable").filter(|v| !v.is_null()) {
                causes.extend(validate_int_or_percent(v, &rp.child("maxUnavailable")));
            }
        }
    }
    for (i, t) in super::as_array(spec.get("volumeClaimTemplates"))
        .iter()
        .enumerate()
    {
        let p = path.child("volumeClaimTemplates").index(i);
        if super::str_of(t.get("metadata").unwrap_or(&Value::Null), "name").is_empty() {
            causes.push(field::required(&p.child("metadata").child("name"), ""));
        }
        causes.extend(storage::validate_claim_spec(
            t.get("spec").unwrap_or(&Value::Null),
            &p.child("spec"),
        ));
    }
    causes
}

pub fn validate_daemon_set(obj: &Value) -> Vec<StatusCause> {
    let mut causes = Vec::new();
    let path = Path::new("spec");
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    common(spec, &path, "DaemonSet", &mut causes);
    if let Some(strategy) = spec.get("updateStrategy").filter(|s| s.is_object()) {
        let sp = path.child("updateStrategy");
        if let Some(t) = strategy.get("type").filter(|v| !v.is_null()) {
            check_enum(
                t,
                &sp.child("type"),
                &["OnDelete", "RollingUpdate"],
                &mut causes,
            );
        }
        if let Some(ru) = strategy.get("rollingUpdate").filter(|v| v.is_object()) {
            validate_rolling(ru, &sp.child("rollingUpdate"), &mut causes, true);
        }
    }
    causes
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(causes: Vec<StatusCause>) -> Vec<String> {
        causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    fn deployment(spec_patch: Value) -> Value {
        let mut d = json!({"spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx"}]}
            }
        }});
        for (k, v) in spec_patch.as_object().unwrap() {
            d["spec"][k] = v.clone();
        }
        d
    }

    #[test]
    fn a_complete_deployment_is_valid() {
        assert!(validate_deployment(&deployment(json!({}))).is_empty());
    }

    #[test]
    fn selectors_are_required_and_must_match_template_labels() {
        let mut d = deployment(json!({}));
        d["spec"].as_object_mut().unwrap().remove("selector");
        assert_eq!(
            messages(validate_deployment(&d)),
            vec!["spec.selector: Required value"]
        );
        let d = deployment(json!({"selector": {"matchLabels": {"app": "db"}}}));
        assert_eq!(
            messages(validate_deployment(&d)),
            vec![
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`"
            ]
        );
        let d = deployment(json!({"selector": {}}));
        assert_eq!(
            messages(validate_deployment(&d)),
            vec!["spec.selector: Invalid value: {}: empty selector is invalid for deployment"]
        );
    }

    #[test]
    fn replicas_may_not_be_negative() {
        let d = deployment(json!({"replicas": -1}));
        assert_eq!(
            messages(validate_deployment(&d)),
            vec!["spec.replicas: Invalid value: -1: must be greater than or equal to 0"]
        );
    }

    #[test]
    fn strategies_are_checked() {
        let d = deployment(json!({"strategy": {"type": "BlueGreen"}}));
        assert_eq!(
            messages(validate_deployment(&d)),
            vec![
                "spec.strategy.type: Unsupported value: \"BlueGreen\": supported values: \"Recreate\", \"RollingUpdate\""
            ]
        );
        let d =
            deployment(json!({"strategy": {"type": "Recreate", "rollingUpdate": {"maxSurge": 1}}}));
        assert_eq!(
            messages(validate_deployment(&d)),
            vec![
                "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"
            ]
        );
        let d = deployment(
            json!({"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}}}),
        );
        assert_eq!(
            messages(validate_deployment(&d)),
            vec![
                "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: \"0%\": may not be 0 when `maxSurge` is 0"
            ]
        );
        let d = deployment(
            json!({"strategy": {"rollingUpdate": {"maxSurge": "abc", "maxUnavailable": "150%"}}}),
        );
        let m = messages(validate_deployment(&d));
        assert_eq!(m.len(), 2, "{m:?}");
        assert_eq!(
            m[0],
            "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: \"150%\": must not be greater than 100%"
        );
        assert!(m[1].starts_with(
            "spec.strategy.rollingUpdate.maxSurge: Invalid value: \"abc\": a valid percent string"
        ));
    }

    #[test]
    fn workload_templates_must_restart_always() {
        let mut d = deployment(json!({}));
        d["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
        assert_eq!(
            messages(validate_replica_set(&d)),
            vec![
                "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\""
            ]
        );
    }

    #[test]
    fn progress_deadline_must_exceed_min_ready() {
        let d = deployment(json!({"progressDeadlineSeconds": 5, "minReadySeconds": 10}));
        assert_eq!(
            messages(validate_deployment(&d)),
            vec![
                "spec.progressDeadlineSeconds: Invalid value: 5: must be greater than minReadySeconds"
            ]
        );
    }

    #[test]
    fn stateful_set_policies_and_claim_templates_are_checked() {
        let s = deployment(json!({
            "podManagementPolicy": "Random",
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": -1}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}]
        }));
        let m = messages(validate_stateful_set(&s));
        assert_eq!(
            m,
            vec![
                "spec.podManagementPolicy: Unsupported value: \"Random\": supported values: \"OrderedReady\", \"Parallel\"",
                "spec.updateStrategy.rollingUpdate.partition: Invalid value: -1: must be greater than or equal to 0",
                "spec.volumeClaimTemplates[0].spec.resources[storage]: Required value",
            ]
        );
    }

    #[test]
    fn stateful_set_containers_may_mount_their_claim_templates_but_nothing_else() {
        let mounts = json!([
            {"name": "data", "mountPath": "/data"},
            {"name": "cache", "mountPath": "/cache"},
        ]);
        let s = deployment(json!({
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx", "volumeMounts": mounts}]}
            },
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}
            }}]
        }));
        assert_eq!(
            messages(validate_stateful_set(&s)),
            vec!["spec.template.spec.containers[0].volumeMounts[1].name: Not found: \"cache\""]
        );
    }

    #[test]
    fn daemon_set_update_strategies_are_checked() {
        let d = deployment(json!({"updateStrategy": {"type": "Surge"}}));
        assert_eq!(
            messages(validate_daemon_set(&d)),
            vec![
                "spec.updateStrategy.type: Unsupported value: \"Surge\": supported values: \"OnDelete\", \"RollingUpdate\""
            ]
        );
        let d = deployment(
            json!({"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}}),
        );
        assert!(validate_daemon_set(&d).is_empty());
    }
}
