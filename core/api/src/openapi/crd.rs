//! Definitions and resources of the versions CustomResourceDefinitions serve.

use serde_json::{Map, Value, json};

use super::builtin::{V2_REF_PREFIX, gvk, list_definition};
use crate::registry::{ResourceInfo, STANDARD_VERBS, Scope};

/// One served version of a CRD.
pub struct CrdVersion {
    pub info: ResourceInfo,
    /// The version's `openAPIV3Schema`, if it has one.
    pub schema: Option<Value>,
}

impl CrdVersion {
    pub fn definition_name(&self) -> String {
        definition_name(&self.info.group, &self.info.version, &self.info.kind)
    }
}

/// Upstream's name for a custom kind's definition: the group reversed, then version and kind
/// (`example.com`, `v1`, `Website` give `com.example.v1.Website`).
pub fn definition_name(group: &str, version: &str, kind: &str) -> String {
    let reversed: Vec<&str> = group.split('.').rev().collect();
    format!("{}.{version}.{kind}", reversed.join("."))
}

/// Every served version of every CRD given.
pub fn served_versions(crds: &[Value]) -> Vec<CrdVersion> {
    let mut out = Vec::new();
    for crd in crds {
        let spec = &crd["spec"];
        let group = spec["group"].as_str().unwrap_or_default();
        let names = &spec["names"];
        let kind = names["kind"].as_str().unwrap_or_default();
        let plural = names["plural"].as_str().unwrap_or_default();
        if group.is_empty() || kind.is_empty() || plural.is_empty() {
            continue;
        }
        let scope = if spec["scope"].as_str() == Some("Cluster") {
            Scope::Cluster
        } else {
            Scope::Namespaced
        };
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        };
        for version in spec["versions"].as_array().into_iter().flatten() {
            if version["served"].as_bool() == Some(false) {
                continue;
            }
            let Some(name) = version["name"].as_str() else {
                continue;
            };
            let mut subresources = Vec::new();
            for sub in ["status", "scale"] {
                if version["subresources"].get(sub).is_some() {
                    subresources.push(sub.to_string());
                }
            }
            out.push(CrdVersion {
                info: ResourceInfo {
                    group: group.to_string(),
                    version: name.to_string(),
                    kind: kind.to_string(),
                    plural: plural.to_string(),
                    singular: names["singular"]
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| kind.to_ascii_lowercase()),
                    scope,
                    short_names: strings(&names["shortNames"]),
                    categories: strings(&names["categories"]),
                    subresources,
                    verbs: STANDARD_VERBS.iter().map(|s| s.to_string()).collect(),
                },
                schema: version
                    .pointer("/schema/openAPIV3Schema")
                    .filter(|s| s.is_object())
                    .cloned(),
            });
        }
    }
    out
}

/// The definitions of one served version (the kind and its list), in Swagger 2.0 form (refs to
/// `#/definitions/`); the caller converts them for OpenAPI 3 documents.
pub fn definitions(v: &CrdVersion) -> Vec<(String, Value)> {
    let info = &v.info;
    let name = v.definition_name();
    let mut schema = match &v.schema {
        Some(Value::Object(s)) => s.clone(),
        _ => {
            let mut s = Map::new();
            s.insert("type".into(), json!("object"));
            s.insert("x-kubernetes-preserve-unknown-fields".into(), json!(true));
            s
        }
    };
    schema.entry("type").or_insert(json!("object"));
    let properties = schema.entry("properties").or_insert_with(|| json!({}));
    if let Value::Object(properties) = properties {
        properties.insert(
            "apiVersion".into(),
            json!({
                "description": "APIVersion defines the versioned schema of this representation of an object.",
                "type": "string",
            }),
        );
        properties.insert(
            "kind".into(),
            json!({
                "description": "Kind is a string value representing the REST resource this object represents.",
                "type": "string",
            }),
        );
        properties.insert(
            "metadata".into(),
            json!({
                "$ref": format!("{V2_REF_PREFIX}io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"),
                "description": "Standard object's metadata.",
            }),
        );
    }
    schema.insert(
        "x-kubernetes-group-version-kind".into(),
        gvk(&info.group, &info.version, &info.kind),
    );
    let list = list_definition(&info.group, &info.version, &info.kind, &name);
    vec![
        (name.clone(), Value::Object(schema)),
        (format!("{name}List"), list),
    ]
}

/// Removes what Swagger 2.0 cannot say from a CRD schema, as upstream does when it publishes
/// CRDs in `/openapi/v2`: `nullable`, `oneOf`/`anyOf`/`not`, and the type of int-or-string
/// fields (which Swagger 2.0 cannot express).
pub fn to_swagger2(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            map.remove("nullable");
            map.remove("oneOf");
            map.remove("anyOf");
            map.remove("not");
            if map.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
                map.remove("type");
            }
            for (_, v) in map.iter_mut() {
                to_swagger2(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(to_swagger2),
        _ => {}
    }
}
