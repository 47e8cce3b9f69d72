//! Connecting to a cluster the way kubectl does, resolving resource names through discovery,
//! and sending raw API requests.

use anyhow::{Context as _, anyhow};
use http::{Method, Request};
use serde_json::Value;
use skiff_api::registry::{Registry, ResourceInfo, Scope};
use std::path::PathBuf;

/// Global options every command shares.
#[derive(Debug, Clone)]
pub struct Context {
    pub kubeconfig: Option<PathBuf>,
    pub namespace: Option<String>,
}

/// A connected client plus what discovery said the server serves.
pub struct Cluster {
    pub client: kube::Client,
    pub registry: Registry,
    /// `-n` if given, else the kubeconfig context's namespace.
    pub namespace: String,
}

/// A request body with its content type.
pub struct Body<'a> {
    pub content_type: &'a str,
    pub bytes: Vec<u8>,
}

impl Cluster {
    /// Loads the kubeconfig (`--kubeconfig`, else `$KUBECONFIG`, else `~/.kube/config`),
    /// connects and runs discovery.
    pub async fn connect(ctx: &Context) -> anyhow::Result<Cluster> {
        let config = match &ctx.kubeconfig {
            Some(path) => {
                let kc = kube::config::Kubeconfig::read_from(path)
                    .with_context(|| format!("cannot read kubeconfig {}", path.display()))?;
                kube::Config::from_custom_kubeconfig(kc, &Default::default())
                    .await
                    .with_context(|| format!("invalid kubeconfig {}", path.display()))?
            }
            None => kube::Config::infer()
                .await
                .context("no kubeconfig found: pass --kubeconfig or set KUBECONFIG")?,
        };
        let namespace = ctx
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        let client = kube::Client::try_from(config).context("cannot build the API client")?;
        let mut cluster = Cluster {
            client,
            registry: Registry::default(),
            namespace,
        };
        cluster.discover().await?;
        Ok(cluster)
    }

    /// Fills the registry from `/api` and `/apis` (preferred versions only, like kubectl).
    async fn discover(&mut self) -> anyhow::Result<()> {
        let mut registry = Registry::default();
        let core = self.get("/api/v1").await?;
        add_resource_list(&mut registry, "", "v1", &core);
        let groups = self.get("/apis").await?;
        for group in groups["groups"].as_array().into_iter().flatten() {
            let name = group["name"].as_str().unwrap_or_default();
            let Some(version) = group["preferredVersion"]["version"].as_str() else {
                continue;
            };
            let list = self.get(&format!("/apis/{name}/{version}")).await?;
            add_resource_list(&mut registry, name, version, &list);
        }
        self.registry = registry;
        Ok(())
    }

    /// Resolves what a user typed (`po`, `deployments.apps`, `Deployment`).
    pub fn resolve(&self, name: &str) -> anyhow::Result<&ResourceInfo> {
        self.registry
            .resolve(name)
            .ok_or_else(|| anyhow!("the server doesn't have a resource type \"{name}\""))
    }

    /// Resolves a manifest's apiVersion and kind.
    pub fn resolve_kind(&self, api_version: &str, kind: &str) -> anyhow::Result<&ResourceInfo> {
        self.registry
            .by_kind(api_version, kind)
            .ok_or_else(|| anyhow!("no matches for kind \"{kind}\" in version \"{api_version}\""))
    }

    /// The namespace to use for `info`: `None` for cluster-scoped resources.
    pub fn namespace_for<'a>(
        &'a self,
        info: &ResourceInfo,
        explicit: Option<&'a str>,
    ) -> Option<&'a str> {
        match info.scope {
            Scope::Cluster => None,
            Scope::Namespaced => Some(explicit.unwrap_or(&self.namespace)),
        }
    }

    /// GET a path and parse the JSON answer.
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(Method::GET, path, None, "application/json").await
    }

    /// Sends a request and parses the JSON answer; API errors come back as `kube::Error::Api`.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Body<'_>>,
        accept: &str,
    ) -> anyhow::Result<Value> {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::ACCEPT, accept);
        let bytes = match body {
            Some(b) => {
                req = req.header(http::header::CONTENT_TYPE, b.content_type);
                b.bytes
            }
            None => Vec::new(),
        };
        let req = req.body(bytes).context("cannot build request")?;
        let text = self.client.request_text(req).await?;
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text)
            .with_context(|| format!("the server sent invalid JSON for {path}"))
    }
}

/// The URL path of a collection or an object.
pub fn resource_path(
    info: &ResourceInfo,
    namespace: Option<&str>,
    name: Option<&str>,
    subresource: Option<&str>,
) -> String {
    let mut path = if info.group.is_empty() {
        format!("/api/{}", info.version)
    } else {
        format!("/apis/{}/{}", info.group, info.version)
    };
    if let (Scope::Namespaced, Some(ns)) = (info.scope, namespace) {
        path.push_str("/namespaces/");
        path.push_str(ns);
    }
    path.push('/');
    path.push_str(&info.plural);
    if let Some(name) = name {
        path.push('/');
        path.push_str(name);
        if let Some(sub) = subresource {
            path.push('/');
            path.push_str(sub);
        }
    }
    path
}

/// `deployment.apps` / `pod`: how kubectl names a resource type in its messages.
pub fn type_name(info: &ResourceInfo) -> String {
    if info.group.is_empty() {
        info.singular.clone()
    } else {
        format!("{}.{}", info.singular, info.group)
    }
}

fn add_resource_list(registry: &mut Registry, group: &str, version: &str, list: &Value) {
    let entries = list["resources"].as_array().cloned().unwrap_or_default();
    for r in &entries {
        let name = r["name"].as_str().unwrap_or_default();
        if name.is_empty() || name.contains('/') {
            continue;
        }
        let strings = |field: &str| -> Vec<String> {
            r[field]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        };
        let prefix = format!("{name}/");
        let subresources = entries
            .iter()
            .filter_map(|s| {
                s["name"]
                    .as_str()?
                    .strip_prefix(&prefix)
                    .map(str::to_string)
            })
            .collect();
        let kind = r["kind"].as_str().unwrap_or_default().to_string();
        let singular = match r["singularName"].as_str() {
            Some(s) if !s.is_empty() => s.to_string(),
            _ => kind.to_ascii_lowercase(),
        };
        registry.upsert(ResourceInfo {
            group: group.to_string(),
            version: version.to_string(),
            kind,
            plural: name.to_string(),
            singular,
            scope: if r["namespaced"].as_bool().unwrap_or(false) {
                Scope::Namespaced
            } else {
                Scope::Cluster
            },
            short_names: strings("shortNames"),
            categories: strings("categories"),
            subresources,
            verbs: strings("verbs"),
        });
    }
}

/// An error whose details were already printed (one line per failed object); the command
/// only needs to exit non-zero.
#[derive(Debug, thiserror::Error)]
#[error("errors were reported above")]
pub struct Reported;

/// One line for any error, worded like kubectl: `Error from server (NotFound): ...` for API
/// errors, `error: ...` for everything else.
pub fn describe_error(err: &anyhow::Error) -> String {
    describe_error_while(err, None)
}

/// Like [`describe_error`], naming what was being done (`error when applying "web.yaml"`).
pub fn describe_error_while(err: &anyhow::Error, doing: Option<&str>) -> String {
    let doing = doing.map(|d| format!("{d}: ")).unwrap_or_default();
    for cause in err.chain() {
        if let Some(kube::Error::Api(status)) = cause.downcast_ref::<kube::Error>() {
            let reason = if status.reason.is_empty() {
                "Unknown".to_string()
            } else {
                status.reason.clone()
            };
            return format!("Error from server ({reason}): {doing}{}", status.message);
        }
    }
    let text = format!("{err:#}");
    format!("error: {doing}{}", text.replace('\n', " "))
}
