//! Reading and writing objects in the store: JSON encoding, `resourceVersion` from the
//! store revision, and store errors as API `Status`es.

use std::sync::Arc;

use serde_json::Value;
use serde_json::value::RawValue;
use skiff_api::{ResourceInfo, Status, meta};
use skiff_store::{KeyValue, Revision};

use crate::state::ApiState;

/// Decodes a stored object and sets its `resourceVersion` to the key's `mod_revision`.
pub fn decode(kv: &KeyValue) -> Result<Value, Status> {
    let mut v: Value = serde_json::from_slice(&kv.value)
        .map_err(|e| Status::internal(format!("stored object {} is not JSON: {e}", kv.key)))?;
    meta::set_resource_version(&mut v, kv.mod_revision);
    Ok(v)
}

/// The object as served, with its `resourceVersion` and the `apiVersion` and `kind` of
/// `info`, spliced from the stored bytes: the members are copied as they are, so nothing is
/// decoded but the names of the top-level and `metadata` members. `lean` leaves out
/// `metadata.managedFields`. `None` when the bytes are not an object with a `metadata`
/// object whose member names need no unescaping (then [`decode`] says what is wrong, or does
/// the general work).
pub fn served_json(kv: &KeyValue, info: &ResourceInfo, lean: bool) -> Option<Vec<u8>> {
    let top: Members = serde_json::from_slice(&kv.value).ok()?;
    let metadata = top.0.iter().find(|(k, _)| *k == "metadata")?.1;
    let metadata: Members = serde_json::from_str(metadata.get()).ok()?;
    let mut out = Vec::with_capacity(kv.value.len() + 64);
    out.extend_from_slice(b"{\"apiVersion\":");
    serde_json::to_writer(&mut out, &info.api_version()).ok()?;
    out.extend_from_slice(b",\"kind\":");
    serde_json::to_writer(&mut out, &info.kind).ok()?;
    for (name, value) in top
        .0
        .iter()
        .filter(|(k, _)| !matches!(*k, "apiVersion" | "kind"))
    {
        out.push(b',');
        serde_json::to_writer(&mut out, name).ok()?;
        out.push(b':');
        if *name != "metadata" {
            out.extend_from_slice(value.get().as_bytes());
            continue;
        }
        out.push(b'{');
        let skipped = |k: &str| k == "resourceVersion" || (lean && k == "managedFields");
        for (field, value) in metadata.0.iter().filter(|(k, _)| !skipped(k)) {
            serde_json::to_writer(&mut out, field).ok()?;
            out.push(b':');
            out.extend_from_slice(value.get().as_bytes());
            out.push(b',');
        }
        out.extend_from_slice(b"\"resourceVersion\":");
        serde_json::to_writer(&mut out, &kv.mod_revision.to_string()).ok()?;
        out.push(b'}');
    }
    out.push(b'}');
    Some(out)
}

/// The members of a JSON object in order, their values left as they are in the bytes.
struct Members<'a>(Vec<(&'a str, &'a RawValue)>);

impl<'de> serde::Deserialize<'de> for Members<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Members<'de>, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(member) = map.next_entry()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(Visit)
    }
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

/// Reads one object with its revision; 404 when absent. An object this server wrote at that
/// revision comes from its table of recent writes, shared: a caller that changes it works
/// on a copy (`Arc::unwrap_or_clone`). What is decoded here is not kept: an object read
/// long after its last write (a pod bound after a long wait) would only push out the
/// recent writes the next reads want.
pub async fn get(
    state: &ApiState,
    info: &ResourceInfo,
    namespace: Option<&str>,
    name: &str,
) -> Result<(Arc<Value>, Revision), Status> {
    let key = info.key(namespace, name);
    match state.store.get(&key).await {
        Ok(Some(kv)) => {
            if let Some(obj) = state.recent.get(&key, kv.mod_revision, info) {
                return Ok((obj, kv.mod_revision));
            }
            Ok((Arc::new(with_type(decode(&kv)?, info)), kv.mod_revision))
        }
        Ok(None) => Err(Status::not_found(&info.group, &info.plural, name)),
        Err(e) => Err(store_error(e, info, name)),
    }
}

/// Remembers what a write stored (`obj`, typed as served, with its `resourceVersion`) for
/// the reads that follow it.
pub fn written(state: &ApiState, key: &str, revision: Revision, obj: Value) -> Arc<Value> {
    let obj = Arc::new(obj);
    state.recent.put(key, revision, obj.clone());
    obj
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
    fn served_bytes_are_the_decoded_object_with_its_type() {
        let registry = skiff_api::Registry::builtin();
        let info = registry.by_kind("apps/v1", "Deployment").unwrap().clone();
        let objects = [
            json!({"apiVersion": "old/v0", "kind": "Old",
                "metadata": {"name": "d", "labels": {"a\"b": "c\\d"}, "generation": 3},
                "spec": {"replicas": 2, "template": {"metadata": {"resourceVersion": "x"}}},
                "status": {}}),
            json!({"metadata": {}, "data": [1, null, 2.5, "\u{e9}\n"]}),
            json!({"spec": true, "metadata": {"resourceVersion": "999", "uid": "u"}}),
            json!({"metadata": {"name": "m", "managedFields": [{"manager": "k"}]}, "spec": {}}),
        ];
        for obj in objects {
            let kv = KeyValue {
                key: "/registry/apps/deployments/default/d".into(),
                value: serde_json::to_vec(&obj).unwrap(),
                create_revision: 1,
                mod_revision: 42,
            };
            let served: Value =
                serde_json::from_slice(&served_json(&kv, &info, false).unwrap()).unwrap();
            let mut decoded = with_type(decode(&kv).unwrap(), &info);
            assert_eq!(served, decoded, "{obj}");
            let lean: Value =
                serde_json::from_slice(&served_json(&kv, &info, true).unwrap()).unwrap();
            decoded["metadata"]
                .as_object_mut()
                .unwrap()
                .remove("managedFields");
            assert_eq!(lean, decoded, "{obj}");
        }
        for bytes in [
            &b"[1]"[..],
            b"{\"spec\": 1}",
            b"{\"metadata\": 3}",
            b"{\"metadata\": {",
        ] {
            let kv = KeyValue {
                key: "k".into(),
                value: bytes.to_vec(),
                create_revision: 1,
                mod_revision: 1,
            };
            assert!(served_json(&kv, &info, false).is_none());
        }
    }

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
