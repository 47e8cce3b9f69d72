//! The object type the informers watch and scripts write through: the server's JSON,
//! decoded once, as the [`Value`] caches and scripts use.
//!
//! kube's `DynamicObject` flattens everything but the metadata into a map, which makes serde
//! buffer each object whole before decoding it, decodes the metadata into a typed struct
//! that is then turned back into JSON, and keeps `managedFields` nobody here reads. For every
//! change of every watched kind that was the informers' largest cost, and every script write
//! paid it twice (its object in, the server's answer out). This type reads the JSON straight
//! into a [`Value`] and writes it out as it is; the typed metadata kube's watcher needs (the
//! resourceVersion to resume from) is a small copy of a few fields.
//!
//! Written here because kube ships no resource type that keeps an object as plain JSON.

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::ApiResource;
use kube::core::DynamicResourceScope;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// One object as JSON; decoded without its `managedFields`.
#[derive(Clone, Debug)]
pub struct JsonObject {
    /// The object as the server sent it, less `metadata.managedFields`.
    pub value: Value,
    /// name, namespace, uid and resourceVersion, for kube's watcher.
    meta: ObjectMeta,
}

impl JsonObject {
    /// The object from its JSON (the metadata kube reads is copied out of it).
    pub fn new(value: Value) -> Self {
        let mut meta = ObjectMeta::default();
        if let Some(metadata) = value.get("metadata").and_then(Value::as_object) {
            let text = |key: &str| metadata.get(key).and_then(Value::as_str).map(str::to_owned);
            meta.name = text("name");
            meta.namespace = text("namespace");
            meta.uid = text("uid");
            meta.resource_version = text("resourceVersion");
        }
        JsonObject { value, meta }
    }

    /// The object, with `apiVersion` and `kind` filled in where the server left them out
    /// (list items may come without them; scripts expect them on every object).
    pub fn into_value(self, api_version: &str, kind: &str) -> Value {
        let mut value = self.value;
        if let Value::Object(map) = &mut value {
            for (key, default) in [("apiVersion", api_version), ("kind", kind)] {
                if !map.get(key).is_some_and(Value::is_string) {
                    map.insert(key.to_string(), Value::String(default.to_string()));
                }
            }
        }
        value
    }
}

impl<'de> Deserialize<'de> for JsonObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut value = Value::deserialize(deserializer)?;
        if !value.is_object() {
            return Err(serde::de::Error::custom("an object must be a JSON object"));
        }
        // Bookkeeping of the server's that no controller reads, often as big as the rest of
        // the object; an update without it keeps the stored one.
        if let Some(metadata) = value.get_mut("metadata").and_then(Value::as_object_mut) {
            metadata.remove("managedFields");
        }
        Ok(JsonObject::new(value))
    }
}

impl Serialize for JsonObject {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(serializer)
    }
}

impl kube::Resource for JsonObject {
    type DynamicType = ApiResource;
    type Scope = DynamicResourceScope;

    fn kind(dt: &ApiResource) -> Cow<'_, str> {
        dt.kind.as_str().into()
    }

    fn group(dt: &ApiResource) -> Cow<'_, str> {
        dt.group.as_str().into()
    }

    fn version(dt: &ApiResource) -> Cow<'_, str> {
        dt.version.as_str().into()
    }

    fn api_version(dt: &ApiResource) -> Cow<'_, str> {
        dt.api_version.as_str().into()
    }

    fn plural(dt: &ApiResource) -> Cow<'_, str> {
        dt.plural.as_str().into()
    }

    fn meta(&self) -> &ObjectMeta {
        &self.meta
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.meta
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::ResourceExt;
    use serde_json::json;

    #[test]
    fn decoding_drops_managed_fields_and_copies_what_the_watcher_reads() {
        let obj: JsonObject = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"namespace": "a", "name": "p", "uid": "u1", "resourceVersion": "42",
                         "labels": {"app": "web"},
                         "managedFields": [{"manager": "m", "operation": "Update"}]},
            "spec": {"nodeName": "n1"}
        }))
        .unwrap();
        assert_eq!(obj.resource_version().as_deref(), Some("42"));
        assert_eq!(obj.name_any(), "p");
        assert_eq!(obj.namespace().as_deref(), Some("a"));
        assert_eq!(obj.uid().as_deref(), Some("u1"));
        assert_eq!(
            obj.into_value("v1", "Pod"),
            json!({"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"namespace": "a", "name": "p", "uid": "u1",
                                "resourceVersion": "42", "labels": {"app": "web"}},
                   "spec": {"nodeName": "n1"}})
        );
    }

    #[test]
    fn list_items_without_their_type_get_the_listed_kind() {
        let obj: JsonObject =
            serde_json::from_str(r#"{"metadata": {"name": "d"}, "spec": {"replicas": 2}}"#)
                .unwrap();
        assert_eq!(
            obj.into_value("apps/v1", "Deployment"),
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": "d"}, "spec": {"replicas": 2}})
        );
    }

    #[test]
    fn an_object_is_written_as_it_is() {
        let value = json!({"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": "c", "labels": {"a": "b"}}, "data": {"k": "v"}});
        let obj = JsonObject::new(value.clone());
        assert_eq!(serde_json::to_value(&obj).unwrap(), value);
    }

    #[test]
    fn anything_but_an_object_is_refused() {
        assert!(serde_json::from_str::<JsonObject>("[1, 2]").is_err());
        assert!(serde_json::from_str::<JsonObject>("\"pod\"").is_err());
    }
}
