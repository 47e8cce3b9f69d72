//! Printers of storage kinds: persistent volumes and claims, storage classes, CSI drivers
//! and nodes, volume attachments.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::Printer;
use super::age::age;
use super::cells::{arr, bool_or, int, name, or, s, text};
use super::column::Column;

pub(super) fn printer(group: &str, kind: &str) -> Option<Printer> {
    let p = match (group, kind) {
        ("", "PersistentVolume") => Printer::new(
            vec![
                Column::name(),
                Column::new("Capacity", "The volume's storage capacity."),
                Column::new("Access Modes", "How the volume can be mounted."),
                Column::new(
                    "Reclaim Policy",
                    "What happens to the volume once released.",
                ),
                Column::new("Status", "The phase of the volume."),
                Column::new("Claim", "The claim bound to the volume."),
                Column::new("StorageClass", "The volume's storage class."),
                Column::new("VolumeAttributesClass", "The volume's attributes class."),
                Column::new("Reason", "Why the volume is in its phase."),
                Column::age(),
                Column::new("VolumeMode", "Filesystem or Block.").wide(),
            ],
            pv_row,
        ),
        ("", "PersistentVolumeClaim") => Printer::new(
            vec![
                Column::name(),
                Column::new("Status", "The phase of the claim."),
                Column::new("Volume", "The volume bound to the claim."),
                Column::new("Capacity", "The bound volume's capacity."),
                Column::new("Access Modes", "How the bound volume can be mounted."),
                Column::new("StorageClass", "The claim's storage class."),
                Column::new("VolumeAttributesClass", "The claim's attributes class."),
                Column::age(),
                Column::new("VolumeMode", "Filesystem or Block.").wide(),
            ],
            pvc_row,
        ),
        ("storage.k8s.io", "StorageClass") => Printer::new(
            vec![
                Column::name(),
                Column::new("Provisioner", "The driver provisioning volumes."),
                Column::new("ReclaimPolicy", "What happens to released volumes."),
                Column::new("VolumeBindingMode", "When volumes are bound to claims."),
                Column::new("AllowVolumeExpansion", "Whether volumes can grow."),
                Column::age(),
            ],
            storage_class_row,
        ),
        ("storage.k8s.io", "CSIDriver") => Printer::new(
            vec![
                Column::name(),
                Column::new("AttachRequired", "Whether volumes need an attach step."),
                Column::new("PodInfoOnMount", "Whether mounts receive pod information."),
                Column::new("StorageCapacity", "Whether capacity is reported."),
                Column::new("TokenRequests", "Service account tokens requested."),
                Column::new("RequiresRepublish", "Whether mounts are republished."),
                Column::new("Modes", "Volume lifecycle modes."),
                Column::age(),
            ],
            csi_driver_row,
        ),
        ("storage.k8s.io", "CSINode") => Printer::new(
            vec![
                Column::name(),
                Column::new("Drivers", "Number of CSI drivers on the node.").integer(),
                Column::age(),
            ],
            |n, now| {
                vec![
                    name(n),
                    int(arr(n, "/spec/drivers").len() as i64),
                    age(n, now),
                ]
            },
        ),
        ("storage.k8s.io", "VolumeAttachment") => Printer::new(
            vec![
                Column::name(),
                Column::new("Attacher", "The driver attaching the volume."),
                Column::new("PV", "The attached persistent volume."),
                Column::new("Node", "The node the volume is attached to."),
                Column::new("Attached", "Whether the volume is attached."),
                Column::age(),
            ],
            |va, now| {
                vec![
                    name(va),
                    text(s(va, "/spec/attacher")),
                    text(s(va, "/spec/source/persistentVolumeName")),
                    text(s(va, "/spec/nodeName")),
                    text(
                        if va.pointer("/status/attached").and_then(Value::as_bool) == Some(true) {
                            "true"
                        } else {
                            "false"
                        },
                    ),
                    age(va, now),
                ]
            },
        ),
        _ => return None,
    };
    Some(p)
}

/// `RWO,ROX,RWX,RWOP` in upstream's fixed order (`GetAccessModesAsString`).
pub fn access_modes(modes: &[Value]) -> String {
    let has = |m: &str| modes.iter().any(|v| v.as_str() == Some(m));
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(long, _)| has(long))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

fn quantity(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn storage_class_of(obj: &Value) -> String {
    match s(obj, "/spec/storageClassName") {
        "" => s(
            obj,
            "/metadata/annotations/volume.beta.kubernetes.io~1storage-class",
        )
        .to_string(),
        class => class.to_string(),
    }
}

fn terminating_or(obj: &Value, phase: &str) -> String {
    if obj.pointer("/metadata/deletionTimestamp").is_some() {
        "Terminating".to_string()
    } else {
        phase.to_string()
    }
}

fn pv_row(pv: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let claim = match pv.pointer("/spec/claimRef") {
        Some(c) => format!("{}/{}", s(c, "/namespace"), s(c, "/name")),
        None => String::new(),
    };
    vec![
        name(pv),
        text(quantity(pv.pointer("/spec/capacity/storage"))),
        text(access_modes(arr(pv, "/spec/accessModes"))),
        text(s(pv, "/spec/persistentVolumeReclaimPolicy")),
        text(terminating_or(pv, s(pv, "/status/phase"))),
        text(claim),
        text(storage_class_of(pv)),
        text(or(s(pv, "/spec/volumeAttributesClassName"), "<unset>")),
        text(s(pv, "/status/reason")),
        age(pv, now),
        text(or(s(pv, "/spec/volumeMode"), "<unset>")),
    ]
}

fn pvc_row(pvc: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let volume = s(pvc, "/spec/volumeName");
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (
            quantity(pvc.pointer("/status/capacity/storage")),
            access_modes(arr(pvc, "/status/accessModes")),
        )
    };
    vec![
        name(pvc),
        text(terminating_or(pvc, s(pvc, "/status/phase"))),
        text(volume),
        text(capacity),
        text(modes),
        text(storage_class_of(pvc)),
        text(or(s(pvc, "/spec/volumeAttributesClassName"), "<unset>")),
        age(pvc, now),
        text(or(s(pvc, "/spec/volumeMode"), "<unset>")),
    ]
}

fn storage_class_row(sc: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let annotation = |key: &str| {
        sc.pointer("/metadata/annotations")
            .and_then(|a| a.get(key))
            .and_then(Value::as_str)
            == Some("true")
    };
    let is_default = annotation("storageclass.kubernetes.io/is-default-class")
        || annotation("storageclass.beta.kubernetes.io/is-default-class");
    let display = if is_default {
        format!("{} (default)", s(sc, "/metadata/name"))
    } else {
        s(sc, "/metadata/name").to_string()
    };
    vec![
        text(display),
        text(s(sc, "/provisioner")),
        text(or(s(sc, "/reclaimPolicy"), "Delete")),
        text(or(s(sc, "/volumeBindingMode"), "Immediate")),
        text(
            if sc.get("allowVolumeExpansion").and_then(Value::as_bool) == Some(true) {
                "true"
            } else {
                "false"
            },
        ),
        age(sc, now),
    ]
}

fn csi_driver_row(d: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let tokens: Vec<String> = arr(d, "/spec/tokenRequests")
        .iter()
        .map(|t| or(s(t, "/audience"), "<unset>"))
        .collect();
    let modes: Vec<&str> = arr(d, "/spec/volumeLifecycleModes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let flag = |p: &str| bool_or(d.pointer(p), "false").to_ascii_lowercase();
    vec![
        name(d),
        text(flag("/spec/attachRequired")),
        text(flag("/spec/podInfoOnMount")),
        text(flag("/spec/storageCapacity")),
        text(or(&tokens.join(","), "<unset>")),
        text(flag("/spec/requiresRepublish")),
        text(or(&modes.join(","), "<none>")),
        age(d, now),
    ]
}
