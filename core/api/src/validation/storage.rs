//! PersistentVolumeClaim, PersistentVolume and StorageClass checks.

use serde_json::Value;

use super::field::{self, Path};
use super::pod::{check_enum, quantity_text};
use super::{as_array, quantity, str_of};
use crate::status::StatusCause;

const ACCESS_MODES: [&str; 4] = [
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOnce",
    "ReadWriteOncePod",
];

/// The volume sources a PersistentVolume may name (exactly one).
const PV_SOURCES: [&str; 22] = [
    "awsElasticBlockStore",
    "azureDisk",
    "azureFile",
    "cephfs",
    "cinder",
    "csi",
    "fc",
    "flexVolume",
    "flocker",
    "gcePersistentDisk",
    "glusterfs",
    "hostPath",
    "iscsi",
    "local",
    "nfs",
    "photonPersistentDisk",
    "portworxVolume",
    "quobyte",
    "rbd",
    "scaleIO",
    "storageos",
    "vsphereVolume",
];

fn check_access_modes(spec: &Value, path: &Path, causes: &mut Vec<StatusCause>) {
    let modes = as_array(spec.get("accessModes"));
    if modes.is_empty() {
        causes.push(field::required(
            &path.child("accessModes"),
            "at least 1 access mode is required",
        ));
    }
    for m in modes {
        check_enum(m, &path.child("accessModes"), &ACCESS_MODES, causes);
    }
}

/// Checks `storage` in a resource map is present and a positive quantity.
fn check_storage(map: Option<&Value>, path: &Path, causes: &mut Vec<StatusCause>) {
    let p = path.key("storage");
    let Some(v) = map.and_then(|m| m.get("storage")).filter(|v| !v.is_null()) else {
        causes.push(field::required(&p, ""));
        return;
    };
    let Some(text) = quantity_text(v) else {
        causes.push(field::invalid(&p, v, "must be a quantity"));
        return;
    };
    match quantity::parse(&text) {
        Ok(q) if q.nanos() <= 0 => {
            causes.push(field::invalid_str(&p, &text, "must be greater than zero"))
        }
        Ok(_) => {}
        Err(e) => causes.push(field::invalid_str(&p, &text, &e.to_string())),
    }
}

/// Validates a PVC spec (also used for StatefulSet `volumeClaimTemplates`).
pub fn validate_claim_spec(spec: &Value, path: &Path) -> Vec<StatusCause> {
    let mut causes = Vec::new();
    check_access_modes(spec, path, &mut causes);
    check_storage(
        spec.pointer("/resources/requests"),
        &path.child("resources"),
        &mut causes,
    );
    if let Some(m) = spec.get("volumeMode").filter(|v| !v.is_null()) {
        check_enum(
            m,
            &path.child("volumeMode"),
            &["Block", "Filesystem"],
            &mut causes,
        );
    }
    causes
}

pub fn validate_claim(obj: &Value) -> Vec<StatusCause> {
    validate_claim_spec(obj.get("spec").unwrap_or(&Value::Null), &Path::new("spec"))
}

pub fn validate_volume(obj: &Value) -> Vec<StatusCause> {
    let mut causes = Vec::new();
    let path = Path::new("spec");
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    check_access_modes(spec, &path, &mut causes);
    check_storage(spec.get("capacity"), &path.child("capacity"), &mut causes);
    if let Some(p) = spec
        .get("persistentVolumeReclaimPolicy")
        .filter(|v| !v.is_null())
    {
        check_enum(
            p,
            &path.child("persistentVolumeReclaimPolicy"),
            &["Delete", "Recycle", "Retain"],
            &mut causes,
        );
    }
    if let Some(m) = spec.get("volumeMode").filter(|v| !v.is_null()) {
        check_enum(
            m,
            &path.child("volumeMode"),
            &["Block", "Filesystem"],
            &mut causes,
        );
    }
    let sources = PV_SOURCES
        .iter()
        .filter(|s| spec.get(**s).is_some_and(|v| !v.is_null()))
        .count();
    match sources {
        0 => causes.push(field::required(&path, "must specify a volume type")),
        1 => {}
        _ => causes.push(field::forbidden(
            &path,
            "may not specify more than 1 volume type",
        )),
    }
    if let Some(hp) = spec.get("hostPath")
        && str_of(hp, "path").is_empty()
    {
        causes.push(field::required(&path.child("hostPath").child("path"), ""));
    }
    if let Some(csi) = spec.get("csi") {
        for key in ["driver", "volumeHandle"] {
            if str_of(csi, key).is_empty() {
                causes.push(field::required(&path.child("csi").child(key), ""));
            }
        }
    }
    causes
}

pub fn validate_storage_class(obj: &Value) -> Vec<StatusCause> {
    let mut causes = Vec::new();
    if str_of(obj, "provisioner").is_empty() {
        causes.push(field::required(&Path::new("provisioner"), ""));
    }
    if let Some(p) = obj.get("reclaimPolicy").filter(|v| !v.is_null()) {
        check_enum(
            p,
            &Path::new("reclaimPolicy"),
            &["Delete", "Retain"],
            &mut causes,
        );
    }
    if let Some(m) = obj.get("volumeBindingMode").filter(|v| !v.is_null()) {
        check_enum(
            m,
            &Path::new("volumeBindingMode"),
            &["Immediate", "WaitForFirstConsumer"],
            &mut causes,
        );
    }
    causes
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(causes: Vec<StatusCause>) -> Vec<String> {
        causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    #[test]
    fn claims_need_access_modes_and_a_storage_request() {
        assert!(validate_claim(&json!({"spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})).is_empty());
        assert_eq!(
            messages(validate_claim(&json!({"spec": {}}))),
            vec![
                "spec.accessModes: Required value: at least 1 access mode is required",
                "spec.resources[storage]: Required value",
            ]
        );
        assert_eq!(
            messages(validate_claim(
                &json!({"spec": {"accessModes": ["RWO"], "volumeMode": "Raw", "resources": {"requests": {"storage": "0"}}}})
            )),
            vec![
                "spec.accessModes: Unsupported value: \"RWO\": supported values: \"ReadOnlyMany\", \"ReadWriteMany\", \"ReadWriteOnce\", \"ReadWriteOncePod\"",
                "spec.resources[storage]: Invalid value: \"0\": must be greater than zero",
                "spec.volumeMode: Unsupported value: \"Raw\": supported values: \"Block\", \"Filesystem\"",
            ]
        );
    }

    #[test]
    fn volumes_need_capacity_and_exactly_one_source() {
        let ok = json!({"spec": {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "5Gi"}, "hostPath": {"path": "/data"}}});
        assert!(validate_volume(&ok).is_empty());
        assert_eq!(
            messages(validate_volume(
                &json!({"spec": {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "5Gi"}}})
            )),
            vec!["spec: Required value: must specify a volume type"]
        );
        assert_eq!(
            messages(validate_volume(
                &json!({"spec": {"accessModes": ["ReadWriteOnce"], "persistentVolumeReclaimPolicy": "Keep", "hostPath": {"path": "/a"}, "csi": {"driver": "d", "volumeHandle": "h"}}})
            )),
            vec![
                "spec.capacity[storage]: Required value",
                "spec.persistentVolumeReclaimPolicy: Unsupported value: \"Keep\": supported values: \"Delete\", \"Recycle\", \"Retain\"",
                "spec: Forbidden: may not specify more than 1 volume type",
            ]
        );
    }

    #[test]
    fn storage_classes_need_a_provisioner_and_known_modes() {
        assert!(
            validate_storage_class(&json!({"provisioner": "hostpath.csi.skiff.dev"})).is_empty()
        );
        assert_eq!(
            messages(validate_storage_class(
                &json!({"reclaimPolicy": "Recycle", "volumeBindingMode": "Later"})
            )),
            vec![
                "provisioner: Required value",
                "reclaimPolicy: Unsupported value: \"Recycle\": supported values: \"Delete\", \"Retain\"",
                "volumeBindingMode: Unsupported value: \"Later\": supported values: \"Immediate\", \"WaitForFirstConsumer\"",
            ]
        );
    }
}
