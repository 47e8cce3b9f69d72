//! Service checks: type, ports, cluster IP, traffic policies.

use std::collections::HashSet;

use serde_json::Value;

use super::field::{self, Path};
use super::pod::check_enum;
use super::{as_array, meta, names, str_of};
use crate::status::StatusCause;

const TYPES: [&str; 4] = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];

pub fn validate_service(obj: &Value) -> Vec<StatusCause> {
    let mut causes = Vec::new();
    let path = Path::new("spec");
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    let kind = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP");
    if let Some(t) = spec.get("type").filter(|v| !v.is_null()) {
        check_enum(t, &path.child("type"), &TYPES, &mut causes);
    }
    let cluster_ip = str_of(spec, "clusterIP");
    if !cluster_ip.is_empty() && cluster_ip != "None" {
        causes.extend(field::invalid_each(
            &path.child("clusterIP"),
            cluster_ip,
            names::ip_address(cluster_ip),
        ));
    }
    if kind == "ExternalName" {
        let ext = str_of(spec, "externalName");
        if ext.is_empty() {
            causes.push(field::required(&path.child("externalName"), ""));
        } else {
            let trimmed = ext.strip_suffix('.').unwrap_or(ext);
            causes.extend(field::invalid_each(
                &path.child("externalName"),
                ext,
                names::dns1123_subdomain(trimmed),
            ));
        }
    }
    let ports = as_array(spec.get("ports"));
    let headless = cluster_ip == "None";
    if ports.is_empty() && kind != "ExternalName" && !headless {
        causes.push(field::required(&path.child("ports"), ""));
    }
    let mut seen_names = HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        let p = path.child("ports").index(i);
        let name = str_of(port, "name");
        if name.is_empty() {
            if ports.len() > 1 {
                causes.push(field::required(&p.child("name"), ""));
            }
        } else {
            causes.extend(field::invalid_each(
                &p.child("name"),
                name,
                names::dns1123_label(name),
            ));
            if !seen_names.insert(name.to_string()) {
                causes.push(field::duplicate(&p.child("name"), &Value::from(name)));
            }
        }
        match port.get("port") {
            None | Some(Value::Null) => causes.push(field::required(&p.child("port"), "")),
            Some(v) => check_port(v, &p.child("port"), &mut causes),
        }
        if let Some(proto) = port.get("protocol").filter(|v| !v.is_null()) {
            check_enum(
                proto,
                &p.child("protocol"),
                &["SCTP", "TCP", "UDP"],
                &mut causes,
            );
        }
        match port.get("targetPort") {
            Some(Value::String(s)) => causes.extend(field::invalid_each(
                &p.child("targetPort"),
                s,
                names::port_name(s),
            )),
            Some(v @ Value::Number(_)) => check_port(v, &p.child("targetPort"), &mut causes),
            _ => {}
        }
        if let Some(np) = port.get("nodePort").filter(|v| !v.is_null() && **v != 0) {
            if kind == "ClusterIP" || kind == "ExternalName" {
                causes.push(field::forbidden(
                    &p.child("nodePort"),
                    &format!("may not be used when `type` is '{kind}'"),
                ));
            } else {
                check_port(np, &p.child("nodePort"), &mut causes);
            }
        }
    }
    if let Some(a) = spec.get("sessionAffinity").filter(|v| !v.is_null()) {
        check_enum(
            a,
            &path.child("sessionAffinity"),
            &["ClientIP", "None"],
            &mut causes,
        );
    }
    if let Some(p) = spec
        .get("externalTrafficPolicy")
        .filter(|v| !v.is_null() && *v != "")
    {
        if kind == "NodePort" || kind == "LoadBalancer" {
            check_enum(
                p,
                &path.child("externalTrafficPolicy"),
                &["Cluster", "Local"],
                &mut causes,
            );
        } else {
            causes.push(field::invalid(
                &path.child("externalTrafficPolicy"),
                p,
                "may only be set when `type` is 'NodePort' or 'LoadBalancer'",
            ));
        }
    }
    if let Some(p) = spec.get("internalTrafficPolicy").filter(|v| !v.is_null()) {
        check_enum(
            p,
            &path.child("internalTrafficPolicy"),
            &["Cluster", "Local"],
            &mut causes,
        );
    }
    if let Some(p) = spec.get("ipFamilyPolicy").filter(|v| !v.is_null()) {
        check_enum(
            p,
            &path.child("ipFamilyPolicy"),
            &["PreferDualStack", "RequireDualStack", "SingleStack"],
            &mut causes,
        );
    }
    causes.extend(meta::validate_labels(
        spec.get("selector"),
        &path.child("selector"),
    ));
    causes
}

fn check_port(v: &Value, path: &Path, causes: &mut Vec<StatusCause>) {
    match v.as_i64() {
        Some(n) => {
            for e in names::port_number(n) {
                causes.push(field::invalid(path, v, &e));
            }
        }
        None => causes.push(field::invalid(path, v, "must be an integer")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(spec: Value) -> Vec<String> {
        validate_service(&json!({"spec": spec}))
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    #[test]
    fn a_simple_service_is_valid() {
        assert!(
            messages(
                json!({"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]})
            )
            .is_empty()
        );
        assert!(messages(json!({"clusterIP": "None", "selector": {"app": "db"}})).is_empty());
        assert!(
            messages(json!({"type": "ExternalName", "externalName": "example.com."})).is_empty()
        );
    }

    #[test]
    fn ports_are_required_and_range_checked() {
        assert_eq!(messages(json!({})), vec!["spec.ports: Required value"]);
        assert_eq!(
            messages(json!({"ports": [{"port": 0, "protocol": "HTTP", "targetPort": "Web_Port"}]})),
            vec![
                "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
                "spec.ports[0].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
                "spec.ports[0].targetPort: Invalid value: \"Web_Port\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
            ]
        );
    }

    #[test]
    fn several_ports_need_unique_names() {
        assert_eq!(
            messages(
                json!({"ports": [{"port": 80}, {"name": "a", "port": 81}, {"name": "a", "port": 82}]})
            ),
            vec![
                "spec.ports[0].name: Required value",
                "spec.ports[2].name: Duplicate value: \"a\"",
            ]
        );
    }

    #[test]
    fn type_cluster_ip_and_node_ports_are_checked() {
        assert_eq!(
            messages(
                json!({"type": "Ingress", "clusterIP": "10.0.0", "ports": [{"port": 80, "nodePort": 30001}]})
            ),
            vec![
                "spec.type: Unsupported value: \"Ingress\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"",
                "spec.clusterIP: Invalid value: \"10.0.0\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            ]
        );
        assert_eq!(
            messages(json!({"ports": [{"port": 80, "nodePort": 30001}]})),
            vec!["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]
        );
        assert!(messages(json!({"type": "NodePort", "externalTrafficPolicy": "Local", "ports": [{"port": 80, "nodePort": 30001}]})).is_empty());
        assert_eq!(
            messages(json!({"type": "ExternalName"})),
            vec!["spec.externalName: Required value"]
        );
    }

    #[test]
    fn traffic_policies_and_affinity_are_enums() {
        let m = messages(
            json!({"ports": [{"port": 80}], "sessionAffinity": "Sticky", "externalTrafficPolicy": "Local"}),
        );
        assert_eq!(
            m,
            vec![
                "spec.sessionAffinity: Unsupported value: \"Sticky\": supported values: \"ClientIP\", \"None\"",
                "spec.externalTrafficPolicy: Invalid value: \"Local\": may only be set when `type` is 'NodePort' or 'LoadBalancer'",
            ]
        );
    }
}
