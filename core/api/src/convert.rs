//! Conversion between the served versions of a resource stored in one version: a
//! `HorizontalPodAutoscaler` is stored as `autoscaling/v2` and also served as
//! `autoscaling/v1`, which `kubectl autoscale` sends.
//!
//! As upstream, what `autoscaling/v1` cannot express (metrics other than the CPU utilization
//! target, conditions, the scaling behavior) travels in annotations while an object is read
//! as v1, so writing it back as v1 loses nothing. The v1 metric forms (`targetAverageValue`,
//! `metricName`, ...) differ from v2's (`target: {type, ...}`, `metric: {name, selector}`);
//! both are mapped here by hand, as no library converts between the versions of built-in
//! kinds.

use serde_json::{Map, Value, json};

/// Other spec metrics of a v1 object, in the v1 `MetricSpec` form.
pub const METRICS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/metrics";
/// Other current metrics of a v1 object, in the v1 `MetricStatus` form.
pub const CURRENT_METRICS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/current-metrics";
/// `status.conditions` of a v1 object.
pub const CONDITIONS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/conditions";
/// `spec.behavior` of a v1 object.
pub const BEHAVIOR_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/behavior";

const GROUP: &str = "autoscaling";
const HPA: &str = "HorizontalPodAutoscaler";

/// The version objects of `group`/`plural` are stored in, when `version` is only served by
/// conversion; `None` when `version` is the stored one.
pub fn storage_version(group: &str, version: &str, plural: &str) -> Option<&'static str> {
    match (group, version, plural) {
        (GROUP, "v1", "horizontalpodautoscalers") => Some("v2"),
        _ => None,
    }
}

/// Converts `obj` (of any served version) to `api_version`; objects of kinds or versions
/// without a conversion are returned unchanged but for their `apiVersion`.
pub fn convert(mut obj: Value, api_version: &str) -> Value {
    let from = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or(api_version)
        .to_string();
    let hpa = obj.get("kind").and_then(Value::as_str) == Some(HPA);
    if hpa && from != api_version {
        match (from.as_str(), api_version) {
            ("autoscaling/v1", "autoscaling/v2") => hpa_v1_to_v2(&mut obj),
            ("autoscaling/v2", "autoscaling/v1") => hpa_v2_to_v1(&mut obj),
            _ => {}
        }
    }
    if let Some(m) = obj.as_object_mut() {
        m.insert("apiVersion".into(), Value::String(api_version.to_string()));
    }
    obj
}

fn cpu_utilization(percent: Value) -> Value {
    json!({"type": "Resource", "resource": {"name": "cpu",
        "target": {"type": "Utilization", "averageUtilization": percent}}})
}

fn hpa_v1_to_v2(obj: &mut Value) {
    let annotations = take_annotations(
        obj,
        &[
            METRICS_ANNOTATION,
            CURRENT_METRICS_ANNOTATION,
            CONDITIONS_ANNOTATION,
            BEHAVIOR_ANNOTATION,
        ],
    );
    let parsed = |key: &str| -> Option<Value> {
        annotations
            .get(key)
            .and_then(Value::as_str)
            .and_then(|s| serde_json::from_str::<Value>(s).ok())
    };
    if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
        let mut metrics: Vec<Value> = parsed(METRICS_ANNOTATION)
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
            .into_iter()
            .map(metric_spec_v1_to_v2)
            .collect();
        if let Some(cpu) = spec.remove("targetCPUUtilizationPercentage") {
            metrics.push(cpu_utilization(cpu));
        }
        if !metrics.is_empty() {
            spec.insert("metrics".into(), Value::Array(metrics));
        }
        if let Some(b) = parsed(BEHAVIOR_ANNOTATION) {
            spec.insert("behavior".into(), b);
        }
    }
    if let Some(status) = obj.get_mut("status").and_then(Value::as_object_mut) {
        let mut current: Vec<Value> = parsed(CURRENT_METRICS_ANNOTATION)
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
            .into_iter()
            .map(metric_status_v1_to_v2)
            .collect();
        if let Some(cpu) = status.remove("currentCPUUtilizationPercentage") {
            current.push(json!({"type": "Resource", "resource": {"name": "cpu",
                "current": {"averageUtilization": cpu}}}));
        }
        if !current.is_empty() {
            status.insert("currentMetrics".into(), Value::Array(current));
        }
        if let Some(c) = parsed(CONDITIONS_ANNOTATION) {
            status.insert("conditions".into(), c);
        }
    }
}

fn hpa_v2_to_v1(obj: &mut Value) {
    let mut annotations: Vec<(&str, Value)> = Vec::new();
    if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
        let mut others = Vec::new();
        let metrics = spec.remove("metrics");
        for m in metrics
            .as_ref()
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let target = m.pointer("/resource/target");
            let is_cpu_utilization = m.get("type") == Some(&json!("Resource"))
                && m.pointer("/resource/name") == Some(&json!("cpu"))
                && target.and_then(|t| t.get("type")) == Some(&json!("Utilization"));
            match target.and_then(|t| t.get("averageUtilization")) {
                Some(p) if is_cpu_utilization => {
                    spec.insert("targetCPUUtilizationPercentage".into(), p.clone());
                }
                _ => others.push(metric_v2_to_v1(m, "target")),
            }
        }
        if !others.is_empty() {
            annotations.push((METRICS_ANNOTATION, Value::Array(others)));
        }
        if let Some(b) = spec.remove("behavior") {
            annotations.push((BEHAVIOR_ANNOTATION, b));
        }
    }
    let status = obj
        .as_object_mut()
        .map(|o| o.entry("status").or_insert_with(|| json!({})));
    if let Some(status) = status.and_then(Value::as_object_mut) {
        let mut others = Vec::new();
        let current = status.remove("currentMetrics");
        for m in current
            .as_ref()
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let cpu = m.get("type") == Some(&json!("Resource"))
                && m.pointer("/resource/name") == Some(&json!("cpu"));
            match m.pointer("/resource/current/averageUtilization") {
                Some(p) if cpu => {
                    status.insert("currentCPUUtilizationPercentage".into(), p.clone());
                }
                _ => others.push(metric_v2_to_v1(m, "current")),
            }
        }
        if !others.is_empty() {
            annotations.push((CURRENT_METRICS_ANNOTATION, Value::Array(others)));
        }
        if let Some(c) = status
            .remove("conditions")
            .filter(|c| c.as_array().is_some_and(|a| !a.is_empty()))
        {
            annotations.push((CONDITIONS_ANNOTATION, c));
        }
        // Both are plain (not optional) integers in v1.
        for f in ["currentReplicas", "desiredReplicas"] {
            status.entry(f).or_insert(json!(0));
        }
    }
    if annotations.is_empty() {
        return;
    }
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let map = meta
        .entry("annotations")
        .or_insert_with(|| json!({}))
        .as_object_mut();
    if let Some(map) = map {
        for (k, v) in annotations {
            map.insert(k.into(), Value::String(v.to_string()));
        }
    }
}

/// Removes the given annotations (and an annotation map left empty), returning them.
fn take_annotations(obj: &mut Value, keys: &[&str]) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return out;
    };
    if let Some(map) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
        for k in keys {
            if let Some(Value::String(v)) = map.remove(*k) {
                out.insert(k.to_string(), Value::String(v));
            }
        }
        if map.is_empty() {
            meta.remove("annotations");
        }
    }
    out
}

/// The v1 form's key of each metric source type.
fn source_key(kind: &str) -> String {
    let mut chars = kind.chars();
    chars
        .next()
        .map(|c| c.to_ascii_lowercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// Moves `from` of `src` to `to` of `dst`, when present.
fn carry(src: &Map<String, Value>, from: &str, dst: &mut Map<String, Value>, to: &str) {
    if let Some(v) = src.get(from) {
        dst.insert(to.into(), v.clone());
    }
}

/// A metric's `type`, the key of its source (`resource`, `pods`, ...) and that source.
fn metric_source(m: &Value) -> Option<(String, String, &Map<String, Value>)> {
    let kind = m
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let key = source_key(&kind);
    let src = m.get(&key).and_then(Value::as_object)?;
    Some((kind, key, src))
}

/// A v2 `MetricSpec` (`field` "target") or `MetricStatus` (`field` "current") in the v1 form
/// (`targetAverageUtilization`, `currentValue`, `metricName`, ...).
fn metric_v2_to_v1(m: &Value, field: &str) -> Value {
    let Some((kind, key, src)) = metric_source(m) else {
        return m.clone();
    };
    let kind = kind.as_str();
    let object = |name: &str| {
        src.get(name)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let (values, metric) = (object(field), object("metric"));
    let mut out = Map::new();
    carry(src, "name", &mut out, "name");
    carry(src, "container", &mut out, "container");
    carry(&metric, "name", &mut out, "metricName");
    match kind {
        "External" => carry(&metric, "selector", &mut out, "metricSelector"),
        _ => carry(&metric, "selector", &mut out, "selector"),
    }
    carry(src, "describedObject", &mut out, "target");
    carry(
        &values,
        "averageUtilization",
        &mut out,
        &format!("{field}AverageUtilization"),
    );
    carry(&values, "value", &mut out, &format!("{field}Value"));
    let average = match kind {
        "Object" => "averageValue".to_string(),
        _ => format!("{field}AverageValue"),
    };
    carry(&values, "averageValue", &mut out, &average);
    json!({"type": kind, key: out})
}

/// The parts of a v1 metric source that spec and status share, in the v2 form: `name`,
/// `container`, `describedObject` and `metric: {name, selector}`.
fn metric_source_v1_to_v2(src: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    carry(src, "name", &mut out, "name");
    carry(src, "container", &mut out, "container");
    carry(src, "target", &mut out, "describedObject");
    let mut metric = Map::new();
    carry(src, "metricName", &mut metric, "name");
    carry(src, "selector", &mut metric, "selector");
    carry(src, "metricSelector", &mut metric, "selector");
    if !metric.is_empty() {
        out.insert("metric".into(), Value::Object(metric));
    }
    out
}

/// A v1 `MetricSpec` in the v2 form (`target: {type, ...}`, `metric: {name, selector}`).
fn metric_spec_v1_to_v2(m: Value) -> Value {
    let Some((kind, key, src)) = metric_source(&m) else {
        return m;
    };
    let mut out = metric_source_v1_to_v2(src);
    let average = if kind == "Object" {
        "averageValue"
    } else {
        "targetAverageValue"
    };
    let target = if let Some(u) = src.get("targetAverageUtilization") {
        json!({"type": "Utilization", "averageUtilization": u})
    } else if let Some(v) = src.get(average) {
        json!({"type": "AverageValue", "averageValue": v})
    } else if let Some(v) = src.get("targetValue") {
        json!({"type": "Value", "value": v})
    } else {
        json!({})
    };
    out.insert("target".into(), target);
    json!({"type": kind, key: out})
}

/// A v1 `MetricStatus` in the v2 form (`current: {...}`, `metric: {name, selector}`).
fn metric_status_v1_to_v2(m: Value) -> Value {
    let Some((kind, key, src)) = metric_source(&m) else {
        return m;
    };
    let mut out = metric_source_v1_to_v2(src);
    let mut current = Map::new();
    carry(
        src,
        "currentAverageUtilization",
        &mut current,
        "averageUtilization",
    );
    carry(src, "currentValue", &mut current, "value");
    carry(src, "currentAverageValue", &mut current, "averageValue");
    carry(src, "averageValue", &mut current, "averageValue");
    out.insert("current".into(), Value::Object(current));
    json!({"type": kind, key: out})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v1(spec: Value) -> Value {
        json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "default"}, "spec": spec})
    }

    #[test]
    fn a_cpu_target_becomes_a_resource_utilization_metric() {
        let v2 = convert(
            v1(
                json!({"scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"},
                "minReplicas": 2, "maxReplicas": 5, "targetCPUUtilizationPercentage": 80}),
            ),
            "autoscaling/v2",
        );
        assert_eq!(v2["apiVersion"], "autoscaling/v2");
        assert_eq!(
            v2["spec"],
            json!({"scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"},
                "minReplicas": 2, "maxReplicas": 5, "metrics": [{"type": "Resource", "resource":
                {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]})
        );
        let back = convert(v2, "autoscaling/v1");
        assert_eq!(back["spec"]["targetCPUUtilizationPercentage"], 80);
        assert!(back["spec"].get("metrics").is_none());
        assert!(back["metadata"].get("annotations").is_none());
    }

    #[test]
    fn what_v1_cannot_express_survives_a_round_trip_in_annotations() {
        let v2 = json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "annotations": {"team": "a"}},
            "spec": {"maxReplicas": 5, "metrics": [
                {"type": "Resource", "resource": {"name": "memory",
                    "target": {"type": "AverageValue", "averageValue": "100Mi"}}},
                {"type": "Pods", "pods": {"metric": {"name": "qps"},
                    "target": {"type": "AverageValue", "averageValue": "10"}}},
                {"type": "Resource", "resource": {"name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 50}}}],
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}},
            "status": {"desiredReplicas": 3, "currentMetrics": [
                {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 42, "averageValue": "100m"}}},
                {"type": "Pods", "pods": {"metric": {"name": "qps"}, "current": {"averageValue": "7"}}}],
                "conditions": [{"type": "AbleToScale", "status": "True"}]}});
        let as_v1 = convert(v2.clone(), "autoscaling/v1");
        assert_eq!(as_v1["spec"]["targetCPUUtilizationPercentage"], 50);
        assert_eq!(as_v1["status"]["currentCPUUtilizationPercentage"], 42);
        assert_eq!(as_v1["status"]["currentReplicas"], 0);
        assert_eq!(as_v1["status"]["desiredReplicas"], 3);
        let metrics: Value = serde_json::from_str(
            as_v1["metadata"]["annotations"][METRICS_ANNOTATION]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            metrics,
            json!([{"type": "Resource", "resource": {"name": "memory", "targetAverageValue": "100Mi"}},
                {"type": "Pods", "pods": {"metricName": "qps", "targetAverageValue": "10"}}])
        );
        let back = convert(as_v1, "autoscaling/v2");
        assert_eq!(back["metadata"]["annotations"], json!({"team": "a"}));
        // The CPU metric comes last, after those kept in the annotation, as upstream orders it.
        assert_eq!(
            back["spec"]["metrics"],
            json!([
                v2["spec"]["metrics"][0],
                v2["spec"]["metrics"][1],
                v2["spec"]["metrics"][2]
            ])
        );
        assert_eq!(back["spec"]["behavior"], v2["spec"]["behavior"]);
        assert_eq!(back["status"]["conditions"], v2["status"]["conditions"]);
        assert_eq!(
            back["status"]["currentMetrics"],
            json!([v2["status"]["currentMetrics"][1],
                {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 42}}}])
        );
    }

    #[test]
    fn only_autoscaler_v1_is_served_by_conversion() {
        assert_eq!(
            storage_version("autoscaling", "v1", "horizontalpodautoscalers"),
            Some("v2")
        );
        assert_eq!(
            storage_version("autoscaling", "v2", "horizontalpodautoscalers"),
            None
        );
        assert_eq!(storage_version("apps", "v1", "deployments"), None);
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"}});
        assert_eq!(convert(cm.clone(), "v1"), cm);
    }
}
