//! The PersistentVolume object for a volume the driver created, and the CreateVolume request
//! for a claim: pure functions of the claim, its StorageClass and the driver's answer.

use std::collections::HashMap;

use skiff_plugin_sdk::{Value, json};

use crate::driver::VolumeRequest;
use crate::quantity;

/// Annotation naming the driver that provisioned a PV (upstream's name).
pub const PROVISIONED_BY: &str = "pv.kubernetes.io/provisioned-by";
/// Finalizer that keeps a provisioned PV until its volume is deleted (upstream's name).
pub const FINALIZER: &str = "external-provisioner.volume.kubernetes.io/finalizer";
/// Class parameter prefix reserved for the provisioner itself, never passed to the driver.
const RESERVED_PREFIX: &str = "csi.storage.k8s.io/";

/// Why a claim cannot be provisioned.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("claim has no storage request")]
    NoRequest,
    #[error("claim's storage request is invalid")]
    Request(#[source] quantity::Error),
    #[error("volumeMode Block is not supported by this provisioner")]
    Block,
}

/// The PV name (and CSI volume name) for a claim: `pvc-<claim uid>`, as upstream.
pub fn volume_name(claim: &Value) -> String {
    format!(
        "pvc-{}",
        claim["metadata"]["uid"].as_str().unwrap_or_default()
    )
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The CreateVolume request for `claim` of `class`; `requisite` is the selected node's topology.
pub fn request(
    claim: &Value,
    class: &Value,
    requisite: Option<HashMap<String, String>>,
) -> Result<VolumeRequest, Error> {
    if claim["spec"]["volumeMode"].as_str() == Some("Block") {
        return Err(Error::Block);
    }
    let wanted = claim["spec"]["resources"]["requests"]["storage"]
        .as_str()
        .ok_or(Error::NoRequest)?;
    let required_bytes = quantity::parse_bytes(wanted).map_err(Error::Request)?;
    let mut parameters = HashMap::new();
    let mut fs_type = String::new();
    if let Some(params) = class["parameters"].as_object() {
        for (key, value) in params {
            let value = value.as_str().unwrap_or_default().to_string();
            if key == "csi.storage.k8s.io/fstype" {
                fs_type = value;
            } else if !key.starts_with(RESERVED_PREFIX) {
                parameters.insert(key.clone(), value);
            }
        }
    }
    Ok(VolumeRequest {
        name: volume_name(claim),
        required_bytes,
        access_modes: strings(&claim["spec"]["accessModes"]),
        fs_type,
        parameters,
        requisite,
    })
}

/// The PV for a created volume, pre-bound to `claim` through `claimRef`.
pub fn persistent_volume(
    claim: &Value,
    class: &Value,
    driver: &str,
    request: &VolumeRequest,
    volume: &skiff_hostpath::csi::v1::Volume,
) -> Value {
    let meta = &claim["metadata"];
    let bytes = if volume.capacity_bytes > 0 {
        volume.capacity_bytes
    } else {
        request.required_bytes
    };
    let mut csi = json!({
        "driver": driver,
        "volumeHandle": volume.volume_id,
        "volumeAttributes": volume.volume_context,
    });
    if !request.fs_type.is_empty() {
        csi["fsType"] = json!(request.fs_type);
    }
    let mut spec = json!({
        "capacity": { "storage": quantity::format_bytes(bytes) },
        "accessModes": claim["spec"]["accessModes"],
        "persistentVolumeReclaimPolicy": class["reclaimPolicy"].as_str().unwrap_or("Delete"),
        "storageClassName": class["metadata"]["name"],
        "volumeMode": "Filesystem",
        "claimRef": {
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"],
        },
        "csi": csi,
    });
    if let Some(options) = class.get("mountOptions").filter(|v| v.is_array()) {
        spec["mountOptions"] = options.clone();
    }
    let terms: Vec<Value> = volume
        .accessible_topology
        .iter()
        .filter(|t| !t.segments.is_empty())
        .map(|t| {
            let mut keys: Vec<_> = t.segments.iter().collect();
            keys.sort();
            let expressions: Vec<Value> = keys
                .into_iter()
                .map(|(k, v)| json!({"key": k, "operator": "In", "values": [v]}))
                .collect();
            json!({ "matchExpressions": expressions })
        })
        .collect();
    if !terms.is_empty() {
        spec["nodeAffinity"] = json!({ "required": { "nodeSelectorTerms": terms } });
    }
    json!({
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": request.name,
            "annotations": { PROVISIONED_BY: driver },
            "finalizers": [FINALIZER],
        },
        "spec": spec,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_hostpath::csi::v1::{Topology, Volume};

    fn claim() -> Value {
        json!({
            "metadata": {"name": "data", "namespace": "apps", "uid": "u-1", "resourceVersion": "7"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        })
    }

    fn class() -> Value {
        json!({
            "metadata": {"name": "fast"}, "provisioner": "hostpath.csi.skiff.dev",
            "reclaimPolicy": "Retain",
            "parameters": {"hardLimit": "false", "csi.storage.k8s.io/fstype": "ext4",
                           "csi.storage.k8s.io/provisioner-secret-name": "s"},
        })
    }

    #[test]
    fn the_request_carries_the_claim_size_and_only_the_driver_parameters() {
        let req = request(&claim(), &class(), None).unwrap();
        assert_eq!(req.name, "pvc-u-1");
        assert_eq!(req.required_bytes, 1 << 30);
        assert_eq!(req.fs_type, "ext4");
        assert_eq!(req.parameters.len(), 1);
        assert_eq!(req.parameters["hardLimit"], "false");
    }

    #[test]
    fn block_claims_and_claims_without_a_request_are_refused() {
        let mut block = claim();
        block["spec"]["volumeMode"] = json!("Block");
        assert!(matches!(request(&block, &class(), None), Err(Error::Block)));
        let mut empty = claim();
        empty["spec"]["resources"] = json!({});
        assert!(matches!(
            request(&empty, &class(), None),
            Err(Error::NoRequest)
        ));
    }

    #[test]
    fn the_volume_becomes_a_pv_bound_to_the_claim_with_its_topology() {
        let req = request(&claim(), &class(), None).unwrap();
        let volume = Volume {
            capacity_bytes: 2 << 30,
            volume_id: "vol-9".into(),
            accessible_topology: vec![Topology {
                segments: [(
                    "topology.hostpath.csi.skiff.dev/node".to_string(),
                    "n1".to_string(),
                )]
                .into(),
            }],
            ..Default::default()
        };
        let pv = persistent_volume(&claim(), &class(), "hostpath.csi.skiff.dev", &req, &volume);
        assert_eq!(pv["metadata"]["name"], "pvc-u-1");
        assert_eq!(
            pv["metadata"]["annotations"][PROVISIONED_BY],
            "hostpath.csi.skiff.dev"
        );
        assert_eq!(pv["spec"]["capacity"]["storage"], "2Gi");
        assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Retain");
        assert_eq!(pv["spec"]["claimRef"]["uid"], "u-1");
        assert_eq!(pv["spec"]["csi"]["volumeHandle"], "vol-9");
        assert_eq!(pv["spec"]["csi"]["fsType"], "ext4");
        let expr =
            &pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0];
        assert_eq!(expr["key"], "topology.hostpath.csi.skiff.dev/node");
        assert_eq!(expr["values"][0], "n1");
    }
}
