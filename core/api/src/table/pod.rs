//! The pod printer: READY, STATUS and RESTARTS computed the way upstream's `printPod` does.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::Printer;
use super::age::{age, human_duration, parse_time};
use super::cells::{arr, i, name, or_none, s, text};
use super::column::Column;

pub(super) fn printer(kind: &str) -> Option<Printer> {
    match kind {
        "Pod" => {
            let mut p = Printer::new(
                vec![
                    Column::name(),
                    Column::new(
                        "Ready",
                        "Ready containers of the pod over all its containers.",
                    ),
                    Column::new(
                        "Status",
                        "The aggregate status of the containers in this pod.",
                    ),
                    Column::new(
                        "Restarts",
                        "Restarts of the pod's containers, and how long ago the last one was.",
                    ),
                    Column::age(),
                    Column::new("IP", "The pod's first IP address.").wide(),
                    Column::new("Node", "The node the pod is bound to.").wide(),
                    Column::new(
                        "Nominated Node",
                        "The node preemption nominated for the pod.",
                    )
                    .wide(),
                    Column::new("Readiness Gates", "True readiness gates over all of them.").wide(),
                ],
                pod_row,
            );
            p.conditions = Some(pod_conditions);
            Some(p)
        }
        _ => None,
    }
}

/// The summary of a pod's containers that the READY, STATUS and RESTARTS cells show.
#[derive(Debug, PartialEq, Eq)]
pub struct PodSummary {
    pub ready: i64,
    pub total: i64,
    pub reason: String,
    pub restarts: i64,
    pub last_restart: Option<DateTime<Utc>>,
}

fn is_restartable_init(container: Option<&Value>) -> bool {
    container.is_some_and(|c| s(c, "/restartPolicy") == "Always")
}

fn last_terminated(status: &Value) -> Option<DateTime<Utc>> {
    status
        .pointer("/lastState/terminated/finishedAt")
        .and_then(Value::as_str)
        .and_then(parse_time)
}

fn later(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Computes READY, STATUS and RESTARTS like upstream's `printPod` (kubectl 1.32).
pub fn summarize(pod: &Value) -> PodSummary {
    let init_specs = arr(pod, "/spec/initContainers");
    let mut total = arr(pod, "/spec/containers").len() as i64;
    let mut ready = 0;
    let mut restarts = 0;
    let mut restartable_init_restarts = 0;
    let mut last_restart = None;
    let mut last_restartable_init_restart = None;

    let phase = s(pod, "/status/phase");
    let mut reason = match s(pod, "/status/reason") {
        "" => phase.to_string(),
        r => r.to_string(),
    };
    let conditions = arr(pod, "/status/conditions");
    if conditions
        .iter()
        .any(|c| s(c, "/type") == "PodScheduled" && s(c, "/reason") == "SchedulingGated")
    {
        reason = "SchedulingGated".to_string();
    }
    let init_spec = |name: &str| init_specs.iter().find(|c| s(c, "/name") == name);
    total += init_specs
        .iter()
        .filter(|c| is_restartable_init(Some(c)))
        .count() as i64;

    let mut initializing = false;
    for (idx, status) in arr(pod, "/status/initContainerStatuses").iter().enumerate() {
        restarts += i(status, "/restartCount");
        last_restart = later(last_restart, last_terminated(status));
        let restartable = is_restartable_init(init_spec(s(status, "/name")));
        if restartable {
            restartable_init_restarts += i(status, "/restartCount");
            last_restartable_init_restart =
                later(last_restartable_init_restart, last_terminated(status));
        }
        let terminated = status.pointer("/state/terminated");
        let waiting_reason = s(status, "/state/waiting/reason");
        if terminated.is_some_and(|t| i(t, "/exitCode") == 0) {
            continue;
        }
        if restartable && status.get("started").and_then(Value::as_bool) == Some(true) {
            if status.get("ready").and_then(Value::as_bool) == Some(true) {
                ready += 1;
            }
            continue;
        }
        if let Some(t) = terminated {
            reason = match s(t, "/reason") {
                "" if i(t, "/signal") != 0 => format!("Init:Signal:{}", i(t, "/signal")),
                "" => format!("Init:ExitCode:{}", i(t, "/exitCode")),
                r => format!("Init:{r}"),
            };
        } else if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            reason = format!("Init:{waiting_reason}");
        } else {
            reason = format!("Init:{idx}/{}", init_specs.len());
        }
        initializing = true;
        break;
    }

    let initialized = conditions
        .iter()
        .any(|c| s(c, "/type") == "Initialized" && s(c, "/status") == "True");
    if !initializing || initialized {
        restarts = restartable_init_restarts;
        last_restart = last_restartable_init_restart;
        let mut has_running = false;
        for status in arr(pod, "/status/containerStatuses").iter().rev() {
            restarts += i(status, "/restartCount");
            last_restart = later(last_restart, last_terminated(status));
            let waiting = s(status, "/state/waiting/reason");
            let terminated = status.pointer("/state/terminated");
            if !waiting.is_empty() {
                reason = waiting.to_string();
            } else if let Some(t) = terminated {
                reason = match s(t, "/reason") {
                    "" if i(t, "/signal") != 0 => format!("Signal:{}", i(t, "/signal")),
                    "" => format!("ExitCode:{}", i(t, "/exitCode")),
                    r => r.to_string(),
                };
            } else if status.get("ready").and_then(Value::as_bool) == Some(true)
                && status.pointer("/state/running").is_some()
            {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            let pod_ready = conditions
                .iter()
                .any(|c| s(c, "/type") == "Ready" && s(c, "/status") == "True");
            reason = if pod_ready { "Running" } else { "NotReady" }.to_string();
        }
    }

    let deleting = pod.pointer("/metadata/deletionTimestamp").is_some();
    if deleting && s(pod, "/status/reason") == "NodeLost" {
        reason = "Unknown".to_string();
    } else if deleting && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".to_string();
    }

    PodSummary {
        ready,
        total,
        reason,
        restarts,
        last_restart,
    }
}

fn pod_row(pod: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let summary = summarize(pod);
    let restarts = match summary.last_restart {
        Some(t) if summary.restarts != 0 => {
            format!("{} ({} ago)", summary.restarts, human_duration(now - t))
        }
        _ => summary.restarts.to_string(),
    };
    let ip = arr(pod, "/status/podIPs")
        .first()
        .map(|p| s(p, "/ip"))
        .unwrap_or_else(|| s(pod, "/status/podIP"));
    let gates = arr(pod, "/spec/readinessGates");
    let readiness = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let conditions = arr(pod, "/status/conditions");
        let true_gates = gates
            .iter()
            .filter(|g| {
                conditions
                    .iter()
                    .find(|c| s(c, "/type") == s(g, "/conditionType"))
                    .is_some_and(|c| s(c, "/status") == "True")
            })
            .count();
        format!("{true_gates}/{}", gates.len())
    };
    vec![
        name(pod),
        text(format!("{}/{}", summary.ready, summary.total)),
        text(summary.reason),
        text(restarts),
        age(pod, now),
        text(or_none(ip)),
        text(or_none(s(pod, "/spec/nodeName"))),
        text(or_none(s(pod, "/status/nominatedNodeName"))),
        text(readiness),
    ]
}

/// Finished pods carry a row condition, as upstream's printer sets them.
fn pod_conditions(pod: &Value) -> Option<Value> {
    match s(pod, "/status/phase") {
        "Succeeded" => Some(json!([{
            "type": "Completed",
            "status": "True",
            "reason": "Succeeded",
            "message": "The pod has completed successfully.",
        }])),
        "Failed" => Some(json!([{
            "type": "Completed",
            "status": "True",
            "reason": "Failed",
            "message": "The pod failed.",
        }])),
        _ => None,
    }
}
