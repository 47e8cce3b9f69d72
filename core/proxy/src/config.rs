//! Settings of the service proxy and the cluster DNS, with documented defaults.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use ipnet::Ipv4Net;

/// How to run the proxy on one node. Build with [`ProxyConfig::new`] and adjust.
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    /// This node's name, to tell local endpoints (traffic policy `Local`) apart.
    pub node_name: String,
    /// The nftables table (family `ip`) the proxy owns. Default `skiff-proxy`.
    pub table: String,
    /// Shortest time between two syncs, so bursts of changes make one transaction.
    /// Default 100 ms.
    pub min_sync_interval: Duration,
    /// A sync runs this often even without changes (it also retries load balancer
    /// addresses that could not be written). Default 60 s.
    pub resync_interval: Duration,
    /// The table is replaced whole this often; the syncs in between send only what changed,
    /// so a hand edit of the table lasts at most this long. Default 1 hour.
    pub full_sync_interval: Duration,
    /// Addresses for `LoadBalancer` services. When set, this proxy gives each such service
    /// without an address the first free one and writes it to `status.loadBalancer`;
    /// enable it on one node only. The addresses must be routed to the nodes. Default none.
    pub load_balancer_pool: Option<Ipv4Net>,
    /// Cluster DNS served on this node. Default none.
    pub dns: Option<DnsConfig>,
    /// Sets the kernel switches the rules rely on (`ip_forward`, `bridge-nf-call-iptables`).
    /// Default true.
    pub set_sysctls: bool,
}

impl ProxyConfig {
    /// The defaults for node `node_name`.
    pub fn new(node_name: impl Into<String>) -> Self {
        ProxyConfig {
            node_name: node_name.into(),
            table: "skiff-proxy".into(),
            min_sync_interval: Duration::from_millis(100),
            resync_interval: Duration::from_secs(60),
            full_sync_interval: Duration::from_secs(3600),
            load_balancer_pool: None,
            dns: None,
            set_sysctls: true,
        }
    }
}

/// The cluster DNS of one node: a server on `listen`, reached by pods through the DNS
/// service address, which the proxy DNATs to it.
#[derive(Clone, Debug)]
pub struct DnsConfig {
    /// The DNS service's ClusterIP (upstream: the tenth address of the service range,
    /// `10.96.0.10`). Pods get it as their `nameserver`.
    pub service_ip: Ipv4Addr,
    /// Where the server listens (UDP and TCP). It must be a local address pods can reach,
    /// such as the pod bridge's gateway address; port 0 picks a free one.
    pub listen: SocketAddr,
    /// The cluster domain. Default `cluster.local`.
    pub domain: String,
    /// Servers for names outside the cluster. Default: the host's `/etc/resolv.conf`.
    pub upstreams: Vec<SocketAddr>,
    /// TTL of cluster answers. Default 5 s.
    pub ttl: u32,
}

impl DnsConfig {
    /// The defaults, forwarding to the host's resolvers.
    pub fn new(service_ip: Ipv4Addr, listen: SocketAddr) -> Self {
        DnsConfig {
            service_ip,
            listen,
            domain: "cluster.local".into(),
            upstreams: upstreams_from_resolv_conf(Path::new("/etc/resolv.conf")),
            ttl: 5,
        }
    }
}

/// The `nameserver` lines of a resolv.conf, on port 53; none when unreadable.
pub fn upstreams_from_resolv_conf(path: &Path) -> Vec<SocketAddr> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("nameserver")).then(|| w.next())?
        })
        .filter_map(|ip| ip.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nameservers_are_read_from_resolv_conf() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("resolv.conf");
        std::fs::write(
            &path,
            "search example\nnameserver 127.0.0.53\nnameserver ::1\n",
        )
        .unwrap();
        assert_eq!(
            upstreams_from_resolv_conf(&path),
            vec![
                "127.0.0.53:53".parse::<SocketAddr>().unwrap(),
                "[::1]:53".parse().unwrap()
            ]
        );
    }
}
