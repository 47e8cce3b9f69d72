//! The routing table: Ingress rules of our class, resolved to endpoint addresses.
//!
//! Hosts match exactly or by a leading `*.` wildcard (one label); paths by `Exact`, or by
//! `Prefix` on whole path elements (`ImplementationSpecific` is treated as `Prefix`). The
//! longest matching path wins; then the `defaultBackend`; otherwise 404.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressBackend, IngressClass};

/// The class this controller serves.
pub const CONTROLLER: &str = "skiff.dev/ingress";
const DEFAULT_CLASS: &str = "ingressclass.kubernetes.io/is-default-class";
const REWRITE: &str = "skiff.dev/rewrite-target";

/// Where a request goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub namespace: String,
    pub service: String,
    /// Ready endpoint addresses (empty: 503).
    pub endpoints: Vec<SocketAddr>,
    /// Replaces the matched path prefix (`skiff.dev/rewrite-target`).
    pub rewrite: Option<String>,
    /// The matched path (for rewrites).
    pub matched: String,
}

#[derive(Clone, Debug)]
struct Rule {
    host: Option<String>,
    path: String,
    exact: bool,
    target: Target,
}

/// All routes, rebuilt from the caches on every change.
#[derive(Clone, Debug, Default)]
pub struct Table {
    rules: Vec<Rule>,
    default: Option<Target>,
    /// `(namespace, secret name)` per TLS host.
    pub tls: BTreeMap<String, (String, String)>,
}

/// Whether `ing` is ours: its class names an IngressClass of our controller, or it names
/// none and our class is the default one.
pub fn is_ours(ing: &Ingress, classes: &[IngressClass], class_name: &str) -> bool {
    let ours = |c: &IngressClass| {
        c.spec.as_ref().and_then(|s| s.controller.as_deref()) == Some(CONTROLLER)
            || c.metadata.name.as_deref() == Some(class_name)
    };
    match ing
        .spec
        .as_ref()
        .and_then(|s| s.ingress_class_name.as_deref())
    {
        Some(name) => {
            name == class_name
                || classes
                    .iter()
                    .any(|c| c.metadata.name.as_deref() == Some(name) && ours(c))
        }
        None => classes.iter().any(|c| {
            ours(c)
                && c.metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(DEFAULT_CLASS))
                    .is_some_and(|v| v == "true")
        }),
    }
}

fn endpoints(
    ns: &str,
    backend: &IngressBackend,
    services: &[Service],
    slices: &[EndpointSlice],
) -> Option<(String, Vec<SocketAddr>)> {
    let svc_ref = backend.service.as_ref()?;
    let svc = services.iter().find(|s| {
        s.metadata.namespace.as_deref() == Some(ns)
            && s.metadata.name.as_deref() == Some(svc_ref.name.as_str())
    })?;
    let port = svc_ref.port.as_ref()?;
    let sp = svc
        .spec
        .as_ref()?
        .ports
        .iter()
        .flatten()
        .find(|p| port.number == Some(p.port) || port.name.is_some() && port.name == p.name)?;
    let port_name = sp.name.clone().unwrap_or_default();
    let mut out = Vec::new();
    for slice in slices.iter().filter(|s| {
        s.metadata.namespace.as_deref() == Some(ns)
            && s.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("kubernetes.io/service-name"))
                .is_some_and(|n| *n == svc_ref.name)
    }) {
        let Some(number) = slice
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.clone().unwrap_or_default() == port_name)
            .and_then(|p| p.port)
            .and_then(|p| u16::try_from(p).ok())
        else {
            continue;
        };
        for ep in &slice.endpoints {
            if !ep.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true) {
                continue;
            }
            for a in &ep.addresses {
                if let Ok(ip) = a.parse() {
                    out.push(SocketAddr::new(ip, number));
                }
            }
        }
    }
    out.sort();
    out.dedup();
    Some((svc_ref.name.clone(), out))
}

impl Table {
    pub fn build(
        ingresses: &[Ingress],
        classes: &[IngressClass],
        class_name: &str,
        services: &[Service],
        slices: &[EndpointSlice],
    ) -> Table {
        let mut table = Table::default();
        let mut sorted: Vec<&Ingress> = ingresses
            .iter()
            .filter(|i| is_ours(i, classes, class_name))
            .collect();
        sorted.sort_by_key(|i| {
            (
                i.metadata.creation_timestamp.clone().map(|t| t.0),
                i.metadata.name.clone(),
            )
        });
        for ing in sorted {
            let ns = ing.metadata.namespace.clone().unwrap_or_default();
            let Some(spec) = &ing.spec else { continue };
            let rewrite = ing
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(REWRITE))
                .cloned();
            let target = |backend: &IngressBackend, matched: &str| {
                let service = backend
                    .service
                    .as_ref()
                    .map(|s| s.name.clone())
                    .unwrap_or_default();
                let endpoints = endpoints(&ns, backend, services, slices)
                    .map(|(_, e)| e)
                    .unwrap_or_default();
                Target {
                    namespace: ns.clone(),
                    service,
                    endpoints,
                    rewrite: rewrite.clone(),
                    matched: matched.to_string(),
                }
            };
            if table.default.is_none()
                && let Some(b) = &spec.default_backend
            {
                table.default = Some(target(b, "/"));
            }
            for tls in spec.tls.iter().flatten() {
                if let Some(secret) = &tls.secret_name {
                    for host in tls.hosts.iter().flatten() {
                        table
                            .tls
                            .entry(host.to_ascii_lowercase())
                            .or_insert((ns.clone(), secret.clone()));
                    }
                }
            }
            for rule in spec.rules.iter().flatten() {
                let host = rule.host.as_ref().map(|h| h.to_ascii_lowercase());
                for p in rule.http.iter().flat_map(|h| h.paths.iter()) {
                    let path = p.path.clone().unwrap_or_else(|| "/".into());
                    table.rules.push(Rule {
                        host: host.clone(),
                        exact: p.path_type == "Exact",
                        target: target(&p.backend, &path),
                        path,
                    });
                }
            }
        }
        table
    }

    /// The target for a request to `host` (without port) and `path`.
    pub fn route(&self, host: &str, path: &str) -> Option<&Target> {
        let host = host.to_ascii_lowercase();
        let host_matches = |h: &Option<String>| match h {
            None => true,
            Some(h) if h.starts_with("*.") => host
                .split_once('.')
                .is_some_and(|(first, rest)| !first.is_empty() && rest == &h[2..]),
            Some(h) => *h == host,
        };
        // A rule for the exact host beats a wildcard or hostless one.
        let rank = |r: &Rule| match &r.host {
            Some(h) if !h.starts_with("*.") => 2,
            Some(_) => 1,
            None => 0,
        };
        self.rules
            .iter()
            .filter(|r| host_matches(&r.host) && path_matches(&r.path, r.exact, path))
            .max_by_key(|r| (rank(r), r.exact, r.path.len()))
            .map(|r| &r.target)
            .or(self.default.as_ref())
    }
}

/// `Exact` compares whole paths; `Prefix` compares path elements (`/foo` matches `/foo`,
/// `/foo/` and `/foo/bar`, not `/foobar`).
fn path_matches(rule: &str, exact: bool, path: &str) -> bool {
    if exact {
        return rule == path;
    }
    let rule = rule.trim_end_matches('/');
    if rule.is_empty() {
        return true;
    }
    path == rule || path.starts_with(rule) && path[rule.len()..].starts_with('/')
}

/// The upstream path after a rewrite: the matched prefix replaced by the target.
pub fn rewritten(target: &Target, path: &str) -> String {
    match &target.rewrite {
        None => path.to_string(),
        Some(to) => {
            let rest = path
                .strip_prefix(target.matched.trim_end_matches('/'))
                .unwrap_or("");
            let joined = format!(
                "{}/{}",
                to.trim_end_matches('/'),
                rest.trim_start_matches('/')
            );
            if joined.len() > 1 && !rest.is_empty() {
                joined
            } else {
                to.clone()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn seed() -> Table {
        let ing: Ingress = serde_json::from_value(json!({
            "metadata": {"name": "example", "namespace": "default",
                "annotations": {}},
            "spec": {"ingressClassName": "skiff",
                "defaultBackend": {"service": {"name": "fallback", "port": {"number": 80}}},
                "rules": [{"host": "foo.bar.com", "http": {"paths": [
                    {"path": "/foo", "pathType": "Prefix", "backend": {"service": {"name": "foo-service", "port": {"number": 8080}}}},
                    {"path": "/foo/exact", "pathType": "Exact", "backend": {"service": {"name": "bar-service", "port": {"number": 8080}}}},
                    {"path": "/bar", "pathType": "ImplementationSpecific", "backend": {"service": {"name": "bar-service", "port": {"number": 8080}}}}]}}]}}))
        .unwrap();
        let svc = |name: &str, port: i32| -> Service {
            serde_json::from_value(json!({"metadata": {"name": name, "namespace": "default"},
                "spec": {"ports": [{"port": port, "targetPort": 80}]}}))
            .unwrap()
        };
        let slice: EndpointSlice = serde_json::from_value(json!({
            "metadata": {"name": "foo-1", "namespace": "default", "labels": {"kubernetes.io/service-name": "foo-service"}},
            "addressType": "IPv4", "ports": [{"name": "", "port": 80}],
            "endpoints": [{"addresses": ["10.1.0.5"]}]})).unwrap();
        Table::build(
            &[ing],
            &[],
            "skiff",
            &[svc("foo-service", 8080), svc("bar-service", 8080)],
            &[slice],
        )
    }

    #[test]
    fn prefixes_match_whole_path_elements_and_the_longest_wins() {
        let t = seed();
        let foo = t.route("foo.bar.com", "/foo/x").unwrap();
        assert_eq!(foo.service, "foo-service");
        assert_eq!(foo.endpoints, vec!["10.1.0.5:80".parse().unwrap()]);
        assert_eq!(
            t.route("FOO.bar.com", "/foo/exact").unwrap().service,
            "bar-service"
        );
        assert_eq!(
            t.route("foo.bar.com", "/bar").unwrap().service,
            "bar-service"
        );
        assert_eq!(
            t.route("foo.bar.com", "/foobar").unwrap().service,
            "fallback"
        );
    }

    #[test]
    fn other_hosts_get_the_default_backend_or_nothing() {
        let t = seed();
        assert_eq!(t.route("other.com", "/foo").unwrap().service, "fallback");
        assert!(Table::default().route("other.com", "/").is_none());
    }

    #[test]
    fn ingresses_of_other_classes_are_ignored_unless_ours_is_default() {
        let ing: Ingress =
            serde_json::from_value(json!({"metadata": {"name": "x"}, "spec": {}})).unwrap();
        let class: IngressClass = serde_json::from_value(json!({"metadata": {"name": "skiff",
            "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"}},
            "spec": {"controller": CONTROLLER}}))
        .unwrap();
        assert!(!is_ours(&ing, &[], "skiff"));
        assert!(is_ours(&ing, &[class], "skiff"));
        let nginx: Ingress = serde_json::from_value(
            json!({"metadata": {"name": "y"}, "spec": {"ingressClassName": "nginx"}}),
        )
        .unwrap();
        assert!(!is_ours(&nginx, &[], "skiff"));
    }

    #[test]
    fn rewrites_replace_the_matched_prefix() {
        let t = Target {
            namespace: "default".into(),
            service: "s".into(),
            endpoints: vec![],
            rewrite: Some("/".into()),
            matched: "/foo".into(),
        };
        assert_eq!(rewritten(&t, "/foo/a/b"), "/a/b");
        assert_eq!(rewritten(&t, "/foo"), "/");
    }
}
