//! The downward API: pod fields and container resources as strings (env and volumes).

use k8s_openapi::api::core::v1::{Container, Pod, ResourceFieldSelector};
use skiff_api::validation::Quantity;

/// Runtime facts the pod object may not hold yet.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub pod_ip: Option<String>,
    pub pod_ips: Vec<String>,
    pub host_ip: String,
}

fn map_text(map: Option<&std::collections::BTreeMap<String, String>>) -> String {
    map.into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The value of a `fieldRef.fieldPath`; `None` for an unsupported path.
pub fn field(pod: &Pod, path: &str, facts: &Facts) -> Option<String> {
    let meta = &pod.metadata;
    let spec = pod.spec.as_ref();
    if let Some(key) = path
        .strip_prefix("metadata.labels['")
        .and_then(|k| k.strip_suffix("']"))
    {
        return Some(meta.labels.as_ref()?.get(key).cloned().unwrap_or_default());
    }
    if let Some(key) = path
        .strip_prefix("metadata.annotations['")
        .and_then(|k| k.strip_suffix("']"))
    {
        return Some(
            meta.annotations
                .as_ref()?
                .get(key)
                .cloned()
                .unwrap_or_default(),
        );
    }
    Some(match path {
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "metadata.labels" => map_text(meta.labels.as_ref()),
        "metadata.annotations" => map_text(meta.annotations.as_ref()),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_default(),
        "status.podIP" => facts.pod_ip.clone().unwrap_or_default(),
        "status.podIPs" => facts.pod_ips.join(","),
        "status.hostIP" | "status.hostIPs" => facts.host_ip.clone(),
        _ => return None,
    })
}

/// The value of a `resourceFieldRef` for `container`, in units of its divisor (rounded up,
/// as upstream); limits default to the node's capacity when unset.
pub fn resource(
    container: &Container,
    selector: &ResourceFieldSelector,
    node_cpu: u32,
    node_memory: u64,
) -> Option<String> {
    let resources = container.resources.as_ref();
    let get = |kind: &str, name: &str| {
        let map = match kind {
            "limits" => resources.and_then(|r| r.limits.as_ref()),
            _ => resources.and_then(|r| r.requests.as_ref()),
        };
        map.and_then(|m| m.get(name))
            .and_then(|q| Quantity::parse(&q.0).ok())
    };
    let (kind, name) = selector.resource.split_once('.')?;
    let value = get(kind, name).or_else(|| match (kind, name) {
        ("limits", "cpu") => Some(Quantity::from_units(node_cpu as i64)),
        ("limits", "memory") => Some(Quantity::from_units(node_memory as i64)),
        ("requests", "cpu") | ("requests", "memory") => Some(Quantity::from_units(0)),
        _ => None,
    })?;
    let divisor = selector
        .divisor
        .as_ref()
        .and_then(|d| Quantity::parse(&d.0).ok())
        .filter(|d| d.nanos() > 0)
        .unwrap_or_else(|| Quantity::from_units(1));
    let n = value.nanos();
    let d = divisor.nanos();
    Some(((n + d - 1) / d).to_string())
}
