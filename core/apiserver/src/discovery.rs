//! Discovery documents: `/version`, `/api`, `/apis`, group and resource lists, both the
//! legacy form and the aggregated `apidiscovery.k8s.io/v2` form kubectl asks for first.

use serde_json::{Value, json};
use skiff_api::{Registry, ResourceInfo};

/// The media type of aggregated discovery.
pub const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Whether the client accepts aggregated discovery.
pub fn wants_aggregated(accept: &str) -> bool {
    accept.contains("as=APIGroupDiscoveryList") && accept.contains("v=v2")
}

pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "32",
        "gitVersion": "v1.32.0-skiff",
        "gitCommit": "skiff",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "n/a",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, arch()),
    })
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// `/api`
pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

/// The versions of a group, preferred (first registered) first.
fn versions_of(registry: &Registry, group: &str) -> Vec<String> {
    registry
        .group_versions()
        .into_iter()
        .filter(|(g, _)| g == group)
        .map(|(_, v)| v)
        .collect()
}

fn groups(registry: &Registry) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (g, _) in registry.group_versions() {
        if !g.is_empty() && !out.contains(&g) {
            out.push(g);
        }
    }
    out
}

fn group_doc(registry: &Registry, group: &str) -> Value {
    let versions: Vec<Value> = versions_of(registry, group)
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    json!({
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": versions,
        "preferredVersion": versions.first().cloned().unwrap_or(Value::Null),
    })
}

/// `/apis`
pub fn group_list(registry: &Registry) -> Value {
    let groups: Vec<Value> = groups(registry)
        .iter()
        .map(|g| {
            let mut d = group_doc(registry, g);
            if let Some(m) = d.as_object_mut() {
                m.remove("kind");
                m.remove("apiVersion");
            }
            d
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`, or `None` when no such group is served.
pub fn group(registry: &Registry, group: &str) -> Option<Value> {
    if versions_of(registry, group).is_empty() {
        return None;
    }
    Some(group_doc(registry, group))
}

/// Verbs, kind and group of each subresource a resource may have: (verbs, group, version, kind).
fn subresource_shape(
    info: &ResourceInfo,
    sub: &str,
) -> (Vec<&'static str>, String, String, String) {
    let own = || (info.group.clone(), info.version.clone(), info.kind.clone());
    let (verbs, (g, v, k)): (Vec<&'static str>, (String, String, String)) = match sub {
        "status" => (vec!["get", "patch", "update"], own()),
        "scale" => (
            vec!["get", "patch", "update"],
            ("autoscaling".into(), "v1".into(), "Scale".into()),
        ),
        "binding" => (vec!["create"], ("".into(), "v1".into(), "Binding".into())),
        "eviction" => (
            vec!["create"],
            ("policy".into(), "v1".into(), "Eviction".into()),
        ),
        "log" => (vec!["get"], ("".into(), "v1".into(), "Pod".into())),
        "exec" | "attach" | "portforward" => (
            vec!["create", "get"],
            ("".into(), "v1".into(), "PodExecOptions".into()),
        ),
        "proxy" => (vec!["create", "delete", "get", "patch", "update"], own()),
        "finalize" => (vec!["update"], own()),
        "token" => (
            vec!["create"],
            (
                "authentication.k8s.io".into(),
                "v1".into(),
                "TokenRequest".into(),
            ),
        ),
        _ => (vec!["get", "patch", "update"], own()),
    };
    (verbs, g, v, k)
}

/// `/api/v1`, `/apis/<group>/<version>`: an `APIResourceList`.
pub fn resource_list(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let infos: Vec<&ResourceInfo> = registry
        .all()
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    if infos.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for r in infos {
        let mut e = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced(),
            "kind": r.kind,
            "verbs": r.verbs,
        });
        if !r.short_names.is_empty() {
            e["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            e["categories"] = json!(r.categories);
        }
        resources.push(e);
        for sub in &r.subresources {
            let (verbs, g, v, k) = subresource_shape(r, sub);
            let mut e = json!({
                "name": format!("{}/{sub}", r.plural),
                "singularName": "",
                "namespaced": r.namespaced(),
                "kind": k,
                "verbs": verbs,
            });
            if g != r.group || v != r.version {
                e["group"] = json!(g);
                e["version"] = json!(v);
            }
            resources.push(e);
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": gv,
        "resources": resources,
    }))
}

/// Aggregated discovery of the core group (`core == true`, for `/api`) or of every named
/// group (for `/apis`).
pub fn aggregated(registry: &Registry, core: bool) -> Value {
    let group_names: Vec<String> = if core {
        vec![String::new()]
    } else {
        groups(registry)
    };
    let items: Vec<Value> = group_names
        .iter()
        .map(|g| {
            let versions: Vec<Value> = versions_of(registry, g)
                .iter()
                .map(|v| {
                    let resources: Vec<Value> = registry
                        .all()
                        .iter()
                        .filter(|r| &r.group == g && &r.version == v)
                        .map(aggregated_resource)
                        .collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            let mut meta = json!({"creationTimestamp": null});
            if !g.is_empty() {
                meta["name"] = json!(g);
            }
            json!({"metadata": meta, "versions": versions})
        })
        .collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    })
}

fn aggregated_resource(r: &ResourceInfo) -> Value {
    let subs: Vec<Value> = r
        .subresources
        .iter()
        .map(|s| {
            let (verbs, g, v, k) = subresource_shape(r, s);
            json!({"subresource": s, "responseKind": {"group": g, "version": v, "kind": k}, "verbs": verbs})
        })
        .collect();
    let mut e = json!({
        "resource": r.plural,
        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
        "scope": if r.namespaced() { "Namespaced" } else { "Cluster" },
        "singularResource": r.singular,
        "verbs": r.verbs,
    });
    if !r.short_names.is_empty() {
        e["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        e["categories"] = json!(r.categories);
    }
    if !subs.is_empty() {
        e["subresources"] = json!(subs);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_lists_name_subresources_with_their_kinds() {
        let list = resource_list(&Registry::builtin(), "apps", "v1").unwrap();
        let res = list["resources"].as_array().unwrap();
        let scale = res
            .iter()
            .find(|r| r["name"] == "deployments/scale")
            .unwrap();
        assert_eq!(scale["group"], "autoscaling");
        assert_eq!(scale["kind"], "Scale");
        let deploy = res.iter().find(|r| r["name"] == "deployments").unwrap();
        assert_eq!(deploy["shortNames"][0], "deploy");
        assert!(resource_list(&Registry::builtin(), "apps", "v9").is_none());
    }

    #[test]
    fn aggregated_discovery_lists_the_core_group_apart() {
        let core = aggregated(&Registry::builtin(), true);
        assert_eq!(core["items"].as_array().unwrap().len(), 1);
        assert!(core["items"][0]["metadata"].get("name").is_none());
        let named = aggregated(&Registry::builtin(), false);
        assert!(
            named["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g["metadata"]["name"] == "apps")
        );
    }
}
