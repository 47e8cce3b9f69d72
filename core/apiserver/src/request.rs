//! Turning a request path and query into what it addresses.

use std::collections::HashMap;

use skiff_api::{Registry, ResourceInfo};

/// What a request path addresses.
#[derive(Clone, Debug)]
pub enum Route {
    Health,
    Version,
    /// `/api`
    CoreVersions,
    /// `/apis`
    Groups,
    /// `/apis/<group>`
    Group(String),
    /// `/api/v1`, `/apis/<group>/<version>`
    Resources {
        group: String,
        version: String,
    },
    OpenApiV2,
    OpenApiV3Index,
    OpenApiV3 {
        group: String,
        version: String,
    },
    Object(Box<Target>),
    NotFound,
}

/// A resource, a collection of it, one object or one of its subresources.
#[derive(Clone, Debug)]
pub struct Target {
    pub info: ResourceInfo,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
    /// The path used the old `/watch/` prefix.
    pub watch: bool,
}

/// Parses a path against the registry.
pub fn route(path: &str, registry: &Registry) -> Route {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segs.as_slice() {
        ["healthz" | "livez" | "readyz", ..] => Route::Health,
        ["version"] => Route::Version,
        ["api"] => Route::CoreVersions,
        ["apis"] => Route::Groups,
        ["openapi", "v2"] => Route::OpenApiV2,
        ["openapi", "v3"] => Route::OpenApiV3Index,
        ["openapi", "v3", "api", v] => Route::OpenApiV3 {
            group: String::new(),
            version: v.to_string(),
        },
        ["openapi", "v3", "apis", g, v] => Route::OpenApiV3 {
            group: g.to_string(),
            version: v.to_string(),
        },
        ["apis", g] => Route::Group(g.to_string()),
        ["api", v] => Route::Resources {
            group: String::new(),
            version: v.to_string(),
        },
        ["apis", g, v] => Route::Resources {
            group: g.to_string(),
            version: v.to_string(),
        },
        ["api", v, rest @ ..] => resource_route("", v, rest, registry),
        ["apis", g, v, rest @ ..] => resource_route(g, v, rest, registry),
        _ => Route::NotFound,
    }
}

fn resource_route(group: &str, version: &str, rest: &[&str], registry: &Registry) -> Route {
    let (watch, rest) = match rest {
        ["watch", tail @ ..] => (true, tail),
        _ => (false, rest),
    };
    let find = |plural: &str| registry.by_plural(group, version, plural).cloned();
    let target = |info: ResourceInfo, ns: Option<&str>, tail: &[&str]| -> Route {
        match tail {
            [] => Route::Object(Box::new(Target {
                info,
                namespace: ns.map(str::to_string),
                name: None,
                subresource: None,
                watch,
            })),
            [name] => Route::Object(Box::new(Target {
                info,
                namespace: ns.map(str::to_string),
                name: Some(name.to_string()),
                subresource: None,
                watch,
            })),
            [name, sub] => Route::Object(Box::new(Target {
                info,
                namespace: ns.map(str::to_string),
                name: Some(name.to_string()),
                subresource: Some(sub.to_string()),
                watch,
            })),
            _ => Route::NotFound,
        }
    };
    if let ["namespaces", ns, plural, tail @ ..] = rest
        && let Some(info) = find(plural).filter(ResourceInfo::namespaced)
    {
        return target(info, Some(ns), tail);
    }
    match rest {
        [plural, tail @ ..] => match find(plural) {
            Some(info) if !info.namespaced() || tail.is_empty() => target(info, None, tail),
            _ => Route::NotFound,
        },
        [] => Route::NotFound,
    }
}

/// Query parameters, decoded.
#[derive(Clone, Debug, Default)]
pub struct Query(pub HashMap<String, String>);

impl Query {
    pub fn parse(query: Option<&str>) -> Query {
        let map = query
            .map(|q| {
                url_pairs(q)
                    .into_iter()
                    .collect::<HashMap<String, String>>()
            })
            .unwrap_or_default();
        Query(map)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1"))
    }

    pub fn int(&self, key: &str) -> Option<i64> {
        self.get(key).and_then(|s| s.parse().ok())
    }
}

/// Decodes `a=b&c=d` with percent and `+` escapes.
fn url_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(path: &str) -> Target {
        match route(path, &Registry::builtin()) {
            Route::Object(t) => *t,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn paths_resolve_to_resources_objects_and_subresources() {
        let t = object("/api/v1/namespaces/default/pods/web/status");
        assert_eq!(
            (
                t.info.plural.as_str(),
                t.namespace.as_deref(),
                t.name.as_deref(),
                t.subresource.as_deref()
            ),
            ("pods", Some("default"), Some("web"), Some("status"))
        );
        let t = object("/api/v1/namespaces/kube-system");
        assert_eq!(
            (t.info.plural.as_str(), t.name.as_deref()),
            ("namespaces", Some("kube-system"))
        );
        let t = object("/api/v1/namespaces/x/finalize");
        assert_eq!(t.subresource.as_deref(), Some("finalize"));
        let t = object("/apis/apps/v1/deployments");
        assert!(t.namespace.is_none() && t.name.is_none());
        assert!(object("/api/v1/watch/namespaces/a/pods").watch);
        assert!(matches!(
            route("/api/v1/pods/x", &Registry::builtin()),
            Route::NotFound
        ));
        assert!(matches!(
            route("/apis/apps/v1/nothings", &Registry::builtin()),
            Route::NotFound
        ));
    }

    #[test]
    fn query_values_are_percent_decoded() {
        let q = Query::parse(Some("labelSelector=app%20in%20(a%2Cb)&watch=true&x="));
        assert_eq!(q.get("labelSelector"), Some("app in (a,b)"));
        assert!(q.flag("watch"));
        assert_eq!(q.get("x"), None);
    }
}
