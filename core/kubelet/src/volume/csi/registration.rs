//! Driver registration, after the kubelet's plugin registration: drivers put their CSI
//! socket in a registration directory (`<dir>/*.sock`, any unix socket directly in it); the
//! kubelet notices it, asks the driver who it is (GetPluginInfo, NodeGetInfo,
//! NodeGetCapabilities), records it in this node's `CSINode` (`drivers[]` with `nodeID`,
//! `topologyKeys` and `allocatable.count`) and puts the driver's topology segments on the
//! Node as labels. A socket that disappears unregisters its driver.
//!
//! Upstream has drivers serve a second `Registration` gRPC service on that socket; a socket
//! that is the CSI endpoint itself needs no sidecar and no second protocol, which is why the
//! directory is polled here (nothing else tells us a socket appeared).

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use k8s_openapi::api::storage::v1::{CSINode, CSINodeDriver, CSINodeSpec, VolumeNodeResources};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};

use super::drivers::{self, Driver, Drivers};

/// Errors publishing the node's drivers.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read node {node}")]
    Node {
        node: String,
        #[source]
        source: Box<kube::Error>,
    },
    #[error("node {node} does not exist yet")]
    NoNode { node: String },
    #[error("cannot write CSINode {node}")]
    CsiNode {
        node: String,
        #[source]
        source: Box<kube::Error>,
    },
    #[error("cannot label node {node} with its CSI topology")]
    Labels {
        node: String,
        #[source]
        source: Box<kube::Error>,
    },
}

/// Where drivers register and how often the directory is looked at.
#[derive(Debug, Clone)]
pub struct RegistrationConfig {
    /// The registration directory (`skiff up`: `<data dir>/plugins_registry`).
    pub dir: PathBuf,
    /// The Node (and CSINode) name.
    pub node_name: String,
    /// How often the directory is listed. Default 1 s.
    pub interval: Duration,
}

impl RegistrationConfig {
    pub fn new(dir: impl Into<PathBuf>, node_name: impl Into<String>) -> Self {
        RegistrationConfig {
            dir: dir.into(),
            node_name: node_name.into(),
            interval: Duration::from_secs(1),
        }
    }
}

/// The unix sockets directly in `dir`.
pub fn sockets(dir: &Path) -> BTreeSet<PathBuf> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_socket()))
        .map(|e| e.path())
        .collect()
}

/// The `CSINode` spec listing `drivers`.
pub fn csi_node_spec(drivers: &[Driver]) -> CSINodeSpec {
    CSINodeSpec {
        drivers: drivers
            .iter()
            .map(|d| CSINodeDriver {
                name: d.name.clone(),
                node_id: d.node_id.clone(),
                topology_keys: Some(d.topology.keys().cloned().collect()),
                allocatable: (d.max_volumes > 0).then_some(VolumeNodeResources {
                    count: Some(d.max_volumes as i32),
                }),
            })
            .collect(),
    }
}

/// Brings this node's CSINode and topology labels in line with `drivers`.
pub async fn publish(client: &kube::Client, node: &str, drivers: &[Driver]) -> Result<(), Error> {
    let nodes: Api<Node> = Api::all(client.clone());
    let current = nodes
        .get_opt(node)
        .await
        .map_err(|source| Error::Node {
            node: node.into(),
            source: Box::new(source),
        })?
        .ok_or_else(|| Error::NoNode { node: node.into() })?;
    let labels: BTreeMap<&String, &String> = drivers.iter().flat_map(|d| &d.topology).collect();
    if !labels.is_empty() {
        let patch = serde_json::json!({"metadata": {"labels": labels}});
        nodes
            .patch(node, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|source| Error::Labels {
                node: node.into(),
                source: Box::new(source),
            })?;
    }
    let csi_nodes: Api<CSINode> = Api::all(client.clone());
    let write_err = |source| Error::CsiNode {
        node: node.into(),
        source: Box::new(source),
    };
    let spec = csi_node_spec(drivers);
    match csi_nodes.get_opt(node).await.map_err(write_err)? {
        Some(mut existing) => {
            if existing.spec != spec {
                existing.spec = spec;
                csi_nodes
                    .replace(node, &PostParams::default(), &existing)
                    .await
                    .map_err(write_err)?;
            }
        }
        None => {
            let object = CSINode {
                metadata: ObjectMeta {
                    name: Some(node.into()),
                    // Upstream's CSINode goes with its Node.
                    owner_references: current.metadata.uid.clone().map(|uid| {
                        vec![OwnerReference {
                            api_version: "v1".into(),
                            kind: "Node".into(),
                            name: node.into(),
                            uid,
                            ..Default::default()
                        }]
                    }),
                    ..Default::default()
                },
                spec,
            };
            csi_nodes
                .create(&PostParams::default(), &object)
                .await
                .map_err(write_err)?;
        }
    }
    Ok(())
}

/// Watches the registration directory until aborted, keeping `drivers` and the API in line
/// with the sockets in it.
pub async fn run(config: RegistrationConfig, drivers: Arc<Drivers>, client: kube::Client) {
    // Registered sockets, by path.
    let mut known: BTreeSet<PathBuf> = BTreeSet::new();
    let mut published = false;
    let mut ticks: u32 = 0;
    loop {
        let present = sockets(&config.dir);
        let mut changed = false;
        for socket in present.difference(&known).cloned().collect::<Vec<_>>() {
            match drivers::probe(&socket).await {
                Ok(driver) => {
                    tracing::info!(driver = %driver.name, socket = %socket.display(), node_id = %driver.node_id, "CSI driver registered");
                    drivers.insert(driver);
                    known.insert(socket);
                    changed = true;
                }
                Err(e) => {
                    tracing::debug!(socket = %socket.display(), error = %e, "CSI driver not answering yet");
                }
            }
        }
        for socket in known.difference(&present).cloned().collect::<Vec<_>>() {
            if let Some(name) = drivers.remove_endpoint(&socket) {
                tracing::info!(driver = %name, "CSI driver unregistered: its socket is gone");
            }
            known.remove(&socket);
            changed = true;
        }
        // Re-published now and then, so a deleted CSINode or label comes back.
        ticks = ticks.wrapping_add(1);
        if changed || !published || ticks.is_multiple_of(60) {
            let all: Vec<Driver> = drivers
                .names()
                .iter()
                .filter_map(|n| drivers.get(n))
                .collect();
            match publish(&client, &config.node_name, &all).await {
                Ok(()) => published = true,
                Err(e) => {
                    published = false;
                    tracing::warn!(error = %e, "cannot publish the node's CSI drivers");
                }
            }
        }
        tokio::time::sleep(config.interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_unix_sockets_in_the_directory_count_as_drivers() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let _listener = tokio::net::UnixListener::bind(dir.path().join("d.sock")).unwrap();
        assert_eq!(
            sockets(dir.path()),
            BTreeSet::from([dir.path().join("d.sock")])
        );
        assert!(sockets(&dir.path().join("missing")).is_empty());
    }
}
