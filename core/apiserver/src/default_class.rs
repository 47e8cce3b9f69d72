//! Claims created without `storageClassName` get the cluster's default StorageClass, as
//! upstream's `DefaultStorageClass` admission plugin does. An explicit `""` means "no class"
//! and is kept.

use serde_json::Value;
use skiff_api::{Registry, ResourceInfo, Status};
use skiff_store::{ListOptions, Store};

use crate::objects;

/// The annotations that mark a default class (the beta one is still honoured upstream).
const DEFAULT_ANNOTATIONS: [&str; 2] = [
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
];

fn storage_classes() -> &'static ResourceInfo {
    static INFO: std::sync::LazyLock<ResourceInfo> = std::sync::LazyLock::new(|| {
        Registry::builtin()
            .by_plural("storage.k8s.io", "v1", "storageclasses")
            .cloned()
            .expect("storage classes are a built-in resource")
    });
    &INFO
}

/// The default among `classes`: marked default, newest first, then by name (upstream picks
/// the newest when several are marked).
pub fn pick(classes: &[Value]) -> Option<String> {
    classes
        .iter()
        .filter(|c| {
            DEFAULT_ANNOTATIONS
                .iter()
                .any(|a| c["metadata"]["annotations"][a] == "true")
        })
        .max_by(|a, b| {
            let key = |c: &Value| {
                (
                    c["metadata"]["creationTimestamp"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    std::cmp::Reverse(
                        c["metadata"]["name"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                    ),
                )
            };
            key(a).cmp(&key(b))
        })
        .and_then(|c| c["metadata"]["name"].as_str().map(str::to_string))
}

/// Sets `spec.storageClassName` of a new claim that has none to the default class, if any.
pub async fn apply(store: &dyn Store, claim: &mut Value) -> Result<(), Status> {
    if !claim["spec"]["storageClassName"].is_null() {
        return Ok(());
    }
    let info = storage_classes();
    let listed = store
        .list(&info.key_prefix(), ListOptions::default())
        .await
        .map_err(|e| objects::store_error(e, info, ""))?;
    let classes: Vec<Value> = listed
        .items
        .iter()
        .map(objects::decode)
        .collect::<Result<_, _>>()?;
    if let Some(name) = pick(&classes)
        && let Some(spec) = claim.get_mut("spec").and_then(Value::as_object_mut)
    {
        spec.insert("storageClassName".into(), Value::String(name));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn class(name: &str, created: &str, default: bool) -> Value {
        let annotations = if default {
            json!({"storageclass.kubernetes.io/is-default-class": "true"})
        } else {
            json!({})
        };
        json!({"metadata": {"name": name, "creationTimestamp": created, "annotations": annotations}})
    }

    #[test]
    fn the_newest_class_marked_default_is_the_default() {
        let classes = [
            class("old", "2024-01-01T00:00:00Z", true),
            class("plain", "2025-01-01T00:00:00Z", false),
            class("new", "2024-06-01T00:00:00Z", true),
        ];
        assert_eq!(pick(&classes).as_deref(), Some("new"));
        assert_eq!(pick(&classes[1..2]), None);
    }

    #[tokio::test]
    async fn claims_without_a_class_get_the_default_and_an_empty_class_stays_empty() {
        let dir = tempfile::tempdir().unwrap();
        let store = skiff_store::EmbeddedStore::open(skiff_store::EmbeddedConfig::new(
            dir.path().join("db"),
        ))
        .unwrap();
        let mut claim = json!({"spec": {"accessModes": ["ReadWriteOnce"]}});
        apply(&store, &mut claim).await.unwrap();
        assert!(claim["spec"]["storageClassName"].is_null());
        let fast = class("fast", "2024-01-01T00:00:00Z", true);
        store
            .create(&storage_classes().key(None, "fast"), objects::encode(&fast))
            .await
            .unwrap();
        apply(&store, &mut claim).await.unwrap();
        assert_eq!(claim["spec"]["storageClassName"], "fast");
        let mut none = json!({"spec": {"storageClassName": ""}});
        apply(&store, &mut none).await.unwrap();
        assert_eq!(none["spec"]["storageClassName"], "");
    }
}
