//! OpenAPI v3 structural schemas as CustomResourceDefinitions declare them: validation and
//! pruning of unknown fields.
//!
//! Messages follow upstream's `<path> in body must be of type integer: "string"` forms. The
//! Kubernetes extensions (`x-kubernetes-*`) are not covered by any JSON-Schema crate, and the
//! error wording must match upstream, so the walk is written by hand; patterns use `regex`.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::as_array;
use super::field::{self, Path};
use crate::status::StatusCause;

/// Validates `obj` against `schema`; an empty list means valid.
pub fn validate_against_schema(schema: &Value, obj: &Value) -> Vec<StatusCause> {
    let mut causes = Vec::new();
    validate_value(schema, obj, &Path::default(), &mut causes);
    causes
}

/// Removes every field the schema does not declare, except where it preserves unknown fields.
/// `apiVersion`, `kind` and `metadata` are kept at the root and in embedded resources.
pub fn prune(schema: &Value, obj: &mut Value) {
    prune_value(schema, obj, true);
}

fn flag(schema: &Value, key: &str) -> bool {
    schema.get(key).and_then(Value::as_bool) == Some(true)
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if is_integer(n) => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn is_integer(n: &serde_json::Number) -> bool {
    n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
}

fn in_body(path: &Path) -> String {
    if path.as_str().is_empty() {
        "body".to_string()
    } else {
        format!("{path} in body")
    }
}

fn type_matches(expected: &str, v: &Value) -> bool {
    match (expected, v) {
        ("integer", Value::Number(n)) => is_integer(n),
        ("number", Value::Number(_)) => true,
        ("string", Value::String(_)) => true,
        ("boolean", Value::Bool(_)) => true,
        ("array", Value::Array(_)) => true,
        ("object", Value::Object(_)) => true,
        _ => false,
    }
}

fn validate_value(schema: &Value, v: &Value, path: &Path, causes: &mut Vec<StatusCause>) {
    let Some(s) = schema.as_object() else {
        return;
    };
    if v.is_null() && flag(schema, "nullable") {
        return;
    }
    let int_or_string = flag(schema, "x-kubernetes-int-or-string");
    if int_or_string {
        let ok = matches!(v, Value::String(_)) || matches!(v, Value::Number(n) if is_integer(n));
        if !ok {
            let t = Value::from(type_name(v));
            causes.push(field::type_invalid(
                path,
                &t,
                &format!(
                    "{} must be of type integer or string: {}",
                    in_body(path),
                    field::show(&t)
                ),
            ));
            return;
        }
    } else if let Some(expected) = s.get("type").and_then(Value::as_str)
        && !type_matches(expected, v)
    {
        let t = Value::from(type_name(v));
        causes.push(field::type_invalid(
            path,
            &t,
            &format!(
                "{} must be of type {expected}: {}",
                in_body(path),
                field::show(&t)
            ),
        ));
        return;
    }
    if let Some(options) = s.get("enum").and_then(Value::as_array)
        && !options.contains(v)
    {
        let shown: Vec<String> = options
            .iter()
            .map(|o| o.as_str().map_or_else(|| o.to_string(), str::to_string))
            .collect();
        let shown: Vec<&str> = shown.iter().map(String::as_str).collect();
        causes.push(field::not_supported(path, v, &shown));
    }
    for sub in as_array(s.get("allOf")) {
        validate_value(sub, v, path, causes);
    }
    let passes = |sub: &Value| {
        let mut c = Vec::new();
        validate_value(sub, v, path, &mut c);
        c.is_empty()
    };
    if let Some(any) = s.get("anyOf").and_then(Value::as_array)
        && !any.iter().any(passes)
    {
        causes.push(field::invalid(
            path,
            v,
            &format!(
                "{} must validate at least one schema (anyOf)",
                in_body(path)
            ),
        ));
    }
    if let Some(one) = s.get("oneOf").and_then(Value::as_array)
        && one.iter().filter(|sub| passes(sub)).count() != 1
    {
        causes.push(field::invalid(
            path,
            v,
            &format!(
                "{} must validate one and only one schema (oneOf)",
                in_body(path)
            ),
        ));
    }
    if let Some(not) = s.get("not")
        && passes(not)
    {
        causes.push(field::invalid(
            path,
            v,
            &format!("{} must not validate the schema (not)", in_body(path)),
        ));
    }
    match v {
        Value::Number(n) => validate_number(s, n, v, path, causes),
        Value::String(text) => validate_string(s, text, v, path, causes),
        Value::Array(items) => validate_array(schema, items, path, causes),
        Value::Object(map) => validate_object(schema, map, path, causes),
        _ => {}
    }
}

fn validate_number(
    s: &Map<String, Value>,
    n: &serde_json::Number,
    v: &Value,
    path: &Path,
    causes: &mut Vec<StatusCause>,
) {
    let x = n.as_f64().unwrap_or_default();
    let body = in_body(path);
    let bound = |key: &str| s.get(key).and_then(Value::as_f64);
    let show = |b: f64| {
        Value::from(b)
            .to_string()
            .trim_end_matches(".0")
            .to_string()
    };
    if let Some(min) = bound("minimum") {
        if flag(&Value::Object(s.clone()), "exclusiveMinimum") {
            if x <= min {
                causes.push(field::invalid(
                    path,
                    v,
                    &format!("{body} should be greater than {}", show(min)),
                ));
            }
        } else if x < min {
            causes.push(field::invalid(
                path,
                v,
                &format!("{body} should be greater than or equal to {}", show(min)),
            ));
        }
    }
    if let Some(max) = bound("maximum") {
        if flag(&Value::Object(s.clone()), "exclusiveMaximum") {
            if x >= max {
                causes.push(field::invalid(
                    path,
                    v,
                    &format!("{body} should be less than {}", show(max)),
                ));
            }
        } else if x > max {
            causes.push(field::invalid(
                path,
                v,
                &format!("{body} should be less than or equal to {}", show(max)),
            ));
        }
    }
    if let Some(m) = bound("multipleOf")
        && m != 0.0
        && (x / m).fract() != 0.0
    {
        causes.push(field::invalid(
            path,
            v,
            &format!("{body} should be a multiple of {}", show(m)),
        ));
    }
    match s.get("format").and_then(Value::as_str) {
        Some("int32") if !(i32::MIN as f64..=i32::MAX as f64).contains(&x) => {
            causes.push(field::invalid(
                path,
                v,
                &format!("{body} must be of type int32: {v}"),
            ));
        }
        _ => {}
    }
}

fn validate_string(
    s: &Map<String, Value>,
    text: &str,
    v: &Value,
    path: &Path,
    causes: &mut Vec<StatusCause>,
) {
    let body = in_body(path);
    let chars = text.chars().count();
    if let Some(min) = s.get("minLength").and_then(Value::as_u64)
        && (chars as u64) < min
    {
        causes.push(field::invalid(
            path,
            v,
            &format!("{body} should be at least {min} chars long"),
        ));
    }
    if let Some(max) = s.get("maxLength").and_then(Value::as_u64)
        && (chars as u64) > max
    {
        causes.push(field::too_long(path, max as usize));
    }
    if let Some(p) = s.get("pattern").and_then(Value::as_str) {
        match regex::Regex::new(p) {
            Ok(re) if !re.is_match(text) => {
                causes.push(field::invalid(
                    path,
                    v,
                    &format!("{body} should match '{p}'"),
                ));
            }
            Ok(_) => {}
            Err(e) => causes.push(field::invalid(
                path,
                v,
                &format!("invalid pattern '{p}': {e}"),
            )),
        }
    }
    let format_ok = match s.get("format").and_then(Value::as_str) {
        Some("date-time") => chrono::DateTime::parse_from_rfc3339(text).is_ok(),
        Some("date") => chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok(),
        Some("int-or-string") => true,
        Some("ipv4") => text.parse::<std::net::Ipv4Addr>().is_ok(),
        Some("ipv6") => text.parse::<std::net::Ipv6Addr>().is_ok(),
        Some("byte") => {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .is_ok()
        }
        _ => true,
    };
    if !format_ok {
        let f = s.get("format").and_then(Value::as_str).unwrap_or_default();
        causes.push(field::invalid(
            path,
            v,
            &format!("{body} must be of type {f}: {}", field::show(v)),
        ));
    }
}

fn validate_array(schema: &Value, items: &[Value], path: &Path, causes: &mut Vec<StatusCause>) {
    let body = in_body(path);
    if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
        && (items.len() as u64) < min
    {
        causes.push(field::invalid(
            path,
            &Value::from(items.len()),
            &format!("{body} should have at least {min} items"),
        ));
    }
    if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
        && (items.len() as u64) > max
    {
        causes.push(field::too_many(path, items.len(), max as usize));
    }
    if let Some(item_schema) = schema.get("items") {
        for (i, item) in items.iter().enumerate() {
            validate_value(item_schema, item, &path.index(i), causes);
        }
    }
    match schema.get("x-kubernetes-list-type").and_then(Value::as_str) {
        Some("set") => {
            let mut seen = Vec::new();
            for (i, item) in items.iter().enumerate() {
                if seen.contains(&item) {
                    causes.push(field::duplicate(&path.index(i), item));
                } else {
                    seen.push(item);
                }
            }
        }
        Some("map") => {
            let keys: Vec<&str> = as_array(schema.get("x-kubernetes-list-map-keys"))
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let mut seen = HashSet::new();
            for (i, item) in items.iter().enumerate() {
                let key: Vec<String> = keys
                    .iter()
                    .map(|k| item.get(*k).map(Value::to_string).unwrap_or_default())
                    .collect();
                if !seen.insert(key) {
                    let shown: Map<String, Value> = keys
                        .iter()
                        .filter_map(|k| item.get(*k).map(|v| (k.to_string(), v.clone())))
                        .collect();
                    causes.push(field::duplicate(&path.index(i), &Value::Object(shown)));
                }
            }
        }
        _ => {}
    }
}

fn validate_object(
    schema: &Value,
    map: &Map<String, Value>,
    path: &Path,
    causes: &mut Vec<StatusCause>,
) {
    let body = in_body(path);
    for r in as_array(schema.get("required"))
        .iter()
        .filter_map(Value::as_str)
    {
        if !map.contains_key(r) {
            causes.push(field::required(&path.child(r), ""));
        }
    }
    if let Some(min) = schema.get("minProperties").and_then(Value::as_u64)
        && (map.len() as u64) < min
    {
        causes.push(field::invalid(
            path,
            &Value::from(map.len()),
            &format!("{body} should have at least {min} properties"),
        ));
    }
    if let Some(max) = schema.get("maxProperties").and_then(Value::as_u64)
        && (map.len() as u64) > max
    {
        causes.push(field::too_many(path, map.len(), max as usize));
    }
    if flag(schema, "x-kubernetes-embedded-resource") {
        for key in ["apiVersion", "kind"] {
            if map
                .get(key)
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                causes.push(field::required(&path.child(key), "must not be empty"));
            }
        }
    }
    let props = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties").filter(|a| a.is_object());
    for (k, v) in map {
        let child = path.child(k);
        if let Some(s) = props.and_then(|p| p.get(k)) {
            validate_value(s, v, &child, causes);
        } else if let Some(a) = additional {
            validate_value(a, v, &child, causes);
        }
    }
}

fn prune_value(schema: &Value, v: &mut Value, keep_meta: bool) {
    match v {
        Value::Object(map) => {
            let preserve = flag(schema, "x-kubernetes-preserve-unknown-fields");
            let embedded = flag(schema, "x-kubernetes-embedded-resource");
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            let keep_all = preserve || additional == Some(&Value::Bool(true));
            map.retain(|k, child| {
                if let Some(s) = props.and_then(|p| p.get(k)) {
                    prune_value(s, child, false);
                    true
                } else if let Some(a) = additional.filter(|a| a.is_object()) {
                    prune_value(a, child, false);
                    true
                } else {
                    keep_all
                        || ((keep_meta || embedded)
                            && matches!(k.as_str(), "apiVersion" | "kind" | "metadata"))
                }
            });
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for item in items {
                    prune_value(item_schema, item, false);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(schema: Value, obj: Value) -> Vec<String> {
        validate_against_schema(&schema, &obj)
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    fn spec_schema(props: Value) -> Value {
        json!({"type": "object", "properties": {"spec": {"type": "object", "properties": props}}})
    }

    #[test]
    fn types_are_reported_like_upstream() {
        let m = messages(
            spec_schema(json!({"replicas": {"type": "integer"}})),
            json!({"spec": {"replicas": "string"}}),
        );
        assert_eq!(
            m,
            vec![
                "spec.replicas: Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\""
            ]
        );
        assert!(
            messages(
                spec_schema(json!({"replicas": {"type": "integer"}})),
                json!({"spec": {"replicas": 3}})
            )
            .is_empty()
        );
        let m = messages(
            spec_schema(
                json!({"ratio": {"type": "number"}, "on": {"type": "boolean"}, "n": {"type": "integer"}}),
            ),
            json!({"spec": {"ratio": 0.5, "on": "yes", "n": 1.5}}),
        );
        assert_eq!(
            m,
            vec![
                "spec.n: Invalid value: \"number\": spec.n in body must be of type integer: \"number\"",
                "spec.on: Invalid value: \"string\": spec.on in body must be of type boolean: \"string\"",
            ]
        );
    }

    #[test]
    fn required_fields_and_enums_are_enforced() {
        let schema = json!({"type": "object", "required": ["spec"], "properties": {"spec": {"type": "object", "required": ["size"],
            "properties": {"size": {"type": "string", "enum": ["small", "large"]}}}}});
        assert_eq!(
            messages(schema.clone(), json!({})),
            vec!["spec: Required value"]
        );
        assert_eq!(
            messages(schema.clone(), json!({"spec": {}})),
            vec!["spec.size: Required value"]
        );
        assert_eq!(
            messages(schema.clone(), json!({"spec": {"size": "medium"}})),
            vec![
                "spec.size: Unsupported value: \"medium\": supported values: \"small\", \"large\""
            ]
        );
        assert!(messages(schema, json!({"spec": {"size": "small"}})).is_empty());
    }

    #[test]
    fn numeric_bounds_are_checked() {
        let schema = spec_schema(json!({
            "replicas": {"type": "integer", "minimum": 0, "maximum": 10},
            "weight": {"type": "number", "minimum": 0, "exclusiveMinimum": true, "maximum": 1, "exclusiveMaximum": true},
            "port": {"type": "integer", "format": "int32"}
        }));
        assert_eq!(
            messages(
                schema.clone(),
                json!({"spec": {"replicas": -1, "weight": 1, "port": 5000000000i64}})
            ),
            vec![
                "spec.port: Invalid value: 5000000000: spec.port in body must be of type int32: 5000000000",
                "spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0",
                "spec.weight: Invalid value: 1: spec.weight in body should be less than 1",
            ]
        );
        assert_eq!(
            messages(
                schema.clone(),
                json!({"spec": {"replicas": 11, "weight": 0}})
            ),
            vec![
                "spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10",
                "spec.weight: Invalid value: 0: spec.weight in body should be greater than 0",
            ]
        );
        assert!(messages(schema, json!({"spec": {"replicas": 10, "weight": 0.5}})).is_empty());
    }

    #[test]
    fn string_lengths_patterns_and_formats_are_checked() {
        let schema = spec_schema(json!({
            "code": {"type": "string", "minLength": 2, "maxLength": 4, "pattern": "^[A-Z]+$"},
            "at": {"type": "string", "format": "date-time"}
        }));
        assert_eq!(
            messages(
                schema.clone(),
                json!({"spec": {"code": "a", "at": "yesterday"}})
            ),
            vec![
                "spec.at: Invalid value: \"yesterday\": spec.at in body must be of type date-time: \"yesterday\"",
                "spec.code: Invalid value: \"a\": spec.code in body should be at least 2 chars long",
                "spec.code: Invalid value: \"a\": spec.code in body should match '^[A-Z]+$'",
            ]
        );
        assert_eq!(
            messages(schema.clone(), json!({"spec": {"code": "ABCDE"}})),
            vec!["spec.code: Too long: may not be more than 4 bytes"]
        );
        assert!(
            messages(
                schema,
                json!({"spec": {"code": "AB", "at": "2024-01-02T03:04:05Z"}})
            )
            .is_empty()
        );
    }

    #[test]
    fn arrays_check_counts_items_and_set_uniqueness() {
        let schema = spec_schema(
            json!({"tags": {"type": "array", "minItems": 1, "maxItems": 2,
            "x-kubernetes-list-type": "set", "items": {"type": "string"}}}),
        );
        assert_eq!(
            messages(schema.clone(), json!({"spec": {"tags": []}})),
            vec!["spec.tags: Invalid value: 0: spec.tags in body should have at least 1 items"]
        );
        assert_eq!(
            messages(schema.clone(), json!({"spec": {"tags": ["a", 1, "c"]}})),
            vec![
                "spec.tags: Too many: 3: must have at most 2 items",
                "spec.tags[1]: Invalid value: \"integer\": spec.tags[1] in body must be of type string: \"integer\"",
            ]
        );
        assert_eq!(
            messages(schema, json!({"spec": {"tags": ["a", "a"]}})),
            vec!["spec.tags[1]: Duplicate value: \"a\""]
        );
    }

    #[test]
    fn list_maps_reject_repeated_keys() {
        let schema = spec_schema(
            json!({"ports": {"type": "array", "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["port"], "items": {"type": "object", "properties": {"port": {"type": "integer"}}}}}),
        );
        assert_eq!(
            messages(
                schema,
                json!({"spec": {"ports": [{"port": 80}, {"port": 80}]}})
            ),
            vec!["spec.ports[1]: Duplicate value: {\"port\":80}"]
        );
    }

    #[test]
    fn nullable_int_or_string_and_additional_properties_are_honoured() {
        let schema = spec_schema(json!({
            "maybe": {"type": "string", "nullable": true},
            "never": {"type": "string"},
            "port": {"x-kubernetes-int-or-string": true},
            "env": {"type": "object", "additionalProperties": {"type": "string"}}
        }));
        assert!(
            messages(
                schema.clone(),
                json!({"spec": {"maybe": null, "port": "http", "env": {"A": "1"}}})
            )
            .is_empty()
        );
        assert!(messages(schema.clone(), json!({"spec": {"port": 8080}})).is_empty());
        assert_eq!(
            messages(
                schema,
                json!({"spec": {"never": null, "port": true, "env": {"A": 1}}})
            ),
            vec![
                "spec.env.A: Invalid value: \"integer\": spec.env.A in body must be of type string: \"integer\"",
                "spec.never: Invalid value: \"null\": spec.never in body must be of type string: \"null\"",
                "spec.port: Invalid value: \"boolean\": spec.port in body must be of type integer or string: \"boolean\"",
            ]
        );
    }

    #[test]
    fn embedded_resources_need_api_version_and_kind() {
        let schema = spec_schema(
            json!({"template": {"type": "object", "x-kubernetes-embedded-resource": true,
            "x-kubernetes-preserve-unknown-fields": true}}),
        );
        assert_eq!(
            messages(
                schema.clone(),
                json!({"spec": {"template": {"kind": "Pod"}}})
            ),
            vec!["spec.template.apiVersion: Required value: must not be empty"]
        );
        assert!(
            messages(
                schema,
                json!({"spec": {"template": {"apiVersion": "v1", "kind": "Pod", "spec": {}}}})
            )
            .is_empty()
        );
    }

    #[test]
    fn combinators_are_evaluated() {
        let schema = spec_schema(
            json!({"v": {"anyOf": [{"type": "integer"}, {"type": "string", "pattern": "^[0-9]+%$"}]}}),
        );
        assert!(messages(schema.clone(), json!({"spec": {"v": 3}})).is_empty());
        assert!(messages(schema.clone(), json!({"spec": {"v": "50%"}})).is_empty());
        assert_eq!(
            messages(schema, json!({"spec": {"v": "half"}})),
            vec![
                "spec.v: Invalid value: \"half\": spec.v in body must validate at least one schema (anyOf)"
            ]
        );
    }

    #[test]
    fn pruning_drops_unknown_fields_but_keeps_object_identity() {
        let schema = json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "size": {"type": "string"},
                "items": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "raw": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "pod": {"type": "object", "x-kubernetes-embedded-resource": true, "properties": {"spec": {"type": "object"}}}
            }}
        }});
        let mut obj = json!({
            "apiVersion": "example.com/v1", "kind": "Website", "metadata": {"name": "w"},
            "status": {"x": 1},
            "spec": {
                "size": "s", "unknown": true,
                "items": [{"name": "a", "extra": 1}],
                "labels": {"a": "b"},
                "raw": {"anything": {"goes": 1}},
                "pod": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}, "junk": 1}
            }
        });
        prune(&schema, &mut obj);
        assert_eq!(
            obj,
            json!({
                "apiVersion": "example.com/v1", "kind": "Website", "metadata": {"name": "w"},
                "spec": {
                    "size": "s",
                    "items": [{"name": "a"}],
                    "labels": {"a": "b"},
                    "raw": {"anything": {"goes": 1}},
                    "pod": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}}
                }
            })
        );
    }

    #[test]
    fn preserve_unknown_fields_at_the_root_keeps_everything() {
        let schema = json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true});
        let mut obj = json!({"apiVersion": "a/v1", "kind": "K", "spec": {"x": 1}, "other": 2});
        let before = obj.clone();
        prune(&schema, &mut obj);
        assert_eq!(obj, before);
    }
}
