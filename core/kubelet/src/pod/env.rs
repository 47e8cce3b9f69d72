//! A container's environment: literals, references to ConfigMaps, Secrets, pod fields and
//! resources, `envFrom`, and `$(VAR)` expansion, in upstream's order.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::{Container, Pod};

use super::downward::{self, Facts};
use super::objects::{self, Objects};

/// Why an environment could not be built (the container waits with
/// `CreateContainerConfigError`).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("configmap {0:?} not found")]
    ConfigMapMissing(String),
    #[error("secret {0:?} not found")]
    SecretMissing(String),
    #[error("couldn't find key {key} in {kind} {namespace}/{name}")]
    KeyMissing {
        kind: &'static str,
        namespace: String,
        name: String,
        key: String,
    },
    #[error("unsupported field path {0:?}")]
    FieldPath(String),
    #[error("unsupported resource {0:?}")]
    Resource(String),
    #[error("failed to read a referenced object")]
    Objects(#[source] objects::Error),
}

/// Expands `$(NAME)` from `vars`; `$$` escapes; unknown references stay as written.
pub fn expand(input: &str, vars: &HashMap<String, String>) -> String {
    // Written by hand: the upstream syntax is small and no crate implements it.
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(inner) = after.strip_prefix('(') {
            match inner.find(')') {
                Some(end) => {
                    let name = &inner[..end];
                    match vars.get(name) {
                        Some(v) => out.push_str(v),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &inner[end + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = inner;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The node's capacity, for `resourceFieldRef` limits that are unset.
#[derive(Debug, Clone, Copy, Default)]
pub struct NodeResources {
    pub cpu: u32,
    pub memory: u64,
}

/// Builds the environment of `container` in `pod`.
pub async fn resolve(
    pod: &Pod,
    container: &Container,
    objects: &dyn Objects,
    facts: &Facts,
    node: NodeResources,
) -> Result<Vec<(String, String)>, Error> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let mut order: Vec<String> = Vec::new();
    let mut vars: HashMap<String, String> = HashMap::new();
    fn set(
        vars: &mut HashMap<String, String>,
        name: String,
        value: String,
        order: &mut Vec<String>,
    ) {
        if vars.insert(name.clone(), value).is_none() {
            order.push(name);
        }
    }
    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        if let Some(r) = &from.config_map_ref {
            let optional = r.optional.unwrap_or(false);
            match objects
                .config_map(&namespace, &r.name)
                .await
                .map_err(Error::Objects)?
            {
                Some(data) => {
                    for (k, v) in data {
                        set(&mut vars, format!("{prefix}{k}"), text(&v), &mut order);
                    }
                }
                None if optional => {}
                None => return Err(Error::ConfigMapMissing(r.name.clone())),
            }
        }
        if let Some(r) = &from.secret_ref {
            let optional = r.optional.unwrap_or(false);
            match objects
                .secret(&namespace, &r.name)
                .await
                .map_err(Error::Objects)?
            {
                Some(data) => {
                    for (k, v) in data {
                        set(&mut vars, format!("{prefix}{k}"), text(&v), &mut order);
                    }
                }
                None if optional => {}
                None => return Err(Error::SecretMissing(r.name.clone())),
            }
        }
    }
    for env in container.env.iter().flatten() {
        let value = if let Some(source) = &env.value_from {
            if let Some(r) = &source.config_map_key_ref {
                let optional = r.optional.unwrap_or(false);
                let data = objects
                    .config_map(&namespace, &r.name)
                    .await
                    .map_err(Error::Objects)?;
                match data.as_ref().map(|d| d.get(&r.key)) {
                    Some(Some(v)) => text(v),
                    _ if optional => continue,
                    None => return Err(Error::ConfigMapMissing(r.name.clone())),
                    Some(None) => {
                        return Err(Error::KeyMissing {
                            kind: "configmap",
                            namespace,
                            name: r.name.clone(),
                            key: r.key.clone(),
                        });
                    }
                }
            } else if let Some(r) = &source.secret_key_ref {
                let optional = r.optional.unwrap_or(false);
                let data = objects
                    .secret(&namespace, &r.name)
                    .await
                    .map_err(Error::Objects)?;
                match data.as_ref().map(|d| d.get(&r.key)) {
                    Some(Some(v)) => text(v),
                    _ if optional => continue,
                    None => return Err(Error::SecretMissing(r.name.clone())),
                    Some(None) => {
                        return Err(Error::KeyMissing {
                            kind: "secret",
                            namespace,
                            name: r.name.clone(),
                            key: r.key.clone(),
                        });
                    }
                }
            } else if let Some(f) = &source.field_ref {
                downward::field(pod, &f.field_path, facts)
                    .ok_or_else(|| Error::FieldPath(f.field_path.clone()))?
            } else if let Some(r) = &source.resource_field_ref {
                let target = match r.container_name.as_deref().filter(|n| !n.is_empty()) {
                    Some(name) => pod
                        .spec
                        .iter()
                        .flat_map(|s| s.containers.iter())
                        .find(|c| c.name == name)
                        .unwrap_or(container),
                    None => container,
                };
                downward::resource(target, r, node.cpu, node.memory)
                    .ok_or_else(|| Error::Resource(r.resource.clone()))?
            } else {
                String::new()
            }
        } else {
            expand(env.value.as_deref().unwrap_or(""), &vars)
        };
        set(&mut vars, env.name.clone(), value, &mut order);
    }
    Ok(order
        .into_iter()
        .map(|name| {
            let value = vars[&name].clone();
            (name, value)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::pod::objects::MemoryObjects;

    fn pod(containers: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "team", "uid": "u-1",
                         "labels": {"app": "web"}},
            "spec": {"nodeName": "n1", "serviceAccountName": "sa", "containers": containers}
        }))
        .unwrap()
    }

    fn objects() -> MemoryObjects {
        let objects = MemoryObjects::default();
        objects.put_config_map(
            "team",
            "settings",
            BTreeMap::from([
                ("MODE".to_string(), b"fast".to_vec()),
                ("LEVEL".to_string(), b"3".to_vec()),
            ]),
        );
        objects.put_secret(
            "team",
            "creds",
            BTreeMap::from([("password".to_string(), b"hunter2".to_vec())]),
        );
        objects
    }

    async fn env_of(pod: &Pod) -> Result<Vec<(String, String)>, Error> {
        let facts = Facts {
            pod_ip: Some("10.1.0.5".into()),
            pod_ips: vec!["10.1.0.5".into()],
            host_ip: "192.0.2.1".into(),
        };
        let container = &pod.spec.as_ref().unwrap().containers[0];
        resolve(
            pod,
            container,
            &objects(),
            &facts,
            NodeResources {
                cpu: 2,
                memory: 1 << 30,
            },
        )
        .await
    }

    #[test]
    fn references_expand_and_escapes_stay_literal() {
        let vars = HashMap::from([("A".to_string(), "x".to_string())]);
        assert_eq!(expand("$(A)-$(B)-$$(A)-$", &vars), "x-$(B)-$(A)-$");
    }

    #[tokio::test]
    async fn literal_config_map_secret_and_field_values_resolve_in_order() {
        let pod = pod(json!([{
            "name": "app", "image": "busybox",
            "envFrom": [{"configMapRef": {"name": "settings"}, "prefix": "CFG_"}],
            "env": [
                {"name": "GREETING", "value": "hi $(CFG_MODE)"},
                {"name": "PASS", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}},
                {"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "LEVEL"}}},
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}}
            ]
        }]));
        let env = env_of(&pod).await.unwrap();
        let expected: Vec<(String, String)> = [
            ("CFG_LEVEL", "3"),
            ("CFG_MODE", "fast"),
            ("GREETING", "hi fast"),
            ("PASS", "hunter2"),
            ("LEVEL", "3"),
            ("POD", "web"),
            ("NS", "team"),
            ("APP", "web"),
            ("IP", "10.1.0.5"),
            ("NODE", "n1"),
            ("SA", "sa"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(env, expected);
    }

    #[tokio::test]
    async fn resource_field_refs_use_limits_or_node_capacity_in_divisor_units() {
        let pod = pod(json!([{
            "name": "app", "image": "busybox",
            "resources": {"limits": {"memory": "64Mi"}, "requests": {"cpu": "250m"}},
            "env": [
                {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
                {"name": "CPU_REQ", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "1m"}}},
                {"name": "CPU_LIM", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}
            ]
        }]));
        let env: HashMap<_, _> = env_of(&pod).await.unwrap().into_iter().collect();
        assert_eq!(env["MEM"], "64");
        assert_eq!(env["CPU_REQ"], "250");
        assert_eq!(env["CPU_LIM"], "2");
    }

    #[tokio::test]
    async fn missing_references_fail_unless_optional() {
        let missing = pod(json!([{"name": "app", "image": "busybox", "env": [
            {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "NOPE"}}}
        ]}]));
        assert!(matches!(
            env_of(&missing).await,
            Err(Error::KeyMissing { .. })
        ));
        let optional = pod(json!([{"name": "app", "image": "busybox", "env": [
            {"name": "X", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "k", "optional": true}}}
        ]}]));
        assert_eq!(env_of(&optional).await.unwrap(), vec![]);
        let absent = pod(json!([{"name": "app", "image": "busybox",
            "envFrom": [{"secretRef": {"name": "absent"}}]}]));
        assert!(matches!(
            env_of(&absent).await,
            Err(Error::SecretMissing(_))
        ));
    }
}
