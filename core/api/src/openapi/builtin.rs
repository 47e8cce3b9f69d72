//! The schemas of every built-in kind, generated once from `k8s-openapi`'s `schemars` impls.
//!
//! `k8s-openapi` carries the upstream descriptions and definition names
//! (`io.k8s.api.apps.v1.Deployment`), so `kubectl explain` prints the real documentation. We add
//! what it leaves out: `x-kubernetes-group-version-kind` on kinds and lists, the patch strategy
//! extensions from [`crate::patch::strategy`], and upstream's string form of `IntOrString` and
//! `Quantity`.

use std::collections::HashMap;
use std::sync::LazyLock;

use k8s_openapi::api::{
    apps::v1 as apps, autoscaling::v1 as autoscaling_v1, autoscaling::v2 as autoscaling,
    batch::v1 as batch, coordination::v1 as coordination, core::v1 as core,
    discovery::v1 as discovery, networking::v1 as networking, policy::v1 as policy,
    rbac::v1 as rbac, scheduling::v1 as scheduling, storage::v1 as storage,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_openapi::schemars::JsonSchema;
use k8s_openapi::schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value, json};

use crate::patch::strategy;

/// Prefix of `$ref`s in the generated (Swagger 2.0 form) definitions.
pub const V2_REF_PREFIX: &str = "#/definitions/";

/// Definitions shared by every document: the bodies and responses of the generic operations.
pub const COMMON_DEFINITIONS: [&str; 4] = [
    "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
    "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Patch",
    "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent",
];

/// The definition of the `scale` subresource's body.
pub const SCALE_DEFINITION: &str = "io.k8s.api.autoscaling.v1.Scale";

/// Every built-in definition (Swagger 2.0 form: `$ref: #/definitions/...` with siblings) and
/// where each kind lives.
pub struct Builtin {
    pub definitions: Map<String, Value>,
    /// (group, version, kind) to the definition name of the kind and of its list.
    pub kinds: HashMap<(String, String, String), (String, String)>,
}

impl Builtin {
    /// The definition names of a built-in kind and of its list.
    pub fn kind(&self, group: &str, version: &str, kind: &str) -> Option<&(String, String)> {
        self.kinds
            .get(&(group.to_string(), version.to_string(), kind.to_string()))
    }
}

/// Generated on first use and kept: generation walks several hundred definitions.
pub static BUILTIN: LazyLock<Builtin> = LazyLock::new(generate);

struct Collector {
    generator: SchemaGenerator,
    kinds: Vec<(&'static str, &'static str, &'static str, String)>,
}

impl Collector {
    /// Registers the schema of one kind served as `group/version`.
    fn kind<T: JsonSchema>(
        &mut self,
        group: &'static str,
        version: &'static str,
        kind: &'static str,
    ) {
        self.generator.subschema_for::<T>();
        self.kinds
            .push((group, version, kind, T::schema_name().into_owned()));
    }
}

fn generate() -> Builtin {
    let settings = SchemaSettings::draft07().with(|s| {
        // Keep `$ref` siblings (descriptions) as upstream's Swagger document does; the OpenAPI
        // 3 form is derived later.
        s.transforms.clear();
        s.meta_schema = None;
    });
    let mut c = Collector {
        generator: settings.into_generator(),
        kinds: Vec::new(),
    };
    c.kind::<core::Pod>("", "v1", "Pod");
    c.kind::<core::Service>("", "v1", "Service");
    c.kind::<core::Endpoints>("", "v1", "Endpoints");
    c.kind::<core::ConfigMap>("", "v1", "ConfigMap");
    c.kind::<core::Secret>("", "v1", "Secret");
    c.kind::<core::Namespace>("", "v1", "Namespace");
    c.kind::<core::Node>("", "v1", "Node");
    c.kind::<core::Event>("", "v1", "Event");
    c.kind::<core::ServiceAccount>("", "v1", "ServiceAccount");
    c.kind::<core::PersistentVolume>("", "v1", "PersistentVolume");
    c.kind::<core::PersistentVolumeClaim>("", "v1", "PersistentVolumeClaim");
    c.kind::<core::ReplicationController>("", "v1", "ReplicationController");
    c.kind::<core::ResourceQuota>("", "v1", "ResourceQuota");
    c.kind::<core::LimitRange>("", "v1", "LimitRange");
    c.kind::<core::PodTemplate>("", "v1", "PodTemplate");
    c.kind::<core::Binding>("", "v1", "Binding");
    c.kind::<apps::Deployment>("apps", "v1", "Deployment");
    c.kind::<apps::ReplicaSet>("apps", "v1", "ReplicaSet");
    c.kind::<apps::StatefulSet>("apps", "v1", "StatefulSet");
    c.kind::<apps::DaemonSet>("apps", "v1", "DaemonSet");
    c.kind::<apps::ControllerRevision>("apps", "v1", "ControllerRevision");
    c.kind::<batch::Job>("batch", "v1", "Job");
    c.kind::<batch::CronJob>("batch", "v1", "CronJob");
    c.kind::<autoscaling::HorizontalPodAutoscaler>("autoscaling", "v2", "HorizontalPodAutoscaler");
    c.kind::<autoscaling_v1::HorizontalPodAutoscaler>(
        "autoscaling",
        "v1",
        "HorizontalPodAutoscaler",
    );
    c.kind::<autoscaling_v1::Scale>("autoscaling", "v1", "Scale");
    c.kind::<networking::Ingress>("networking.k8s.io", "v1", "Ingress");
    c.kind::<networking::IngressClass>("networking.k8s.io", "v1", "IngressClass");
    c.kind::<networking::NetworkPolicy>("networking.k8s.io", "v1", "NetworkPolicy");
    c.kind::<discovery::EndpointSlice>("discovery.k8s.io", "v1", "EndpointSlice");
    c.kind::<storage::StorageClass>("storage.k8s.io", "v1", "StorageClass");
    c.kind::<storage::CSIDriver>("storage.k8s.io", "v1", "CSIDriver");
    c.kind::<storage::CSINode>("storage.k8s.io", "v1", "CSINode");
    c.kind::<storage::VolumeAttachment>("storage.k8s.io", "v1", "VolumeAttachment");
    c.kind::<rbac::Role>("rbac.authorization.k8s.io", "v1", "Role");
    c.kind::<rbac::RoleBinding>("rbac.authorization.k8s.io", "v1", "RoleBinding");
    c.kind::<rbac::ClusterRole>("rbac.authorization.k8s.io", "v1", "ClusterRole");
    c.kind::<rbac::ClusterRoleBinding>("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding");
    c.kind::<coordination::Lease>("coordination.k8s.io", "v1", "Lease");
    c.kind::<policy::PodDisruptionBudget>("policy", "v1", "PodDisruptionBudget");
    c.kind::<policy::Eviction>("policy", "v1", "Eviction");
    c.kind::<scheduling::PriorityClass>("scheduling.k8s.io", "v1", "PriorityClass");
    c.kind::<apiextensions::CustomResourceDefinition>(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
    );
    c.generator.subschema_for::<meta::Status>();
    c.generator.subschema_for::<meta::DeleteOptions>();
    c.generator.subschema_for::<meta::Patch>();
    c.generator.subschema_for::<meta::WatchEvent<core::Pod>>();

    let mut definitions = c.generator.take_definitions(true);
    let mut kinds = HashMap::new();
    for (group, version, kind, name) in c.kinds {
        let list_name = format!("{name}List");
        if let Some(Value::Object(def)) = definitions.get_mut(&name) {
            def.insert(
                "x-kubernetes-group-version-kind".into(),
                gvk(group, version, kind),
            );
        }
        let list = list_definition(group, version, kind, &name);
        definitions.insert(list_name.clone(), list);
        kinds.insert(
            (group.to_string(), version.to_string(), kind.to_string()),
            (name, list_name),
        );
    }
    for (name, def) in definitions.iter_mut() {
        upstream_scalar_forms(name, def);
        add_patch_strategies(name, def);
    }
    Builtin { definitions, kinds }
}

/// `x-kubernetes-group-version-kind` as definitions carry it: a list of one GVK.
pub fn gvk(group: &str, version: &str, kind: &str) -> Value {
    json!([{"group": group, "kind": kind, "version": version}])
}

/// The `<Kind>List` definition, shaped like upstream's (k8s-openapi has no schema for lists).
pub fn list_definition(group: &str, version: &str, kind: &str, item_definition: &str) -> Value {
    json!({
        "description": format!("{kind}List is a list of {kind} objects."),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {
                "description": "APIVersion defines the versioned schema of this representation of an object.",
                "type": "string",
            },
            "items": {
                "description": format!("Items is the list of {kind} objects."),
                "type": "array",
                "items": {"$ref": format!("{V2_REF_PREFIX}{item_definition}")},
            },
            "kind": {
                "description": "Kind is a string value representing the REST resource this object represents.",
                "type": "string",
            },
            "metadata": {
                "$ref": format!("{V2_REF_PREFIX}io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"),
                "description": "Standard list metadata.",
            },
        },
        "x-kubernetes-group-version-kind": gvk(group, version, &format!("{kind}List")),
    })
}

/// Upstream publishes `IntOrString` and `Quantity` as strings with a format; k8s-openapi marks
/// them with `x-kubernetes-int-or-string` instead.
fn upstream_scalar_forms(name: &str, def: &mut Value) {
    let Value::Object(def) = def else { return };
    match name {
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString" => {
            def.remove("x-kubernetes-int-or-string");
            def.insert("type".into(), json!("string"));
            def.insert("format".into(), json!("int-or-string"));
        }
        "io.k8s.apimachinery.pkg.api.resource.Quantity" => {
            def.remove("x-kubernetes-int-or-string");
            def.insert("type".into(), json!("string"));
        }
        _ => {}
    }
}

/// In OpenAPI 3 documents upstream publishes `IntOrString` and `Quantity` without a `type`,
/// as a `oneOf` of their forms; kubectl explain then names them (`<IntOrString>`,
/// `map[string]Quantity`) instead of printing `string`.
pub fn v3_scalar_form(name: &str, def: &mut Value) {
    let Value::Object(def) = def else { return };
    let forms = match name {
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString" => {
            json!([{"type": "integer"}, {"type": "string"}])
        }
        "io.k8s.apimachinery.pkg.api.resource.Quantity" => {
            json!([{"type": "string"}, {"type": "number"}])
        }
        _ => return,
    };
    def.remove("type");
    def.insert("oneOf".into(), forms);
}

/// Adds `x-kubernetes-patch-merge-key` / `x-kubernetes-patch-strategy` to the properties the
/// strategic merge patch of this server treats specially, so clients compute the same patches.
fn add_patch_strategies(name: &str, def: &mut Value) {
    let Some(Value::Object(properties)) = def.get_mut("properties") else {
        return;
    };
    for (property, schema) in properties.iter_mut() {
        let Some(list) = strategy::lookup(name, property) else {
            continue;
        };
        let Value::Object(schema) = schema else {
            continue;
        };
        if let Some(key) = list.merge_key {
            schema.insert("x-kubernetes-patch-merge-key".into(), json!(key));
        }
        schema.insert(
            "x-kubernetes-patch-strategy".into(),
            json!(list.strategy.as_str()),
        );
    }
}
