//! Settings of a controller host, with documented defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::enable::EnableList;
use crate::queue::Backoff;
use crate::rhai::Limits;

/// Leader election through a `coordination.k8s.io/v1` Lease, so two hosts on one cluster
/// never both reconcile.
#[derive(Debug, Clone)]
pub struct LeaderElection {
    /// Lease name. Default `skiff-controllers`.
    pub lease_name: String,
    /// Lease namespace. Default `kube-system`.
    pub namespace: String,
    /// This host's identity. Default: host name plus a random suffix.
    pub identity: String,
    /// How long a lease is valid after its last renewal. Default 15 s.
    pub lease_duration: Duration,
    /// A leader that could not renew for this long steps down. Default 10 s.
    pub renew_deadline: Duration,
    /// How often to try to acquire or renew. Default 2 s.
    pub retry_period: Duration,
}

impl Default for LeaderElection {
    fn default() -> Self {
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "skiff".to_string());
        LeaderElection {
            lease_name: "skiff-controllers".into(),
            namespace: "kube-system".into(),
            identity: format!("{host}_{}", crate::functions::random_suffix(8)),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// How a host runs.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Directories of `*.rhai` controllers: the built-in directory first, then user
    /// directories (`--controllers-dir`). Default: none.
    pub controller_dirs: Vec<PathBuf>,
    /// The only directory native plugins (`*.so`) load from. Default: none (no plugins).
    pub plugins_dir: Option<PathBuf>,
    /// Which controllers run. Default `*`.
    pub enable: EnableList,
    /// Full resync period for controllers that declare none. Default 5 min.
    pub resync: Duration,
    /// Sandbox limits of Rhai scripts.
    pub limits: Limits,
    /// Retry backoff of failed reconciles. Default 5 ms doubling to 1000 s.
    pub backoff: Backoff,
    /// Leader election; `None` (the default) reconciles without electing.
    pub leader_election: Option<LeaderElection>,
    /// Where `/metrics` is served; `None` (the default) serves nothing.
    pub metrics_addr: Option<SocketAddr>,
    /// Watch controller directories and reload changed scripts. Default true.
    pub hot_reload: bool,
    /// Quiet time before a changed file is reloaded. Default 200 ms.
    pub reload_debounce: Duration,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            controller_dirs: Vec::new(),
            plugins_dir: None,
            enable: EnableList::default(),
            resync: Duration::from_secs(300),
            limits: Limits::default(),
            backoff: Backoff::default(),
            leader_election: None,
            metrics_addr: None,
            hot_reload: true,
            reload_debounce: Duration::from_millis(200),
        }
    }
}
