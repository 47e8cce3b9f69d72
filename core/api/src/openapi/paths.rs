//! Path items of one resource: its operations with verbs, parameters, bodies and the
//! `x-kubernetes-action` / `x-kubernetes-group-version-kind` extensions kubectl reads.
//!
//! kubectl decides from these documents whether the server does field validation (a
//! `fieldValidation` query parameter on the PATCH operation of the kind) and whether it may
//! compute a strategic merge patch from OpenAPI v3 (a PATCH operation of the kind accepting
//! `application/strategic-merge-patch+json`).

use serde_json::{Map, Value, json};

use super::builtin::V2_REF_PREFIX;
use super::refs::V3_REF_PREFIX;
use crate::registry::ResourceInfo;

/// Which document a path item is written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// Swagger 2.0 (`/openapi/v2`).
    V2,
    /// OpenAPI 3.0 (`/openapi/v3/...`).
    V3,
}

impl Flavor {
    fn reference(self, definition: &str) -> Value {
        match self {
            Flavor::V2 => json!({"$ref": format!("{V2_REF_PREFIX}{definition}")}),
            Flavor::V3 => json!({"$ref": format!("{V3_REF_PREFIX}{definition}")}),
        }
    }
}

/// A query or path parameter.
#[derive(Clone, Copy)]
struct Param {
    name: &'static str,
    location: &'static str,
    type_: &'static str,
    description: &'static str,
}

const fn query(name: &'static str, type_: &'static str, description: &'static str) -> Param {
    Param {
        name,
        location: "query",
        type_,
        description,
    }
}

const PRETTY: Param = query(
    "pretty",
    "string",
    "If 'true', the output is pretty printed.",
);
const DRY_RUN: Param = query(
    "dryRun",
    "string",
    "When present, modifications are not persisted. The only valid value is All.",
);
const FIELD_MANAGER: Param = query(
    "fieldManager",
    "string",
    "The name of the actor or entity making these changes, recorded in managedFields.",
);
const FIELD_VALIDATION: Param = query(
    "fieldValidation",
    "string",
    "How the server treats unknown or duplicate fields in the request: Ignore, Warn (the default) or Strict.",
);
const FORCE: Param = query(
    "force",
    "boolean",
    "Force apply requests to take fields owned by other managers. Only valid for apply patches.",
);
const LIST: [Param; 10] = [
    query(
        "allowWatchBookmarks",
        "boolean",
        "Ask for BOOKMARK watch events; servers may ignore it.",
    ),
    query(
        "continue",
        "string",
        "The continue token of a previous paged list call.",
    ),
    query(
        "fieldSelector",
        "string",
        "Restrict the returned objects by their fields.",
    ),
    query(
        "labelSelector",
        "string",
        "Restrict the returned objects by their labels.",
    ),
    query(
        "limit",
        "integer",
        "The maximum number of objects to return in one page.",
    ),
    query(
        "resourceVersion",
        "string",
        "Which resource versions the request may be served from.",
    ),
    query(
        "resourceVersionMatch",
        "string",
        "How resourceVersion applies to list calls.",
    ),
    query(
        "sendInitialEvents",
        "boolean",
        "Begin a watch stream with synthetic events of the current state.",
    ),
    query(
        "timeoutSeconds",
        "integer",
        "Timeout of the list or watch call.",
    ),
    query(
        "watch",
        "boolean",
        "Watch for changes and return them as a stream of events.",
    ),
];
const DELETE: [Param; 4] = [
    DRY_RUN,
    query(
        "gracePeriodSeconds",
        "integer",
        "Seconds before the object is deleted; zero deletes immediately.",
    ),
    query(
        "orphanDependents",
        "boolean",
        "Deprecated: use propagationPolicy.",
    ),
    query(
        "propagationPolicy",
        "string",
        "Whether and how garbage collection is performed: Orphan, Background or Foreground.",
    ),
];

fn param(p: &Param, flavor: Flavor, required: bool) -> Value {
    let mut out = json!({"name": p.name, "in": p.location, "description": p.description});
    if required {
        out["required"] = json!(true);
    }
    match flavor {
        Flavor::V2 => {
            out["type"] = json!(p.type_);
            out["uniqueItems"] = json!(true);
        }
        Flavor::V3 => out["schema"] = json!({"type": p.type_, "uniqueItems": true}),
    }
    out
}

fn path_param(name: &'static str, description: &'static str, flavor: Flavor) -> Value {
    param(
        &Param {
            name,
            location: "path",
            type_: "string",
            description,
        },
        flavor,
        true,
    )
}

/// What an operation takes as body.
enum Body<'a> {
    None,
    Object(&'a str),
    Patch { strategic: bool },
    Delete,
}

const PRODUCES: [&str; 3] = [
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
];
const PRODUCES_WATCH: [&str; 5] = [
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
    "application/json;stream=watch",
    "application/vnd.kubernetes.protobuf;stream=watch",
];

fn patch_types(strategic: bool) -> Vec<&'static str> {
    let mut types = vec![
        "application/json-patch+json",
        "application/merge-patch+json",
    ];
    if strategic {
        types.push("application/strategic-merge-patch+json");
    }
    types.push("application/apply-patch+yaml");
    types
}

/// One operation of a path item.
struct Op<'a> {
    /// `x-kubernetes-action`: get, list, post, put, patch, delete, deletecollection.
    action: &'static str,
    operation_id: String,
    description: String,
    params: Vec<Param>,
    body: Body<'a>,
    /// Definition of the 200 (and 201/202) response.
    response: &'a str,
    codes: &'static [&'static str],
    watch: bool,
    gvk: (&'a str, &'a str, &'a str),
}

fn operation(op: Op<'_>, tag: &str, flavor: Flavor) -> Value {
    let mut out = Map::new();
    out.insert("tags".into(), json!([tag]));
    out.insert("description".into(), json!(op.description));
    out.insert("operationId".into(), json!(op.operation_id));
    let mut params: Vec<Value> = op.params.iter().map(|p| param(p, flavor, false)).collect();
    let produces: &[&str] = if op.watch { &PRODUCES_WATCH } else { &PRODUCES };
    let (consumes, body_schema, required): (Vec<&str>, Option<String>, bool) = match op.body {
        Body::None => (vec!["*/*"], None, false),
        Body::Object(def) => (vec!["*/*"], Some(def.to_string()), true),
        Body::Patch { strategic } => (
            patch_types(strategic),
            Some("io.k8s.apimachinery.pkg.apis.meta.v1.Patch".to_string()),
            true,
        ),
        Body::Delete => (
            vec!["*/*"],
            Some("io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions".to_string()),
            false,
        ),
    };
    let mut responses = Map::new();
    for code in op.codes {
        let description = match *code {
            "201" => "Created",
            "202" => "Accepted",
            _ => "OK",
        };
        let response = match flavor {
            Flavor::V2 => {
                json!({"description": description, "schema": flavor.reference(op.response)})
            }
            Flavor::V3 => {
                let content: Map<String, Value> = produces
                    .iter()
                    .map(|t| {
                        (
                            t.to_string(),
                            json!({"schema": flavor.reference(op.response)}),
                        )
                    })
                    .collect();
                json!({"description": description, "content": content})
            }
        };
        responses.insert(code.to_string(), response);
    }
    responses.insert("401".into(), json!({"description": "Unauthorized"}));
    match flavor {
        Flavor::V2 => {
            if let Some(def) = &body_schema {
                params.insert(
                    0,
                    json!({"name": "body", "in": "body", "required": required, "schema": flavor.reference(def)}),
                );
            }
            out.insert("consumes".into(), json!(consumes));
            out.insert("produces".into(), json!(produces));
            out.insert("schemes".into(), json!(["https"]));
            out.insert("parameters".into(), Value::Array(params));
            out.insert("responses".into(), Value::Object(responses));
        }
        Flavor::V3 => {
            out.insert("parameters".into(), Value::Array(params));
            if let Some(def) = &body_schema {
                let content: Map<String, Value> = consumes
                    .iter()
                    .map(|t| (t.to_string(), json!({"schema": flavor.reference(def)})))
                    .collect();
                let mut body = json!({"content": content});
                if required {
                    body["required"] = json!(true);
                }
                out.insert("requestBody".into(), body);
            }
            out.insert("responses".into(), Value::Object(responses));
        }
    }
    let (group, version, kind) = op.gvk;
    out.insert("x-kubernetes-action".into(), json!(op.action));
    out.insert(
        "x-kubernetes-group-version-kind".into(),
        json!({"group": group, "kind": kind, "version": version}),
    );
    Value::Object(out)
}

/// `Core`, `Apps`, `RbacAuthorization`, `ExampleCom`: the group as operation ids spell it.
fn group_words(group: &str) -> Vec<String> {
    if group.is_empty() {
        return vec!["core".to_string()];
    }
    let group = group.strip_suffix(".k8s.io").unwrap_or(group);
    group
        .split(['.', '-'])
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

fn title(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The tag of a group-version's operations (`core_v1`, `rbacAuthorization_v1`).
pub fn tag(group: &str, version: &str) -> String {
    let words = group_words(group);
    let mut out = words[0].clone();
    for w in &words[1..] {
        out.push_str(&title(w));
    }
    format!("{out}_{version}")
}

/// `/api/v1` or `/apis/<group>/<version>`.
pub fn base_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    }
}

/// The definitions a resource's operations use.
pub struct Definitions<'a> {
    pub kind: &'a str,
    pub list: &'a str,
    /// Whether the kind is built in (custom resources take no strategic merge patch).
    pub builtin: bool,
}

/// Adds the path items of one resource to `paths`.
pub fn add_resource_paths(
    info: &ResourceInfo,
    defs: &Definitions<'_>,
    flavor: Flavor,
    paths: &mut Map<String, Value>,
) {
    let has = |verb: &str| info.verbs.iter().any(|v| v == verb);
    let base = base_path(&info.group, &info.version);
    let tag = tag(&info.group, &info.version);
    let id_gv = format!(
        "{}{}",
        group_words(&info.group)
            .iter()
            .map(|w| title(w))
            .collect::<String>(),
        title(&info.version)
    );
    let kind = info.kind.as_str();
    let gvk = (info.group.as_str(), info.version.as_str(), kind);
    let namespaced = info.namespaced();
    let scoped = if namespaced { "Namespaced" } else { "" };
    let collection = if namespaced {
        format!("{base}/namespaces/{{namespace}}/{}", info.plural)
    } else {
        format!("{base}/{}", info.plural)
    };
    let item = format!("{collection}/{{name}}");
    let scope_params = |with_name: bool, what: &'static str| {
        let mut params = Vec::new();
        if with_name {
            params.push(path_param("name", what, flavor));
        }
        if namespaced {
            params.push(path_param(
                "namespace",
                "object name and auth scope, such as for teams and projects",
                flavor,
            ));
        }
        params.push(param(&PRETTY, flavor, false));
        params
    };

    // The collection: list, create, delete collection.
    let mut item_ops = Map::new();
    if has("list") {
        item_ops.insert(
            "get".into(),
            operation(
                Op {
                    action: "list",
                    operation_id: format!("list{id_gv}{scoped}{kind}"),
                    description: format!("list or watch objects of kind {kind}"),
                    params: LIST.to_vec(),
                    body: Body::None,
                    response: defs.list,
                    codes: &["200"],
                    watch: true,
                    gvk,
                },
                &tag,
                flavor,
            ),
        );
    }
    if has("create") {
        item_ops.insert(
            "post".into(),
            operation(
                Op {
                    action: "post",
                    operation_id: format!("create{id_gv}{scoped}{kind}"),
                    description: format!("create a {kind}"),
                    params: vec![DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION],
                    body: Body::Object(defs.kind),
                    response: defs.kind,
                    codes: &["200", "201", "202"],
                    watch: false,
                    gvk,
                },
                &tag,
                flavor,
            ),
        );
    }
    if has("deletecollection") {
        let mut params = DELETE.to_vec();
        params.extend(LIST.iter().filter(|p| p.name != "watch"));
        item_ops.insert(
            "delete".into(),
            operation(
                Op {
                    action: "deletecollection",
                    operation_id: format!("delete{id_gv}Collection{scoped}{kind}"),
                    description: format!("delete collection of {kind}"),
                    params,
                    body: Body::Delete,
                    response: "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
                    codes: &["200"],
                    watch: false,
                    gvk,
                },
                &tag,
                flavor,
            ),
        );
    }
    if !item_ops.is_empty() {
        item_ops.insert("parameters".into(), Value::Array(scope_params(false, "")));
        paths.insert(collection.clone(), Value::Object(item_ops));
    }

    // The object: read, replace, patch, delete.
    let mut ops = Map::new();
    let read_write = |suffix: &str, what: &str, response: &str, gvk| {
        let mut ops = Map::new();
        if has("get") {
            ops.insert(
                "get".into(),
                operation(
                    Op {
                        action: "get",
                        operation_id: format!("read{id_gv}{scoped}{kind}{suffix}"),
                        description: format!("read {what}the specified {kind}"),
                        params: vec![],
                        body: Body::None,
                        response,
                        codes: &["200"],
                        watch: false,
                        gvk,
                    },
                    &tag,
                    flavor,
                ),
            );
        }
        if has("update") {
            ops.insert(
                "put".into(),
                operation(
                    Op {
                        action: "put",
                        operation_id: format!("replace{id_gv}{scoped}{kind}{suffix}"),
                        description: format!("replace {what}the specified {kind}"),
                        params: vec![DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION],
                        body: Body::Object(response),
                        response,
                        codes: &["200", "201"],
                        watch: false,
                        gvk,
                    },
                    &tag,
                    flavor,
                ),
            );
        }
        if has("patch") {
            ops.insert(
                "patch".into(),
                operation(
                    Op {
                        action: "patch",
                        operation_id: format!("patch{id_gv}{scoped}{kind}{suffix}"),
                        description: format!("partially update {what}the specified {kind}"),
                        params: vec![DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION, FORCE],
                        body: Body::Patch {
                            strategic: defs.builtin,
                        },
                        response,
                        codes: &["200", "201"],
                        watch: false,
                        gvk,
                    },
                    &tag,
                    flavor,
                ),
            );
        }
        ops
    };
    ops.extend(read_write("", "", defs.kind, gvk));
    if has("delete") {
        ops.insert(
            "delete".into(),
            operation(
                Op {
                    action: "delete",
                    operation_id: format!("delete{id_gv}{scoped}{kind}"),
                    description: format!("delete a {kind}"),
                    params: DELETE.to_vec(),
                    body: Body::Delete,
                    response: "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
                    codes: &["200", "202"],
                    watch: false,
                    gvk,
                },
                &tag,
                flavor,
            ),
        );
    }
    if !ops.is_empty() {
        ops.insert(
            "parameters".into(),
            Value::Array(scope_params(true, "name of the object")),
        );
        paths.insert(item.clone(), Value::Object(ops));
    }

    // Subresources kubectl uses: status (same kind) and scale (autoscaling/v1 Scale).
    if info.has_subresource("status") {
        let mut ops = read_write("Status", "status of ", defs.kind, gvk);
        ops.insert(
            "parameters".into(),
            Value::Array(scope_params(true, "name of the object")),
        );
        paths.insert(format!("{item}/status"), Value::Object(ops));
    }
    if info.has_subresource("scale") {
        let mut ops = read_write(
            "Scale",
            "scale of ",
            super::builtin::SCALE_DEFINITION,
            ("autoscaling", "v1", "Scale"),
        );
        ops.insert(
            "parameters".into(),
            Value::Array(scope_params(true, "name of the object")),
        );
        paths.insert(format!("{item}/scale"), Value::Object(ops));
    }

    // Listing across namespaces.
    if namespaced && has("list") {
        let mut ops = Map::new();
        ops.insert(
            "get".into(),
            operation(
                Op {
                    action: "list",
                    operation_id: format!("list{id_gv}{kind}ForAllNamespaces"),
                    description: format!("list or watch objects of kind {kind}"),
                    params: LIST.to_vec(),
                    body: Body::None,
                    response: defs.list,
                    codes: &["200"],
                    watch: true,
                    gvk,
                },
                &tag,
                flavor,
            ),
        );
        ops.insert(
            "parameters".into(),
            Value::Array(vec![param(&PRETTY, flavor, false)]),
        );
        paths.insert(format!("{base}/{}", info.plural), Value::Object(ops));
    }
}
