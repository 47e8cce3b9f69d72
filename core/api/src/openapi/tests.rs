//! The documents checked against what kubectl 1.32 reads from them.

use serde_json::{Value, json};

use super::{v2, v3_group_version, v3_index};
use crate::registry::Registry;

fn website_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "websites.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"kind": "Website", "plural": "websites", "singular": "website", "listKind": "WebsiteList"},
            "scope": "Namespaced",
            "versions": [
                {"name": "v1", "served": true, "storage": true,
                 "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}},
                 "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "description": "What the site serves.", "properties": {
                        "url": {"type": "string", "description": "Public URL of the site."},
                        "replicas": {"type": "integer", "nullable": true},
                        "port": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]}
                    }},
                    "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
                 }}}},
                {"name": "v0", "served": false, "storage": false,
                 "schema": {"openAPIV3Schema": {"type": "object"}}}
            ]
        }
    })
}

fn registry_with_website() -> Registry {
    let mut r = Registry::builtin();
    let mut info = r.resolve("deploy").unwrap().clone();
    info.group = "example.com".into();
    info.kind = "Website".into();
    info.plural = "websites".into();
    info.singular = "website".into();
    info.short_names = vec![];
    r.upsert(info);
    r
}

fn gv_doc(group: &str, version: &str) -> Value {
    v3_group_version(&Registry::builtin(), &[], group, version).unwrap()
}

fn has_gvk(schema: &Value, group: &str, version: &str, kind: &str) -> bool {
    schema["x-kubernetes-group-version-kind"]
        .as_array()
        .is_some_and(|l| l.contains(&json!({"group": group, "kind": kind, "version": version})))
}

/// Follows `$ref` or a one-element `allOf` the way kubectl's OpenAPI v3 readers do.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    let schema = match schema.get("allOf").and_then(Value::as_array) {
        Some(all) if !all.is_empty() => &all[0],
        _ => schema,
    };
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r
                .strip_prefix("#/components/schemas/")
                .expect("v3 ref form");
            &doc["components"]["schemas"][name]
        }
        None => schema,
    }
}

/// The kind's schema as kubectl finds it: by its group-version-kind extension.
fn kind_schema<'a>(doc: &'a Value, group: &str, version: &str, kind: &str) -> &'a Value {
    doc["components"]["schemas"]
        .as_object()
        .unwrap()
        .values()
        .find(|s| has_gvk(s, group, version, kind))
        .unwrap_or_else(|| panic!("no schema for {group}/{version} {kind}"))
}

/// Walks a field path (`spec.template.spec.containers`) from a kind's schema.
fn field<'a>(doc: &'a Value, mut schema: &'a Value, path: &str) -> &'a Value {
    let mut prop = schema;
    for part in path.split('.') {
        schema = resolve(doc, schema);
        if schema["type"] == "array" {
            schema = resolve(doc, &schema["items"]);
        }
        prop = &schema["properties"][part];
        assert!(!prop.is_null(), "no field {part} in {path}");
        schema = prop;
    }
    prop
}

/// Every `$ref` in `value`.
fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r.clone());
            }
            m.values().for_each(|v| refs(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn every_builtin_kind_has_a_gvk_tagged_definition_named_like_upstream() {
    let registry = Registry::builtin();
    let doc = v2(&registry, &[]);
    let defs = doc["definitions"].as_object().unwrap();
    for info in registry.all() {
        let tagged: Vec<&String> = defs
            .iter()
            .filter(|(_, s)| has_gvk(s, &info.group, &info.version, &info.kind))
            .map(|(n, _)| n)
            .collect();
        assert_eq!(tagged.len(), 1, "{} is tagged {tagged:?}", info.kind);
        assert!(tagged[0].starts_with("io.k8s."), "{}", tagged[0]);
        assert!(tagged[0].ends_with(&format!(".{}", info.kind)));
        let list = format!("{}List", info.kind);
        assert!(
            defs.values()
                .any(|s| has_gvk(s, &info.group, &info.version, &list)),
            "{list}"
        );
        let v3 = gv_doc(&info.group, &info.version);
        let schema = kind_schema(&v3, &info.group, &info.version, &info.kind);
        assert!(
            schema["description"]
                .as_str()
                .is_some_and(|d| !d.is_empty())
        );
    }
    assert!(has_gvk(
        &defs["io.k8s.api.apps.v1.Deployment"],
        "apps",
        "v1",
        "Deployment"
    ));
}

#[test]
fn explain_finds_real_descriptions_through_references() {
    let doc = gv_doc("apps", "v1");
    let deployment = kind_schema(&doc, "apps", "v1", "Deployment");
    let strategy = field(&doc, deployment, "spec.strategy");
    assert!(
        strategy["description"]
            .as_str()
            .unwrap()
            .contains("deployment strategy")
    );
    assert_eq!(
        strategy["allOf"][0]["$ref"],
        "#/components/schemas/io.k8s.api.apps.v1.DeploymentStrategy"
    );
    let kind = field(&doc, deployment, "spec.strategy.type");
    assert!(kind["description"].as_str().unwrap().contains("Recreate"));
    let max_surge = field(&doc, deployment, "spec.strategy.rollingUpdate.maxSurge");
    let int_or_string = resolve(&doc, max_surge);
    assert!(int_or_string.get("type").is_none());
    assert_eq!(int_or_string["format"], "int-or-string");
    assert_eq!(int_or_string["oneOf"][0]["type"], "integer");
    let image = field(&doc, deployment, "spec.template.spec.containers.image");
    assert!(image["description"].as_str().unwrap().contains("image"));
}

#[test]
fn lists_carry_the_patch_strategies_of_the_server() {
    let doc = gv_doc("apps", "v1");
    let deployment = kind_schema(&doc, "apps", "v1", "Deployment");
    let containers = field(&doc, deployment, "spec.template.spec.containers");
    assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
    let ports = field(&doc, deployment, "spec.template.spec.containers.ports");
    assert_eq!(ports["x-kubernetes-patch-merge-key"], "containerPort");
    let env = field(&doc, deployment, "spec.template.spec.containers.env");
    assert_eq!(env["x-kubernetes-patch-merge-key"], "name");

    let core = gv_doc("", "v1");
    let service = kind_schema(&core, "", "v1", "Service");
    let service_ports = field(&core, service, "spec.ports");
    assert_eq!(service_ports["x-kubernetes-patch-merge-key"], "port");
    let args = field(&core, service, "spec.selector");
    assert!(args.get("x-kubernetes-patch-strategy").is_none());

    let swagger = v2(&Registry::builtin(), &[]);
    let pod_spec = &swagger["definitions"]["io.k8s.api.core.v1.PodSpec"]["properties"];
    assert_eq!(
        pod_spec["containers"]["x-kubernetes-patch-merge-key"],
        "name"
    );
    assert_eq!(pod_spec["volumes"]["x-kubernetes-patch-merge-key"], "name");
}

/// What kubectl checks before sending `fieldValidation` and before computing an apply patch
/// from OpenAPI v3: a PATCH operation tagged with the kind, with the query parameter and, for
/// built-in kinds, the strategic merge patch content type.
fn patch_operation<'a>(doc: &'a Value, group: &str, version: &str, kind: &str) -> &'a Value {
    doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(|p| p.get("patch"))
        .find(|op| {
            op["x-kubernetes-group-version-kind"]
                == json!({"group": group, "version": version, "kind": kind})
        })
        .unwrap_or_else(|| panic!("no PATCH for {kind}"))
}

#[test]
fn write_operations_advertise_field_validation_and_strategic_merge() {
    let registry = Registry::builtin();
    for (group, version) in registry.group_versions() {
        let doc = v3_group_version(&registry, &[], &group, &version).unwrap();
        for info in registry
            .all()
            .iter()
            .filter(|r| r.group == group && r.version == version)
        {
            let op = patch_operation(&doc, &group, &version, &info.kind);
            assert_eq!(op["x-kubernetes-action"], "patch");
            assert!(
                op["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["name"] == "fieldValidation" && p["in"] == "query"),
                "{}",
                info.kind
            );
            let content = &op["requestBody"]["content"];
            assert!(
                content
                    .get("application/strategic-merge-patch+json")
                    .is_some()
            );
            assert!(content.get("application/apply-patch+yaml").is_some());
        }
    }
    let doc = gv_doc("apps", "v1");
    let item = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"];
    for (method, action) in [
        ("get", "get"),
        ("put", "put"),
        ("patch", "patch"),
        ("delete", "delete"),
    ] {
        assert_eq!(item[method]["x-kubernetes-action"], action);
    }
    assert_eq!(
        item["patch"]["operationId"],
        "patchAppsV1NamespacedDeployment"
    );
    assert!(
        item["put"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "fieldValidation")
    );
    let scale = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"];
    assert_eq!(
        scale["patch"]["x-kubernetes-group-version-kind"],
        json!({"group": "autoscaling", "version": "v1", "kind": "Scale"})
    );
    assert!(doc["paths"].get("/apis/apps/v1/deployments").is_some());
    let nodes = gv_doc("", "v1");
    assert_eq!(
        nodes["paths"]["/api/v1/nodes"]["get"]["operationId"],
        "listCoreV1Node"
    );
    assert!(
        nodes["paths"]
            .get("/api/v1/namespaces/{namespace}/nodes")
            .is_none()
    );
}

#[test]
fn every_reference_resolves_inside_its_document() {
    let registry = registry_with_website();
    let crds = [website_crd()];
    for (group, version) in registry.group_versions() {
        let doc = v3_group_version(&registry, &crds, &group, &version).unwrap();
        let mut found = Vec::new();
        refs(&doc, &mut found);
        for r in found {
            let name = r
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("{r} is not a v3 reference"));
            assert!(
                doc["components"]["schemas"].get(name).is_some(),
                "{group}/{version}: {name} missing"
            );
        }
    }
    let doc = v2(&registry, &crds);
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(!found.is_empty());
    for r in found {
        let name = r.strip_prefix("#/definitions/").unwrap();
        assert!(doc["definitions"].get(name).is_some(), "{name} missing");
    }
}

#[test]
fn crd_schemas_become_definitions_named_like_upstream() {
    let registry = registry_with_website();
    let doc = v3_group_version(&registry, &[website_crd()], "example.com", "v1").unwrap();
    let website = &doc["components"]["schemas"]["com.example.v1.Website"];
    assert!(has_gvk(website, "example.com", "v1", "Website"));
    assert!(has_gvk(
        &doc["components"]["schemas"]["com.example.v1.WebsiteList"],
        "example.com",
        "v1",
        "WebsiteList"
    ));
    let url = field(&doc, website, "spec.url");
    assert_eq!(url["description"], "Public URL of the site.");
    let name = field(&doc, website, "metadata.name");
    assert!(name["description"].as_str().unwrap().contains("unique"));
    let op = patch_operation(&doc, "example.com", "v1", "Website");
    let content = op["requestBody"]["content"].as_object().unwrap();
    assert!(content.contains_key("application/merge-patch+json"));
    assert!(!content.contains_key("application/strategic-merge-patch+json"));
    assert!(
        doc["paths"]
            .get("/apis/example.com/v1/namespaces/{namespace}/websites/{name}/status")
            .is_some()
    );
    assert!(
        doc["components"]["schemas"]
            .get("io.k8s.api.autoscaling.v1.Scale")
            .is_some()
    );
    assert_eq!(field(&doc, website, "spec.replicas")["nullable"], true);

    let swagger = v2(&registry, &[website_crd()]);
    let spec = &swagger["definitions"]["com.example.v1.Website"]["properties"]["spec"];
    assert!(spec["properties"]["replicas"].get("nullable").is_none());
    assert!(spec["properties"]["port"].get("anyOf").is_none());
    assert!(
        swagger["paths"]
            .get("/apis/example.com/v1/namespaces/{namespace}/websites")
            .is_some()
    );
}

#[test]
fn crds_not_yet_in_the_registry_are_published_and_unserved_versions_are_not() {
    let registry = Registry::builtin();
    let doc = v3_group_version(&registry, &[website_crd()], "example.com", "v1").unwrap();
    assert!(
        doc["components"]["schemas"]
            .get("com.example.v1.Website")
            .is_some()
    );
    assert!(v3_group_version(&registry, &[website_crd()], "example.com", "v0").is_none());
    assert!(v3_group_version(&registry, &[], "example.com", "v1").is_none());
    assert!(v3_group_version(&registry, &[], "apps", "v2").is_none());
}

#[test]
fn v3_index_lists_every_group_version_of_the_registry() {
    let registry = registry_with_website();
    let index = v3_index(&registry);
    let paths = index["paths"].as_object().unwrap();
    assert_eq!(paths.len(), registry.group_versions().len());
    for (group, version) in registry.group_versions() {
        let key = if group.is_empty() {
            format!("api/{version}")
        } else {
            format!("apis/{group}/{version}")
        };
        let url = paths[&key]["serverRelativeURL"].as_str().unwrap();
        let (path, hash) = url.split_once("?hash=").unwrap();
        assert_eq!(path, format!("/openapi/v3/{key}"));
        assert_eq!(hash.len(), 64);
    }
    assert!(paths.contains_key("api/v1"));
    assert!(paths.contains_key("apis/apps/v1"));
    let before = v3_index(&Registry::builtin());
    assert_eq!(
        before["paths"]["apis/apps/v1"],
        index["paths"]["apis/apps/v1"]
    );
    let mut changed = registry_with_website();
    let mut info = changed.resolve("websites").unwrap().clone();
    info.short_names = vec!["ws".into()];
    changed.upsert(info);
    assert_ne!(
        v3_index(&changed)["paths"]["apis/example.com/v1"],
        index["paths"]["apis/example.com/v1"]
    );
}

#[test]
fn documents_declare_their_format() {
    let doc = gv_doc("", "v1");
    assert_eq!(doc["openapi"], "3.0.0");
    assert!(
        doc["components"]["schemas"]
            .get("io.k8s.api.core.v1.Pod")
            .is_some()
    );
    assert!(
        doc["components"]["schemas"]
            .get("io.k8s.api.apps.v1.Deployment")
            .is_none()
    );
    let swagger = v2(&Registry::builtin(), &[]);
    assert_eq!(swagger["swagger"], "2.0");
    let patch = &swagger["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"];
    assert!(
        patch["consumes"]
            .as_array()
            .unwrap()
            .contains(&json!("application/strategic-merge-patch+json"))
    );
    assert!(
        patch["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "fieldValidation" && p["in"] == "query" && p["type"] == "string")
    );
    assert_eq!(
        swagger["definitions"]["io.k8s.apimachinery.pkg.api.resource.Quantity"]["type"],
        "string"
    );
}
