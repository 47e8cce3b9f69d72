//! Patch strategies of built-in kinds, keyed like the OpenAPI definitions, and the type
//! navigation that finds the definition of any field from an object's apiVersion and kind.
//!
//! The tables mirror the `patchStrategy` / `patchMergeKey` tags of the upstream Go types (the
//! same facts the upstream OpenAPI publishes as `x-kubernetes-patch-strategy` and
//! `x-kubernetes-patch-merge-key`). The strategic merge patch, server-side apply and the OpenAPI
//! document all read them, so a client computing a patch from our OpenAPI agrees with the way
//! this server applies it. Kinds not listed here (custom resources) only get the `metadata`
//! strategies: every other list of theirs is atomic.

use serde_json::Value;

/// How a field is patched, as in `x-kubernetes-patch-strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchStrategy {
    /// Lists merge: by the merge key for lists of objects, as a set for lists of scalars.
    Merge,
    /// The field is a union: a patch may clear the members it does not keep (`$retainKeys`).
    RetainKeys,
    /// Both of the above: the list merges by key and each item is a union.
    MergeRetainKeys,
}

impl PatchStrategy {
    /// The value of `x-kubernetes-patch-strategy`.
    pub fn as_str(self) -> &'static str {
        match self {
            PatchStrategy::Merge => "merge",
            PatchStrategy::RetainKeys => "retainKeys",
            PatchStrategy::MergeRetainKeys => "merge,retainKeys",
        }
    }

    /// Whether lists under this strategy merge rather than being replaced.
    pub fn merges(self) -> bool {
        matches!(self, PatchStrategy::Merge | PatchStrategy::MergeRetainKeys)
    }
}

/// The patch strategy of one property, with its merge key when it is a list of objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListStrategy {
    /// `x-kubernetes-patch-merge-key`: the field identifying an item of a list of objects.
    pub merge_key: Option<&'static str>,
    /// `x-kubernetes-patch-strategy`.
    pub strategy: PatchStrategy,
}

/// One row of [`STRATEGIES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrategyEntry {
    /// OpenAPI definition name, e.g. `io.k8s.api.core.v1.PodSpec`.
    pub definition: &'static str,
    /// Property of that definition, e.g. `containers`.
    pub property: &'static str,
    /// Merge key and strategy of the property.
    pub list: ListStrategy,
}

/// One row of [`FIELD_TYPES`]: the definition a property holds (for a list, its items).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldType {
    /// OpenAPI definition name of the parent.
    pub definition: &'static str,
    /// Property of the parent.
    pub property: &'static str,
    /// Definition of the property's value, or of its items when it is a list.
    pub holds: &'static str,
}

/// Definition of every object's `metadata`.
pub const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
/// Label selectors are atomic for server-side apply: a selector is owned as a whole.
pub const LABEL_SELECTOR: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector";

macro_rules! strategies {
    ($( $def:literal . $prop:literal => $strategy:ident $(by $key:literal)? ;)*) => {
        &[$(StrategyEntry {
            definition: $def,
            property: $prop,
            list: ListStrategy {
                merge_key: strategies!(@key $($key)?),
                strategy: PatchStrategy::$strategy,
            },
        },)*]
    };
    (@key $key:literal) => { Some($key) };
    (@key) => { None };
}

/// Every property of a built-in definition that has a patch strategy.
pub static STRATEGIES: &[StrategyEntry] = strategies! {
    "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"."finalizers" => Merge;
    "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"."ownerReferences" => Merge by "uid";
    "io.k8s.api.core.v1.PodSpec"."containers" => Merge by "name";
    "io.k8s.api.core.v1.PodSpec"."initContainers" => Merge by "name";
    "io.k8s.api.core.v1.PodSpec"."ephemeralContainers" => Merge by "name";
    "io.k8s.api.core.v1.PodSpec"."imagePullSecrets" => Merge by "name";
    "io.k8s.api.core.v1.PodSpec"."hostAliases" => Merge by "ip";
    "io.k8s.api.core.v1.PodSpec"."topologySpreadConstraints" => Merge by "topologyKey";
    "io.k8s.api.core.v1.PodSpec"."volumes" => MergeRetainKeys by "name";
    "io.k8s.api.core.v1.PodSpec"."resourceClaims" => MergeRetainKeys by "name";
    "io.k8s.api.core.v1.PodSpec"."schedulingGates" => Merge by "name";
    "io.k8s.api.core.v1.Container"."ports" => Merge by "containerPort";
    "io.k8s.api.core.v1.Container"."env" => Merge by "name";
    "io.k8s.api.core.v1.Container"."volumeMounts" => Merge by "mountPath";
    "io.k8s.api.core.v1.Container"."volumeDevices" => Merge by "devicePath";
    "io.k8s.api.core.v1.EphemeralContainer"."ports" => Merge by "containerPort";
    "io.k8s.api.core.v1.EphemeralContainer"."env" => Merge by "name";
    "io.k8s.api.core.v1.EphemeralContainer"."volumeMounts" => Merge by "mountPath";
    "io.k8s.api.core.v1.EphemeralContainer"."volumeDevices" => Merge by "devicePath";
    "io.k8s.api.core.v1.PodStatus"."conditions" => Merge by "type";
    "io.k8s.api.core.v1.PodStatus"."podIPs" => Merge by "ip";
    "io.k8s.api.core.v1.PodStatus"."hostIPs" => Merge by "ip";
    "io.k8s.api.core.v1.ServiceSpec"."ports" => Merge by "port";
    "io.k8s.api.core.v1.ServiceStatus"."conditions" => Merge by "type";
    "io.k8s.api.core.v1.NodeSpec"."podCIDRs" => Merge;
    "io.k8s.api.core.v1.NodeStatus"."conditions" => Merge by "type";
    "io.k8s.api.core.v1.NodeStatus"."addresses" => Merge by "type";
    "io.k8s.api.core.v1.NamespaceStatus"."conditions" => Merge by "type";
    "io.k8s.api.core.v1.PersistentVolumeClaimStatus"."conditions" => Merge by "type";
    "io.k8s.api.core.v1.ReplicationControllerStatus"."conditions" => Merge by "type";
    "io.k8s.api.core.v1.ServiceAccount"."secrets" => Merge by "name";
    "io.k8s.api.apps.v1.DeploymentSpec"."strategy" => RetainKeys;
    "io.k8s.api.apps.v1.DeploymentStatus"."conditions" => Merge by "type";
    "io.k8s.api.apps.v1.ReplicaSetStatus"."conditions" => Merge by "type";
    "io.k8s.api.apps.v1.StatefulSetStatus"."conditions" => Merge by "type";
    "io.k8s.api.apps.v1.DaemonSetStatus"."conditions" => Merge by "type";
    "io.k8s.api.batch.v1.JobStatus"."conditions" => Merge by "type";
    "io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerStatus"."conditions" => Merge by "type";
    "io.k8s.api.policy.v1.PodDisruptionBudgetStatus"."conditions" => Merge by "type";
};

macro_rules! field_types {
    ($( $def:literal . $prop:literal => $holds:literal ;)*) => {
        &[$(FieldType { definition: $def, property: $prop, holds: $holds },)*]
    };
}

/// The definitions reachable from built-in kinds down to every property in [`STRATEGIES`].
///
/// Only the paths that lead to a strategy (or to an atomic type) are listed; a property missing
/// here is patched like a schema-less value. `metadata` of a kind's root definition is not
/// listed: it is [`OBJECT_META`] for every kind, custom resources included.
pub static FIELD_TYPES: &[FieldType] = field_types! {
    "io.k8s.api.core.v1.Pod"."spec" => "io.k8s.api.core.v1.PodSpec";
    "io.k8s.api.core.v1.Pod"."status" => "io.k8s.api.core.v1.PodStatus";
    "io.k8s.api.core.v1.PodTemplate"."template" => "io.k8s.api.core.v1.PodTemplateSpec";
    "io.k8s.api.core.v1.PodTemplateSpec"."metadata" => "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
    "io.k8s.api.core.v1.PodTemplateSpec"."spec" => "io.k8s.api.core.v1.PodSpec";
    "io.k8s.api.core.v1.PodSpec"."containers" => "io.k8s.api.core.v1.Container";
    "io.k8s.api.core.v1.PodSpec"."initContainers" => "io.k8s.api.core.v1.Container";
    "io.k8s.api.core.v1.PodSpec"."ephemeralContainers" => "io.k8s.api.core.v1.EphemeralContainer";
    "io.k8s.api.core.v1.PodSpec"."volumes" => "io.k8s.api.core.v1.Volume";
    "io.k8s.api.core.v1.PodSpec"."topologySpreadConstraints" => "io.k8s.api.core.v1.TopologySpreadConstraint";
    "io.k8s.api.core.v1.TopologySpreadConstraint"."labelSelector" => "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector";
    "io.k8s.api.core.v1.Service"."spec" => "io.k8s.api.core.v1.ServiceSpec";
    "io.k8s.api.core.v1.Service"."status" => "io.k8s.api.core.v1.ServiceStatus";
    "io.k8s.api.core.v1.Node"."spec" => "io.k8s.api.core.v1.NodeSpec";
    "io.k8s.api.core.v1.Node"."status" => "io.k8s.api.core.v1.NodeStatus";
    "io.k8s.api.core.v1.Namespace"."status" => "io.k8s.api.core.v1.NamespaceStatus";
    "io.k8s.api.core.v1.PersistentVolumeClaim"."spec" => "io.k8s.api.core.v1.PersistentVolumeClaimSpec";
    "io.k8s.api.core.v1.PersistentVolumeClaim"."status" => "io.k8s.api.core.v1.PersistentVolumeClaimStatus";
    "io.k8s.api.core.v1.PersistentVolumeClaimSpec"."selector" => "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector";
    "io.k8s.api.core.v1.ReplicationController"."spec" => "io.k8s.api.core.v1.ReplicationControllerSpec";
    "io.k8s.api.core.v1.ReplicationController"."status" => "io.k8s.api.core.v1.ReplicationControllerStatus";
    "io.k8s.api.core.v1.ReplicationControllerSpec"."template" => "io.k8s.api.core.v1.PodTemplateSpec";
    "io.k8s.api.apps.v1.Deployment"."spec" => "io.k8s.api.apps.v1.DeploymentSpec";
    "io.k8s.api.apps.v1.Deployment"."status" => "io.k8s.api.apps.v1.DeploymentStatus";
    "io.k8s.api.apps.v1.DeploymentSpec"."template" => "io.k8s.api.core.v1.PodTemplateSpec";
    "io.k8s.api.apps.v1.DeploymentSpec"."selector" => "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector";
    "io.k8s.api.apps.v1.ReplicaSet"."spec" => "io.k8s.api.apps.v1.ReplicaSetSpec";
    "io.k8s.api.apps.v1.ReplicaSet"."status" => "io.k8s.api.apps.v1.ReplicaSetStatus";
    "io.k8s.api.apps.v1.ReplicaSetSpec"."template" => "io.k8s.api.core.v1.PodTemplateSpec";
    "io.k8s.api.apps.v1.ReplicaSetSpec"."selector" => "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector";
    "io.k8s.api.apps.v1.StatefulSet"."spec" => "io.k8s.api.apps.v1.StatefulSetSpec";
    "io.k8s.api.apps.v1.StatefulSet"."status" => "io.k8s.api.apps.v1.StatefulSetStatus";
    "io.k8s.api.apps.v1.StatefulSetSpec"."template" => "io.k8s.api.core.v1.PodTemplateSpec";
    "io.k8s.api.apps.v1.StatefulSetSpec"."selector" => "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector";
    "io.k8s.api.apps.v1.StatefulSetSpec"."volumeClaimTemplates" => "io.k8s.api.core.v1.PersistentVolumeClaim";
    "io.k8s.api.apps.v1.DaemonSet"."spec" => "io.k8s.api.apps.v1.DaemonSetSpec";
    "io.k8s.api.apps.v1.DaemonSet"."status" => "io.k8s.api.apps.v1.DaemonSetStatus";
    "io.k8s.api.apps.v1.DaemonSetSpec"."template" => "io.k8s.api.core.v1.PodTemplateSpec";
    "io.k8s.api.apps.v1.DaemonSetSpec"."selector" => "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector";
    "io.k8s.api.batch.v1.Job"."spec" => "io.k8s.api.batch.v1.JobSpec";
    "io.k8s.api.batch.v1.Job"."status" => "io.k8s.api.batch.v1.JobStatus";
    "io.k8s.api.batch.v1.JobSpec"."template" => "io.k8s.api.core.v1.PodTemplateSpec";
    "io.k8s.api.batch.v1.JobSpec"."selector" => "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector";
    "io.k8s.api.batch.v1.CronJob"."spec" => "io.k8s.api.batch.v1.CronJobSpec";
    "io.k8s.api.batch.v1.CronJobSpec"."jobTemplate" => "io.k8s.api.batch.v1.JobTemplateSpec";
    "io.k8s.api.batch.v1.JobTemplateSpec"."metadata" => "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
    "io.k8s.api.batch.v1.JobTemplateSpec"."spec" => "io.k8s.api.batch.v1.JobSpec";
    "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler"."status" => "io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerStatus";
    "io.k8s.api.policy.v1.PodDisruptionBudget"."spec" => "io.k8s.api.policy.v1.PodDisruptionBudgetSpec";
    "io.k8s.api.policy.v1.PodDisruptionBudget"."status" => "io.k8s.api.policy.v1.PodDisruptionBudgetStatus";
    "io.k8s.api.policy.v1.PodDisruptionBudgetSpec"."selector" => "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector";
    "io.k8s.api.networking.v1.NetworkPolicy"."spec" => "io.k8s.api.networking.v1.NetworkPolicySpec";
    "io.k8s.api.networking.v1.NetworkPolicySpec"."podSelector" => "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector";
};

/// Definitions owned as a whole by server-side apply (`x-kubernetes-map-type: atomic`).
pub static ATOMIC: &[&str] = &[LABEL_SELECTOR];

/// The OpenAPI package of each built-in group/version: a kind's definition is `<package>.<kind>`.
static GROUP_PACKAGES: &[(&str, &str)] = &[
    ("v1", "io.k8s.api.core.v1"),
    ("apps/v1", "io.k8s.api.apps.v1"),
    ("batch/v1", "io.k8s.api.batch.v1"),
    ("autoscaling/v1", "io.k8s.api.autoscaling.v1"),
    ("autoscaling/v2", "io.k8s.api.autoscaling.v2"),
    ("policy/v1", "io.k8s.api.policy.v1"),
    ("networking.k8s.io/v1", "io.k8s.api.networking.v1"),
    ("storage.k8s.io/v1", "io.k8s.api.storage.v1"),
    ("rbac.authorization.k8s.io/v1", "io.k8s.api.rbac.v1"),
    ("coordination.k8s.io/v1", "io.k8s.api.coordination.v1"),
    ("discovery.k8s.io/v1", "io.k8s.api.discovery.v1"),
    ("events.k8s.io/v1", "io.k8s.api.events.v1"),
    ("scheduling.k8s.io/v1", "io.k8s.api.scheduling.v1"),
    ("node.k8s.io/v1", "io.k8s.api.node.v1"),
    ("certificates.k8s.io/v1", "io.k8s.api.certificates.v1"),
    (
        "admissionregistration.k8s.io/v1",
        "io.k8s.api.admissionregistration.v1",
    ),
    (
        "apiextensions.k8s.io/v1",
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1",
    ),
];

/// The strategy of `property` in `definition`, if it has one.
pub fn lookup(definition: &str, property: &str) -> Option<ListStrategy> {
    STRATEGIES
        .iter()
        .find(|e| e.definition == definition && e.property == property)
        .map(|e| e.list)
}

/// The definition held by `property` of `definition` (for a list, of its items), if known.
pub fn field_definition(definition: &str, property: &str) -> Option<&'static str> {
    FIELD_TYPES
        .iter()
        .find(|e| e.definition == definition && e.property == property)
        .map(|e| e.holds)
}

/// A position in an object's type: which definition a value has, as far as the tables know.
///
/// Navigation never fails: below an unknown field the type is simply unknown, which patches
/// treat as schema-less (maps merge, lists are replaced). A position is an index into the
/// tables regrouped by definition, so walking an object compares a few short property names
/// per field rather than scanning every row, and allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeRef {
    definition: Option<usize>,
    root: bool,
}

/// What the tables say about one definition.
struct Definition {
    name: &'static str,
    /// Each property listed in [`FIELD_TYPES`], with the index of the definition it holds.
    fields: Vec<(&'static str, usize)>,
    /// Each property listed in [`STRATEGIES`].
    strategies: Vec<(&'static str, ListStrategy)>,
    atomic: bool,
}

/// Every definition the tables name, built once from them.
static DEFINITIONS: std::sync::LazyLock<Vec<Definition>> = std::sync::LazyLock::new(|| {
    let mut defs: Vec<Definition> = Vec::new();
    let index = |defs: &mut Vec<Definition>, name: &'static str| {
        defs.iter().position(|d| d.name == name).unwrap_or_else(|| {
            defs.push(Definition {
                name,
                fields: Vec::new(),
                strategies: Vec::new(),
                atomic: false,
            });
            defs.len() - 1
        })
    };
    index(&mut defs, OBJECT_META);
    for row in FIELD_TYPES {
        let holds = index(&mut defs, row.holds);
        let at = index(&mut defs, row.definition);
        defs[at].fields.push((row.property, holds));
    }
    for row in STRATEGIES {
        let at = index(&mut defs, row.definition);
        defs[at].strategies.push((row.property, row.list));
    }
    for name in ATOMIC {
        let at = index(&mut defs, name);
        defs[at].atomic = true;
    }
    defs
});

impl TypeRef {
    /// The type of a whole object, from its `apiVersion` and `kind`.
    pub fn of_object(object: &Value) -> TypeRef {
        let text = |key: &str| object.get(key).and_then(Value::as_str).unwrap_or_default();
        let (api_version, kind) = (text("apiVersion"), text("kind"));
        let package = GROUP_PACKAGES
            .iter()
            .find(|(gv, _)| *gv == api_version)
            .map(|(_, package)| *package);
        // `<package>.<kind>`, compared in place: a kind the tables do not name has no entries.
        let definition = package.filter(|_| !kind.is_empty()).and_then(|package| {
            DEFINITIONS.iter().position(|d| {
                d.name
                    .strip_prefix(package)
                    .and_then(|rest| rest.strip_prefix('.'))
                    == Some(kind)
            })
        });
        TypeRef {
            definition,
            root: true,
        }
    }

    fn info(&self) -> Option<&'static Definition> {
        self.definition.map(|at| &DEFINITIONS[at])
    }

    /// The definition name, when the tables know it.
    pub fn name(&self) -> Option<&'static str> {
        self.info().map(|d| d.name)
    }

    /// The type of `property` of this value (for a list, of its items).
    pub fn field(&self, property: &str) -> TypeRef {
        let definition = if self.root && property == "metadata" {
            Some(0) // OBJECT_META is indexed first.
        } else {
            self.info().and_then(|d| {
                d.fields
                    .iter()
                    .find(|(p, _)| *p == property)
                    .map(|&(_, holds)| holds)
            })
        };
        TypeRef {
            definition,
            root: false,
        }
    }

    /// The patch strategy of `property` of this value.
    pub fn strategy(&self, property: &str) -> Option<ListStrategy> {
        if self.root && property == "metadata" {
            return None;
        }
        self.info()?
            .strategies
            .iter()
            .find(|(p, _)| *p == property)
            .map(|&(_, list)| list)
    }

    /// Whether server-side apply owns values of this type as a whole.
    pub fn is_atomic(&self) -> bool {
        self.info().is_some_and(|d| d.atomic)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn container_ports_and_service_ports_have_different_merge_keys() {
        let pod = TypeRef::of_object(&json!({"apiVersion": "v1", "kind": "Pod"}));
        let container = pod.field("spec").field("containers");
        assert_eq!(
            container.strategy("ports").unwrap().merge_key,
            Some("containerPort")
        );
        let service = TypeRef::of_object(&json!({"apiVersion": "v1", "kind": "Service"}));
        assert_eq!(
            service.field("spec").strategy("ports").unwrap().merge_key,
            Some("port")
        );
    }

    #[test]
    fn deployment_containers_are_found_through_the_pod_template() {
        let deployment =
            TypeRef::of_object(&json!({"apiVersion": "apps/v1", "kind": "Deployment"}));
        let pod_spec = deployment.field("spec").field("template").field("spec");
        assert_eq!(pod_spec.name(), Some("io.k8s.api.core.v1.PodSpec"));
        assert_eq!(
            pod_spec.strategy("containers"),
            Some(ListStrategy {
                merge_key: Some("name"),
                strategy: PatchStrategy::Merge
            })
        );
    }

    #[test]
    fn every_kind_has_metadata_strategies_even_custom_resources() {
        let custom = TypeRef::of_object(&json!({"apiVersion": "example.com/v1", "kind": "Widget"}));
        assert_eq!(custom.name(), None);
        let meta = custom.field("metadata");
        assert_eq!(
            meta.strategy("ownerReferences").unwrap().merge_key,
            Some("uid")
        );
        assert_eq!(meta.strategy("finalizers").unwrap().merge_key, None);
        assert_eq!(custom.field("spec").strategy("containers"), None);
    }

    #[test]
    fn lookup_reads_the_table_by_definition_and_property() {
        let volumes = lookup("io.k8s.api.core.v1.PodSpec", "volumes").unwrap();
        assert_eq!(volumes.strategy.as_str(), "merge,retainKeys");
        assert_eq!(volumes.merge_key, Some("name"));
        assert_eq!(lookup("io.k8s.api.core.v1.PodSpec", "nodeSelector"), None);
        assert_eq!(
            lookup("io.k8s.api.apps.v1.DeploymentSpec", "strategy")
                .unwrap()
                .strategy,
            PatchStrategy::RetainKeys
        );
    }

    #[test]
    fn every_strategy_is_reachable_from_a_kind() {
        for entry in STRATEGIES {
            let mut top = entry.definition;
            while let Some(parent) = FIELD_TYPES.iter().find(|t| t.holds == top) {
                top = parent.definition;
            }
            let (package, kind) = top.rsplit_once('.').unwrap();
            let is_kind = GROUP_PACKAGES.iter().any(|(_, p)| *p == package)
                && !kind.ends_with("Spec")
                && !kind.ends_with("Status");
            assert!(
                top == OBJECT_META || is_kind,
                "{}/{} is only reachable from {top}",
                entry.definition,
                entry.property
            );
        }
    }
}
