//! What the rules are rendered from: services joined with their ready endpoints.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

/// The label linking an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// A transport protocol a service port can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    /// From the API spelling; unknown ones are TCP, the API default.
    pub fn parse(s: Option<&str>) -> Protocol {
        match s {
            Some("UDP") => Protocol::Udp,
            Some("SCTP") => Protocol::Sctp,
            _ => Protocol::Tcp,
        }
    }

    /// The nftables name.
    pub fn nft(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

/// One backend of a service port.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Endpoint {
    pub ip: Ipv4Addr,
    pub port: u16,
    /// Runs on this node (for the `Local` traffic policies).
    pub local: bool,
}

/// One port of a service with the endpoints it balances over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePort {
    pub name: String,
    pub protocol: Protocol,
    pub port: u16,
    pub node_port: Option<u16>,
    /// Ready endpoints, sorted.
    pub endpoints: Vec<Endpoint>,
}

/// A service as the proxy sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceModel {
    pub namespace: String,
    pub name: String,
    pub cluster_ip: Option<Ipv4Addr>,
    /// `status.loadBalancer.ingress[].ip` and `spec.externalIPs`.
    pub external_ips: Vec<Ipv4Addr>,
    /// `sessionAffinity: ClientIP` timeout in seconds.
    pub affinity_timeout: Option<u32>,
    /// `externalTrafficPolicy: Local`.
    pub external_local: bool,
    /// `internalTrafficPolicy: Local`.
    pub internal_local: bool,
    pub ports: Vec<ServicePort>,
}

/// Joins services with their slices. `node` names this node (for `Local` policies).
/// Services without a selector still use slices labelled with their name, as upstream.
pub fn build<'a>(
    services: impl IntoIterator<Item = &'a Service>,
    slices: impl IntoIterator<Item = &'a EndpointSlice>,
    node: &str,
) -> Vec<ServiceModel> {
    let mut by_service: HashMap<(String, String), Vec<&EndpointSlice>> = HashMap::new();
    for slice in slices {
        let Some(svc) = slice
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(SERVICE_NAME_LABEL))
        else {
            continue;
        };
        if slice.address_type != "IPv4" {
            continue;
        }
        let ns = slice.metadata.namespace.clone().unwrap_or_default();
        by_service.entry((ns, svc.clone())).or_default().push(slice);
    }
    let mut out: BTreeMap<(String, String), ServiceModel> = BTreeMap::new();
    for svc in services {
        let ns = svc.metadata.namespace.clone().unwrap_or_default();
        let name = svc.metadata.name.clone().unwrap_or_default();
        let Some(spec) = &svc.spec else { continue };
        if spec.type_.as_deref() == Some("ExternalName") {
            continue;
        }
        let cluster_ip = spec
            .cluster_ip
            .as_deref()
            .and_then(|ip| ip.parse::<Ipv4Addr>().ok());
        let mut external_ips: Vec<Ipv4Addr> = spec
            .external_ips
            .iter()
            .flatten()
            .filter_map(|ip| ip.parse().ok())
            .collect();
        if spec.type_.as_deref() == Some("LoadBalancer") {
            external_ips.extend(
                svc.status
                    .as_ref()
                    .and_then(|s| s.load_balancer.as_ref())
                    .and_then(|lb| lb.ingress.as_ref())
                    .into_iter()
                    .flatten()
                    .filter_map(|i| i.ip.as_deref()?.parse::<Ipv4Addr>().ok()),
            );
        }
        external_ips.sort();
        external_ips.dedup();
        let affinity_timeout = (spec.session_affinity.as_deref() == Some("ClientIP")).then(|| {
            spec.session_affinity_config
                .as_ref()
                .and_then(|c| c.client_ip.as_ref())
                .and_then(|c| c.timeout_seconds)
                .and_then(|t| u32::try_from(t).ok())
                .unwrap_or(10800)
        });
        let slices = by_service
            .get(&(ns.clone(), name.clone()))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let ports = spec
            .ports
            .iter()
            .flatten()
            .filter_map(|p| {
                let port = u16::try_from(p.port).ok()?;
                let pname = p.name.clone().unwrap_or_default();
                let protocol = Protocol::parse(p.protocol.as_deref());
                Some(ServicePort {
                    endpoints: endpoints_for(slices, &pname, protocol, node),
                    name: pname,
                    protocol,
                    port,
                    node_port: p.node_port.and_then(|n| u16::try_from(n).ok()),
                })
            })
            .collect();
        out.insert(
            (ns.clone(), name.clone()),
            ServiceModel {
                namespace: ns,
                name,
                cluster_ip,
                external_ips,
                affinity_timeout,
                external_local: spec.external_traffic_policy.as_deref() == Some("Local"),
                internal_local: spec.internal_traffic_policy.as_deref() == Some("Local"),
                ports,
            },
        );
    }
    out.into_values().collect()
}

/// Ready endpoints of the slices' port named like the service port.
fn endpoints_for(
    slices: &[&EndpointSlice],
    port_name: &str,
    protocol: Protocol,
    node: &str,
) -> Vec<Endpoint> {
    let mut out = Vec::new();
    for slice in slices {
        let Some(port) = slice.ports.iter().flatten().find(|p| {
            p.name.as_deref().unwrap_or("") == port_name
                && Protocol::parse(p.protocol.as_deref()) == protocol
        }) else {
            continue;
        };
        let Some(number) = port.port.and_then(|p| u16::try_from(p).ok()) else {
            continue;
        };
        for ep in &slice.endpoints {
            let ready = ep.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true);
            if !ready {
                continue;
            }
            let local = ep.node_name.as_deref() == Some(node);
            for addr in &ep.addresses {
                if let Ok(ip) = addr.parse() {
                    out.push(Endpoint {
                        ip,
                        port: number,
                        local,
                    });
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// `n` services with `endpoints` endpoints each, for benchmarks of rendering and applying.
pub fn synthetic(n: usize, endpoints: usize) -> Vec<ServiceModel> {
    (0..n)
        .map(|i| {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            ServiceModel {
                namespace: "bench".into(),
                name: format!("svc-{i}"),
                cluster_ip: Some(Ipv4Addr::from(0x0a60_0000 + 0x100 + i)),
                external_ips: Vec::new(),
                affinity_timeout: None,
                external_local: false,
                internal_local: false,
                ports: vec![ServicePort {
                    name: "http".into(),
                    protocol: Protocol::Tcp,
                    port: 80,
                    node_port: None,
                    endpoints: (0..endpoints)
                        .map(|e| Endpoint {
                            ip: Ipv4Addr::from(
                                0x0af4_0000 + i * 16 + u32::try_from(e).unwrap_or(0),
                            ),
                            port: 8080,
                            local: false,
                        })
                        .collect(),
                }],
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(v: serde_json::Value) -> Service {
        serde_json::from_value(v).unwrap()
    }

    fn slice(v: serde_json::Value) -> EndpointSlice {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn only_ready_endpoints_of_the_matching_port_are_used() {
        let s = svc(json!({"metadata": {"name": "web", "namespace": "default"},
            "spec": {"clusterIP": "10.96.0.20", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}}));
        let sl = slice(json!({"metadata": {"name": "web-1", "namespace": "default",
                "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "other", "port": 9, "protocol": "TCP"}],
            "endpoints": [
                {"addresses": ["10.1.0.3"], "conditions": {"ready": true}, "nodeName": "n1"},
                {"addresses": ["10.1.0.2"], "conditions": {"ready": false}},
                {"addresses": ["10.1.0.1"]}]}));
        let m = build([&s], [&sl], "n1");
        assert_eq!(m.len(), 1);
        let eps = &m[0].ports[0].endpoints;
        assert_eq!(
            eps,
            &vec![
                Endpoint {
                    ip: "10.1.0.1".parse().unwrap(),
                    port: 8080,
                    local: false
                },
                Endpoint {
                    ip: "10.1.0.3".parse().unwrap(),
                    port: 8080,
                    local: true
                },
            ]
        );
    }

    #[test]
    fn load_balancer_addresses_and_affinity_are_read() {
        let s = svc(json!({"metadata": {"name": "lb", "namespace": "default"},
            "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.21", "sessionAffinity": "ClientIP",
                "ports": [{"port": 80, "nodePort": 30080}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "10.200.0.1"}]}}}));
        let m = build([&s], [], "n1");
        assert_eq!(
            m[0].external_ips,
            vec!["10.200.0.1".parse::<Ipv4Addr>().unwrap()]
        );
        assert_eq!(m[0].affinity_timeout, Some(10800));
        assert_eq!(m[0].ports[0].node_port, Some(30080));
    }
}
