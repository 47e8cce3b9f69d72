//! The local node of `skiff up`: a private containerd, the pod network (a bridge and a CNI
//! configuration using skiff's own plugins), the kubelet, the service proxy and cluster DNS;
//! and simulated nodes for tests and benchmarks.

use anyhow::Context as _;
use ipnet::Ipv4Net;
use serde_json::json;
use skiff_kubelet::cni::{CniConfig, CniRuntime};
use skiff_kubelet::runtime::ContainerRuntime;
use skiff_kubelet::runtime::supervisor::{Containerd, ContainerdConfig};
use skiff_kubelet::simulated::SimulatedNodes;
use skiff_kubelet::streaming::StreamingRouter;
use skiff_kubelet::{ClusterDns, Kubelet, KubeletConfig, KubeletHandle};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The cluster DNS service's address: the tenth of the service range, as upstream.
pub fn dns_service_ip(service_cidr: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(service_cidr.network()) + 10)
}

/// How the local node is set up.
pub struct NodeSettings {
    pub name: String,
    pub data_dir: PathBuf,
    pub pod_cidr: Ipv4Net,
    pub service_cidr: Ipv4Net,
    pub bridge: String,
    pub containerd_socket: Option<PathBuf>,
    pub load_balancer_pool: Option<Ipv4Net>,
    pub proxy: bool,
    /// Plugins for volumes the kubelet does not know itself (CSI, from `crate::storage`).
    pub volume_plugins: skiff_kubelet::VolumePlugins,
}

/// What runs for the local node; stopped by [`LocalNode::stop`].
pub struct LocalNode {
    kubelet: KubeletHandle,
    proxy: Option<skiff_proxy::ProxyHandle>,
    _containerd: Containerd,
}

impl LocalNode {
    pub async fn stop(self) {
        if let Some(proxy) = self.proxy
            && let Err(e) = proxy.shutdown(false).await
        {
            tracing::warn!(error = %e, "service proxy did not stop cleanly");
        }
        // Containers keep running; a restarted skiff adopts them.
        self.kubelet.stop().await;
    }
}

/// Starts containerd, the pod network, the kubelet and (unless disabled) the proxy with DNS.
pub async fn start_local(
    client: kube::Client,
    router: &StreamingRouter,
    settings: &NodeSettings,
) -> anyhow::Result<LocalNode> {
    let gateway = gateway_of(settings.pod_cidr);
    ensure_bridge(&settings.bridge, gateway, settings.pod_cidr.prefix_len()).await?;
    let cni_dir = settings.data_dir.join("cni");
    let conf_dir = cni_dir.join("net.d");
    write_default_network(&conf_dir, &cni_dir.join("ipam"), settings, gateway)?;
    let cni = CniRuntime::new(CniConfig {
        conf_dir,
        bin_dirs: plugin_dirs(),
        cache_dir: cni_dir.join("results"),
    });

    let mut containerd_config = ContainerdConfig::new(settings.data_dir.join("containerd"));
    containerd_config.existing_socket = settings.containerd_socket.clone();
    // This binary writes containers' logs for the shim (`skiff container-log`).
    containerd_config.log_driver = std::env::current_exe().ok();
    let containerd = Containerd::start(containerd_config)
        .await
        .context("cannot start containerd")?;
    let runtime: Arc<dyn ContainerRuntime> = Arc::new(
        containerd
            .runtime()
            .await
            .context("cannot connect to containerd")?,
    );

    let dns_ip = dns_service_ip(settings.service_cidr);
    let mut config = KubeletConfig::new(settings.name.clone(), settings.data_dir.join("kubelet"));
    config.node_ip = gateway.into();
    config.cluster_dns = Some(ClusterDns {
        server: dns_ip.into(),
        domain: "cluster.local".into(),
    });
    config.volume_plugins = settings.volume_plugins.clone();
    let kubelet = Kubelet::start(client.clone(), runtime, Some(cni), config)
        .await
        .context("cannot start the kubelet")?;
    router.register(&settings.name, Arc::new(kubelet.streaming()));

    let proxy = if settings.proxy {
        let mut config = skiff_proxy::ProxyConfig::new(settings.name.clone());
        config.load_balancer_pool = settings.load_balancer_pool;
        // One table per pod bridge, so several clusters on one machine keep their own rules.
        if settings.bridge != "skiff0" {
            config.table = format!("skiff-proxy-{}", settings.bridge);
        }
        config.dns = Some(skiff_proxy::DnsConfig::new(
            dns_ip,
            SocketAddr::from((gateway, 53)),
        ));
        Some(
            skiff_proxy::Proxy::start(client, config)
                .await
                .context("cannot start the service proxy")?,
        )
    } else {
        None
    };
    Ok(LocalNode {
        kubelet,
        proxy,
        _containerd: containerd,
    })
}

/// How many simulated nodes register at the same time: enough to overlap the API round trips
/// of registration, few enough not to flood the server while it starts.
const SIMULATED_STARTS_AT_ONCE: usize = 32;

/// How often a simulated node re-syncs each pod without a change.
const SIMULATED_SYNC_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// Simulated nodes `sim-0` … `sim-N-1` ([`SimulatedNodes`]): the real kubelet over the
/// simulated runtime, all sharing one pod watch, without networking. They register a few
/// dozen at a time.
pub async fn start_simulated(
    client: kube::Client,
    router: &StreamingRouter,
    data_dir: &Path,
    count: usize,
) -> anyhow::Result<Vec<KubeletHandle>> {
    let nodes = Arc::new(SimulatedNodes::new(client, &data_dir.join("sim")));
    let limit = Arc::new(tokio::sync::Semaphore::new(SIMULATED_STARTS_AT_ONCE));
    let mut starts = tokio::task::JoinSet::new();
    for i in 0..count {
        let name = format!("sim-{i}");
        let mut config = nodes.config(&name, u32::try_from(i).unwrap_or(u32::MAX));
        // Simulated containers change only when told to, so the periodic pod sync that
        // notices containers changing behind the agent's back can be as slow as upstream's
        // (probes and back-offs keep their own wake-ups): with thousands of pods a sync each
        // second was a fifth of the process's work.
        config.sync_interval = SIMULATED_SYNC_INTERVAL;
        let nodes = nodes.clone();
        let limit = limit.clone();
        starts.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let node = nodes
                .start(config)
                .await
                .with_context(|| format!("cannot start simulated node {name}"))?;
            anyhow::Ok((i, node.handle))
        });
    }
    let mut handles = Vec::with_capacity(count);
    while let Some(started) = starts.join_next().await {
        handles.push(started.context("a simulated node's start panicked")??);
    }
    handles.sort_by_key(|(i, _)| *i);
    let handles: Vec<KubeletHandle> = handles.into_iter().map(|(_, h)| h).collect();
    for handle in &handles {
        router.register(handle.node_name(), Arc::new(handle.streaming()));
    }
    Ok(handles)
}

/// The first address of the pod range: the bridge's, the pods' gateway and the node's.
pub fn gateway_of(cidr: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(cidr.network()) + 1)
}

/// Where CNI plugins are looked for: next to the `skiff` binary (skiff's own plugins are
/// built and installed beside it), then the Debian reference plugins.
fn plugin_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
    {
        dirs.push(dir);
    }
    dirs.push(PathBuf::from("/usr/lib/cni"));
    dirs
}

/// Creates the pod bridge with the gateway address if it is missing, so cluster DNS can
/// listen on the gateway before the first pod starts.
async fn ensure_bridge(name: &str, gateway: Ipv4Addr, prefix: u8) -> anyhow::Result<()> {
    let exists = ip(&["link", "show", name]).await.is_ok();
    if !exists {
        ip(&["link", "add", name, "type", "bridge"]).await?;
    }
    let addr = format!("{gateway}/{prefix}");
    let shown = ip(&["-4", "addr", "show", "dev", name]).await?;
    if !shown.contains(&addr) {
        ip(&["addr", "add", &addr, "dev", name]).await?;
    }
    ip(&["link", "set", name, "up"]).await?;
    Ok(())
}

async fn ip(args: &[&str]) -> anyhow::Result<String> {
    let out = tokio::process::Command::new("ip")
        .args(args)
        .output()
        .await
        .context("cannot run ip")?;
    anyhow::ensure!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Writes the default network (skiff-bridge + skiff-host-local + skiff-loopback) unless the
/// conf dir already holds a configuration, which is then used as it is.
fn write_default_network(
    conf_dir: &Path,
    ipam_dir: &Path,
    settings: &NodeSettings,
    gateway: Ipv4Addr,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(conf_dir)
        .with_context(|| format!("cannot create {}", conf_dir.display()))?;
    let has_config = std::fs::read_dir(conf_dir)?
        .filter_map(Result::ok)
        .any(|e| {
            e.path()
                .extension()
                .is_some_and(|x| x == "conflist" || x == "conf")
        });
    if has_config {
        return Ok(());
    }
    let conf = json!({
        "cniVersion": "1.0.0",
        "name": "skiff",
        "plugins": [
            {
                "type": "skiff-bridge",
                "bridge": settings.bridge,
                "isGateway": true,
                "ipMasq": true,
                "hairpinMode": true,
                "ipam": {
                    "type": "skiff-host-local",
                    "ranges": [[{"subnet": settings.pod_cidr.to_string(), "gateway": gateway.to_string()}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": ipam_dir.display().to_string(),
                }
            },
            {"type": "skiff-loopback"}
        ]
    });
    let path = conf_dir.join("10-skiff.conflist");
    std::fs::write(&path, serde_json::to_string_pretty(&conf)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_is_the_tenth_service_address_and_the_gateway_the_first_pod_address() {
        assert_eq!(
            dns_service_ip("10.96.0.0/16".parse().unwrap()),
            Ipv4Addr::new(10, 96, 0, 10)
        );
        assert_eq!(
            gateway_of("10.88.0.0/16".parse().unwrap()),
            Ipv4Addr::new(10, 88, 0, 1)
        );
    }
}
