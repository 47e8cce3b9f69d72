//! Cluster names to records, from the informer caches: services, headless endpoints, SRV
//! for named ports, StatefulSet pod host names, ExternalName aliases and pod addresses.

use std::net::Ipv4Addr;
use std::str::FromStr;

use hickory_proto::rr::rdata::{A, CNAME, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::reflector::{ObjectRef, Store};

use crate::model::SERVICE_NAME_LABEL;

/// What the cluster says about a name.
#[derive(Debug, PartialEq)]
pub enum Answer {
    /// Records for the name (possibly none: the name exists without that type).
    Records(Vec<Record>),
    /// The name does not exist in the cluster domain.
    NxDomain,
    /// Not a cluster name: ask the upstream servers.
    Forward,
}

/// The caches the answers come from.
#[derive(Clone)]
pub struct ClusterView {
    pub services: Store<Service>,
    pub slices: Store<EndpointSlice>,
    pub domain: String,
    pub ttl: u32,
}

impl std::fmt::Debug for ClusterView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterView")
            .field("domain", &self.domain)
            .finish()
    }
}

/// A ready endpoint of a headless service.
struct Backend {
    ip: Ipv4Addr,
    hostname: Option<String>,
}

impl ClusterView {
    fn service(&self, ns: &str, name: &str) -> Option<std::sync::Arc<Service>> {
        self.services.get(&ObjectRef::new(name).within(ns))
    }

    fn slices(&self, ns: &str, svc: &str) -> Vec<std::sync::Arc<EndpointSlice>> {
        self.slices
            .state()
            .into_iter()
            .filter(|s| {
                s.metadata.namespace.as_deref() == Some(ns)
                    && s.metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get(SERVICE_NAME_LABEL))
                        .is_some_and(|n| n == svc)
                    && s.address_type == "IPv4"
            })
            .collect()
    }

    fn backends(&self, ns: &str, svc: &str) -> Vec<Backend> {
        let mut out: Vec<Backend> = Vec::new();
        for slice in self.slices(ns, svc) {
            for ep in &slice.endpoints {
                if !ep.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true) {
                    continue;
                }
                for addr in &ep.addresses {
                    if let Ok(ip) = addr.parse()
                        && !out.iter().any(|b| b.ip == ip)
                    {
                        out.push(Backend {
                            ip,
                            hostname: ep.hostname.clone(),
                        });
                    }
                }
            }
        }
        out.sort_by_key(|b| b.ip);
        out
    }

    fn record(&self, name: &Name, data: RData) -> Record {
        Record::from_rdata(name.clone(), self.ttl, data)
    }

    /// Answers `qname` (any case, with or without the final dot) for `qtype`.
    pub fn answer(&self, qname: &Name, qtype: RecordType) -> Answer {
        let text = qname.to_ascii().to_ascii_lowercase();
        let text = text.trim_end_matches('.');
        let domain = self.domain.trim_end_matches('.');
        let Some(local) = text.strip_suffix(domain) else {
            return Answer::Forward;
        };
        if !local.is_empty() && !local.ends_with('.') {
            return Answer::Forward;
        }
        let labels: Vec<&str> = local.trim_end_matches('.').split('.').collect();
        match labels.as_slice() {
            [svc, ns, "svc"] => self.service_answer(qname, ns, svc, qtype),
            [port, proto, svc, ns, "svc"] if port.starts_with('_') && proto.starts_with('_') => {
                self.srv_answer(qname, ns, svc, &port[1..], &proto[1..], qtype)
            }
            [host, svc, ns, "svc"] => self.host_answer(qname, ns, svc, host, qtype),
            [ip, _ns, "pod"] => match ip.replace('-', ".").parse::<Ipv4Addr>() {
                Ok(addr) => self.only_a(qname, qtype, vec![addr]),
                Err(_) => Answer::NxDomain,
            },
            _ => Answer::NxDomain,
        }
    }

    fn only_a(&self, qname: &Name, qtype: RecordType, ips: Vec<Ipv4Addr>) -> Answer {
        if qtype == RecordType::A || qtype == RecordType::ANY {
            Answer::Records(
                ips.into_iter()
                    .map(|ip| self.record(qname, RData::A(A(ip))))
                    .collect(),
            )
        } else {
            Answer::Records(Vec::new())
        }
    }

    fn service_answer(&self, qname: &Name, ns: &str, svc: &str, qtype: RecordType) -> Answer {
        let Some(service) = self.service(ns, svc) else {
            return Answer::NxDomain;
        };
        let spec = service.spec.clone().unwrap_or_default();
        if spec.type_.as_deref() == Some("ExternalName") {
            let target = spec.external_name.unwrap_or_default();
            return match Name::from_str(&format!("{}.", target.trim_end_matches('.'))) {
                Ok(t) => Answer::Records(vec![self.record(qname, RData::CNAME(CNAME(t)))]),
                Err(_) => Answer::NxDomain,
            };
        }
        match spec.cluster_ip.as_deref() {
            Some("None") | None | Some("") => {
                let ips = self.backends(ns, svc).into_iter().map(|b| b.ip).collect();
                self.only_a(qname, qtype, ips)
            }
            Some(ip) => match ip.parse::<Ipv4Addr>() {
                Ok(addr) => self.only_a(qname, qtype, vec![addr]),
                Err(_) => Answer::Records(Vec::new()),
            },
        }
    }

    fn host_answer(
        &self,
        qname: &Name,
        ns: &str,
        svc: &str,
        host: &str,
        qtype: RecordType,
    ) -> Answer {
        if self.service(ns, svc).is_none() {
            return Answer::NxDomain;
        }
        let ips: Vec<Ipv4Addr> = self
            .backends(ns, svc)
            .into_iter()
            .filter(|b| {
                b.hostname.as_deref() == Some(host) || b.ip.to_string().replace('.', "-") == host
            })
            .map(|b| b.ip)
            .collect();
        if ips.is_empty() {
            return Answer::NxDomain;
        }
        self.only_a(qname, qtype, ips)
    }

    fn srv_answer(
        &self,
        qname: &Name,
        ns: &str,
        svc: &str,
        port: &str,
        proto: &str,
        qtype: RecordType,
    ) -> Answer {
        let Some(service) = self.service(ns, svc) else {
            return Answer::NxDomain;
        };
        let spec = service.spec.clone().unwrap_or_default();
        let Some(sp) = spec.ports.iter().flatten().find(|p| {
            p.name.as_deref() == Some(port)
                && p.protocol
                    .as_deref()
                    .unwrap_or("TCP")
                    .eq_ignore_ascii_case(proto)
        }) else {
            return Answer::NxDomain;
        };
        if qtype != RecordType::SRV && qtype != RecordType::ANY {
            return Answer::Records(Vec::new());
        }
        let domain = self.domain.trim_end_matches('.');
        let base = format!("{svc}.{ns}.svc.{domain}.");
        let headless = matches!(spec.cluster_ip.as_deref(), Some("None") | None);
        let mut out = Vec::new();
        if headless {
            for slice in self.slices(ns, svc) {
                let Some(number) = slice
                    .ports
                    .iter()
                    .flatten()
                    .find(|p| p.name.as_deref() == Some(port))
                    .and_then(|p| p.port)
                    .and_then(|p| u16::try_from(p).ok())
                else {
                    continue;
                };
                for ep in &slice.endpoints {
                    if !ep.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true) {
                        continue;
                    }
                    for addr in &ep.addresses {
                        let host = ep
                            .hostname
                            .clone()
                            .unwrap_or_else(|| addr.replace('.', "-"));
                        if let Ok(target) = Name::from_str(&format!("{host}.{base}")) {
                            out.push(
                                self.record(qname, RData::SRV(SRV::new(0, 100, number, target))),
                            );
                        }
                    }
                }
            }
        } else if let Ok(target) = Name::from_str(&base) {
            let number = u16::try_from(sp.port).unwrap_or(0);
            out.push(self.record(qname, RData::SRV(SRV::new(0, 100, number, target))));
        }
        Answer::Records(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::reflector::store::Writer;
    use kube::runtime::watcher::Event;
    use serde_json::json;

    fn view() -> ClusterView {
        let mut services: Writer<Service> = Writer::default();
        let mut slices: Writer<EndpointSlice> = Writer::default();
        for s in [
            json!({"metadata": {"name": "web", "namespace": "default"},
                "spec": {"clusterIP": "10.96.0.20", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}}),
            json!({"metadata": {"name": "db", "namespace": "default"},
                "spec": {"clusterIP": "None", "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}]}}),
            json!({"metadata": {"name": "ext", "namespace": "default"},
                "spec": {"type": "ExternalName", "externalName": "example.org"}}),
        ] {
            services.apply_watcher_event(&Event::Apply(serde_json::from_value(s).unwrap()));
        }
        let slice = json!({"metadata": {"name": "db-1", "namespace": "default",
                "labels": {"kubernetes.io/service-name": "db"}},
            "addressType": "IPv4",
            "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}],
            "endpoints": [
                {"addresses": ["10.1.0.5"], "hostname": "db-0"},
                {"addresses": ["10.1.0.6"], "hostname": "db-1"},
                {"addresses": ["10.1.0.7"], "conditions": {"ready": false}}]});
        slices.apply_watcher_event(&Event::Apply(serde_json::from_value(slice).unwrap()));
        ClusterView {
            services: services.as_reader(),
            slices: slices.as_reader(),
            domain: "cluster.local".into(),
            ttl: 5,
        }
    }

    fn rdata(a: Answer) -> Vec<String> {
        match a {
            Answer::Records(r) => r.iter().map(|r| r.data.to_string()).collect(),
            other => vec![format!("{other:?}")],
        }
    }

    fn name(s: &str) -> Name {
        Name::from_str(s).unwrap()
    }

    #[test]
    fn a_service_name_resolves_to_its_cluster_ip() {
        let v = view();
        assert_eq!(
            rdata(v.answer(&name("WEB.default.svc.cluster.local."), RecordType::A)),
            vec!["10.96.0.20"]
        );
        assert_eq!(
            rdata(v.answer(&name("web.default.svc.cluster.local."), RecordType::AAAA)),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_headless_service_resolves_to_its_ready_endpoints() {
        assert_eq!(
            rdata(view().answer(&name("db.default.svc.cluster.local."), RecordType::A)),
            vec!["10.1.0.5", "10.1.0.6"]
        );
    }

    #[test]
    fn stateful_pod_names_and_srv_records_resolve() {
        let v = view();
        assert_eq!(
            rdata(v.answer(&name("db-1.db.default.svc.cluster.local."), RecordType::A)),
            vec!["10.1.0.6"]
        );
        assert_eq!(
            rdata(v.answer(
                &name("_pg._tcp.db.default.svc.cluster.local."),
                RecordType::SRV
            )),
            vec![
                "0 100 5432 db-0.db.default.svc.cluster.local.",
                "0 100 5432 db-1.db.default.svc.cluster.local."
            ]
        );
        assert_eq!(
            rdata(v.answer(
                &name("_http._tcp.web.default.svc.cluster.local."),
                RecordType::SRV
            )),
            vec!["0 100 80 web.default.svc.cluster.local."]
        );
    }

    #[test]
    fn external_names_are_aliases_and_unknown_names_do_not_exist() {
        let v = view();
        assert_eq!(
            rdata(v.answer(&name("ext.default.svc.cluster.local."), RecordType::A)),
            vec!["example.org."]
        );
        assert_eq!(
            v.answer(&name("nope.default.svc.cluster.local."), RecordType::A),
            Answer::NxDomain
        );
        assert_eq!(
            v.answer(&name("example.org."), RecordType::A),
            Answer::Forward
        );
        assert_eq!(
            v.answer(&name("notcluster.local."), RecordType::A),
            Answer::Forward
        );
    }
}
