//! The storage objects the scheduler consults for volume placement: PersistentVolumeClaims,
//! PersistentVolumes and StorageClasses, kept from watches, plus the scheduler's own
//! not-yet-confirmed writes (a selected node on a claim, a claim reference on a volume), so the
//! next pod sees them before the watch brings them back.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{
    ObjectReference, PersistentVolume, PersistentVolumeClaim, PersistentVolumeClaimSpec,
};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::runtime::watcher::Event;

/// The annotation the scheduler sets on a `WaitForFirstConsumer` claim once it picked the node
/// of the claim's first pod (upstream's name); provisioners create the volume for that node.
pub const SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";

/// One kind of object by key, with the list being received while a watch (re)lists.
#[derive(Debug)]
pub struct Mirror<K> {
    pub items: HashMap<String, Arc<K>>,
    relist: Option<HashMap<String, Arc<K>>>,
    pub synced: bool,
}

impl<K> Default for Mirror<K> {
    fn default() -> Self {
        Mirror {
            items: HashMap::new(),
            relist: None,
            synced: false,
        }
    }
}

impl<K: kube::Resource> Mirror<K> {
    /// Applies one watch event; returns whether the objects changed.
    pub fn apply(&mut self, event: Event<K>) -> bool {
        match event {
            Event::Init => {
                self.relist = Some(HashMap::new());
                false
            }
            Event::InitApply(obj) => {
                let key = key_of(&obj);
                match &mut self.relist {
                    Some(list) => {
                        list.insert(key, Arc::new(obj));
                    }
                    None => {
                        self.items.insert(key, Arc::new(obj));
                    }
                }
                false
            }
            Event::InitDone => {
                if let Some(list) = self.relist.take() {
                    self.items = list;
                }
                self.synced = true;
                true
            }
            Event::Apply(obj) => {
                self.items.insert(key_of(&obj), Arc::new(obj));
                true
            }
            Event::Delete(obj) => self.items.remove(&key_of(&obj)).is_some(),
        }
    }
}

/// `namespace/name` for namespaced objects, `name` otherwise.
fn key_of<K: kube::Resource>(obj: &K) -> String {
    let meta = obj.meta();
    let name = meta.name.clone().unwrap_or_default();
    match &meta.namespace {
        Some(ns) => format!("{ns}/{name}"),
        None => name,
    }
}

/// Claims by `namespace/name`, volumes and classes by name.
#[derive(Debug, Default)]
pub struct Volumes {
    pub claims: Mirror<PersistentVolumeClaim>,
    pub volumes: Mirror<PersistentVolume>,
    pub classes: Mirror<StorageClass>,
}

impl Volumes {
    pub fn claim(&self, namespace: &str, name: &str) -> Option<&Arc<PersistentVolumeClaim>> {
        self.claims.items.get(&format!("{namespace}/{name}"))
    }

    /// Whether every kind has been listed once.
    pub fn synced(&self) -> bool {
        self.claims.synced && self.volumes.synced && self.classes.synced
    }

    /// Records that the scheduler selected `node` for the claim (before the API confirms it).
    pub fn assume_selected_node(&mut self, key: &str, node: &str) {
        if let Some(claim) = self.claims.items.get_mut(key) {
            let claim = Arc::make_mut(claim);
            claim
                .metadata
                .annotations
                .get_or_insert_with(Default::default)
                .insert(SELECTED_NODE.to_string(), node.to_string());
        }
    }

    /// Records that the scheduler reserved volume `pv` for `claim` (before the API confirms it).
    pub fn assume_claim_ref(&mut self, pv: &str, claim: &PersistentVolumeClaim) {
        if let Some(volume) = self.volumes.items.get_mut(pv) {
            Arc::make_mut(volume)
                .spec
                .get_or_insert_with(Default::default)
                .claim_ref = Some(claim_ref(claim));
        }
    }
}

/// The reference a volume reserved for `claim` carries in `spec.claimRef`.
pub fn claim_ref(claim: &PersistentVolumeClaim) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("PersistentVolumeClaim".into()),
        namespace: claim.metadata.namespace.clone(),
        name: claim.metadata.name.clone(),
        uid: claim.metadata.uid.clone(),
        ..Default::default()
    }
}

/// The claim's class: `spec.storageClassName`, or the older beta annotation.
pub fn class_name(claim: &PersistentVolumeClaim) -> String {
    let spec: Option<&PersistentVolumeClaimSpec> = claim.spec.as_ref();
    spec.and_then(|s| s.storage_class_name.clone())
        .or_else(|| {
            claim
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("volume.beta.kubernetes.io/storage-class").cloned())
        })
        .unwrap_or_default()
}

/// The node a scheduler already selected for the claim, if any.
pub fn selected_node(claim: &PersistentVolumeClaim) -> Option<&str> {
    claim
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(SELECTED_NODE))
        .map(String::as_str)
        .filter(|n| !n.is_empty())
}
