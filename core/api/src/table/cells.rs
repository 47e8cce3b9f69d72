//! Small readers over JSON objects and the formatting helpers upstream's printers share.

use serde_json::{Map, Value};

/// The string at a JSON pointer, or `""`.
pub fn s<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// The integer at a JSON pointer, or 0.
pub fn i(obj: &Value, pointer: &str) -> i64 {
    obj.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

/// The array at a JSON pointer, or an empty slice.
pub fn arr<'a>(obj: &'a Value, pointer: &str) -> &'a [Value] {
    obj.pointer(pointer)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The object at a JSON pointer, if any.
pub fn map<'a>(obj: &'a Value, pointer: &str) -> Option<&'a Map<String, Value>> {
    obj.pointer(pointer).and_then(Value::as_object)
}

/// The object's name as a cell.
pub fn name(obj: &Value) -> Value {
    Value::String(s(obj, "/metadata/name").to_string())
}

/// `<none>` for an empty string.
pub fn or_none(value: &str) -> String {
    or(value, "<none>")
}

/// `fallback` for an empty string.
pub fn or(value: &str, fallback: &str) -> String {
    if value.is_empty() {
        fallback.to_string()
    } else {
        value.to_string()
    }
}

pub fn text(value: impl Into<String>) -> Value {
    Value::String(value.into())
}

pub fn int(value: i64) -> Value {
    Value::from(value)
}

/// `k=v,k2=v2` sorted by key, `<none>` when empty (upstream's `labels.FormatLabels`).
pub fn format_labels(labels: Option<&Map<String, Value>>) -> String {
    let mut pairs: Vec<String> = labels
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    pairs.sort();
    if pairs.is_empty() {
        "<none>".to_string()
    } else {
        pairs.join(",")
    }
}

/// A `LabelSelector` in the text form of upstream's `labels.Selector.String()`: requirements
/// sorted by key, `k=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`; empty for no requirement.
pub fn selector_string(selector: Option<&Value>) -> String {
    let Some(selector) = selector else {
        return String::new();
    };
    let mut reqs: Vec<(String, String)> = Vec::new();
    if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in labels {
            reqs.push((k.clone(), format!("{k}={}", v.as_str().unwrap_or(""))));
        }
    }
    for expr in selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = s(expr, "/key");
        let mut values: Vec<&str> = arr(expr, "/values")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        values.sort_unstable();
        let values = values.join(",");
        let text = match s(expr, "/operator") {
            "In" => format!("{key} in ({values})"),
            "NotIn" => format!("{key} notin ({values})"),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            other => format!("{key} {other} ({values})"),
        };
        reqs.push((key.to_string(), text));
    }
    reqs.sort_by(|a, b| a.0.cmp(&b.0));
    reqs.into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join(",")
}

/// Like [`selector_string`] but `<none>` when empty (upstream's `FormatLabelSelector`).
pub fn format_selector(selector: Option<&Value>) -> String {
    or_none(&selector_string(selector))
}

/// Container names and images of a pod spec, each joined by commas.
pub fn containers_and_images(pod_spec: Option<&Value>) -> (String, String) {
    let containers = pod_spec
        .and_then(|p| p.get("containers"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let names: Vec<&str> = containers.iter().map(|c| s(c, "/name")).collect();
    let images: Vec<&str> = containers.iter().map(|c| s(c, "/image")).collect();
    (names.join(","), images.join(","))
}

/// The IPs or host names of a `LoadBalancerStatus`, joined by commas.
pub fn load_balancer_ips(status: Option<&Value>) -> String {
    let Some(status) = status else {
        return String::new();
    };
    arr(status, "/ingress")
        .iter()
        .filter_map(|ing| {
            let ip = s(ing, "/ip");
            let host = s(ing, "/hostname");
            if !ip.is_empty() {
                Some(ip)
            } else if !host.is_empty() {
                Some(host)
            } else {
                None
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Joins at most `max` items, adding ` + N more...` for the rest (upstream's list helpers).
pub fn list_with_more(items: &[String], total: usize, max: usize) -> String {
    let shown: Vec<&str> = items.iter().take(max).map(String::as_str).collect();
    let joined = shown.join(",");
    if total > max {
        format!("{joined} + {} more...", total - max)
    } else {
        joined
    }
}

/// Whether a condition of `type_` has status `True`.
pub fn condition_true(conditions: &[Value], type_: &str) -> bool {
    conditions
        .iter()
        .any(|c| s(c, "/type") == type_ && s(c, "/status") == "True")
}

/// `True`/`False` for a bool, `fallback` when absent.
pub fn bool_or(value: Option<&Value>, fallback: &str) -> String {
    match value.and_then(Value::as_bool) {
        Some(true) => "True".to_string(),
        Some(false) => "False".to_string(),
        None => fallback.to_string(),
    }
}
