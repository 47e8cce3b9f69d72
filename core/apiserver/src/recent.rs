//! The objects this server wrote last, decoded, for the read-modify-writes that follow.
//!
//! Most writes read the object first: a binding, a status patch, a controller's update of the
//! object it just created. They come within milliseconds of the write before them, and
//! decoding the stored bytes again (and dropping the result) was a tenth of the server's work
//! on a placed pod. An entry is used only at the revision it holds, so the store stays the
//! truth: a newer write, made here or by another server on the same etcd, is read as before.
//!
//! Hand-written because what is needed is small: a direct-mapped table (each key has one
//! slot, a newer key in the slot evicts the older) costs one hash and one uncontended lock
//! per lookup and bounds the memory held without any bookkeeping of use.

use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use skiff_api::ResourceInfo;
use skiff_store::Revision;

/// Slots in the table: a quarter of a second of a busy server's writes (a pod's binding and
/// status follow its creation within tens of milliseconds), some 20 MiB of pods. Twice as
/// many, with every read kept too, added 40–55 MiB to the scheduler benchmark's peak.
const SLOTS: usize = 1024;

struct Entry {
    key: String,
    revision: Revision,
    object: Arc<Value>,
}

/// Decoded objects by store key and revision.
pub struct Recent {
    slots: Box<[Mutex<Option<Entry>>]>,
    hasher: RandomState,
}

impl Default for Recent {
    fn default() -> Self {
        Self::with_slots(SLOTS)
    }
}

impl Recent {
    fn with_slots(n: usize) -> Self {
        Self {
            slots: (0..n.max(1)).map(|_| Mutex::new(None)).collect(),
            hasher: RandomState::new(),
        }
    }

    fn slot(&self, key: &str) -> &Mutex<Option<Entry>> {
        let i = self.hasher.hash_one(key) as usize % self.slots.len();
        &self.slots[i]
    }

    /// The object at `key` as of `revision`, typed as `info` serves it, if held.
    pub fn get(&self, key: &str, revision: Revision, info: &ResourceInfo) -> Option<Arc<Value>> {
        let slot = self.slot(key).lock().unwrap_or_else(|e| e.into_inner());
        let entry = slot.as_ref()?;
        (entry.revision == revision && entry.key == key && is_typed_as(&entry.object, info))
            .then(|| entry.object.clone())
    }

    /// Remembers `object` as the value of `key` at `revision`.
    pub fn put(&self, key: &str, revision: Revision, object: Arc<Value>) {
        let evicted = {
            let mut slot = self.slot(key).lock().unwrap_or_else(|e| e.into_inner());
            match slot.as_mut() {
                // Writes racing each other: an older one must not replace a newer one.
                Some(e) if e.key == key && e.revision > revision => return,
                Some(e) if e.key == key => {
                    e.revision = revision;
                    Some(std::mem::replace(&mut e.object, object))
                }
                _ => slot
                    .replace(Entry {
                        key: key.to_owned(),
                        revision,
                        object,
                    })
                    .map(|e| e.object),
            }
        };
        // The replaced object is dropped outside the lock.
        drop(evicted);
    }
}

/// Whether `obj` carries the `apiVersion` and `kind` `info` serves (a custom resource's
/// versions share one stored copy).
fn is_typed_as(obj: &Value, info: &ResourceInfo) -> bool {
    obj.get("kind").and_then(Value::as_str) == Some(info.kind.as_str())
        && obj
            .get("apiVersion")
            .and_then(Value::as_str)
            .is_some_and(|v| match v.split_once('/') {
                Some((group, version)) => group == info.group && version == info.version,
                None => info.group.is_empty() && v == info.version,
            })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod_info() -> ResourceInfo {
        skiff_api::Registry::builtin()
            .by_kind("v1", "Pod")
            .unwrap()
            .clone()
    }

    fn pod(name: &str) -> Arc<Value> {
        Arc::new(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}}))
    }

    #[test]
    fn an_object_is_served_only_at_its_revision() {
        let recent = Recent::default();
        let info = pod_info();
        recent.put("/registry/pods/default/a", 5, pod("a"));
        assert!(recent.get("/registry/pods/default/a", 5, &info).is_some());
        assert!(recent.get("/registry/pods/default/a", 6, &info).is_none());
        assert!(recent.get("/registry/pods/default/b", 5, &info).is_none());
    }

    #[test]
    fn an_older_revision_does_not_replace_a_newer_one() {
        let recent = Recent::default();
        let info = pod_info();
        recent.put("/registry/pods/default/a", 7, pod("new"));
        recent.put("/registry/pods/default/a", 5, pod("old"));
        assert!(recent.get("/registry/pods/default/a", 5, &info).is_none());
        let held = recent.get("/registry/pods/default/a", 7, &info).unwrap();
        assert_eq!(held["metadata"]["name"], "new");
    }

    #[test]
    fn a_key_sharing_a_slot_evicts_the_one_before() {
        let recent = Recent::with_slots(1);
        let info = pod_info();
        recent.put("/registry/pods/default/a", 5, pod("a"));
        recent.put("/registry/pods/default/b", 6, pod("b"));
        assert!(recent.get("/registry/pods/default/a", 5, &info).is_none());
        assert!(recent.get("/registry/pods/default/b", 6, &info).is_some());
    }

    #[test]
    fn an_object_of_another_served_version_is_not_used() {
        let recent = Recent::default();
        let info = pod_info();
        let other = Arc::new(json!({"apiVersion": "v2", "kind": "Pod", "metadata": {}}));
        recent.put("/registry/pods/default/a", 5, other);
        assert!(recent.get("/registry/pods/default/a", 5, &info).is_none());
        let deployments = skiff_api::Registry::builtin()
            .by_kind("apps/v1", "Deployment")
            .unwrap()
            .clone();
        let d = Arc::new(json!({"apiVersion": "apps/v1", "kind": "Deployment"}));
        recent.put("/registry/deployments/default/d", 3, d);
        assert!(
            recent
                .get("/registry/deployments/default/d", 3, &deployments)
                .is_some()
        );
    }
}
