//! OpenAPI documents: Swagger 2.0 at `/openapi/v2`, OpenAPI 3.0 per group-version at
//! `/openapi/v3/<path>` with the index at `/openapi/v3`.
//!
//! kubectl reads them for `kubectl explain` (v3: the kind's schema, found by its
//! `x-kubernetes-group-version-kind`), for client-side `apply` patches (v3 first, then v2: the
//! `x-kubernetes-patch-*` extensions) and to learn whether the server validates fields (the
//! `fieldValidation` parameter of the kind's PATCH operation). Built-in schemas come from
//! `k8s-openapi` and are generated once; CRD schemas are added per call.

mod builtin;
mod crd;
mod paths;
mod refs;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::registry::{Registry, ResourceInfo};
use builtin::{BUILTIN, COMMON_DEFINITIONS, SCALE_DEFINITION};
use crd::CrdVersion;
use paths::{Definitions, Flavor};

pub use crd::definition_name as crd_definition_name;
pub use paths::base_path;

/// The version reported in `info.version`: the Kubernetes API level the schemas describe.
const API_LEVEL: &str = "v1.33.0";

/// A resource to publish, with the names of its definitions.
struct Published {
    info: ResourceInfo,
    kind: String,
    list: String,
    builtin: bool,
}

/// Every resource of the registry with a known schema, plus the served CRD versions the
/// registry does not list yet. Custom resources without a schema get a permissive one.
fn published(registry: &Registry, crds: &[CrdVersion]) -> Vec<Published> {
    let mut out: Vec<Published> = Vec::new();
    for info in registry.all() {
        if let Some((kind, list)) = BUILTIN.kind(&info.group, &info.version, &info.kind) {
            out.push(Published {
                info: info.clone(),
                kind: kind.clone(),
                list: list.clone(),
                builtin: true,
            });
        } else {
            let kind = crd::definition_name(&info.group, &info.version, &info.kind);
            out.push(Published {
                info: info.clone(),
                list: format!("{kind}List"),
                kind,
                builtin: false,
            });
        }
    }
    for v in crds {
        let known = out.iter().any(|p| {
            p.info.group == v.info.group
                && p.info.version == v.info.version
                && p.info.plural == v.info.plural
        });
        if !known {
            let kind = v.definition_name();
            out.push(Published {
                info: v.info.clone(),
                list: format!("{kind}List"),
                kind,
                builtin: false,
            });
        }
    }
    out
}

/// Definitions of custom kinds (Swagger 2.0 form): from the CRDs given, or a permissive
/// schema for registry entries whose CRD was not passed.
fn custom_definitions(resources: &[Published], crds: &[CrdVersion]) -> Map<String, Value> {
    let mut defs = Map::new();
    for v in crds {
        defs.extend(crd::definitions(v));
    }
    for p in resources.iter().filter(|p| !p.builtin) {
        if !defs.contains_key(&p.kind) {
            defs.extend(crd::definitions(&CrdVersion {
                info: p.info.clone(),
                schema: None,
            }));
        }
    }
    defs
}

fn add_paths(resources: &[&Published], flavor: Flavor) -> Map<String, Value> {
    let mut paths = Map::new();
    for p in resources {
        let defs = Definitions {
            kind: &p.kind,
            list: &p.list,
            builtin: p.builtin,
        };
        paths::add_resource_paths(&p.info, &defs, flavor, &mut paths);
    }
    paths
}

fn info_block() -> Value {
    json!({"title": "Kubernetes", "version": API_LEVEL})
}

/// The Swagger 2.0 document served at `/openapi/v2`: every definition and every path.
pub fn v2(registry: &Registry, crds: &[Value]) -> Value {
    let crds = crd::served_versions(crds);
    let resources = published(registry, &crds);
    let mut definitions = BUILTIN.definitions.clone();
    for (name, mut def) in custom_definitions(&resources, &crds) {
        crd::to_swagger2(&mut def);
        definitions.insert(name, def);
    }
    let all: Vec<&Published> = resources.iter().collect();
    json!({
        "swagger": "2.0",
        "info": info_block(),
        "paths": add_paths(&all, Flavor::V2),
        "definitions": definitions,
        "securityDefinitions": {
            "BearerToken": {
                "description": "Bearer Token authentication",
                "in": "header",
                "name": "authorization",
                "type": "apiKey",
            },
        },
        "security": [{"BearerToken": []}],
    })
}

/// The index served at `/openapi/v3`: one entry per group-version (`api/v1`, `apis/apps/v1`)
/// with the URL of its document.
///
/// The `hash` query parameter changes whenever the resources of the group-version change, so
/// clients caching by URL refetch. It does not see CRD schema edits that keep the resources
/// the same; the server should therefore not mark these documents immutable.
pub fn v3_index(registry: &Registry) -> Value {
    let mut paths = Map::new();
    for (group, version) in registry.group_versions() {
        let mut hasher = Sha256::new();
        hasher.update(API_LEVEL.as_bytes());
        for info in registry
            .all()
            .iter()
            .filter(|r| r.group == group && r.version == version)
        {
            hasher.update(serde_json::to_vec(info).unwrap_or_default());
        }
        let hash = hex::encode_upper(hasher.finalize());
        let path = base_path(&group, &version);
        let path = path.trim_start_matches('/');
        paths.insert(
            path.to_string(),
            json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={hash}")}),
        );
    }
    json!({"paths": paths})
}

/// The OpenAPI 3.0 document of one group-version (`""`/`v1` for `/openapi/v3/api/v1`), or
/// `None` when nothing is served there. It holds the paths of the group-version's resources
/// and every definition they reach.
pub fn v3_group_version(
    registry: &Registry,
    crds: &[Value],
    group: &str,
    version: &str,
) -> Option<Value> {
    let crds = crd::served_versions(crds);
    let crds: Vec<CrdVersion> = crds
        .into_iter()
        .filter(|v| v.info.group == group && v.info.version == version)
        .collect();
    let resources = published(registry, &crds);
    let here: Vec<&Published> = resources
        .iter()
        .filter(|p| p.info.group == group && p.info.version == version)
        .collect();
    if here.is_empty() {
        return None;
    }
    let custom = custom_definitions(&resources, &crds);
    let mut roots: Vec<String> = Vec::new();
    for p in &here {
        roots.push(p.kind.clone());
        roots.push(p.list.clone());
        if p.info.has_subresource("scale") {
            roots.push(SCALE_DEFINITION.to_string());
        }
    }
    roots.extend(COMMON_DEFINITIONS.iter().map(|s| s.to_string()));
    let lookup = |name: &str| custom.get(name).or_else(|| BUILTIN.definitions.get(name));
    let mut schemas = Map::new();
    for name in refs::closure(roots, lookup) {
        if let Some(def) = lookup(&name) {
            let mut def = refs::to_v3(def);
            builtin::v3_scalar_form(&name, &mut def);
            schemas.insert(name, def);
        }
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": info_block(),
        "paths": add_paths(&here, Flavor::V3),
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "BearerToken": {
                    "description": "Bearer Token authentication",
                    "in": "header",
                    "name": "authorization",
                    "type": "apiKey",
                },
            },
        },
    }))
}

#[cfg(test)]
mod tests;
