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
    if obj.pointer("/metadata/resourceVersion").is_none() {
        return serde_json::to_vec(obj).unwrap_or_default();
    }
    let mut v = obj.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
    }
    serde_json::to_vec(&v).unwrap_or_default()
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
