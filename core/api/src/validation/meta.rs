//! `metadata` checks shared by every kind: name, generateName, namespace, labels, annotations.

use serde_json::Value;

use super::field::{self, Path};
use super::names;
use crate::status::StatusCause;

/// Upstream's limit on the summed size of all annotation keys and values.
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// Which syntax a kind's object names must follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRule {
    /// RFC 1123 subdomain: most kinds.
    Subdomain,
    /// RFC 1123 label: namespaces.
    Label,
    /// RFC 1035 label: services.
    Dns1035,
    /// Any single URL path segment: RBAC roles and bindings.
    PathSegment,
}

impl NameRule {
    pub fn check(self, name: &str) -> Vec<String> {
        match self {
            NameRule::Subdomain => names::dns1123_subdomain(name),
            NameRule::Label => names::dns1123_label(name),
            NameRule::Dns1035 => names::dns1035_label(name),
            NameRule::PathSegment => names::path_segment(name),
        }
    }
}

/// Validates `metadata` of a top-level object.
pub fn validate_object_meta(obj: &Value, namespaced: bool, rule: NameRule) -> Vec<StatusCause> {
    let path = Path::new("metadata");
    let mut causes = Vec::new();
    let meta = obj.get("metadata").unwrap_or(&Value::Null);
    let name = meta.get("name").and_then(Value::as_str).unwrap_or_default();
    let generate = meta
        .get("generateName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if name.is_empty() {
        if generate.is_empty() {
            causes.push(field::required(
                &path.child("name"),
                "name or generateName is required",
            ));
        }
    } else {
        causes.extend(field::invalid_each(
            &path.child("name"),
            name,
            rule.check(name),
        ));
    }
    if !generate.is_empty() {
        // A prefix may end in '-': check it as if a generated suffix followed.
        let masked = match generate.strip_suffix('-') {
            Some(stem) if !stem.is_empty() => format!("{stem}a"),
            _ => generate.to_string(),
        };
        causes.extend(field::invalid_each(
            &path.child("generateName"),
            generate,
            rule.check(&masked),
        ));
    }
    let namespace = meta
        .get("namespace")
        .and_then(Value::as_str)
        .unwrap_or_default();
    // A namespace on a cluster-scoped object is not an error: upstream clears it before
    // validation (the server does the same), so only namespaced objects are checked.
    if !namespace.is_empty() && namespaced {
        causes.extend(field::invalid_each(
            &path.child("namespace"),
            namespace,
            names::dns1123_label(namespace),
        ));
    }
    causes.extend(validate_labels(meta.get("labels"), &path.child("labels")));
    causes.extend(validate_annotations(
        meta.get("annotations"),
        &path.child("annotations"),
    ));
    if let Some(Value::Array(finalizers)) = meta.get("finalizers") {
        for (i, f) in finalizers.iter().enumerate() {
            let p = path.child("finalizers").index(i);
            match f.as_str() {
                Some(s) => causes.extend(field::invalid_each(&p, s, names::qualified_name(s))),
                None => causes.push(field::invalid(&p, f, "must be a string")),
            }
        }
    }
    causes
}

/// Label keys must be qualified names and values valid label values.
pub fn validate_labels(labels: Option<&Value>, path: &Path) -> Vec<StatusCause> {
    let mut causes = Vec::new();
    let Some(labels) = labels else {
        return causes;
    };
    let Some(map) = labels.as_object() else {
        if !labels.is_null() {
            causes.push(field::invalid(path, labels, "must be a map of strings"));
        }
        return causes;
    };
    for (k, v) in map {
        causes.extend(field::invalid_each(path, k, names::qualified_name(k)));
        match v.as_str() {
            Some(s) => causes.extend(field::invalid_each(path, s, names::label_value(s))),
            None => causes.push(field::invalid(path, v, "label values must be strings")),
        }
    }
    causes
}

/// Annotation keys must be qualified names (case-insensitively); the total size is capped.
pub fn validate_annotations(annotations: Option<&Value>, path: &Path) -> Vec<StatusCause> {
    let mut causes = Vec::new();
    let Some(map) = annotations.and_then(Value::as_object) else {
        return causes;
    };
    let mut total = 0usize;
    for (k, v) in map {
        causes.extend(field::invalid_each(
            path,
            k,
            names::qualified_name(&k.to_lowercase()),
        ));
        total += k.len() + v.as_str().map_or(0, str::len);
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        causes.push(field::too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT));
    }
    causes
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(causes: &[StatusCause]) -> Vec<String> {
        causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    #[test]
    fn bad_names_are_reported_on_metadata_name() {
        let c = validate_object_meta(
            &json!({"metadata": {"name": "Bad_Name"}}),
            true,
            NameRule::Subdomain,
        );
        assert_eq!(c.len(), 1);
        assert!(messages(&c)[0].starts_with(
            "metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of"
        ));
    }

    #[test]
    fn a_name_or_generate_name_is_required() {
        let c = validate_object_meta(&json!({"metadata": {}}), true, NameRule::Subdomain);
        assert_eq!(
            messages(&c),
            vec!["metadata.name: Required value: name or generateName is required"]
        );
        let c = validate_object_meta(
            &json!({"metadata": {"generateName": "web-"}}),
            true,
            NameRule::Subdomain,
        );
        assert!(c.is_empty());
        let c = validate_object_meta(
            &json!({"metadata": {"generateName": "Web-"}}),
            true,
            NameRule::Subdomain,
        );
        assert_eq!(c[0].field, "metadata.generateName");
    }

    #[test]
    fn label_names_reject_dots() {
        let c = validate_object_meta(
            &json!({"metadata": {"name": "a.b"}}),
            false,
            NameRule::Label,
        );
        assert!(messages(&c)[0].contains("a lowercase RFC 1123 label"));
    }

    #[test]
    fn namespaces_of_namespaced_objects_must_be_labels() {
        let c = validate_object_meta(
            &json!({"metadata": {"name": "n", "namespace": "Team_A"}}),
            true,
            NameRule::Subdomain,
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].field, "metadata.namespace");
        let c = validate_object_meta(
            &json!({"metadata": {"name": "n", "namespace": "ignored"}}),
            false,
            NameRule::Subdomain,
        );
        assert!(c.is_empty());
    }

    #[test]
    fn label_keys_and_values_are_checked() {
        let c = validate_object_meta(
            &json!({"metadata": {"name": "n", "labels": {"bad key": "ok", "k": "bad value", "app.kubernetes.io/name": "web"}}}),
            true,
            NameRule::Subdomain,
        );
        let m = messages(&c);
        assert_eq!(m.len(), 2, "{m:?}");
        assert!(m.iter().any(|s| {
            s.starts_with("metadata.labels: Invalid value: \"bad key\": name part must consist")
        }));
        assert!(m.iter().any(|s| {
            s.starts_with("metadata.labels: Invalid value: \"bad value\": a valid label must be")
        }));
    }

    #[test]
    fn annotations_have_a_total_size_limit() {
        let big = "x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT);
        let c = validate_object_meta(
            &json!({"metadata": {"name": "n", "annotations": {"a": big, "Upper.Case/OK": "x"}}}),
            true,
            NameRule::Subdomain,
        );
        assert_eq!(
            messages(&c),
            vec!["metadata.annotations: Too long: may not be more than 262144 bytes"]
        );
    }
}
