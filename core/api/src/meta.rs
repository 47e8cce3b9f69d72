//! Helpers to read and write `metadata` on objects held as JSON values.
//!
//! Objects move through the store and the API server as `serde_json::Value`, so these small
//! accessors keep the field names and their shapes in one place.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// The `metadata` map of an object, created (and the object turned into a map) if missing.
pub fn metadata_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = json!({});
    }
    let map = obj.as_object_mut().expect("object just ensured");
    let meta = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    meta.as_object_mut().expect("metadata just ensured")
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

/// `metadata.name`, if set and not empty.
pub fn name(obj: &Value) -> Option<&str> {
    meta_str(obj, "name").filter(|s| !s.is_empty())
}

/// `metadata.namespace`, if set and not empty.
pub fn namespace(obj: &Value) -> Option<&str> {
    meta_str(obj, "namespace").filter(|s| !s.is_empty())
}

/// `metadata.generateName`, if set and not empty.
pub fn generate_name(obj: &Value) -> Option<&str> {
    meta_str(obj, "generateName").filter(|s| !s.is_empty())
}

/// `metadata.uid`, if set.
pub fn uid(obj: &Value) -> Option<&str> {
    meta_str(obj, "uid").filter(|s| !s.is_empty())
}

/// `metadata.resourceVersion`, if set and not empty.
pub fn resource_version(obj: &Value) -> Option<&str> {
    meta_str(obj, "resourceVersion").filter(|s| !s.is_empty())
}

/// `metadata.deletionTimestamp`, if set.
pub fn deletion_timestamp(obj: &Value) -> Option<&str> {
    meta_str(obj, "deletionTimestamp")
}

/// Whether deletion of the object has been requested.
pub fn is_deleting(obj: &Value) -> bool {
    deletion_timestamp(obj).is_some()
}

/// `metadata.labels` as a map (empty when missing); non-string values are skipped.
pub fn labels(obj: &Value) -> BTreeMap<String, String> {
    string_map(obj, "labels")
}

/// `metadata.annotations` as a map (empty when missing).
pub fn annotations(obj: &Value) -> BTreeMap<String, String> {
    string_map(obj, "annotations")
}

fn string_map(obj: &Value, field: &str) -> BTreeMap<String, String> {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// `metadata.finalizers` (empty when missing).
pub fn finalizers(obj: &Value) -> Vec<String> {
    obj.get("metadata")
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Replaces `metadata.finalizers`, removing the field when the list is empty.
pub fn set_finalizers(obj: &mut Value, finalizers: &[String]) {
    let meta = metadata_mut(obj);
    if finalizers.is_empty() {
        meta.remove("finalizers");
    } else {
        meta.insert("finalizers".into(), json!(finalizers));
    }
}

/// Sets a string field of `metadata`.
pub fn set(obj: &mut Value, field: &str, value: impl Into<Value>) {
    metadata_mut(obj).insert(field.to_string(), value.into());
}

/// Removes a field of `metadata`.
pub fn remove(obj: &mut Value, field: &str) {
    metadata_mut(obj).remove(field);
}

/// Sets `metadata.resourceVersion` to a store revision, written as a decimal string.
pub fn set_resource_version(obj: &mut Value, revision: i64) {
    set(obj, "resourceVersion", revision.to_string());
}

/// `metadata.generation` (0 when missing).
pub fn generation(obj: &Value) -> i64 {
    obj.get("metadata")
        .and_then(|m| m.get("generation"))
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// The current time in the RFC 3339 form Kubernetes writes timestamps in (seconds, `Z`).
pub fn now() -> String {
    timestamp(chrono::Utc::now())
}

/// A time in the RFC 3339 form Kubernetes writes timestamps in (seconds, `Z`).
pub fn timestamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Whether `a` and `b` are equal once the top-level keys in `skip` and the `metadata` keys
/// in `skip_meta` are left out. Compares in place: writes compare whole objects, and
/// copying them to strip a few keys cost more than the comparison.
pub fn same_except(a: &Value, b: &Value, skip: &[&str], skip_meta: &[&str]) -> bool {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return a == b;
    };
    let kept = |m: &Map<String, Value>| m.keys().filter(|k| !skip.contains(&k.as_str())).count();
    kept(a) == kept(b)
        && a.iter()
            .filter(|(k, _)| !skip.contains(&k.as_str()))
            .all(|(k, va)| match b.get(k) {
                None => false,
                Some(vb) if k == "metadata" && !skip_meta.is_empty() => {
                    same_except(va, vb, skip_meta, &[])
                }
                Some(vb) => va == vb,
            })
}

/// Whether `a` and `b` have the same spec: everything but `metadata` and `status`, what
/// `generation` counts changes of.
pub fn same_spec(a: &Value, b: &Value) -> bool {
    same_except(a, b, &["metadata", "status"], &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors_read_metadata_fields() {
        let obj = json!({"metadata": {"name": "web", "namespace": "", "labels": {"app": "x", "n": 1},
            "finalizers": ["a", "b"], "resourceVersion": "12", "generation": 3}});
        assert_eq!(name(&obj), Some("web"));
        assert_eq!(namespace(&obj), None);
        assert_eq!(labels(&obj).get("app").map(String::as_str), Some("x"));
        assert!(!labels(&obj).contains_key("n"));
        assert_eq!(finalizers(&obj), vec!["a", "b"]);
        assert_eq!(resource_version(&obj), Some("12"));
        assert_eq!(generation(&obj), 3);
        assert!(!is_deleting(&obj));
    }

    #[test]
    fn writers_create_metadata_when_missing() {
        let mut obj = json!({"kind": "Pod"});
        set_resource_version(&mut obj, 42);
        set_finalizers(&mut obj, &["x".to_string()]);
        assert_eq!(obj["metadata"]["resourceVersion"], "42");
        assert_eq!(obj["metadata"]["finalizers"][0], "x");
        set_finalizers(&mut obj, &[]);
        assert!(obj["metadata"].get("finalizers").is_none());
    }

    #[test]
    fn same_spec_ignores_metadata_and_status() {
        let a = json!({"metadata": {"name": "a"}, "spec": {"r": 1}, "status": {"x": 1}});
        let b = json!({"metadata": {"name": "b"}, "spec": {"r": 1}, "status": {"x": 2}});
        assert!(same_spec(&a, &b));
        let c = json!({"metadata": {"name": "a"}, "spec": {"r": 2}});
        assert!(!same_spec(&a, &c));
        // Keys other than spec count too (a ConfigMap's data), missing ones as well.
        let d = json!({"metadata": {}, "spec": {"r": 1}, "data": {}});
        assert!(!same_spec(&a, &d) && !same_spec(&d, &a));
    }

    #[test]
    fn objects_compare_without_the_skipped_metadata_keys() {
        let skip = ["resourceVersion", "managedFields"];
        let a = json!({"metadata": {"name": "a", "resourceVersion": "1", "managedFields": []}, "spec": {}});
        let b = json!({"metadata": {"name": "a", "resourceVersion": "2"}, "spec": {}});
        assert!(same_except(&a, &b, &[], &skip));
        assert!(!same_except(&a, &b, &[], &["resourceVersion"]));
        let c = json!({"metadata": {"name": "c", "resourceVersion": "2"}, "spec": {}});
        assert!(!same_except(&a, &c, &[], &skip));
        let d = json!({"metadata": {"name": "a"}, "spec": {}, "status": {}});
        assert!(!same_except(&a, &d, &[], &skip));
        assert!(same_except(&json!(1), &json!(1), &[], &skip));
    }

    #[test]
    fn timestamps_have_second_precision_and_zulu() {
        let t = chrono::DateTime::parse_from_rfc3339("2024-01-02T03:04:05.678Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(timestamp(t), "2024-01-02T03:04:05Z");
    }
}
