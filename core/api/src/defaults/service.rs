//! Service defaults: type, affinity, port protocol and target, traffic and IP family policies.

use serde_json::{Value, json};

use super::{child, items, root, set};

pub fn service(obj: &mut Value) {
    let Some(spec) = child(root(obj), "spec") else {
        return;
    };
    set(spec, "type", "ClusterIP");
    set(spec, "sessionAffinity", "None");
    if spec.get("sessionAffinity").and_then(Value::as_str) == Some("ClientIP")
        && let Some(config) = child(spec, "sessionAffinityConfig")
        && let Some(client) = child(config, "clientIP")
    {
        set(client, "timeoutSeconds", 10800);
    }
    for port in items(spec, "ports") {
        set(port, "protocol", "TCP");
        let unset = match port.get("targetPort") {
            None | Some(Value::Null) => true,
            Some(Value::Number(n)) => n.as_i64() == Some(0),
            Some(Value::String(s)) => s.is_empty(),
            _ => false,
        };
        if unset && let Some(p) = port.get("port").cloned() {
            port.insert("targetPort".into(), p);
        }
    }
    let kind = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_string();
    if kind == "ExternalName" {
        return;
    }
    set(spec, "internalTrafficPolicy", "Cluster");
    set(spec, "ipFamilyPolicy", "SingleStack");
    let family = match spec.get("clusterIP").and_then(Value::as_str) {
        Some(ip) if ip.contains(':') => "IPv6",
        _ => "IPv4",
    };
    set(spec, "ipFamilies", json!([family]));
    if kind == "NodePort" || kind == "LoadBalancer" {
        set(spec, "externalTrafficPolicy", "Cluster");
    }
    if kind == "LoadBalancer" {
        set(spec, "allocateLoadBalancerNodePorts", true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_ip_service_reads_back_like_from_kubernetes() {
        let mut s = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}, {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": "dns"}]}});
        service(&mut s);
        insta::assert_json_snapshot!(s);
    }

    #[test]
    fn node_port_and_load_balancer_services_get_external_policies() {
        let mut s =
            json!({"spec": {"type": "LoadBalancer", "ports": [{"port": 80, "targetPort": 8080}]}});
        service(&mut s);
        assert_eq!(s["spec"]["externalTrafficPolicy"], "Cluster");
        assert_eq!(s["spec"]["allocateLoadBalancerNodePorts"], true);
        assert_eq!(s["spec"]["ports"][0]["targetPort"], 8080);
        let mut s = json!({"spec": {"type": "NodePort", "externalTrafficPolicy": "Local"}});
        service(&mut s);
        assert_eq!(s["spec"]["externalTrafficPolicy"], "Local");
        assert!(s["spec"].get("allocateLoadBalancerNodePorts").is_none());
    }

    #[test]
    fn external_name_services_get_no_ip_policies() {
        let mut s = json!({"spec": {"type": "ExternalName", "externalName": "example.com"}});
        service(&mut s);
        assert_eq!(
            s["spec"],
            json!({"type": "ExternalName", "externalName": "example.com", "sessionAffinity": "None"})
        );
    }

    #[test]
    fn client_ip_affinity_gets_a_timeout_and_ipv6_addresses_their_family() {
        let mut s = json!({"spec": {"sessionAffinity": "ClientIP", "clusterIP": "fd00::10"}});
        service(&mut s);
        assert_eq!(
            s["spec"]["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"],
            10800
        );
        assert_eq!(s["spec"]["ipFamilies"], json!(["IPv6"]));
    }
}
