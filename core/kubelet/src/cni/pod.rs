//! What the kubelet knows about a pod's network attachment, and what ADD gives back.

use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use skiff_cni_skel::CniResult;

/// One pod sandbox to attach: its namespace, identity and capability arguments.
#[derive(Clone, Debug, Default)]
pub struct PodNetwork {
    /// The sandbox container id (`CNI_CONTAINERID`).
    pub container_id: String,
    /// The sandbox's network namespace path (`CNI_NETNS`).
    pub netns: PathBuf,
    /// The interface name inside the pod (`CNI_IFNAME`); `eth0` when empty.
    pub ifname: String,
    /// Pod name, passed as `K8S_POD_NAME`.
    pub pod_name: String,
    /// Pod namespace, passed as `K8S_POD_NAMESPACE`.
    pub pod_namespace: String,
    /// Pod uid, passed as `K8S_POD_UID`.
    pub pod_uid: String,
    /// hostPort mappings, for plugins with the `portMappings` capability.
    pub port_mappings: Vec<PortMapping>,
    /// DNS settings, for plugins with the `dns` capability.
    pub dns: Option<DnsConfig>,
}

impl PodNetwork {
    /// The interface name, defaulting to `eth0`.
    pub fn ifname(&self) -> &str {
        if self.ifname.is_empty() {
            "eth0"
        } else {
            &self.ifname
        }
    }

    /// The `CNI_ARGS` value: Kubernetes' conventional keys, with `IgnoreUnknown` so plugins
    /// that do not know them accept them.
    pub fn cni_args(&self) -> String {
        format!(
            "IgnoreUnknown=1;K8S_POD_NAMESPACE={};K8S_POD_NAME={};K8S_POD_INFRA_CONTAINER_ID={};K8S_POD_UID={}",
            self.pod_namespace, self.pod_name, self.container_id, self.pod_uid
        )
    }
}

/// A hostPort mapping, in the `portMappings` capability's format.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    /// The port on the node.
    pub host_port: u16,
    /// The port in the pod.
    pub container_port: u16,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
    /// The node address to bind, all when absent.
    #[serde(rename = "hostIP", default, skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
}

/// DNS settings, in the `dns` capability's format.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsConfig {
    /// Name servers.
    #[serde(default)]
    pub servers: Vec<String>,
    /// Search domains.
    #[serde(default)]
    pub searches: Vec<String>,
    /// Resolver options.
    #[serde(default)]
    pub options: Vec<String>,
}

/// What ADD gives back: the pod's addresses and the chain's full result.
#[derive(Clone, Debug)]
pub struct AddResult {
    /// The pod's IPs, in result order (the first is the primary pod IP).
    pub ips: Vec<IpAddr>,
    /// The final result of the chain.
    pub result: CniResult,
}
