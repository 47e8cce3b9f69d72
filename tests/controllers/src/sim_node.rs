//! Simulated nodes: the smallest honest stand-in for the scheduler and the kubelet that the
//! controller tests need. Each simulated node is a Node object with a heartbeat Lease; the
//! stand-in binds pending pods to a live node (through the `binding` subresource), reports
//! pods on its nodes Running and Ready (with a pod IP) through the status subresource, ends
//! the pods the test asks to end, reports running pods Ready again when someone else marked
//! them not ready (as the kubelet's status sync does), and finishes the deletion of
//! terminating pods. A node whose heartbeat is stopped does nothing any more, like a machine
//! that went away, until its heartbeat resumes.
//!
//! Pod annotations steer the simulated containers:
//! - `sim.skiff.io/exit-code: "<n>"`: the pod terminates with that exit code after running.
//! - `sim.skiff.io/fail-times: "<n>"`: the first n pods of the same Job fail, later ones
//!   succeed.
//! - `sim.skiff.io/never-ready: "true"`: the pod runs but never becomes Ready.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

#[derive(Default)]
struct State {
    /// Simulated nodes and whether their heartbeat runs.
    nodes: BTreeMap<String, bool>,
    /// Pods already told to terminate.
    ended: BTreeSet<String>,
}

/// A set of simulated nodes; the simulation stops on drop.
pub struct SimNodes {
    client: Client,
    state: Arc<Mutex<State>>,
    tasks: Vec<JoinHandle<()>>,
}

fn now_text() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn micro_now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl SimNodes {
    /// Registers `names` as nodes and starts simulating them.
    pub async fn start(client: Client, names: &[&str]) -> SimNodes {
        let state = Arc::new(Mutex::new(State::default()));
        let mut sim = SimNodes {
            client: client.clone(),
            state: state.clone(),
            tasks: Vec::new(),
        };
        for name in names {
            sim.add_node(name).await;
        }
        let ips = Arc::new(AtomicU32::new(1));
        {
            let client = client.clone();
            let state = state.clone();
            sim.tasks.push(tokio::spawn(async move {
                loop {
                    if let Err(error) = step(&client, &state, &ips).await {
                        eprintln!("simulated nodes: {error}");
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }));
        }
        {
            let client = client.clone();
            let state = state.clone();
            sim.tasks.push(tokio::spawn(async move {
                loop {
                    heartbeat(&client, &state).await;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }));
        }
        sim
    }

    /// Adds a simulated node (a Node object that is Ready, and its Lease).
    pub async fn add_node(&self, name: &str) {
        let nodes: Api<Node> = Api::all(self.client.clone());
        let node: Node = serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "sim.skiff.io/node": "true"}},
            "spec": {},
        }))
        .expect("node");
        let created = nodes
            .create(&PostParams::default(), &node)
            .await
            .expect("node created");
        let mut with_status = serde_json::to_value(&created).expect("node json");
        with_status["status"] = json!({
            "conditions": [{
                "type": "Ready", "status": "True", "reason": "KubeletReady",
                "message": "simulated kubelet is posting ready status",
                "lastHeartbeatTime": now_text(), "lastTransitionTime": now_text(),
            }],
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
            "capacity": {"cpu": "8", "memory": "16Gi", "pods": "110"},
            "allocatable": {"cpu": "8", "memory": "16Gi", "pods": "110"},
        });
        let with_status: Node = serde_json::from_value(with_status).expect("node with status");
        nodes
            .replace_status(name, &PostParams::default(), &with_status)
            .await
            .expect("node status");
        self.state
            .lock()
            .unwrap()
            .nodes
            .insert(name.to_string(), true);
        renew(&self.client, name).await;
    }

    /// Stops a node's heartbeat and everything it does, as if the machine went away.
    pub fn stop_heartbeat(&self, name: &str) {
        self.state
            .lock()
            .unwrap()
            .nodes
            .insert(name.to_string(), false);
    }

    /// Resumes a stopped node's heartbeat and everything it does.
    pub fn resume_heartbeat(&self, name: &str) {
        self.state
            .lock()
            .unwrap()
            .nodes
            .insert(name.to_string(), true);
    }

    /// Removes a node object.
    pub async fn remove_node(&self, name: &str) {
        self.state.lock().unwrap().nodes.remove(name);
        let nodes: Api<Node> = Api::all(self.client.clone());
        nodes
            .delete(name, &DeleteParams::default())
            .await
            .expect("node deleted");
    }
}

impl Drop for SimNodes {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

async fn renew(client: &Client, name: &str) {
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let lease = json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": micro_now()},
    });
    let result = leases
        .patch(
            name,
            &PatchParams::apply("sim-node").force(),
            &Patch::Apply(&lease),
        )
        .await;
    if let Err(error) = result {
        eprintln!("simulated node {name}: lease renewal failed: {error}");
    }
}

async fn heartbeat(client: &Client, state: &Mutex<State>) {
    let alive: Vec<String> = state
        .lock()
        .unwrap()
        .nodes
        .iter()
        .filter(|(_, alive)| **alive)
        .map(|(name, _)| name.clone())
        .collect();
    for name in alive {
        renew(client, &name).await;
    }
}

fn annotation<'a>(pod: &'a Value, key: &str) -> Option<&'a str> {
    pod["metadata"]["annotations"][key].as_str()
}

fn running_status(pod: &Value, ip: &str, ready: bool) -> Value {
    let now = now_text();
    let ready_text = if ready { "True" } else { "False" };
    let containers: Vec<Value> = pod["spec"]["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|c| {
            json!({
                "name": c["name"], "image": c["image"], "imageID": "", "ready": ready,
                "restartCount": 0, "started": true,
                "state": {"running": {"startedAt": now}},
            })
        })
        .collect();
    json!({
        "phase": "Running",
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "hostIP": "127.0.0.1",
        "startTime": now,
        "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
            {"type": "Initialized", "status": "True", "lastTransitionTime": now},
            {"type": "ContainersReady", "status": ready_text, "lastTransitionTime": now},
            {"type": "Ready", "status": ready_text, "lastTransitionTime": now},
        ],
        "containerStatuses": containers,
    })
}

fn terminated_status(pod: &Value, code: i64) -> Value {
    let now = now_text();
    let mut status = pod["status"].clone();
    status["phase"] = json!(if code == 0 { "Succeeded" } else { "Failed" });
    let reason = if code == 0 { "Completed" } else { "Error" };
    if let Some(conditions) = status["conditions"].as_array_mut() {
        for c in conditions.iter_mut() {
            if c["type"] == "Ready" || c["type"] == "ContainersReady" {
                c["status"] = json!("False");
                c["reason"] = json!("PodCompleted");
                c["lastTransitionTime"] = json!(now);
            }
        }
    }
    if let Some(containers) = status["containerStatuses"].as_array_mut() {
        for c in containers.iter_mut() {
            c["ready"] = json!(false);
            c["started"] = json!(false);
            c["state"] = json!({"terminated": {
                "exitCode": code, "reason": reason, "startedAt": now, "finishedAt": now,
            }});
        }
    }
    status
}

fn pod_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

/// The status of a running pod with its readiness restored.
fn ready_again(pod: &Value) -> Value {
    let now = now_text();
    let mut status = pod["status"].clone();
    if let Some(conditions) = status["conditions"].as_array_mut() {
        for c in conditions.iter_mut() {
            if (c["type"] == "Ready" || c["type"] == "ContainersReady") && c["status"] != "True" {
                c["status"] = json!("True");
                c["lastTransitionTime"] = json!(now);
            }
        }
    }
    if let Some(containers) = status["containerStatuses"].as_array_mut() {
        for c in containers.iter_mut() {
            c["ready"] = json!(true);
        }
    }
    status
}

/// The exit code a running pod ends with, if it ends.
fn exit_code(pod: &Value, pods: &[Value]) -> Option<i64> {
    if let Some(code) = annotation(pod, "sim.skiff.io/exit-code") {
        return code.parse().ok();
    }
    let fail_times: usize = annotation(pod, "sim.skiff.io/fail-times")?.parse().ok()?;
    let job = pod["metadata"]["labels"]["job-name"].as_str()?;
    let failed = pods
        .iter()
        .filter(|p| p["metadata"]["labels"]["job-name"].as_str() == Some(job))
        .filter(|p| p["status"]["phase"] == "Failed")
        .count();
    Some(if failed < fail_times { 1 } else { 0 })
}

async fn step(client: &Client, state: &Mutex<State>, ips: &AtomicU32) -> Result<(), kube::Error> {
    let api: Api<Pod> = Api::all(client.clone());
    let pods: Vec<Value> = api
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .map(|p| serde_json::to_value(p).unwrap_or(Value::Null))
        .collect();
    let nodes = state.lock().unwrap().nodes.clone();
    let live: Vec<&String> = nodes
        .iter()
        .filter(|(_, alive)| **alive)
        .map(|(n, _)| n)
        .collect();
    for (i, pod) in pods.iter().enumerate() {
        let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
        let name = pod["metadata"]["name"].as_str().unwrap_or_default();
        let uid = pod["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let node = pod["spec"]["nodeName"].as_str().unwrap_or_default();
        let pods_api: Api<Pod> = Api::namespaced(client.clone(), ns);
        let deleting = !pod["metadata"]["deletionTimestamp"].is_null();

        if node.is_empty() {
            if deleting || live.is_empty() {
                continue;
            }
            // Stand-in scheduler: spread over the live nodes.
            let target = live[(i + uid.len()) % live.len()];
            let binding = json!({
                "apiVersion": "v1", "kind": "Binding",
                "metadata": {"name": name, "namespace": ns},
                "target": {"apiVersion": "v1", "kind": "Node", "name": target},
            });
            let bound: Result<Value, kube::Error> = pods_api
                .create_subresource("binding", name, &PostParams::default(), &binding)
                .await;
            if let Err(error) = bound {
                eprintln!("simulated scheduler: binding {ns}/{name}: {error}");
            }
            continue;
        }
        if nodes.get(node) != Some(&true) {
            // Not ours, or a node that went away: nothing happens to its pods.
            continue;
        }
        if deleting {
            let _ = pods_api
                .delete(
                    name,
                    &DeleteParams {
                        grace_period_seconds: Some(0),
                        ..Default::default()
                    },
                )
                .await;
            continue;
        }
        let phase = pod["status"]["phase"].as_str().unwrap_or("Pending");
        match phase {
            "Pending" => {
                let n = ips.fetch_add(1, Ordering::Relaxed);
                let ip = format!("10.244.{}.{}", n / 250, n % 250 + 1);
                let ready = annotation(pod, "sim.skiff.io/never-ready") != Some("true")
                    && exit_code(pod, &pods).is_none();
                let status = running_status(pod, &ip, ready);
                pods_api
                    .patch_status(
                        name,
                        &PatchParams::default(),
                        &Patch::Merge(json!({"status": status})),
                    )
                    .await?;
            }
            "Running" => {
                if state.lock().unwrap().ended.contains(&uid) {
                    continue;
                }
                if let Some(code) = exit_code(pod, &pods) {
                    let status = terminated_status(pod, code);
                    pods_api
                        .patch_status(
                            name,
                            &PatchParams::default(),
                            &Patch::Merge(json!({"status": status})),
                        )
                        .await?;
                    state.lock().unwrap().ended.insert(uid);
                } else if annotation(pod, "sim.skiff.io/never-ready") != Some("true")
                    && !pod_ready(pod)
                {
                    // Someone else (the node lifecycle controller, after a late heartbeat)
                    // marked a running pod not ready: like the kubelet's status sync, the
                    // node reports what it sees again.
                    pods_api
                        .patch_status(
                            name,
                            &PatchParams::default(),
                            &Patch::Merge(json!({"status": ready_again(pod)})),
                        )
                        .await?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}
