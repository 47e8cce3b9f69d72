//! CustomResourceDefinition checks: group, names, scope, versions and their schemas.

use std::collections::HashSet;

use serde_json::Value;

use super::field::{self, Path};
use super::pod::check_enum;
use super::{as_array, names, str_of};
use crate::status::StatusCause;

pub fn validate_crd(obj: &Value) -> Vec<StatusCause> {
    let mut causes = Vec::new();
    let path = Path::new("spec");
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    let group = str_of(spec, "group");
    if group.is_empty() {
        causes.push(field::required(&path.child("group"), ""));
    } else {
        causes.extend(field::invalid_each(
            &path.child("group"),
            group,
            names::dns1123_subdomain(group),
        ));
        if !group.contains('.') {
            causes.push(field::invalid_str(
                &path.child("group"),
                group,
                "should be a domain with at least one dot",
            ));
        }
    }
    let names_path = path.child("names");
    let n = spec.get("names").unwrap_or(&Value::Null);
    let plural = str_of(n, "plural");
    for key in ["plural", "kind", "listKind", "singular"] {
        let v = str_of(n, key);
        let p = names_path.child(key);
        match key {
            "plural" | "kind" if v.is_empty() => causes.push(field::required(&p, "")),
            "plural" | "singular" if !v.is_empty() => {
                causes.extend(field::invalid_each(&p, v, names::dns1123_label(v)))
            }
            "kind" | "listKind"
                if !v.is_empty()
                    && (!v.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                        || v.contains(|c: char| !c.is_ascii_alphanumeric())) =>
            {
                causes.push(field::invalid_str(
                    &p,
                    v,
                    "may have mixed case, but should otherwise match: [a-z]([-a-z0-9]*[a-z0-9])?",
                ));
            }
            _ => {}
        }
    }
    if !str_of(n, "kind").is_empty() && str_of(n, "kind") == str_of(n, "listKind") {
        causes.push(field::invalid_str(
            &names_path.child("listKind"),
            str_of(n, "listKind"),
            "kind and listKind may not be the same",
        ));
    }
    for (i, s) in as_array(n.get("shortNames")).iter().enumerate() {
        let v = s.as_str().unwrap_or_default();
        causes.extend(field::invalid_each(
            &names_path.child("shortNames").index(i),
            v,
            names::dns1123_label(v),
        ));
    }
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !name.is_empty()
        && !plural.is_empty()
        && !group.is_empty()
        && name != format!("{plural}.{group}")
    {
        causes.push(field::invalid_str(
            &Path::new("metadata").child("name"),
            name,
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    match spec.get("scope").filter(|v| !v.is_null()) {
        None => causes.push(field::required(&path.child("scope"), "")),
        Some(s) => check_enum(
            s,
            &path.child("scope"),
            &["Cluster", "Namespaced"],
            &mut causes,
        ),
    }
    validate_versions(spec, &path, &mut causes);
    causes
}

fn validate_versions(spec: &Value, path: &Path, causes: &mut Vec<StatusCause>) {
    let vp = path.child("versions");
    let versions = as_array(spec.get("versions"));
    if versions.is_empty() {
        causes.push(field::required(&vp, "must have at least one version"));
        return;
    }
    let mut seen = HashSet::new();
    let mut storage = 0;
    let mut served = 0;
    for (i, v) in versions.iter().enumerate() {
        let p = vp.index(i);
        let name = str_of(v, "name");
        if name.is_empty() {
            causes.push(field::required(&p.child("name"), ""));
        } else {
            causes.extend(field::invalid_each(
                &p.child("name"),
                name,
                names::dns1035_label(name),
            ));
            if !seen.insert(name.to_string()) {
                causes.push(field::duplicate(&p.child("name"), &Value::from(name)));
            }
        }
        if v.get("storage").and_then(Value::as_bool) == Some(true) {
            storage += 1;
        }
        if v.get("served").and_then(Value::as_bool) == Some(true) {
            served += 1;
        }
        let sp = p.child("schema").child("openAPIV3Schema");
        match v
            .pointer("/schema/openAPIV3Schema")
            .filter(|s| s.is_object())
        {
            None => causes.push(field::required(&sp, "schemas are required")),
            Some(schema) => {
                if schema.get("type").and_then(Value::as_str) != Some("object") {
                    causes.push(field::invalid(
                        &sp.child("type"),
                        schema.get("type").unwrap_or(&Value::from("")),
                        "must be object at the root",
                    ));
                }
                check_patterns(schema, &sp, causes);
            }
        }
    }
    if storage != 1 {
        let names: Vec<String> = versions
            .iter()
            .map(|v| format!("{:?}", str_of(v, "name")))
            .collect();
        causes.push(StatusCause {
            reason: "FieldValueInvalid".into(),
            message: format!(
                "Invalid value: [{}]: must have exactly one version marked as storage version",
                names.join(", ")
            ),
            field: vp.to_string(),
        });
    }
    if served == 0 {
        causes.push(field::invalid(
            &vp,
            &Value::from("[]"),
            "must have at least one version served",
        ));
    }
}

/// Every `pattern` in a schema must compile, or objects could never be validated against it.
fn check_patterns(schema: &Value, path: &Path, causes: &mut Vec<StatusCause>) {
    let Some(map) = schema.as_object() else {
        return;
    };
    if let Some(p) = map.get("pattern").and_then(Value::as_str)
        && let Err(e) = regex::Regex::new(p)
    {
        causes.push(field::invalid_str(
            &path.child("pattern"),
            p,
            &format!("must be a valid regular expression: {e}"),
        ));
    }
    if let Some(props) = map.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            check_patterns(v, &path.child("properties").key(k), causes);
        }
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(v) = map.get(key) {
            check_patterns(v, &path.child(key), causes);
        }
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        for (i, v) in as_array(map.get(key)).iter().enumerate() {
            check_patterns(v, &path.child(key).index(i), causes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn crd() -> Value {
        json!({
            "metadata": {"name": "websites.example.com"},
            "spec": {
                "group": "example.com",
                "scope": "Namespaced",
                "names": {"plural": "websites", "singular": "website", "kind": "Website", "listKind": "WebsiteList", "shortNames": ["ws"]},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object"}}}}}]
            }
        })
    }

    fn messages(obj: &Value) -> Vec<String> {
        validate_crd(obj)
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    #[test]
    fn a_complete_crd_is_valid() {
        assert!(messages(&crd()).is_empty(), "{:?}", messages(&crd()));
    }

    #[test]
    fn the_name_must_be_plural_dot_group() {
        let mut c = crd();
        c["metadata"]["name"] = json!("sites.example.com");
        assert_eq!(
            messages(&c),
            vec![
                "metadata.name: Invalid value: \"sites.example.com\": must be spec.names.plural+\".\"+spec.group"
            ]
        );
    }

    #[test]
    fn groups_need_a_dot_and_scope_an_enum() {
        let mut c = crd();
        c["spec"]["group"] = json!("example");
        c["metadata"]["name"] = json!("websites.example");
        c["spec"]["scope"] = json!("Global");
        assert_eq!(
            messages(&c),
            vec![
                "spec.group: Invalid value: \"example\": should be a domain with at least one dot",
                "spec.scope: Unsupported value: \"Global\": supported values: \"Cluster\", \"Namespaced\"",
            ]
        );
    }

    #[test]
    fn exactly_one_version_is_stored() {
        let mut c = crd();
        let mut v2 = c["spec"]["versions"][0].clone();
        v2["name"] = json!("v2");
        c["spec"]["versions"].as_array_mut().unwrap().push(v2);
        assert_eq!(
            messages(&c),
            vec![
                "spec.versions: Invalid value: [\"v1\", \"v2\"]: must have exactly one version marked as storage version"
            ]
        );
        c["spec"]["versions"][1]["storage"] = json!(false);
        assert!(messages(&c).is_empty());
        c["spec"]["versions"][1]["name"] = json!("v1");
        assert_eq!(
            messages(&c),
            vec!["spec.versions[1].name: Duplicate value: \"v1\""]
        );
    }

    #[test]
    fn versions_need_object_schemas_with_valid_patterns() {
        let mut c = crd();
        c["spec"]["versions"][0]["schema"]["openAPIV3Schema"] = json!({"type": "string"});
        assert_eq!(
            messages(&c),
            vec![
                "spec.versions[0].schema.openAPIV3Schema.type: Invalid value: \"string\": must be object at the root"
            ]
        );
        c["spec"]["versions"][0]["schema"]["openAPIV3Schema"] =
            json!({"type": "object", "properties": {"a": {"type": "string", "pattern": "(["}}});
        let m = messages(&c);
        assert_eq!(m.len(), 1);
        assert!(m[0].starts_with("spec.versions[0].schema.openAPIV3Schema.properties[a].pattern: Invalid value: \"([\": must be a valid regular expression"));
        c["spec"]["versions"][0]
            .as_object_mut()
            .unwrap()
            .remove("schema");
        assert_eq!(
            messages(&c),
            vec!["spec.versions[0].schema.openAPIV3Schema: Required value: schemas are required"]
        );
    }

    #[test]
    fn names_are_required_and_checked() {
        let mut c = crd();
        c["spec"]["names"] =
            json!({"plural": "Websites", "kind": "Website", "listKind": "Website"});
        let m = messages(&c);
        assert!(
            m.iter()
                .any(|s| s.starts_with("spec.names.plural: Invalid value: \"Websites\"")),
            "{m:?}"
        );
        assert!(m.contains(&"spec.names.listKind: Invalid value: \"Website\": kind and listKind may not be the same".to_string()), "{m:?}");
    }
}
