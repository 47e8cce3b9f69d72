//! The pod's status as the worker sees it, written through the `status` subresource when it
//! changed.

use chrono::Utc;
use k8s_openapi::api::core::v1::{
    Container, ContainerState as KState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus as KStatus, HostIP, Pod, PodCondition, PodIP, PodStatus,
};

use super::worker::{PodWorker, Slot, time};
use crate::runtime::{ContainerState, ContainerStatus};

/// The one operation of a status write, serialized from the typed status as it stands.
#[derive(serde::Serialize)]
struct ReplaceStatus<'a> {
    op: &'static str,
    path: &'static str,
    value: &'a PodStatus,
}

fn terminated(c: &ContainerStatus) -> Option<ContainerStateTerminated> {
    let ContainerState::Exited { exit_code } = c.state else {
        return None;
    };
    Some(ContainerStateTerminated {
        exit_code,
        reason: Some(
            c.reason
                .clone()
                .unwrap_or_else(|| if exit_code == 0 { "Completed" } else { "Error" }.to_string()),
        ),
        started_at: c.started_at.map(time),
        finished_at: c.finished_at.map(time),
        container_id: Some(format!("containerd://{}", c.id)),
        ..Default::default()
    })
}

/// The status of the `Ready` condition.
fn ready_of(conditions: Option<&[PodCondition]>) -> Option<&str> {
    conditions?
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.status.as_str())
}

fn waiting(reason: &str, message: Option<String>) -> KState {
    KState {
        waiting: Some(ContainerStateWaiting {
            reason: Some(reason.into()),
            message,
        }),
        ..Default::default()
    }
}

/// Counts for the phase, as upstream's `getPhase`.
#[derive(Default)]
struct Tally {
    pending: usize,
    running: usize,
    stopped: usize,
    succeeded: usize,
    failed: usize,
}

impl PodWorker {
    fn container_status(
        &self,
        c: &Container,
        default_waiting: &str,
        has_readiness: bool,
    ) -> KStatus {
        let slot: Option<&Slot> = self.slots.get(&c.name);
        let mut status = KStatus {
            name: c.name.clone(),
            image: c.image.clone().unwrap_or_default(),
            image_id: String::new(),
            ready: false,
            restart_count: 0,
            started: Some(false),
            state: Some(waiting(default_waiting, None)),
            ..Default::default()
        };
        let Some(slot) = slot else { return status };
        status.restart_count = slot.attempt as i32;
        if !slot.image_id.is_empty() {
            status.image_id = slot.image_id.clone();
        }
        let cur = slot.current.as_ref();
        if let Some(cur) = cur {
            status.container_id = Some(format!("containerd://{}", cur.id));
        }
        let last = |s: Option<&ContainerStatus>| {
            s.and_then(terminated).map(|t| KState {
                terminated: Some(t),
                ..Default::default()
            })
        };
        match cur.map(|c| c.state) {
            Some(ContainerState::Running) => {
                status.state = Some(KState {
                    running: Some(ContainerStateRunning {
                        started_at: cur.and_then(|c| c.started_at).map(time),
                    }),
                    ..Default::default()
                });
                let started = c.startup_probe.is_none() || slot.startup.passing;
                status.started = Some(started);
                status.ready =
                    started && !slot.killing && (!has_readiness || slot.readiness.passing);
                status.last_state = last(slot.previous.as_ref());
            }
            Some(ContainerState::Exited { .. }) => match &slot.waiting {
                Some((reason, message)) => {
                    status.state = Some(waiting(reason, Some(message.clone())));
                    status.last_state = last(cur);
                }
                None => {
                    status.state = last(cur);
                    status.last_state = last(slot.previous.as_ref());
                }
            },
            _ => {
                if let Some((reason, message)) = &slot.waiting {
                    status.state = Some(waiting(reason, Some(message.clone())));
                }
                status.last_state = last(slot.previous.as_ref());
            }
        }
        status
    }

    /// The pod status now.
    pub(super) fn build_status(&mut self, pod: &Pod) -> PodStatus {
        let spec = pod.spec.clone().unwrap_or_default();
        let policy = spec
            .restart_policy
            .clone()
            .unwrap_or_else(|| "Always".into());
        let creating = "ContainerCreating";

        // Init containers.
        let inits = spec.init_containers.clone().unwrap_or_default();
        let mut init_statuses = Vec::new();
        let mut init_done = true;
        let mut init_failed = false;
        let mut init_reason: Option<String> = None;
        for (i, c) in inits.iter().enumerate() {
            let s = self.container_status(c, "PodInitializing", false);
            let slot = self.slots.get(&c.name);
            let ok = slot.and_then(Slot::exit_code) == Some(0);
            if !ok {
                if init_done {
                    init_reason = Some(match slot {
                        Some(sl) if sl.exit_code().is_some() => {
                            if policy == "Never" {
                                init_failed = true;
                            }
                            match &sl.waiting {
                                Some((r, _)) if r == "CrashLoopBackOff" => {
                                    "Init:CrashLoopBackOff".into()
                                }
                                _ => "Init:Error".into(),
                            }
                        }
                        _ => format!("Init:{i}/{}", inits.len()),
                    });
                }
                init_done = false;
            }
            init_statuses.push(s);
        }

        // App containers.
        let mut statuses = Vec::new();
        let mut tally = Tally::default();
        let default_waiting = if init_done {
            creating
        } else {
            "PodInitializing"
        };
        for c in &spec.containers {
            let s = self.container_status(c, default_waiting, c.readiness_probe.is_some());
            let state = s.state.clone().unwrap_or_default();
            if state.running.is_some() {
                tally.running += 1;
            } else if let Some(t) = &state.terminated {
                tally.stopped += 1;
                if t.exit_code == 0 {
                    tally.succeeded += 1;
                } else {
                    tally.failed += 1;
                }
            } else if s
                .last_state
                .as_ref()
                .is_some_and(|l| l.terminated.is_some())
            {
                tally.stopped += 1;
            } else {
                tally.pending += 1;
            }
            statuses.push(s);
        }
        let phase = if init_failed {
            "Failed"
        } else if !init_done || tally.pending > 0 {
            "Pending"
        } else if tally.running > 0 {
            "Running"
        } else if tally.stopped > 0 {
            if policy == "Always" {
                "Running"
            } else if tally.stopped == tally.succeeded {
                "Succeeded"
            } else if policy == "Never" {
                "Failed"
            } else {
                "Running"
            }
        } else {
            "Pending"
        };
        if phase == "Succeeded" || phase == "Failed" {
            self.terminal = true;
        }
        let all_ready = !statuses.is_empty() && statuses.iter().all(|s| s.ready);
        let old = pod.status.as_ref();
        let now = time(Utc::now());
        let cond = |kind: &str, ok: bool, reason: Option<&str>| {
            let status = if ok { "True" } else { "False" };
            let transition = old
                .and_then(|o| o.conditions.as_ref())
                .and_then(|cs| cs.iter().find(|c| c.type_ == kind))
                .filter(|c| c.status == status)
                .and_then(|c| c.last_transition_time.clone())
                .unwrap_or_else(|| now.clone());
            PodCondition {
                type_: kind.into(),
                status: status.into(),
                reason: if ok { None } else { reason.map(str::to_string) },
                last_transition_time: Some(transition),
                ..Default::default()
            }
        };
        let terminal_reason = if phase == "Succeeded" {
            Some("PodCompleted")
        } else {
            None
        };
        let sandbox_ready = self.sandbox.is_some() && !self.terminal;
        let mut conditions = vec![
            cond("PodReadyToStartContainers", sandbox_ready, None),
            cond(
                "Initialized",
                init_done,
                terminal_reason.or(Some("ContainersNotInitialized")),
            ),
            cond(
                "Ready",
                all_ready,
                terminal_reason.or(Some("ContainersNotReady")),
            ),
            cond(
                "ContainersReady",
                all_ready,
                terminal_reason.or(Some("ContainersNotReady")),
            ),
            cond("PodScheduled", true, None),
        ];
        // Conditions others own (readiness gates, disruption targets) are kept.
        for c in old.and_then(|o| o.conditions.clone()).unwrap_or_default() {
            if !conditions.iter().any(|x| x.type_ == c.type_) {
                conditions.push(c);
            }
        }
        let ips: Vec<String> = self
            .sandbox
            .iter()
            .flat_map(|s| s.ips.iter().map(|ip| ip.to_string()))
            .collect();
        let host_ip = self.ctx.config.node_ip.to_string();
        let mut status = PodStatus {
            phase: Some(phase.into()),
            conditions: Some(conditions),
            host_ip: Some(host_ip.clone()),
            host_ips: Some(vec![HostIP { ip: host_ip }]),
            pod_ip: ips.first().cloned(),
            pod_ips: if ips.is_empty() {
                None
            } else {
                Some(ips.into_iter().map(|ip| PodIP { ip }).collect())
            },
            start_time: self.start_time.clone(),
            container_statuses: Some(statuses),
            init_container_statuses: if inits.is_empty() {
                None
            } else {
                Some(init_statuses)
            },
            qos_class: old.and_then(|o| o.qos_class.clone()),
            ..Default::default()
        };
        if let Some(msg) = &self.sandbox_error {
            status.message = Some(msg.clone());
        }
        // kubectl derives `Init:N/M`, `Init:Error` and `Init:CrashLoopBackOff` from the init
        // container statuses; the message says it for other clients.
        if let Some(r) = init_reason.filter(|_| phase == "Pending" || phase == "Failed")
            && status.message.is_none()
        {
            status.message = Some(r);
        }
        status
    }

    /// Writes the status if it differs from what was last written.
    pub(super) async fn write_status(&mut self, pod: &Pod) -> Result<(), String> {
        let status = self.build_status(pod);
        // Compare without the volatile condition times.
        let mut cmp = status.clone();
        for c in cmp.conditions.iter_mut().flatten() {
            c.last_transition_time = None;
        }
        // Someone else (the node lifecycle controller after a late heartbeat) may have
        // changed readiness since: then the status is written again even though the worker
        // saw no change, as the kubelet's status manager reconciles with the API.
        let in_api = pod
            .status
            .as_ref()
            .and_then(|s| ready_of(s.conditions.as_deref()));
        let ours = ready_of(status.conditions.as_deref());
        if self.last_status.as_ref() == Some(&cmp) && in_api == ours {
            return Ok(());
        }
        let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
        let name = pod.metadata.name.as_deref().unwrap_or("");
        // A JSON patch replaces the whole status (a merge patch would merge a container's
        // old and new state objects) without needing the latest resourceVersion.
        let body = serde_json::to_vec(&[ReplaceStatus {
            op: "add",
            path: "/status",
            value: &status,
        }])
        .map_err(|e| e.to_string())?;
        let request =
            http::Request::patch(format!("/api/v1/namespaces/{namespace}/pods/{name}/status"))
                .header(http::header::CONTENT_TYPE, "application/json-patch+json")
                // Only the outcome is read (RFC 7240): the server need not answer the pod.
                .header("prefer", "return=minimal")
                .body(body)
                .map_err(|e| e.to_string())?;
        match self.ctx.client.request_text(request).await {
            Ok(_) => {
                self.last_status = Some(cmp);
                Ok(())
            }
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
            Err(e) => Err(format!("status update: {e}")),
        }
    }
}
