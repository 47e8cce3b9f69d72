//! Settings of one node agent, with documented defaults.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Cluster DNS settings written into pods' `/etc/resolv.conf` (dnsPolicy `ClusterFirst`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDns {
    /// The cluster DNS service IP.
    pub server: IpAddr,
    /// The cluster domain. Default `cluster.local`.
    pub domain: String,
}

/// What the node offers; detected from the host by [`Capacity::detect`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capacity {
    /// Whole CPUs.
    pub cpu: u32,
    /// Bytes of memory.
    pub memory_bytes: u64,
    /// Pods the node accepts. Default 110 (as upstream).
    pub pods: u32,
    /// Bytes of the file system holding the data dir.
    pub ephemeral_storage_bytes: u64,
}

impl Capacity {
    /// The host's CPUs, memory and data file system size, and 110 pods.
    pub fn detect(data_dir: &std::path::Path) -> Capacity {
        let cpu = std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1);
        let memory_bytes = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|text| {
                let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
                let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
                Some(kib * 1024)
            })
            .unwrap_or(0);
        let probe = std::iter::successors(Some(data_dir), |p| p.parent())
            .find(|p| p.exists())
            .unwrap_or(std::path::Path::new("/"));
        let ephemeral_storage_bytes = nix::sys::statvfs::statvfs(probe)
            .map(|s| s.blocks() * s.fragment_size())
            .unwrap_or(0);
        Capacity {
            cpu,
            memory_bytes,
            pods: 110,
            ephemeral_storage_bytes,
        }
    }
}

/// Timings of the crash-loop back-off: `initial` doubling up to `max`, forgotten after a
/// container ran for `reset_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffConfig {
    /// Default 10 s (as upstream).
    pub initial: Duration,
    /// Default 300 s.
    pub max: Duration,
    /// Default 10 min.
    pub reset_after: Duration,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            initial: Duration::from_secs(10),
            max: Duration::from_secs(300),
            reset_after: Duration::from_secs(600),
        }
    }
}

/// How to run one node agent. Build one with [`KubeletConfig::new`] and adjust the fields.
#[derive(Debug, Clone)]
pub struct KubeletConfig {
    /// The Node's name.
    pub node_name: String,
    /// Pod directories (volumes, `/etc/hosts`, logs) live in `<data_dir>/pods/<uid>`.
    pub data_dir: PathBuf,
    /// The node's InternalIP (also the pods' `hostIP`). Default 127.0.0.1.
    pub node_ip: IpAddr,
    /// The Hostname address. Default: the node name.
    pub hostname: String,
    /// Default: detected from the host.
    pub capacity: Capacity,
    /// Extra node labels on top of `kubernetes.io/hostname`, `/os` and `/arch`.
    pub labels: BTreeMap<String, String>,
    /// Lease renewal period; also how often the node status is checked for a change and
    /// written if it changed. Default 10 s.
    pub heartbeat_interval: Duration,
    /// Longest time between two node status writes when nothing changes (upstream's
    /// `nodeStatusReportFrequency`). Default 5 min.
    pub status_report_interval: Duration,
    /// How often each pod is reconciled with its containers even without a change.
    /// Default 1 s.
    pub sync_interval: Duration,
    /// How often configMap/secret/downwardAPI volume files are refreshed. Default 5 s.
    pub volume_refresh: Duration,
    /// Cluster DNS; `ClusterFirst` pods use the host's resolv.conf while unset.
    pub cluster_dns: Option<ClusterDns>,
    /// The host's resolver configuration. Default `/etc/resolv.conf`.
    pub host_resolv_conf: PathBuf,
    /// Create and keep the Node object (off for agents whose Node someone else manages).
    /// Default true.
    pub register_node: bool,
    /// `nodeInfo.containerRuntimeVersion`. Default `containerd://unknown`.
    pub runtime_version: String,
    /// Crash-loop back-off timings.
    pub backoff: BackoffConfig,
    /// Network namespaces are made with `ip netns add` under `/var/run/netns`, named
    /// `<netns_prefix><pod uid>`. Default `skiff-`.
    pub netns_prefix: String,
    /// Plugins for volume types the kubelet does not know itself (CSI). Default none.
    pub volume_plugins: crate::volume::VolumePlugins,
    /// Where pods get their address when the node has no network plugin (simulated nodes);
    /// without one (and without a plugin) pods have no address. Default none.
    pub pod_addresses: Option<ipnet::Ipv4Net>,
}

/// The kubelet version reported in `nodeInfo.kubeletVersion`.
pub const KUBELET_VERSION: &str = "v1.32.0-skiff";

impl KubeletConfig {
    /// Defaults for a node called `node_name` keeping its data in `data_dir`.
    pub fn new(node_name: impl Into<String>, data_dir: impl Into<PathBuf>) -> Self {
        let node_name = node_name.into();
        let data_dir = data_dir.into();
        KubeletConfig {
            hostname: node_name.clone(),
            node_name,
            capacity: Capacity::detect(&data_dir),
            data_dir,
            node_ip: IpAddr::from([127, 0, 0, 1]),
            labels: BTreeMap::new(),
            heartbeat_interval: Duration::from_secs(10),
            status_report_interval: Duration::from_secs(300),
            sync_interval: Duration::from_secs(1),
            volume_refresh: Duration::from_secs(5),
            cluster_dns: None,
            host_resolv_conf: PathBuf::from("/etc/resolv.conf"),
            register_node: true,
            runtime_version: "containerd://unknown".into(),
            backoff: BackoffConfig::default(),
            netns_prefix: "skiff-".into(),
            volume_plugins: Default::default(),
            pod_addresses: None,
        }
    }
}
