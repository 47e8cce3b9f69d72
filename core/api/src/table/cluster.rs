//! Printers of cluster and configuration kinds: nodes, namespaces, events, config maps,
//! secrets, service accounts, pod templates, leases, RBAC bindings and priority classes.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::Printer;
use super::age::{age, since};
use super::cells::{arr, containers_and_images, format_labels, i, int, map, name, or, s, text};
use super::column::Column;

pub(super) fn printer(kind: &str) -> Option<Printer> {
    let p = match kind {
        "Node" => Printer::new(
            vec![
                Column::name(),
                Column::new("Status", "The node's readiness and schedulability."),
                Column::new("Roles", "Roles from the node-role.kubernetes.io labels."),
                Column::age(),
                Column::new("Version", "The kubelet's version."),
                Column::new("Internal-IP", "The node's internal address.").wide(),
                Column::new("External-IP", "The node's external address.").wide(),
                Column::new("OS-Image", "The node's operating system image.").wide(),
                Column::new("Kernel-Version", "The node's kernel version.").wide(),
                Column::new("Container-Runtime", "The node's container runtime.").wide(),
            ],
            node_row,
        ),
        "Namespace" => Printer::new(
            vec![
                Column::name(),
                Column::new("Status", "The phase of the namespace."),
                Column::age(),
            ],
            |ns, now| vec![name(ns), text(s(ns, "/status/phase")), age(ns, now)],
        ),
        "Event" => Printer::new(
            vec![
                Column::new("Last Seen", "Time since the event was last seen."),
                Column::new("Type", "The type of the event (Normal, Warning)."),
                Column::new("Reason", "Why the event happened."),
                Column::new("Object", "The object the event is about."),
                Column::new("Subobject", "The part of the object the event is about.").wide(),
                Column::new("Source", "The component that reported the event.").wide(),
                Column::new("Message", "A description of the event."),
                Column::new("First Seen", "Time since the event was first seen.").wide(),
                Column::new("Count", "How many times the event happened.")
                    .integer()
                    .wide(),
                Column::name().wide(),
            ],
            event_row,
        ),
        "ConfigMap" => Printer::new(
            vec![
                Column::name(),
                Column::new("Data", "Number of entries in data and binaryData.").integer(),
                Column::age(),
            ],
            |cm, now| {
                let count = map(cm, "/data").map_or(0, |m| m.len())
                    + map(cm, "/binaryData").map_or(0, |m| m.len());
                vec![name(cm), int(count as i64), age(cm, now)]
            },
        ),
        "Secret" => Printer::new(
            vec![
                Column::name(),
                Column::new("Type", "The type of the secret."),
                Column::new("Data", "Number of entries in data.").integer(),
                Column::age(),
            ],
            |sec, now| {
                let count = map(sec, "/data").map_or(0, |m| m.len());
                vec![
                    name(sec),
                    text(or(s(sec, "/type"), "Opaque")),
                    int(count as i64),
                    age(sec, now),
                ]
            },
        ),
        "ServiceAccount" => Printer::new(
            vec![
                Column::name(),
                Column::new("Secrets", "Number of secrets listed by the account.").integer(),
                Column::age(),
            ],
            |sa, now| {
                vec![
                    name(sa),
                    int(arr(sa, "/secrets").len() as i64),
                    age(sa, now),
                ]
            },
        ),
        "PodTemplate" => Printer::new(
            vec![
                Column::name(),
                Column::new("Containers", "Names of each container in the template."),
                Column::new("Images", "Images referenced by each container."),
                Column::new("Pod Labels", "Labels of the template's pods."),
            ],
            |pt, _| {
                let (containers, images) = containers_and_images(pt.pointer("/template/spec"));
                vec![
                    name(pt),
                    text(containers),
                    text(images),
                    text(format_labels(map(pt, "/template/metadata/labels"))),
                ]
            },
        ),
        _ => return None,
    };
    Some(p)
}

/// Printers of kinds in the coordination, RBAC and scheduling groups.
pub(super) fn printer_grouped(group: &str, kind: &str) -> Option<Printer> {
    let p = match (group, kind) {
        ("coordination.k8s.io", "Lease") => Printer::new(
            vec![
                Column::name(),
                Column::new("Holder", "The current holder of the lease."),
                Column::age(),
            ],
            |l, now| vec![name(l), text(s(l, "/spec/holderIdentity")), age(l, now)],
        ),
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => Printer::new(
            vec![
                Column::name(),
                Column::new("Role", "The role the binding grants."),
                Column::age(),
                Column::new("Users", "Users bound.").wide(),
                Column::new("Groups", "Groups bound.").wide(),
                Column::new("ServiceAccounts", "Service accounts bound.").wide(),
            ],
            binding_row,
        ),
        ("scheduling.k8s.io", "PriorityClass") => Printer::new(
            vec![
                Column::name(),
                Column::new("Value", "The priority of pods using the class.").integer(),
                Column::new(
                    "Global-Default",
                    "Whether pods without a class get this one.",
                ),
                Column::age(),
                Column::new("PreemptionPolicy", "Whether the class may preempt others.").wide(),
            ],
            |pc, now| {
                vec![
                    name(pc),
                    int(i(pc, "/value")),
                    text(
                        if pc.get("globalDefault").and_then(Value::as_bool) == Some(true) {
                            "true"
                        } else {
                            "false"
                        },
                    ),
                    age(pc, now),
                    text(or(s(pc, "/preemptionPolicy"), "PreemptLowerPriority")),
                ]
            },
        ),
        _ => return None,
    };
    Some(p)
}

/// `Ready`, `NotReady`, `Unknown`, with `,SchedulingDisabled` when cordoned.
pub fn node_status(node: &Value) -> String {
    let conditions = arr(node, "/status/conditions");
    let mut status = match conditions.iter().find(|c| s(c, "/type") == "Ready") {
        Some(c) if s(c, "/status") == "True" => vec!["Ready"],
        Some(_) => vec!["NotReady"],
        None => vec!["Unknown"],
    };
    if node.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push("SchedulingDisabled");
    }
    status.join(",")
}

/// Roles from `node-role.kubernetes.io/<role>` labels and the `kubernetes.io/role` label.
pub fn node_roles(node: &Value) -> String {
    let mut roles = BTreeSet::new();
    for (key, value) in map(node, "/metadata/labels").into_iter().flatten() {
        if let Some(role) = key.strip_prefix("node-role.kubernetes.io/") {
            if !role.is_empty() {
                roles.insert(role.to_string());
            }
        } else if key == "kubernetes.io/role"
            && let Some(v) = value.as_str().filter(|v| !v.is_empty())
        {
            roles.insert(v.to_string());
        }
    }
    if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.into_iter().collect::<Vec<_>>().join(",")
    }
}

fn node_address(node: &Value, type_: &str) -> String {
    arr(node, "/status/addresses")
        .iter()
        .find(|a| s(a, "/type") == type_)
        .map(|a| s(a, "/address").to_string())
        .unwrap_or_else(|| "<none>".to_string())
}

fn node_row(node: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let info = |field: &str| or(s(node, &format!("/status/nodeInfo/{field}")), "<unknown>");
    vec![
        name(node),
        text(node_status(node)),
        text(node_roles(node)),
        age(node, now),
        text(s(node, "/status/nodeInfo/kubeletVersion")),
        text(node_address(node, "InternalIP")),
        text(node_address(node, "ExternalIP")),
        text(info("osImage")),
        text(info("kernelVersion")),
        text(info("containerRuntimeVersion")),
    ]
}

fn event_row(ev: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let first = match ev.get("firstTimestamp").filter(|v| !v.is_null()) {
        Some(t) => since(Some(t), now),
        None => since(ev.get("eventTime"), now),
    };
    let mut last = match ev.get("lastTimestamp").filter(|v| !v.is_null()) {
        Some(t) => since(Some(t), now),
        None => first.clone(),
    };
    let mut count = i(ev, "/count");
    if let Some(series) = ev.get("series").filter(|v| v.is_object()) {
        last = since(series.get("lastObservedTime"), now);
        count = i(series, "/count");
    } else if count == 0 {
        count = 1;
    }
    let kind = s(ev, "/involvedObject/kind").to_ascii_lowercase();
    let target = match s(ev, "/involvedObject/name") {
        "" => kind,
        n => format!("{kind}/{n}"),
    };
    let component = or(s(ev, "/source/component"), s(ev, "/reportingComponent"));
    let host = or(s(ev, "/source/host"), s(ev, "/reportingInstance"));
    let source = if host.is_empty() {
        component
    } else {
        format!("{component}, {host}")
    };
    vec![
        text(last),
        text(s(ev, "/type")),
        text(s(ev, "/reason")),
        text(target),
        text(s(ev, "/involvedObject/fieldPath")),
        text(source),
        text(s(ev, "/message").trim()),
        text(first),
        int(count),
        name(ev),
    ]
}

fn binding_row(b: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let subjects = arr(b, "/subjects");
    let of_kind = |kind: &str| {
        subjects
            .iter()
            .filter(|sub| s(sub, "/kind") == kind)
            .map(|sub| match (kind, s(sub, "/namespace")) {
                ("ServiceAccount", ns) => format!("{ns}/{}", s(sub, "/name")),
                _ => s(sub, "/name").to_string(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    vec![
        name(b),
        text(format!(
            "{}/{}",
            s(b, "/roleRef/kind"),
            s(b, "/roleRef/name")
        )),
        age(b, now),
        text(of_kind("User")),
        text(of_kind("Group")),
        text(of_kind("ServiceAccount")),
    ]
}
