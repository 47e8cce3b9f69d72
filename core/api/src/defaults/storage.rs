//! PersistentVolume, PersistentVolumeClaim and StorageClass defaults.

use serde_json::Value;

use super::{child, root, set};

pub fn volume(obj: &mut Value) {
    let map = root(obj);
    if let Some(spec) = child(map, "spec") {
        set(spec, "persistentVolumeReclaimPolicy", "Retain");
        set(spec, "volumeMode", "Filesystem");
        if let Some(h) = spec.get_mut("hostPath").and_then(Value::as_object_mut) {
            set(h, "type", "");
        }
    }
    if let Some(status) = child(map, "status") {
        set(status, "phase", "Pending");
    }
}

pub fn claim(obj: &mut Value) {
    let map = root(obj);
    if let Some(spec) = child(map, "spec") {
        set(spec, "volumeMode", "Filesystem");
    }
    if let Some(status) = child(map, "status") {
        set(status, "phase", "Pending");
    }
}

pub fn storage_class(obj: &mut Value) {
    let map = root(obj);
    set(map, "reclaimPolicy", "Delete");
    set(map, "volumeBindingMode", "Immediate");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn volumes_are_retained_filesystems_pending_binding() {
        let mut pv = json!({"spec": {"capacity": {"storage": "1Gi"}, "hostPath": {"path": "/d"}}});
        volume(&mut pv);
        assert_eq!(
            pv,
            json!({"spec": {"capacity": {"storage": "1Gi"}, "hostPath": {"path": "/d", "type": ""},
            "persistentVolumeReclaimPolicy": "Retain", "volumeMode": "Filesystem"}, "status": {"phase": "Pending"}})
        );
        let mut pv = json!({"spec": {"persistentVolumeReclaimPolicy": "Delete"}, "status": {"phase": "Bound"}});
        volume(&mut pv);
        assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Delete");
        assert_eq!(pv["status"]["phase"], "Bound");
    }

    #[test]
    fn claims_are_filesystems_pending_binding() {
        let mut pvc = json!({"spec": {"accessModes": ["ReadWriteOnce"]}});
        claim(&mut pvc);
        assert_eq!(pvc["spec"]["volumeMode"], "Filesystem");
        assert_eq!(pvc["status"]["phase"], "Pending");
    }

    #[test]
    fn storage_classes_delete_and_bind_immediately() {
        let mut sc = json!({"provisioner": "p", "volumeBindingMode": "WaitForFirstConsumer"});
        storage_class(&mut sc);
        assert_eq!(sc["reclaimPolicy"], "Delete");
        assert_eq!(sc["volumeBindingMode"], "WaitForFirstConsumer");
    }
}
