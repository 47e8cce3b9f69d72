//! Printers of networking kinds: services, endpoints, endpoint slices, ingresses, ingress
//! classes and network policies.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::Printer;
use super::age::age;
use super::cells::{
    arr, format_labels, i, list_with_more, load_balancer_ips, map, name, or, or_none, s,
    selector_string, text,
};
use super::column::Column;

pub(super) fn printer(group: &str, kind: &str) -> Option<Printer> {
    let p = match (group, kind) {
        ("", "Service") => Printer::new(
            vec![
                Column::name(),
                Column::new("Type", "The type of the service."),
                Column::new("Cluster-IP", "The service's cluster IP."),
                Column::new("External-IP", "External addresses of the service."),
                Column::new("Port(s)", "Ports the service exposes."),
                Column::age(),
                Column::new("Selector", "Label selector of the service's pods.").wide(),
            ],
            service_row,
        ),
        ("", "Endpoints") => Printer::new(
            vec![
                Column::name(),
                Column::new("Endpoints", "Addresses and ports of the endpoints."),
                Column::age(),
            ],
            endpoints_row,
        ),
        ("discovery.k8s.io", "EndpointSlice") => Printer::new(
            vec![
                Column::name(),
                Column::new("AddressType", "The type of addresses in the slice."),
                Column::new("Ports", "Ports of the endpoints."),
                Column::new("Endpoints", "Addresses of the endpoints."),
                Column::age(),
            ],
            endpoint_slice_row,
        ),
        ("networking.k8s.io", "Ingress") => Printer::new(
            vec![
                Column::name(),
                Column::new("Class", "The ingress class."),
                Column::new("Hosts", "Hosts the rules match."),
                Column::new("Address", "Addresses of the load balancer."),
                Column::new("Ports", "Ports the ingress serves."),
                Column::age(),
            ],
            ingress_row,
        ),
        ("networking.k8s.io", "IngressClass") => Printer::new(
            vec![
                Column::name(),
                Column::new("Controller", "The controller implementing the class."),
                Column::new("Parameters", "The class's parameters object."),
                Column::age(),
            ],
            ingress_class_row,
        ),
        ("networking.k8s.io", "NetworkPolicy") => Printer::new(
            vec![
                Column::name(),
                Column::new("Pod-Selector", "Pods the policy applies to."),
                Column::age(),
            ],
            network_policy_row,
        ),
        _ => return None,
    };
    Some(p)
}

/// `80/TCP,443:30443/TCP` (upstream's `makePortString`).
fn port_string(ports: &[Value]) -> String {
    ports
        .iter()
        .map(|p| {
            let protocol = or(s(p, "/protocol"), "TCP");
            match i(p, "/nodePort") {
                0 => format!("{}/{protocol}", i(p, "/port")),
                node_port => format!("{}:{node_port}/{protocol}", i(p, "/port")),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn external_ip(svc: &Value) -> String {
    let external: Vec<String> = arr(svc, "/spec/externalIPs")
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    match or(s(svc, "/spec/type"), "ClusterIP").as_str() {
        "ClusterIP" | "NodePort" => or_none(&external.join(",")),
        "LoadBalancer" => {
            let lb = load_balancer_ips(svc.pointer("/status/loadBalancer"));
            let mut all: Vec<String> = Vec::new();
            if !lb.is_empty() {
                all.extend(lb.split(',').map(str::to_string));
            }
            all.extend(external);
            if all.is_empty() {
                "<pending>".to_string()
            } else {
                all.join(",")
            }
        }
        "ExternalName" => s(svc, "/spec/externalName").to_string(),
        _ => "<unknown>".to_string(),
    }
}

fn service_row(svc: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let cluster_ip = arr(svc, "/spec/clusterIPs")
        .first()
        .and_then(Value::as_str)
        .unwrap_or_else(|| s(svc, "/spec/clusterIP"));
    vec![
        name(svc),
        text(or(s(svc, "/spec/type"), "ClusterIP")),
        text(or_none(cluster_ip)),
        text(external_ip(svc)),
        text(or_none(&port_string(arr(svc, "/spec/ports")))),
        age(svc, now),
        text(format_labels(map(svc, "/spec/selector"))),
    ]
}

/// `10.0.0.1:80,10.0.0.2:80 + 3 more...` (upstream's `formatEndpoints`).
pub fn format_endpoints(endpoints: &Value) -> String {
    let subsets = arr(endpoints, "/subsets");
    if subsets.is_empty() {
        return "<none>".to_string();
    }
    let mut list = Vec::new();
    let mut count = 0;
    for subset in subsets {
        let addresses = arr(subset, "/addresses");
        let ports = arr(subset, "/ports");
        if ports.is_empty() {
            count += addresses.len();
            list.extend(addresses.iter().map(|a| s(a, "/ip").to_string()));
            continue;
        }
        for port in ports {
            count += addresses.len();
            list.extend(addresses.iter().map(|a| {
                let ip = s(a, "/ip");
                let port = i(port, "/port");
                if ip.contains(':') {
                    format!("[{ip}]:{port}")
                } else {
                    format!("{ip}:{port}")
                }
            }));
        }
    }
    or_none(&list_with_more(&list, count, 3))
}

fn endpoints_row(ep: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![name(ep), text(format_endpoints(ep)), age(ep, now)]
}

fn endpoint_slice_row(slice: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let ports: Vec<String> = arr(slice, "/ports")
        .iter()
        .map(|p| match p.get("port").and_then(Value::as_i64) {
            Some(port) => port.to_string(),
            None => match p.get("name").and_then(Value::as_str) {
                Some(name) => name.to_string(),
                None => "*".to_string(),
            },
        })
        .collect();
    let addresses: Vec<String> = arr(slice, "/endpoints")
        .iter()
        .flat_map(|e| arr(e, "/addresses").iter())
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    let unset = |v: String| or(&v, "<unset>");
    vec![
        name(slice),
        text(s(slice, "/addressType")),
        text(unset(list_with_more(&ports, ports.len(), 3))),
        text(unset(list_with_more(&addresses, addresses.len(), 3))),
        age(slice, now),
    ]
}

fn ingress_row(ing: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let rules = arr(ing, "/spec/rules");
    let hosts: Vec<String> = rules
        .iter()
        .take(3)
        .map(|r| s(r, "/host"))
        .filter(|h| !h.is_empty())
        .map(str::to_string)
        .collect();
    let hosts = if hosts.is_empty() {
        "*".to_string()
    } else if rules.len() > 3 {
        format!("{} + {} more...", hosts.join(","), rules.len() - 3)
    } else {
        hosts.join(",")
    };
    let ports = if arr(ing, "/spec/tls").is_empty() {
        "80"
    } else {
        "80, 443"
    };
    vec![
        name(ing),
        text(or_none(s(ing, "/spec/ingressClassName"))),
        text(hosts),
        text(load_balancer_ips(ing.pointer("/status/loadBalancer"))),
        text(ports),
        age(ing, now),
    ]
}

fn ingress_class_row(class: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let parameters = match class.pointer("/spec/parameters") {
        Some(p) => {
            let group = s(p, "/apiGroup");
            let kind = if group.is_empty() {
                s(p, "/kind").to_string()
            } else {
                format!("{}.{group}", s(p, "/kind"))
            };
            format!("{kind}/{}", s(p, "/name"))
        }
        None => "<none>".to_string(),
    };
    vec![
        name(class),
        text(s(class, "/spec/controller")),
        text(parameters),
        age(class, now),
    ]
}

fn network_policy_row(np: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let selector = selector_string(np.pointer("/spec/podSelector"));
    vec![name(np), text(or(&selector, "<none>")), age(np, now)]
}
