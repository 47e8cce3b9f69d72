//! Structural-schema defaulting for custom resources: `default` values declared in a CRD schema.
//!
//! As upstream does, a missing field gets its schema's default, and so does a `null` field that
//! is not `nullable`; defaults apply at every depth, including inside defaulted values.

use serde_json::Value;

/// Applies the `default`s of `schema` to `obj` in place.
pub fn apply_schema_defaults(schema: &Value, obj: &mut Value) {
    match obj {
        Value::Object(map) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (key, prop) in props {
                    let Some(default) = prop.get("default") else {
                        continue;
                    };
                    let nullable = prop.get("nullable").and_then(Value::as_bool) == Some(true);
                    match map.get(key) {
                        None => {
                            map.insert(key.clone(), default.clone());
                        }
                        Some(Value::Null) if !nullable => {
                            map.insert(key.clone(), default.clone());
                        }
                        _ => {}
                    }
                }
            }
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            for (key, child) in map.iter_mut() {
                if let Some(s) = props.and_then(|p| p.get(key)).or(additional) {
                    apply_schema_defaults(s, child);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for item in items {
                    apply_schema_defaults(item_schema, item);
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

    fn schema() -> Value {
        json!({"type": "object", "properties": {"spec": {"type": "object", "default": {}, "properties": {
            "replicas": {"type": "integer", "default": 1},
            "mode": {"type": "string", "default": "fast"},
            "note": {"type": "string", "nullable": true, "default": "n"},
            "ports": {"type": "array", "items": {"type": "object", "properties": {"protocol": {"type": "string", "default": "TCP"}}}},
            "env": {"type": "object", "additionalProperties": {"type": "object", "properties": {"on": {"type": "boolean", "default": true}}}}
        }}}})
    }

    #[test]
    fn missing_fields_get_their_defaults_at_every_depth() {
        let mut obj = json!({"apiVersion": "example.com/v1", "kind": "Website"});
        apply_schema_defaults(&schema(), &mut obj);
        assert_eq!(
            obj["spec"],
            json!({"replicas": 1, "mode": "fast", "note": "n"})
        );
    }

    #[test]
    fn user_values_and_nullable_nulls_are_kept() {
        let mut obj = json!({"spec": {"replicas": 3, "mode": null, "note": null,
            "ports": [{"port": 80}, {"protocol": "UDP"}], "env": {"A": {}, "B": {"on": false}}}});
        apply_schema_defaults(&schema(), &mut obj);
        assert_eq!(
            obj["spec"],
            json!({"replicas": 3, "mode": "fast", "note": null,
            "ports": [{"port": 80, "protocol": "TCP"}, {"protocol": "UDP"}],
            "env": {"A": {"on": true}, "B": {"on": false}}})
        );
    }
}
