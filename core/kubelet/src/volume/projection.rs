//! The files of configMap, secret, downwardAPI and projected volumes.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{DownwardAPIVolumeFile, KeyToPath, Pod, Volume};

use super::atomic::{self, File};
use crate::pod::downward::{self, Facts};
use crate::pod::env::NodeResources;
use crate::pod::objects::{self, Data, Objects};

/// Errors computing a projection.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("configmap {0:?} not found")]
    ConfigMapMissing(String),
    #[error("secret {0:?} not found")]
    SecretMissing(String),
    #[error("key {key:?} not found in {name:?}")]
    KeyMissing { name: String, key: String },
    #[error("unsupported field {0:?}")]
    Field(String),
    #[error("failed to read a referenced object")]
    Objects(#[source] objects::Error),
    #[error("failed to write the files")]
    Write(#[source] atomic::Error),
}

/// The default file mode of projected files (as upstream).
pub const DEFAULT_MODE: i32 = 0o644;

type Files = BTreeMap<String, File>;

fn add_keys(
    files: &mut Files,
    name: &str,
    data: Option<Data>,
    items: Option<&Vec<KeyToPath>>,
    optional: bool,
    mode: i32,
    missing: fn(String) -> Error,
) -> Result<(), Error> {
    let Some(data) = data else {
        return if optional {
            Ok(())
        } else {
            Err(missing(name.to_string()))
        };
    };
    match items {
        Some(items) if !items.is_empty() => {
            for item in items {
                match data.get(&item.key) {
                    Some(v) => {
                        files.insert(
                            item.path.clone(),
                            File {
                                data: v.clone(),
                                mode: item.mode.unwrap_or(mode) as u32,
                            },
                        );
                    }
                    None if optional => {}
                    None => {
                        return Err(Error::KeyMissing {
                            name: name.into(),
                            key: item.key.clone(),
                        });
                    }
                }
            }
        }
        _ => {
            for (k, v) in data {
                files.insert(
                    k,
                    File {
                        data: v,
                        mode: mode as u32,
                    },
                );
            }
        }
    }
    Ok(())
}

fn add_downward(
    files: &mut Files,
    pod: &Pod,
    items: &[DownwardAPIVolumeFile],
    mode: i32,
    facts: &Facts,
    node: NodeResources,
) -> Result<(), Error> {
    for item in items {
        let value = if let Some(f) = &item.field_ref {
            downward::field(pod, &f.field_path, facts)
                .ok_or_else(|| Error::Field(f.field_path.clone()))?
        } else if let Some(r) = &item.resource_field_ref {
            let containers = pod.spec.iter().flat_map(|s| s.containers.iter());
            let container = containers
                .clone()
                .find(|c| Some(c.name.as_str()) == r.container_name.as_deref())
                .ok_or_else(|| Error::Field(r.resource.clone()))?;
            downward::resource(container, r, node.cpu, node.memory)
                .ok_or_else(|| Error::Field(r.resource.clone()))?
        } else {
            continue;
        };
        files.insert(
            item.path.clone(),
            File {
                data: value.into_bytes(),
                mode: item.mode.unwrap_or(mode) as u32,
            },
        );
    }
    Ok(())
}

/// The files `volume` should hold now; `None` when it is not a projected kind.
pub async fn files(
    volume: &Volume,
    pod: &Pod,
    objects: &dyn Objects,
    facts: &Facts,
    node: NodeResources,
) -> Result<Option<Files>, Error> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let mut files = Files::new();
    if let Some(cm) = &volume.config_map {
        let data = objects
            .config_map(&ns, &cm.name)
            .await
            .map_err(Error::Objects)?;
        let mode = cm.default_mode.unwrap_or(DEFAULT_MODE);
        let optional = cm.optional.unwrap_or(false);
        add_keys(
            &mut files,
            &cm.name,
            data,
            cm.items.as_ref(),
            optional,
            mode,
            Error::ConfigMapMissing,
        )?;
    } else if let Some(s) = &volume.secret {
        let name = s.secret_name.clone().unwrap_or_default();
        let data = objects.secret(&ns, &name).await.map_err(Error::Objects)?;
        let mode = s.default_mode.unwrap_or(DEFAULT_MODE);
        let optional = s.optional.unwrap_or(false);
        add_keys(
            &mut files,
            &name,
            data,
            s.items.as_ref(),
            optional,
            mode,
            Error::SecretMissing,
        )?;
    } else if let Some(d) = &volume.downward_api {
        let mode = d.default_mode.unwrap_or(DEFAULT_MODE);
        add_downward(
            &mut files,
            pod,
            d.items.as_deref().unwrap_or(&[]),
            mode,
            facts,
            node,
        )?;
    } else if let Some(p) = &volume.projected {
        let mode = p.default_mode.unwrap_or(DEFAULT_MODE);
        for source in p.sources.iter().flatten() {
            if let Some(cm) = &source.config_map {
                let data = objects
                    .config_map(&ns, &cm.name)
                    .await
                    .map_err(Error::Objects)?;
                let optional = cm.optional.unwrap_or(false);
                add_keys(
                    &mut files,
                    &cm.name,
                    data,
                    cm.items.as_ref(),
                    optional,
                    mode,
                    Error::ConfigMapMissing,
                )?;
            }
            if let Some(s) = &source.secret {
                let data = objects.secret(&ns, &s.name).await.map_err(Error::Objects)?;
                let optional = s.optional.unwrap_or(false);
                add_keys(
                    &mut files,
                    &s.name,
                    data,
                    s.items.as_ref(),
                    optional,
                    mode,
                    Error::SecretMissing,
                )?;
            }
            if let Some(d) = &source.downward_api {
                add_downward(
                    &mut files,
                    pod,
                    d.items.as_deref().unwrap_or(&[]),
                    mode,
                    facts,
                    node,
                )?;
            }
            // serviceAccountToken and clusterTrustBundle sources need a token issuer, which
            // the API server does not offer yet: they project nothing.
        }
    } else {
        return Ok(None);
    }
    Ok(Some(files))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::pod::objects::MemoryObjects;

    fn pod(volumes: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "u", "labels": {"a": "b"}},
            "spec": {"containers": [{"name": "app", "image": "busybox"}], "volumes": volumes}
        }))
        .unwrap()
    }

    fn objects() -> MemoryObjects {
        let o = MemoryObjects::default();
        o.put_config_map(
            "ns",
            "cfg",
            BTreeMap::from([
                ("a.conf".to_string(), b"A".to_vec()),
                ("b.conf".to_string(), b"B".to_vec()),
            ]),
        );
        o.put_secret(
            "ns",
            "sec",
            BTreeMap::from([("token".to_string(), b"t0k".to_vec())]),
        );
        o
    }

    async fn project(pod: &Pod) -> Result<Files, Error> {
        let volume = &pod.spec.as_ref().unwrap().volumes.as_ref().unwrap()[0];
        let node = NodeResources { cpu: 1, memory: 1 };
        Ok(files(volume, pod, &objects(), &Facts::default(), node)
            .await?
            .unwrap())
    }

    #[tokio::test]
    async fn config_map_items_pick_keys_paths_and_modes() {
        let p = pod(
            json!([{"name": "v", "configMap": {"name": "cfg", "defaultMode": 0o600,
            "items": [{"key": "a.conf", "path": "dir/a"}, {"key": "b.conf", "path": "b", "mode": 0o444}]}}]),
        );
        let files = project(&p).await.unwrap();
        assert_eq!(
            files["dir/a"],
            File {
                data: b"A".to_vec(),
                mode: 0o600
            }
        );
        assert_eq!(
            files["b"],
            File {
                data: b"B".to_vec(),
                mode: 0o444
            }
        );
        assert_eq!(files.len(), 2);
    }

    #[tokio::test]
    async fn secrets_project_every_key_with_the_default_mode() {
        let p = pod(json!([{"name": "v", "secret": {"secretName": "sec"}}]));
        let files = project(&p).await.unwrap();
        assert_eq!(
            files["token"],
            File {
                data: b"t0k".to_vec(),
                mode: 0o644
            }
        );
    }

    #[tokio::test]
    async fn projected_volumes_merge_sources_and_downward_fields() {
        let p = pod(json!([{"name": "v", "projected": {"sources": [
            {"configMap": {"name": "cfg", "items": [{"key": "a.conf", "path": "a"}]}},
            {"secret": {"name": "sec"}},
            {"downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                                        {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}]}}
        ]}}]));
        let files = project(&p).await.unwrap();
        let keys: Vec<&str> = files.keys().map(String::as_str).collect();
        assert_eq!(keys, vec!["a", "labels", "name", "token"]);
        assert_eq!(files["labels"].data, b"a=\"b\"".to_vec());
        assert_eq!(files["name"].data, b"web".to_vec());
    }

    #[tokio::test]
    async fn missing_sources_fail_unless_optional() {
        let p = pod(json!([{"name": "v", "configMap": {"name": "nope"}}]));
        assert!(matches!(project(&p).await, Err(Error::ConfigMapMissing(_))));
        let p = pod(json!([{"name": "v", "secret": {"secretName": "nope", "optional": true}}]));
        assert!(project(&p).await.unwrap().is_empty());
    }
}
