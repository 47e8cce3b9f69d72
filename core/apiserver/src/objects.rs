//! Reading and writing objects in the store: JSON encoding, `resourceVersion` from the
//! store revision, and store errors as API `Status`es.

use serde_json::Value;
use skiff_api::{ResourceInfo, Status, meta};
use skiff_store::{KeyValue, Revision, Store};

/// Decodes a stored object and sets its `resourceVersion` to the key's `mod_revision`.
pub fn decode(kv: &KeyValue) -> Result<Value, Status> {
    let mut v: Value = serde_json::from_slice(&kv.value)
        .map_err(|e| Status::internal(format!("stored object {} is not JSON: {e}", kv.key)))?;
    meta::set_resource_version(&mut v, kv.mod_revision);
    Ok(v)
}

/// Encodes an object for the store; the `resourceVersion` is not stored (the store's
/// revision is the truth).
pub fn encode(obj: &Value) -> Vec<u8> {
    serde_json::to_vec(&Unversioned(obj)).unwrap_or_default()
}

/// An object serialized without `metadata.resourceVersion`, written by hand (serde_json
/// cannot leave a key out): copying every stored object to remove one key cost more.
struct Unversioned<'a>(&'a Value);

/// A map serialized without one key.
struct Without<'a>(&'a serde_json::Map<String, Value>, &'a str);

impl serde::Serialize for Without<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut out = s.serialize_map(None)?;
        for (k, v) in self.0.iter().filter(|(k, _)| k.as_str() != self.1) {
            out.serialize_entry(k, v)?;
        }
        out.end()
    }
}

impl serde::Serialize for Unversioned<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let Some(map) = self.0.as_object() else {
            return self.0.serialize(s);
        };
        let mut out = s.serialize_map(Some(map.len()))?;
        for (k, v) in map {
            match v.as_object() {
                Some(meta) if k == "metadata" => {
                    out.serialize_entry(k, &Without(meta, "resourceVersion"))?
                }
                _ => out.serialize_entry(k, v)?,
            }
        }
        out.end()
    }
}

/// Maps a store failure on one object to the upstream error.
pub fn store_error(e: skiff_store::Error, info: &ResourceInfo, name: &str) -> Status {
    use skiff_store::Error as E;
    match e {
        E::NotFound(_) => Status::not_found(&info.group, &info.plural, name),
        E::AlreadyExists(_) => Status::already_exists(&info.group, &info.plural, name),
        E::Conflict { .. } => Status::conflict(
            &info.group,
            &info.plural,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        ),
        E::Compacted { requested, oldest } => {
            Status::gone(format!("too old resource version: {requested} ({oldest})"))
        }
        E::Backend { message, .. } => Status::internal(message),
    }
}

/// Reads one object with its revision; 404 when absent.
pub async fn get(
    store: &dyn Store,
    info: &ResourceInfo,
    namespace: Option<&str>,
    name: &str,
) -> Result<(Value, Revision), Status> {
    let key = info.key(namespace, name);
    match store.get(&key).await {
        Ok(Some(kv)) => Ok((with_type(decode(&kv)?, info), kv.mod_revision)),
        Ok(None) => Err(Status::not_found(&info.group, &info.plural, name)),
        Err(e) => Err(store_error(e, info, name)),
    }
}

/// Sets `apiVersion` and `kind` to those of the resource version being served (custom
/// resources keep one stored copy for all their versions).
pub fn with_type(mut obj: Value, info: &ResourceInfo) -> Value {
    if let Some(m) = obj.as_object_mut() {
        m.insert("apiVersion".into(), Value::String(info.api_version()));
        m.insert("kind".into(), Value::String(info.kind.clone()));
    }
    obj
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn stored_objects_leave_out_their_resource_version_only() {
        let obj = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "resourceVersion": "12", "labels": {"resourceVersion": "x"}},
            "spec": {"resourceVersion": "kept"}});
        let stored: Value = serde_json::from_slice(&encode(&obj)).unwrap();
        let mut expected = obj.clone();
        expected["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("resourceVersion");
        assert_eq!(stored, expected);
        // Key order is kept: the stored bytes are what serializing the stripped copy gives.
        assert_eq!(encode(&obj), serde_json::to_vec(&expected).unwrap());
        let plain = json!({"metadata": {"name": "p"}});
        assert_eq!(encode(&plain), serde_json::to_vec(&plain).unwrap());
    }
}
