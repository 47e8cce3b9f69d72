//! Ingress and IngressClass checks.

use serde_json::Value;

use super::field::{self, Path};
use super::pod::check_enum;
use super::{as_array, names, str_of};
use crate::status::StatusCause;

const PATH_TYPES: [&str; 3] = ["Exact", "ImplementationSpecific", "Prefix"];

pub fn validate_ingress(obj: &Value) -> Vec<StatusCause> {
    let mut causes = Vec::new();
    let path = Path::new("spec");
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    let rules = as_array(spec.get("rules"));
    let default = spec.get("defaultBackend").filter(|v| !v.is_null());
    if rules.is_empty() && default.is_none() {
        causes.push(field::invalid(
            &path,
            &Value::from("null"),
            "either `defaultBackend` or `rules` must be specified",
        ));
    }
    if let Some(b) = default {
        validate_backend(b, &path.child("defaultBackend"), &mut causes);
    }
    for (i, rule) in rules.iter().enumerate() {
        let rp = path.child("rules").index(i);
        let host = str_of(rule, "host");
        if !host.is_empty() {
            validate_host(host, &rp.child("host"), &mut causes);
        }
        let Some(http) = rule.get("http").filter(|v| !v.is_null()) else {
            continue;
        };
        let hp = rp.child("http").child("paths");
        let paths = as_array(http.get("paths"));
        if paths.is_empty() {
            causes.push(field::required(&hp, ""));
        }
        for (j, p) in paths.iter().enumerate() {
            let pp = hp.index(j);
            let route = str_of(p, "path");
            match p.get("pathType").filter(|v| !v.is_null()) {
                None => causes.push(field::required(
                    &pp.child("pathType"),
                    "pathType must be specified",
                )),
                Some(t) => {
                    check_enum(t, &pp.child("pathType"), &PATH_TYPES, &mut causes);
                    let strict = t == "Exact" || t == "Prefix";
                    if strict && !route.starts_with('/') {
                        causes.push(field::invalid_str(
                            &pp.child("path"),
                            route,
                            "must be an absolute path",
                        ));
                    }
                    if strict
                        && (route.contains("//") || route.contains("/./") || route.contains("/../"))
                    {
                        causes.push(field::invalid_str(
                            &pp.child("path"),
                            route,
                            "must not contain '//', '/./' or '/../'",
                        ));
                    }
                }
            }
            match p.get("backend").filter(|v| !v.is_null()) {
                None => causes.push(field::required(&pp.child("backend"), "")),
                Some(b) => validate_backend(b, &pp.child("backend"), &mut causes),
            }
        }
    }
    causes
}

fn validate_host(host: &str, path: &Path, causes: &mut Vec<StatusCause>) {
    if host.parse::<std::net::IpAddr>().is_ok() {
        causes.push(field::invalid_str(
            path,
            host,
            "must be a DNS name, not an IP address",
        ));
        return;
    }
    let name = host.strip_prefix("*.").unwrap_or(host);
    causes.extend(field::invalid_each(
        path,
        host,
        names::dns1123_subdomain(name),
    ));
}

fn validate_backend(b: &Value, path: &Path, causes: &mut Vec<StatusCause>) {
    let service = b.get("service").filter(|v| !v.is_null());
    let resource = b.get("resource").filter(|v| !v.is_null());
    match (service, resource) {
        (Some(_), Some(_)) => causes.push(field::invalid(
            path,
            b,
            "cannot set both `service` and `resource` backends",
        )),
        (None, None) => causes.push(field::invalid(
            path,
            b,
            "one of `service` or `resource` must be specified",
        )),
        (Some(svc), None) => {
            let sp = path.child("service");
            let name = str_of(svc, "name");
            if name.is_empty() {
                causes.push(field::required(&sp.child("name"), ""));
            } else {
                causes.extend(field::invalid_each(
                    &sp.child("name"),
                    name,
                    names::dns1035_label(name),
                ));
            }
            let port = svc.get("port").unwrap_or(&Value::Null);
            let number = port
                .get("number")
                .and_then(Value::as_i64)
                .filter(|n| *n != 0);
            let pname = str_of(port, "name");
            match (number, pname.is_empty()) {
                (Some(_), false) => causes.push(field::invalid(
                    &sp.child("port"),
                    port,
                    "cannot set both port name & port number",
                )),
                (None, true) => causes.push(field::required(
                    &sp.child("port"),
                    "port name or number is required",
                )),
                (Some(n), true) => {
                    for e in names::port_number(n) {
                        causes.push(field::invalid(
                            &sp.child("port").child("number"),
                            &Value::from(n),
                            &e,
                        ));
                    }
                }
                (None, false) => causes.extend(field::invalid_each(
                    &sp.child("port").child("name"),
                    pname,
                    names::port_name(pname),
                )),
            }
        }
        (None, Some(r)) => {
            for key in ["kind", "name"] {
                if str_of(r, key).is_empty() {
                    causes.push(field::required(&path.child("resource").child(key), ""));
                }
            }
        }
    }
}

pub fn validate_ingress_class(obj: &Value) -> Vec<StatusCause> {
    let controller = obj
        .pointer("/spec/controller")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if controller.is_empty() {
        vec![field::required(&Path::new("spec").child("controller"), "")]
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(spec: Value) -> Vec<String> {
        validate_ingress(&json!({"spec": spec}))
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    fn rule(path: Value) -> Value {
        json!({"rules": [{"host": "web.example.com", "http": {"paths": [path]}}]})
    }

    #[test]
    fn a_prefix_rule_to_a_service_is_valid() {
        assert!(messages(rule(json!({"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}))).is_empty());
        assert!(
            messages(
                json!({"defaultBackend": {"service": {"name": "web", "port": {"name": "http"}}}})
            )
            .is_empty()
        );
    }

    #[test]
    fn path_types_are_required_and_enumerated() {
        assert_eq!(
            messages(rule(
                json!({"path": "/", "backend": {"service": {"name": "web", "port": {"number": 80}}}})
            )),
            vec![
                "spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified"
            ]
        );
        assert_eq!(
            messages(rule(
                json!({"path": "/", "pathType": "Regex", "backend": {"service": {"name": "web", "port": {"number": 80}}}})
            )),
            vec![
                "spec.rules[0].http.paths[0].pathType: Unsupported value: \"Regex\": supported values: \"Exact\", \"ImplementationSpecific\", \"Prefix\""
            ]
        );
        assert_eq!(
            messages(rule(
                json!({"path": "api", "pathType": "Exact", "backend": {"service": {"name": "web", "port": {"number": 80}}}})
            )),
            vec![
                "spec.rules[0].http.paths[0].path: Invalid value: \"api\": must be an absolute path"
            ]
        );
    }

    #[test]
    fn backends_and_hosts_are_checked() {
        assert_eq!(
            messages(
                json!({"rules": [{"host": "10.0.0.1", "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80, "name": "http"}}}}]}}]})
            ),
            vec![
                "spec.rules[0].host: Invalid value: \"10.0.0.1\": must be a DNS name, not an IP address",
                "spec.rules[0].http.paths[0].backend.service.port: Invalid value: {\"name\":\"http\",\"number\":80}: cannot set both port name & port number",
            ]
        );
        assert!(messages(json!({"rules": [{"host": "*.example.com", "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]})).is_empty());
        assert_eq!(
            messages(json!({})),
            vec![
                "spec: Invalid value: \"null\": either `defaultBackend` or `rules` must be specified"
            ]
        );
    }
}
