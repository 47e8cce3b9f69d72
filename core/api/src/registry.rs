//! The resource registry: which resources the API serves, under which group, version and names.
//!
//! The API server, the CLI and discovery all read from one `Registry`. Built-in resources are
//! listed here; CustomResourceDefinitions add and remove entries at run time.

use serde::{Deserialize, Serialize};

/// Whether objects of a resource live inside a namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scope {
    Namespaced,
    Cluster,
}

/// Everything the server needs to know to serve one resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceInfo {
    /// API group; empty for the core ("legacy") group served under `/api/v1`.
    pub group: String,
    pub version: String,
    pub kind: String,
    /// Lower-case plural used in URLs, e.g. `deployments`.
    pub plural: String,
    /// Lower-case singular, e.g. `deployment`.
    pub singular: String,
    pub scope: Scope,
    pub short_names: Vec<String>,
    /// Categories such as `all`, used by `kubectl get all`.
    pub categories: Vec<String>,
    /// Subresources served below an object, e.g. `status`, `scale`, `log`.
    pub subresources: Vec<String>,
    /// Verbs advertised in discovery.
    pub verbs: Vec<String>,
}

/// The verbs every ordinary stored resource supports.
pub const STANDARD_VERBS: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

impl ResourceInfo {
    /// `v1` for the core group, `apps/v1` otherwise.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn namespaced(&self) -> bool {
        self.scope == Scope::Namespaced
    }

    /// The kind of the list object, e.g. `PodList`.
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    pub fn has_subresource(&self, name: &str) -> bool {
        self.subresources.iter().any(|s| s == name)
    }

    /// Store key prefix holding every object of this resource (all namespaces), ending in `/`.
    ///
    /// Keys follow the etcd convention `/registry/<group>/<plural>/<namespace>/<name>`, with
    /// `core` standing for the empty core group.
    pub fn key_prefix(&self) -> String {
        let group = if self.group.is_empty() {
            "core"
        } else {
            &self.group
        };
        format!("/registry/{group}/{}/", self.plural)
    }

    /// Store key prefix for the objects of one namespace (or all objects when `None`).
    pub fn namespace_prefix(&self, namespace: Option<&str>) -> String {
        match (self.scope, namespace) {
            (Scope::Namespaced, Some(ns)) => format!("{}{ns}/", self.key_prefix()),
            _ => self.key_prefix(),
        }
    }

    /// Store key of one object.
    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        match (self.scope, namespace) {
            (Scope::Namespaced, Some(ns)) => format!("{}{ns}/{name}", self.key_prefix()),
            _ => format!("{}{name}", self.key_prefix()),
        }
    }
}

/// The set of resources the API server serves.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    resources: Vec<ResourceInfo>,
}

impl Registry {
    /// A registry holding every built-in resource.
    pub fn builtin() -> Self {
        Registry {
            resources: builtin_resources(),
        }
    }

    pub fn all(&self) -> &[ResourceInfo] {
        &self.resources
    }

    /// Adds or replaces (same group, version and plural) a resource.
    pub fn upsert(&mut self, info: ResourceInfo) {
        self.remove(&info.group, &info.version, &info.plural);
        self.resources.push(info);
    }

    pub fn remove(&mut self, group: &str, version: &str, plural: &str) -> Option<ResourceInfo> {
        let pos = self
            .resources
            .iter()
            .position(|r| r.group == group && r.version == version && r.plural == plural)?;
        Some(self.resources.remove(pos))
    }

    /// Looks a resource up by the parts of its URL.
    pub fn by_plural(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceInfo> {
        self.resources
            .iter()
            .find(|r| r.group == group && r.version == version && r.plural == plural)
    }

    /// Looks a resource up by `apiVersion` and `kind`, as written in a manifest.
    pub fn by_kind(&self, api_version: &str, kind: &str) -> Option<&ResourceInfo> {
        let (group, version) = split_api_version(api_version);
        self.resources
            .iter()
            .find(|r| r.group == group && r.version == version && r.kind == kind)
    }

    /// Resolves a name typed by a user (`po`, `pods`, `pod`, `deployments.apps`, `Deployment`).
    pub fn resolve(&self, name: &str) -> Option<&ResourceInfo> {
        let (name, group) = match name.split_once('.') {
            Some((n, g)) => (n, Some(g)),
            None => (name, None),
        };
        let lower = name.to_ascii_lowercase();
        self.resources.iter().find(|r| {
            group.is_none_or(|g| r.group == g)
                && (r.plural == lower
                    || r.singular == lower
                    || r.kind.to_ascii_lowercase() == lower
                    || r.short_names.contains(&lower))
        })
    }

    /// Every `group/version` served, core first, in a stable order.
    pub fn group_versions(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for r in &self.resources {
            let gv = (r.group.clone(), r.version.clone());
            if !out.contains(&gv) {
                out.push(gv);
            }
        }
        out
    }
}

/// Splits `apps/v1` into (`apps`, `v1`) and `v1` into (``, `v1`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

/// Compact description of one built-in resource: (group, version, kind, plural, scope,
/// short names, categories, subresources).
type Spec = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Scope,
    &'static [&'static str],
    &'static [&'static str],
    &'static [&'static str],
);

use Scope::{Cluster, Namespaced};

const ALL: &[&str] = &["all"];
const NONE: &[&str] = &[];
const STATUS: &[&str] = &["status"];
const STATUS_SCALE: &[&str] = &["status", "scale"];

const BUILTIN: &[Spec] = &[
    (
        "",
        "v1",
        "Pod",
        "pods",
        Namespaced,
        &["po"],
        ALL,
        &[
            "status",
            "binding",
            "log",
            "exec",
            "attach",
            "portforward",
            "eviction",
            "ephemeralcontainers",
        ],
    ),
    (
        "",
        "v1",
        "Service",
        "services",
        Namespaced,
        &["svc"],
        ALL,
        &["status", "proxy"],
    ),
    (
        "",
        "v1",
        "Endpoints",
        "endpoints",
        Namespaced,
        &["ep"],
        NONE,
        NONE,
    ),
    (
        "",
        "v1",
        "ConfigMap",
        "configmaps",
        Namespaced,
        &["cm"],
        NONE,
        NONE,
    ),
    ("", "v1", "Secret", "secrets", Namespaced, NONE, NONE, NONE),
    (
        "",
        "v1",
        "Namespace",
        "namespaces",
        Cluster,
        &["ns"],
        NONE,
        &["status", "finalize"],
    ),
    (
        "",
        "v1",
        "Node",
        "nodes",
        Cluster,
        &["no"],
        NONE,
        &["status", "proxy"],
    ),
    ("", "v1", "Event", "events", Namespaced, &["ev"], NONE, NONE),
    (
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        Namespaced,
        &["sa"],
        NONE,
        &["token"],
    ),
    (
        "",
        "v1",
        "PersistentVolume",
        "persistentvolumes",
        Cluster,
        &["pv"],
        NONE,
        STATUS,
    ),
    (
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        Namespaced,
        &["pvc"],
        NONE,
        STATUS,
    ),
    (
        "",
        "v1",
        "ReplicationController",
        "replicationcontrollers",
        Namespaced,
        &["rc"],
        ALL,
        STATUS_SCALE,
    ),
    (
        "",
        "v1",
        "ResourceQuota",
        "resourcequotas",
        Namespaced,
        &["quota"],
        NONE,
        STATUS,
    ),
    (
        "",
        "v1",
        "LimitRange",
        "limitranges",
        Namespaced,
        &["limits"],
        NONE,
        NONE,
    ),
    (
        "",
        "v1",
        "PodTemplate",
        "podtemplates",
        Namespaced,
        NONE,
        NONE,
        NONE,
    ),
    (
        "apps",
        "v1",
        "Deployment",
        "deployments",
        Namespaced,
        &["deploy"],
        ALL,
        STATUS_SCALE,
    ),
    (
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        Namespaced,
        &["rs"],
        ALL,
        STATUS_SCALE,
    ),
    (
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        Namespaced,
        &["sts"],
        ALL,
        STATUS_SCALE,
    ),
    (
        "apps",
        "v1",
        "DaemonSet",
        "daemonsets",
        Namespaced,
        &["ds"],
        ALL,
        STATUS,
    ),
    (
        "apps",
        "v1",
        "ControllerRevision",
        "controllerrevisions",
        Namespaced,
        NONE,
        NONE,
        NONE,
    ),
    ("batch", "v1", "Job", "jobs", Namespaced, NONE, ALL, STATUS),
    (
        "batch",
        "v1",
        "CronJob",
        "cronjobs",
        Namespaced,
        &["cj"],
        ALL,
        STATUS,
    ),
    (
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        Namespaced,
        &["hpa"],
        ALL,
        STATUS,
    ),
    // Served by conversion from the stored v2 form (`convert`); listed after v2 so that v2
    // stays the preferred version and names resolve to it. Not in `all`: one kind, one entry.
    (
        "autoscaling",
        "v1",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        Namespaced,
        &["hpa"],
        NONE,
        STATUS,
    ),
    (
        "networking.k8s.io",
        "v1",
        "Ingress",
        "ingresses",
        Namespaced,
        &["ing"],
        NONE,
        STATUS,
    ),
    (
        "networking.k8s.io",
        "v1",
        "IngressClass",
        "ingressclasses",
        Cluster,
        NONE,
        NONE,
        NONE,
    ),
    (
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        Namespaced,
        &["netpol"],
        NONE,
        NONE,
    ),
    (
        "discovery.k8s.io",
        "v1",
        "EndpointSlice",
        "endpointslices",
        Namespaced,
        NONE,
        NONE,
        NONE,
    ),
    (
        "storage.k8s.io",
        "v1",
        "StorageClass",
        "storageclasses",
        Cluster,
        &["sc"],
        NONE,
        NONE,
    ),
    (
        "storage.k8s.io",
        "v1",
        "CSIDriver",
        "csidrivers",
        Cluster,
        NONE,
        NONE,
        NONE,
    ),
    (
        "storage.k8s.io",
        "v1",
        "CSINode",
        "csinodes",
        Cluster,
        NONE,
        NONE,
        NONE,
    ),
    (
        "storage.k8s.io",
        "v1",
        "VolumeAttachment",
        "volumeattachments",
        Cluster,
        NONE,
        NONE,
        STATUS,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "Role",
        "roles",
        Namespaced,
        NONE,
        NONE,
        NONE,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        Namespaced,
        NONE,
        NONE,
        NONE,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        Cluster,
        NONE,
        NONE,
        NONE,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        Cluster,
        NONE,
        NONE,
        NONE,
    ),
    (
        "coordination.k8s.io",
        "v1",
        "Lease",
        "leases",
        Namespaced,
        NONE,
        NONE,
        NONE,
    ),
    (
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        Namespaced,
        &["pdb"],
        NONE,
        STATUS,
    ),
    (
        "scheduling.k8s.io",
        "v1",
        "PriorityClass",
        "priorityclasses",
        Cluster,
        &["pc"],
        NONE,
        NONE,
    ),
    (
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        Cluster,
        &["crd", "crds"],
        NONE,
        STATUS,
    ),
];

fn builtin_resources() -> Vec<ResourceInfo> {
    BUILTIN
        .iter()
        .map(
            |(group, version, kind, plural, scope, short, cats, subs)| ResourceInfo {
                group: group.to_string(),
                version: version.to_string(),
                kind: kind.to_string(),
                plural: plural.to_string(),
                singular: kind.to_ascii_lowercase(),
                scope: *scope,
                short_names: short.iter().map(|s| s.to_string()).collect(),
                categories: cats.iter().map(|s| s.to_string()).collect(),
                subresources: subs.iter().map(|s| s.to_string()).collect(),
                verbs: STANDARD_VERBS.iter().map(|s| s.to_string()).collect(),
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_short_names_plurals_kinds_and_grouped_names() {
        let r = Registry::builtin();
        assert_eq!(r.resolve("po").unwrap().plural, "pods");
        assert_eq!(r.resolve("Deployment").unwrap().group, "apps");
        assert_eq!(r.resolve("deployments.apps").unwrap().kind, "Deployment");
        assert_eq!(r.resolve("crd").unwrap().scope, Scope::Cluster);
        assert!(r.resolve("deployments.batch").is_none());
        assert!(r.resolve("nosuchthing").is_none());
    }

    #[test]
    fn keys_follow_the_etcd_convention() {
        let r = Registry::builtin();
        let pods = r.by_plural("", "v1", "pods").unwrap();
        assert_eq!(
            pods.key(Some("default"), "web"),
            "/registry/core/pods/default/web"
        );
        assert_eq!(pods.namespace_prefix(Some("a")), "/registry/core/pods/a/");
        assert_eq!(pods.namespace_prefix(None), "/registry/core/pods/");
        let ns = r.by_kind("v1", "Namespace").unwrap();
        assert_eq!(ns.key(None, "default"), "/registry/core/namespaces/default");
        let deploy = r.by_kind("apps/v1", "Deployment").unwrap();
        assert_eq!(deploy.api_version(), "apps/v1");
        assert_eq!(deploy.list_kind(), "DeploymentList");
    }

    #[test]
    fn custom_resources_can_be_added_and_removed() {
        let mut r = Registry::builtin();
        let mut info = r.resolve("deploy").unwrap().clone();
        info.group = "example.com".into();
        info.kind = "Website".into();
        info.plural = "websites".into();
        info.singular = "website".into();
        info.short_names = vec!["ws".into()];
        r.upsert(info.clone());
        assert_eq!(r.resolve("ws").unwrap().kind, "Website");
        assert!(
            r.group_versions()
                .contains(&("example.com".into(), "v1".into()))
        );
        r.remove("example.com", "v1", "websites").unwrap();
        assert!(r.resolve("ws").is_none());
    }
}
