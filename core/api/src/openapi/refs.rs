//! `$ref` handling: which definitions a document needs, and the OpenAPI 3 form of references.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::builtin::V2_REF_PREFIX;

/// Prefix of `$ref`s in OpenAPI 3 documents.
pub const V3_REF_PREFIX: &str = "#/components/schemas/";

/// Adds the names of the definitions `value` refers to (Swagger 2.0 form) to `out`.
fn refs_of(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref")
                && let Some(name) = r.strip_prefix(V2_REF_PREFIX)
            {
                out.push(name.to_string());
            }
            map.values().for_each(|v| refs_of(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs_of(v, out)),
        _ => {}
    }
}

/// The names of `roots` and of every definition they reach through `$ref`s, roots first.
pub fn closure<'a>(
    roots: impl IntoIterator<Item = String>,
    lookup: impl Fn(&str) -> Option<&'a Value>,
) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut order = Vec::new();
    let mut stack: Vec<String> = roots.into_iter().collect();
    stack.reverse();
    while let Some(name) = stack.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let Some(def) = lookup(&name) else {
            continue;
        };
        order.push(name);
        let mut found = Vec::new();
        refs_of(def, &mut found);
        found.reverse();
        stack.extend(found.into_iter().filter(|n| !seen.contains(n)));
    }
    order
}

/// The OpenAPI 3 form of a definition, as upstream publishes it: references point into
/// `#/components/schemas/`, and every reference becomes `allOf: [{$ref}]`, so that the
/// description beside it counts (OpenAPI 3.0 ignores the siblings of a bare `$ref`).
pub fn to_v3(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            let mut reference = None;
            for (k, v) in map {
                if k == "$ref"
                    && let Value::String(r) = v
                {
                    let name = r.strip_prefix(V2_REF_PREFIX).unwrap_or(r);
                    reference = Some(format!("{V3_REF_PREFIX}{name}"));
                } else {
                    out.insert(k.clone(), to_v3(v));
                }
            }
            if let Some(r) = reference {
                let mut one = Map::new();
                one.insert("$ref".into(), Value::String(r));
                out.insert("allOf".into(), Value::Array(vec![Value::Object(one)]));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(to_v3).collect()),
        other => other.clone(),
    }
}
