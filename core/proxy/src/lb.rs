//! Addresses for `LoadBalancer` services from a local pool, written to
//! `status.loadBalancer.ingress`.
//!
//! The allocation is derived from the services themselves: an address is taken when some
//! service's status holds it, so nothing is stored elsewhere and a restart loses nothing.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use k8s_openapi::api::core::v1::Service;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot write the load balancer address of {namespace}/{name}")]
    Patch {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
}

fn ingress_ips(svc: &Service) -> Vec<Ipv4Addr> {
    svc.status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|l| l.ingress.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|i| i.ip.as_deref()?.parse().ok())
        .collect()
}

fn wants_address(svc: &Service) -> bool {
    svc.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("LoadBalancer")
        && svc.metadata.deletion_timestamp.is_none()
        && ingress_ips(svc).is_empty()
}

/// `(namespace, name, address)` for each LoadBalancer service lacking an address, in a
/// stable order, while the pool lasts. `spec.loadBalancerIP` is honoured when free.
pub fn plan<'a>(
    services: impl IntoIterator<Item = &'a Service>,
    pool: &Ipv4Net,
) -> Vec<(String, String, Ipv4Addr)> {
    let services: Vec<&Service> = services.into_iter().collect();
    let mut taken: HashSet<Ipv4Addr> = services.iter().flat_map(|s| ingress_ips(s)).collect();
    let mut waiting: Vec<&Service> = services.into_iter().filter(|s| wants_address(s)).collect();
    waiting.sort_by_key(|s| (s.metadata.namespace.clone(), s.metadata.name.clone()));
    let mut out = Vec::new();
    for svc in waiting {
        let asked = svc
            .spec
            .as_ref()
            .and_then(|s| s.load_balancer_ip.as_deref())
            .and_then(|ip| ip.parse::<Ipv4Addr>().ok())
            .filter(|ip| pool.contains(ip) && !taken.contains(ip));
        let Some(ip) = asked.or_else(|| pool.hosts().find(|ip| !taken.contains(ip))) else {
            break;
        };
        taken.insert(ip);
        out.push((
            svc.metadata.namespace.clone().unwrap_or_default(),
            svc.metadata.name.clone().unwrap_or_default(),
            ip,
        ));
    }
    out
}

/// Writes one planned address.
pub async fn assign(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    ip: Ipv4Addr,
) -> Result<(), Error> {
    let api: Api<Service> = Api::namespaced(client.clone(), namespace);
    let patch =
        json!({"status": {"loadBalancer": {"ingress": [{"ip": ip.to_string(), "ipMode": "VIP"}]}}});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|source| Error::Patch {
            namespace: namespace.into(),
            name: name.into(),
            source,
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(name: &str, kind: &str, ingress: Option<&str>) -> Service {
        let mut v = json!({"metadata": {"name": name, "namespace": "default"},
            "spec": {"type": kind, "ports": [{"port": 80}]}});
        if let Some(ip) = ingress {
            v["status"] = json!({"loadBalancer": {"ingress": [{"ip": ip}]}});
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn waiting_services_get_the_first_free_addresses() {
        let pool: Ipv4Net = "10.200.0.0/29".parse().unwrap();
        let all = [
            svc("a", "LoadBalancer", Some("10.200.0.1")),
            svc("c", "LoadBalancer", None),
            svc("b", "LoadBalancer", None),
            svc("d", "ClusterIP", None),
        ];
        let planned = plan(&all, &pool);
        assert_eq!(
            planned,
            vec![
                ("default".into(), "b".into(), "10.200.0.2".parse().unwrap()),
                ("default".into(), "c".into(), "10.200.0.3".parse().unwrap()),
            ]
        );
    }

    #[test]
    fn an_exhausted_pool_leaves_services_waiting() {
        let pool: Ipv4Net = "10.200.0.0/30".parse().unwrap();
        let all = [
            svc("a", "LoadBalancer", None),
            svc("b", "LoadBalancer", None),
            svc("c", "LoadBalancer", None),
        ];
        assert_eq!(plan(&all, &pool).len(), 2);
    }
}
