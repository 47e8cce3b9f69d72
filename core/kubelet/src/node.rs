//! The Node object: registration, status conditions and the heartbeat Lease.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{Node, NodeAddress, NodeCondition, NodeStatus, NodeSystemInfo};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

use crate::config::{KUBELET_VERSION, KubeletConfig};

/// The namespace of node heartbeat Leases.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";
/// How long a Lease is valid without renewal (as upstream).
pub const LEASE_DURATION_SECONDS: i32 = 40;

/// Errors talking to the API about the Node.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to register node {node}")]
    Register {
        node: String,
        #[source]
        source: kube::Error,
    },
    #[error("failed to update the status of node {node}")]
    Status {
        node: String,
        #[source]
        source: kube::Error,
    },
    #[error("failed to renew the lease of node {node}")]
    Lease {
        node: String,
        #[source]
        source: kube::Error,
    },
}

fn quantity(value: impl ToString) -> Quantity {
    Quantity(value.to_string())
}

/// capacity (and allocatable, the same: nothing is reserved) of the node.
pub fn resources(config: &KubeletConfig) -> BTreeMap<String, Quantity> {
    let c = &config.capacity;
    BTreeMap::from([
        ("cpu".to_string(), quantity(c.cpu)),
        (
            "memory".to_string(),
            quantity(format!("{}Ki", c.memory_bytes / 1024)),
        ),
        ("pods".to_string(), quantity(c.pods)),
        (
            "ephemeral-storage".to_string(),
            quantity(format!("{}Ki", c.ephemeral_storage_bytes / 1024)),
        ),
    ])
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// The labels every node carries plus the configured ones.
pub fn labels(config: &KubeletConfig) -> BTreeMap<String, String> {
    let mut labels = config.labels.clone();
    labels.insert("kubernetes.io/hostname".into(), config.hostname.clone());
    labels.insert("kubernetes.io/os".into(), std::env::consts::OS.into());
    labels.insert("kubernetes.io/arch".into(), arch().into());
    labels.insert("beta.kubernetes.io/os".into(), std::env::consts::OS.into());
    labels.insert("beta.kubernetes.io/arch".into(), arch().into());
    labels
}

fn condition(kind: &str, status: &str, reason: &str, message: &str, now: &Time) -> NodeCondition {
    NodeCondition {
        type_: kind.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_heartbeat_time: Some(now.clone()),
        last_transition_time: Some(now.clone()),
    }
}

/// The node's status as the agent sees it now.
pub fn status(config: &KubeletConfig, previous: Option<&NodeStatus>) -> NodeStatus {
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let mut conditions = vec![
        condition(
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
            &now,
        ),
        condition(
            "DiskPressure",
            "False",
            "KubeletHasNoDiskPressure",
            "kubelet has no disk pressure",
            &now,
        ),
        condition(
            "PIDPressure",
            "False",
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available",
            &now,
        ),
        condition(
            "Ready",
            "True",
            "KubeletReady",
            "kubelet is posting ready status",
            &now,
        ),
    ];
    // A transition time only moves when the status does.
    let old = previous.and_then(|p| p.conditions.as_ref());
    for c in &mut conditions {
        if let Some(o) = old.and_then(|o| o.iter().find(|o| o.type_ == c.type_))
            && o.status == c.status
            && o.last_transition_time.is_some()
        {
            c.last_transition_time = o.last_transition_time.clone();
        }
    }
    let resources = resources(config);
    NodeStatus {
        capacity: Some(resources.clone()),
        allocatable: Some(resources),
        conditions: Some(conditions),
        addresses: Some(vec![
            NodeAddress {
                type_: "InternalIP".into(),
                address: config.node_ip.to_string(),
            },
            NodeAddress {
                type_: "Hostname".into(),
                address: config.hostname.clone(),
            },
        ]),
        node_info: Some(NodeSystemInfo {
            architecture: arch().into(),
            operating_system: std::env::consts::OS.into(),
            kubelet_version: KUBELET_VERSION.into(),
            kube_proxy_version: KUBELET_VERSION.into(),
            container_runtime_version: config.runtime_version.clone(),
            kernel_version: nix::sys::utsname::uname()
                .map(|u| u.release().to_string_lossy().into_owned())
                .unwrap_or_default(),
            os_image: "skiff".into(),
            machine_id: String::new(),
            system_uuid: String::new(),
            boot_id: std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Creates the Node if it does not exist, and brings labels and status up to date.
pub async fn register(client: &Client, config: &KubeletConfig) -> Result<(), Error> {
    let api: Api<Node> = Api::all(client.clone());
    let err = |source| Error::Register {
        node: config.node_name.clone(),
        source,
    };
    let existing = api.get_opt(&config.node_name).await.map_err(err)?;
    match existing {
        None => {
            let node = Node {
                metadata: ObjectMeta {
                    name: Some(config.node_name.clone()),
                    labels: Some(labels(config)),
                    ..Default::default()
                },
                ..Default::default()
            };
            match api.create(&PostParams::default(), &node).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 409 => {}
                Err(e) => return Err(err(e)),
            }
        }
        Some(_) => {
            let patch = json!({"metadata": {"labels": labels(config)}});
            api.patch(
                &config.node_name,
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .map_err(err)?;
        }
    }
    update_status(client, config).await
}

/// Writes the node status (conditions with fresh heartbeat times).
pub async fn update_status(client: &Client, config: &KubeletConfig) -> Result<(), Error> {
    sync_status(client, config, true).await.map(drop)
}

/// The status with the parts that change on every heartbeat (condition heartbeat times)
/// taken out, to tell a real change from a mere refresh.
fn without_heartbeats(status: &NodeStatus) -> NodeStatus {
    let mut status = status.clone();
    for c in status.conditions.iter_mut().flatten() {
        c.last_heartbeat_time = None;
    }
    status
}

/// Whether `current` (the server's status) already says everything `fresh` says, apart from
/// heartbeat times. Fields other agents own (images, volumes in use, ...) are not compared.
fn reports_the_same(current: &NodeStatus, fresh: &NodeStatus) -> bool {
    let current = without_heartbeats(current);
    let fresh = without_heartbeats(fresh);
    current.capacity == fresh.capacity
        && current.allocatable == fresh.allocatable
        && current.conditions == fresh.conditions
        && current.addresses == fresh.addresses
        && current.node_info == fresh.node_info
}

/// Brings the node status up to date: writes it when `force`d or when it differs from what
/// the server holds (heartbeat times aside), as upstream's kubelet does between its
/// periodic reports. Returns whether it wrote.
pub async fn sync_status(
    client: &Client,
    config: &KubeletConfig,
    force: bool,
) -> Result<bool, Error> {
    let api: Api<Node> = Api::all(client.clone());
    let err = |source| Error::Status {
        node: config.node_name.clone(),
        source,
    };
    let current = api.get(&config.node_name).await.map_err(err)?;
    let fresh = status(config, current.status.as_ref());
    if !force
        && current
            .status
            .as_ref()
            .is_some_and(|current| reports_the_same(current, &fresh))
    {
        return Ok(false);
    }
    let patch = json!({"status": fresh});
    api.patch_status(
        &config.node_name,
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .map_err(err)?;
    Ok(true)
}

/// Creates or renews the node's Lease in `kube-node-lease`: one merge patch of the renewal
/// fields (no read first), a create when the Lease does not exist yet.
pub async fn renew_lease(client: &Client, config: &KubeletConfig) -> Result<(), Error> {
    let api: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    let err = |source| Error::Lease {
        node: config.node_name.clone(),
        source,
    };
    let now = MicroTime(k8s_openapi::jiff::Timestamp::now());
    let renewal = json!({"spec": {
        "holderIdentity": config.node_name,
        "leaseDurationSeconds": LEASE_DURATION_SECONDS,
        "renewTime": now,
    }});
    match api
        .patch(
            &config.node_name,
            &PatchParams::default(),
            &Patch::Merge(&renewal),
        )
        .await
    {
        Ok(_) => return Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => {}
        Err(e) => return Err(err(e)),
    }
    let lease = Lease {
        metadata: ObjectMeta {
            name: Some(config.node_name.clone()),
            namespace: Some(LEASE_NAMESPACE.into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(config.node_name.clone()),
            lease_duration_seconds: Some(LEASE_DURATION_SECONDS),
            acquire_time: Some(now.clone()),
            renew_time: Some(now),
            ..Default::default()
        }),
    };
    match api.create(&PostParams::default(), &lease).await {
        Ok(_) => Ok(()),
        // Created meanwhile (another renewal raced us): it is fresh.
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(err(e)),
    }
}

/// A delay in `[0, period)` that differs between nodes, so many agents started together do
/// not all heartbeat in the same instant.
fn jitter(node: &str, period: Duration) -> Duration {
    use std::hash::BuildHasher;
    let hash = std::collections::hash_map::RandomState::new().hash_one(node);
    let nanos = period.as_nanos().max(1);
    Duration::from_nanos((u128::from(hash) % nanos) as u64)
}

/// Renews the lease every heartbeat interval and keeps the node status current until
/// dropped: the status is written when it changes and at least every status report
/// interval (upstream's `nodeStatusReportFrequency`), not on every heartbeat, so a node's
/// steady state costs one Lease write per interval.
pub async fn heartbeat(client: Client, config: KubeletConfig) {
    let period = config.heartbeat_interval;
    let start = tokio::time::Instant::now() + jitter(&config.node_name, period);
    let mut tick = tokio::time::interval_at(start, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // `register` wrote the status just before.
    let mut reported = tokio::time::Instant::now();
    loop {
        tick.tick().await;
        if let Err(e) = renew_lease(&client, &config).await {
            tracing::warn!(error = %e, "lease renewal failed");
        }
        let due = reported.elapsed() >= config.status_report_interval;
        match sync_status(&client, &config, due).await {
            Ok(true) => reported = tokio::time::Instant::now(),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "node status update failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn config() -> KubeletConfig {
        KubeletConfig::new("n1", PathBuf::from("/nonexistent"))
    }

    #[test]
    fn a_later_status_with_only_new_heartbeat_times_reports_the_same() {
        let config = config();
        let first = status(&config, None);
        std::thread::sleep(Duration::from_millis(2));
        let second = status(&config, Some(&first));
        assert_ne!(first.conditions, second.conditions, "heartbeat times moved");
        assert!(reports_the_same(&first, &second));
    }

    #[test]
    fn a_condition_changed_by_someone_else_is_reported_again() {
        let config = config();
        let mut server = status(&config, None);
        for c in server.conditions.iter_mut().flatten() {
            if c.type_ == "Ready" {
                c.status = "Unknown".into();
                c.reason = Some("NodeStatusUnknown".into());
            }
        }
        let fresh = status(&config, Some(&server));
        assert!(!reports_the_same(&server, &fresh));
        let ready = fresh
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == "Ready")
            .unwrap();
        assert_eq!(ready.status, "True");
    }

    #[test]
    fn changed_capacity_is_reported_again() {
        let mut config = config();
        let before = status(&config, None);
        config.capacity.pods += 1;
        assert!(!reports_the_same(&before, &status(&config, Some(&before))));
    }

    #[test]
    fn heartbeat_jitter_stays_within_the_period() {
        let period = Duration::from_secs(10);
        for i in 0..100 {
            assert!(jitter(&format!("sim-{i}"), period) < period);
        }
        assert_eq!(jitter("n", Duration::ZERO), Duration::ZERO);
    }
}
