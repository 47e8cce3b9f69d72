//! Printers of workload kinds: deployments, replica sets, stateful and daemon sets, jobs,
//! cron jobs, horizontal pod autoscalers, disruption budgets and controller revisions.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::Printer;
use super::age::{age, human_duration, parse_time, since};
use super::cells::{
    arr, bool_or, condition_true, containers_and_images, format_labels, format_selector, i, int,
    map, name, or, s, selector_string, text,
};
use super::column::Column;

fn containers_columns(selector: bool) -> Vec<Column> {
    let mut cols = vec![
        Column::new("Containers", "Names of each container in the template.").wide(),
        Column::new(
            "Images",
            "Images referenced by each container in the template.",
        )
        .wide(),
    ];
    if selector {
        cols.push(Column::new("Selector", "Label selector of the pods it manages.").wide());
    }
    cols
}

fn with(mut cols: Vec<Column>, more: Vec<Column>) -> Vec<Column> {
    cols.extend(more);
    cols
}

pub(super) fn printer(group: &str, kind: &str) -> Option<Printer> {
    let p = match (group, kind) {
        ("apps", "Deployment") => Printer::new(
            with(
                vec![
                    Column::name(),
                    Column::new("Ready", "Ready pods over desired pods."),
                    Column::new("Up-to-date", "Pods running the latest template.").integer(),
                    Column::new("Available", "Pods available to users.").integer(),
                    Column::age(),
                ],
                containers_columns(true),
            ),
            deployment_row,
        ),
        ("apps", "ReplicaSet") | ("", "ReplicationController") => Printer::new(
            with(
                vec![
                    Column::name(),
                    Column::new("Desired", "Number of desired pods.").integer(),
                    Column::new("Current", "Number of pods that exist.").integer(),
                    Column::new("Ready", "Number of ready pods.").integer(),
                    Column::age(),
                ],
                containers_columns(true),
            ),
            replica_set_row,
        ),
        ("apps", "StatefulSet") => Printer::new(
            with(
                vec![
                    Column::name(),
                    Column::new("Ready", "Ready pods over desired pods."),
                    Column::age(),
                ],
                containers_columns(false),
            ),
            stateful_set_row,
        ),
        ("apps", "DaemonSet") => Printer::new(
            with(
                vec![
                    Column::name(),
                    Column::new("Desired", "Nodes that should run the daemon pod.").integer(),
                    Column::new("Current", "Nodes running at least one daemon pod.").integer(),
                    Column::new("Ready", "Nodes with a ready daemon pod.").integer(),
                    Column::new("Up-to-date", "Nodes running the latest template.").integer(),
                    Column::new("Available", "Nodes with an available daemon pod.").integer(),
                    Column::new("Node Selector", "Nodes the daemon pods may run on."),
                    Column::age(),
                ],
                containers_columns(true),
            ),
            daemon_set_row,
        ),
        ("apps", "ControllerRevision") => Printer::new(
            vec![
                Column::name(),
                Column::new("Controller", "The object that owns this revision."),
                Column::new("Revision", "The revision number.").integer(),
                Column::age(),
            ],
            controller_revision_row,
        ),
        ("batch", "Job") => Printer::new(
            with(
                vec![
                    Column::name(),
                    Column::new("Status", "The status of the job."),
                    Column::new("Completions", "Succeeded pods over desired completions."),
                    Column::new("Duration", "Time the job took (or has taken) to complete."),
                    Column::age(),
                ],
                containers_columns(true),
            ),
            job_row,
        ),
        ("batch", "CronJob") => Printer::new(
            with(
                vec![
                    Column::name(),
                    Column::new("Schedule", "The cron schedule."),
                    Column::new("Timezone", "The time zone of the schedule."),
                    Column::new("Suspend", "Whether new runs are suspended."),
                    Column::new("Active", "Number of running jobs.").integer(),
                    Column::new("Last Schedule", "Time since the job was last scheduled."),
                    Column::age(),
                ],
                containers_columns(true),
            ),
            cron_job_row,
        ),
        ("autoscaling", "HorizontalPodAutoscaler") => Printer::new(
            vec![
                Column::name(),
                Column::new("Reference", "The scaled resource."),
                Column::new("Targets", "Current over target value of each metric."),
                Column::new("MinPods", "Lower limit of the number of pods."),
                Column::new("MaxPods", "Upper limit of the number of pods.").integer(),
                Column::new("Replicas", "Current number of replicas.").integer(),
                Column::age(),
            ],
            hpa_row,
        ),
        ("policy", "PodDisruptionBudget") => Printer::new(
            vec![
                Column::name(),
                Column::new("Min Available", "Pods that must stay available."),
                Column::new("Max Unavailable", "Pods that may be unavailable."),
                Column::new("Allowed Disruptions", "Evictions allowed now.").integer(),
                Column::age(),
            ],
            pdb_row,
        ),
        _ => return None,
    };
    Some(p)
}

fn template_cells(obj: &Value, template_spec: &str, selector: Option<&str>) -> Vec<Value> {
    let (containers, images) = containers_and_images(obj.pointer(template_spec));
    let mut cells = vec![text(containers), text(images)];
    if let Some(selector) = selector {
        cells.push(text(selector));
    }
    cells
}

fn deployment_row(d: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let selector = selector_string(d.pointer("/spec/selector"));
    let mut cells = vec![
        name(d),
        text(format!(
            "{}/{}",
            i(d, "/status/readyReplicas"),
            i(d, "/spec/replicas")
        )),
        int(i(d, "/status/updatedReplicas")),
        int(i(d, "/status/availableReplicas")),
        age(d, now),
    ];
    cells.extend(template_cells(d, "/spec/template/spec", Some(&selector)));
    cells
}

fn replica_set_row(rs: &Value, now: DateTime<Utc>) -> Vec<Value> {
    // ReplicationControllers select with a plain label map, replica sets with a LabelSelector.
    let selector = match rs.pointer("/spec/selector") {
        Some(sel) if sel.get("matchLabels").is_some() || sel.get("matchExpressions").is_some() => {
            selector_string(Some(sel))
        }
        Some(sel) => format_labels(sel.as_object()),
        None => String::new(),
    };
    let mut cells = vec![
        name(rs),
        int(i(rs, "/spec/replicas")),
        int(i(rs, "/status/replicas")),
        int(i(rs, "/status/readyReplicas")),
        age(rs, now),
    ];
    cells.extend(template_cells(rs, "/spec/template/spec", Some(&selector)));
    cells
}

fn stateful_set_row(ss: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut cells = vec![
        name(ss),
        text(format!(
            "{}/{}",
            i(ss, "/status/readyReplicas"),
            i(ss, "/spec/replicas")
        )),
        age(ss, now),
    ];
    cells.extend(template_cells(ss, "/spec/template/spec", None));
    cells
}

fn daemon_set_row(ds: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let selector = format_selector(ds.pointer("/spec/selector"));
    let mut cells = vec![
        name(ds),
        int(i(ds, "/status/desiredNumberScheduled")),
        int(i(ds, "/status/currentNumberScheduled")),
        int(i(ds, "/status/numberReady")),
        int(i(ds, "/status/updatedNumberScheduled")),
        int(i(ds, "/status/numberAvailable")),
        text(format_labels(map(ds, "/spec/template/spec/nodeSelector"))),
        age(ds, now),
    ];
    cells.extend(template_cells(ds, "/spec/template/spec", Some(&selector)));
    cells
}

fn controller_revision_row(cr: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let controller = arr(cr, "/metadata/ownerReferences")
        .iter()
        .find(|o| o.get("controller").and_then(Value::as_bool) == Some(true))
        .map(|o| {
            let api_version = s(o, "/apiVersion");
            let group = api_version.split_once('/').map(|(g, _)| g).unwrap_or("");
            let kind = s(o, "/kind").to_ascii_lowercase();
            let resource = if group.is_empty() {
                kind
            } else {
                format!("{kind}.{group}")
            };
            format!("{resource}/{}", s(o, "/name"))
        })
        .unwrap_or_else(|| "<none>".to_string());
    vec![
        name(cr),
        text(controller),
        int(i(cr, "/revision")),
        age(cr, now),
    ]
}

/// The STATUS cell of a job (upstream, kubectl 1.31+).
pub fn job_status(job: &Value) -> &'static str {
    let conditions = arr(job, "/status/conditions");
    if condition_true(conditions, "Complete") {
        "Complete"
    } else if condition_true(conditions, "Failed") {
        "Failed"
    } else if job.pointer("/metadata/deletionTimestamp").is_some() {
        "Terminating"
    } else if condition_true(conditions, "Suspended") {
        "Suspended"
    } else if condition_true(conditions, "FailureTarget") {
        "FailureTarget"
    } else if condition_true(conditions, "SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else {
        "Running"
    }
}

fn job_row(job: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let succeeded = i(job, "/status/succeeded");
    let completions = match job.pointer("/spec/completions").and_then(Value::as_i64) {
        Some(c) => format!("{succeeded}/{c}"),
        None => {
            let parallelism = i(job, "/spec/parallelism");
            if parallelism > 1 {
                format!("{succeeded}/1 of {parallelism}")
            } else {
                format!("{succeeded}/1")
            }
        }
    };
    let time = |p: &str| job.pointer(p).and_then(Value::as_str).and_then(parse_time);
    let duration = match (time("/status/startTime"), time("/status/completionTime")) {
        (None, _) => String::new(),
        (Some(start), None) => human_duration(now - start),
        (Some(start), Some(end)) => human_duration(end - start),
    };
    let selector = format_selector(job.pointer("/spec/selector"));
    let mut cells = vec![
        name(job),
        text(job_status(job)),
        text(completions),
        text(duration),
        age(job, now),
    ];
    cells.extend(template_cells(job, "/spec/template/spec", Some(&selector)));
    cells
}

fn cron_job_row(cj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let last = match cj.pointer("/status/lastScheduleTime") {
        Some(t) => since(Some(t), now),
        None => "<none>".to_string(),
    };
    let selector = format_selector(cj.pointer("/spec/jobTemplate/spec/selector"));
    let mut cells = vec![
        name(cj),
        text(s(cj, "/spec/schedule")),
        text(or(s(cj, "/spec/timeZone"), "<none>")),
        text(bool_or(cj.pointer("/spec/suspend"), "<unset>")),
        int(arr(cj, "/status/active").len() as i64),
        text(last),
        age(cj, now),
    ];
    cells.extend(template_cells(
        cj,
        "/spec/jobTemplate/spec/template/spec",
        Some(&selector),
    ));
    cells
}

/// One metric of an HPA as upstream's `formatHPAMetrics` prints it: `cpu: 10%/50%` for
/// resource metrics (kubectl 1.30+ prefixes the resource name), `current/target` otherwise,
/// with ` (avg)` for object and external metrics targeting an average value.
fn hpa_metric(spec: &Value, current: Option<&Value>) -> String {
    let kind = s(spec, "/type");
    let source = match kind {
        "Resource" => "resource",
        "ContainerResource" => "containerResource",
        "Pods" => "pods",
        "Object" => "object",
        "External" => "external",
        _ => return "<unknown type>".to_string(),
    };
    let target = &spec[source]["target"];
    let cur = current.map(|c| &c[source]["current"]);
    let current_of = |field: &str| {
        cur.and_then(|c| c.get(field))
            .and_then(value_text)
            .unwrap_or_else(|| "<unknown>".to_string())
    };
    match kind {
        "Resource" | "ContainerResource" => {
            let resource = s(&spec[source], "/name");
            if let Some(avg) = target.get("averageValue") {
                let avg = value_text(avg).unwrap_or_default();
                format!("{resource}: {}/{avg}", current_of("averageValue"))
            } else {
                let cur = cur
                    .and_then(|c| c.get("averageUtilization"))
                    .and_then(Value::as_i64)
                    .map(|u| format!("{u}%"))
                    .unwrap_or_else(|| "<unknown>".to_string());
                let target = match target.get("averageUtilization").and_then(Value::as_i64) {
                    Some(u) => format!("{u}%"),
                    None => "<auto>".to_string(),
                };
                format!("{resource}: {cur}/{target}")
            }
        }
        "Pods" => format!(
            "{}/{}",
            current_of("averageValue"),
            target
                .get("averageValue")
                .and_then(value_text)
                .unwrap_or_default()
        ),
        _ => match target.get("value").and_then(value_text) {
            Some(value) => format!("{}/{value}", current_of("value")),
            None => format!(
                "{}/{} (avg)",
                current_of("averageValue"),
                target
                    .get("averageValue")
                    .and_then(value_text)
                    .unwrap_or_default()
            ),
        },
    }
}

fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn hpa_row(hpa: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let reference = format!(
        "{}/{}",
        s(hpa, "/spec/scaleTargetRef/kind"),
        s(hpa, "/spec/scaleTargetRef/name")
    );
    let specs = arr(hpa, "/spec/metrics");
    let currents = arr(hpa, "/status/currentMetrics");
    let targets = if specs.is_empty() {
        "<none>".to_string()
    } else {
        let shown: Vec<String> = specs
            .iter()
            .enumerate()
            .take(2)
            .map(|(idx, spec)| {
                let current = currents
                    .get(idx)
                    .filter(|c| s(c, "/type") == s(spec, "/type"));
                hpa_metric(spec, current)
            })
            .collect();
        let mut out = shown.join(", ");
        if specs.len() > 2 {
            out.push_str(&format!(" + {} more...", specs.len() - 2));
        }
        out
    };
    let min_pods = match hpa.pointer("/spec/minReplicas").and_then(Value::as_i64) {
        Some(m) => m.to_string(),
        None => "<unset>".to_string(),
    };
    vec![
        name(hpa),
        text(reference),
        text(targets),
        text(min_pods),
        int(i(hpa, "/spec/maxReplicas")),
        int(i(hpa, "/status/currentReplicas")),
        age(hpa, now),
    ]
}

fn pdb_row(pdb: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let field = |p: &str| {
        pdb.pointer(p)
            .and_then(value_text)
            .unwrap_or_else(|| "N/A".to_string())
    };
    vec![
        name(pdb),
        text(field("/spec/minAvailable")),
        text(field("/spec/maxUnavailable")),
        int(i(pdb, "/status/disruptionsAllowed")),
        age(pdb, now),
    ]
}
