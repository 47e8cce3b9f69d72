//! Pod `log` and `exec` for the API server: the node side of its streaming seam.
//!
//! [`NodeStreaming`] serves one node in-process, from the runtime's containers and log
//! files. [`StreamingRouter`] picks the node's handler by the pod's `spec.nodeName`; a
//! remote node's handler can later be one that forwards to that node's kubelet endpoint.

pub mod exec;
pub mod logs;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use axum::body::Body;
use axum::response::Response;
use serde_json::{Value, json};
use skiff_apiserver::{StreamRequest, StreamingHandler};

use crate::config::KubeletConfig;
use crate::pod::worker::ATTEMPT_LABEL;
use crate::runtime::{ContainerRuntime, ContainerStatus};

/// A `Status` error response, as the API server writes them.
pub fn status_response(code: u16, reason: &str, message: &str) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code,
    });
    Response::builder()
        .status(code)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap_or_default()
}

/// The query parameters of a request, repeated keys kept in order.
pub fn query(request: &http::Request<Body>) -> Vec<(String, String)> {
    let q = request.uri().query().unwrap_or("");
    url_pairs(q)
}

fn url_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Percent-decoding of a query component (by hand: a dozen lines, no extra dependency).
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The first value of `key`.
pub fn param<'a>(query: &'a [(String, String)], key: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Whether a boolean parameter is set (`true` or `1`).
pub fn flag(query: &[(String, String)], key: &str) -> bool {
    matches!(param(query, key), Some("true" | "1"))
}

/// Picks the container a request means: `container=` or the pod's only one.
pub fn container_name(object: &Value, query: &[(String, String)]) -> Result<String, Box<Response>> {
    if let Some(c) = param(query, "container").filter(|c| !c.is_empty()) {
        return Ok(c.to_string());
    }
    let names: Vec<String> = object
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
        .collect();
    match names.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(Box::new(status_response(
            400,
            "BadRequest",
            &format!(
                "a container name must be specified for pod {}, choose one of: [{}]",
                object
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or(""),
                names.join(" ")
            ),
        ))),
    }
}

/// The runtime's attempts of one container of a pod, newest first.
pub async fn attempts(
    runtime: &dyn ContainerRuntime,
    pod_uid: &str,
    container: &str,
) -> Vec<ContainerStatus> {
    let mut list: Vec<(u32, ContainerStatus)> = runtime
        .list()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.pod().uid == pod_uid && c.container_name() == Some(container))
        .map(|c| {
            let attempt = c
                .labels
                .get(ATTEMPT_LABEL)
                .and_then(|a| a.parse().ok())
                .unwrap_or(0);
            (attempt, c)
        })
        .collect();
    list.sort_by_key(|(a, _)| std::cmp::Reverse(*a));
    list.into_iter().map(|(_, c)| c).collect()
}

/// Serves the streaming subresources of one node's pods, in-process.
#[derive(Clone)]
pub struct NodeStreaming {
    runtime: Arc<dyn ContainerRuntime>,
    config: Arc<KubeletConfig>,
}

impl std::fmt::Debug for NodeStreaming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeStreaming")
            .field("node", &self.config.node_name)
            .finish_non_exhaustive()
    }
}

impl NodeStreaming {
    pub fn new(runtime: Arc<dyn ContainerRuntime>, config: KubeletConfig) -> Self {
        NodeStreaming {
            runtime,
            config: Arc::new(config),
        }
    }
}

#[async_trait]
impl StreamingHandler for NodeStreaming {
    async fn handle(&self, request: StreamRequest) -> Response {
        match request.subresource.as_str() {
            "log" => logs::serve(self.runtime.clone(), request).await,
            "exec" => exec::serve(self.runtime.clone(), request).await,
            other => status_response(
                400,
                "BadRequest",
                &format!("the {other} subresource is not supported by this node"),
            ),
        }
    }
}

/// Sends each request to the handler of the pod's node.
#[derive(Default)]
pub struct StreamingRouter {
    nodes: RwLock<HashMap<String, Arc<dyn StreamingHandler>>>,
}

impl std::fmt::Debug for StreamingRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let nodes: BTreeMap<String, ()> = self
            .nodes
            .read()
            .unwrap()
            .keys()
            .map(|k| (k.clone(), ()))
            .collect();
        f.debug_struct("StreamingRouter")
            .field("nodes", &nodes.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl StreamingRouter {
    /// Serves `node`'s pods with `handler` (replacing an earlier one).
    pub fn register(&self, node: &str, handler: Arc<dyn StreamingHandler>) {
        self.nodes
            .write()
            .unwrap()
            .insert(node.to_string(), handler);
    }

    pub fn unregister(&self, node: &str) {
        self.nodes.write().unwrap().remove(node);
    }
}

#[async_trait]
impl StreamingHandler for StreamingRouter {
    async fn handle(&self, request: StreamRequest) -> Response {
        let node = request
            .object
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let handler = self.nodes.read().unwrap().get(&node).cloned();
        match handler {
            Some(h) => h.handle(request).await,
            None if node.is_empty() => status_response(
                400,
                "BadRequest",
                &format!("pod {} does not have a host assigned", request.pod),
            ),
            None => status_response(
                404,
                "NotFound",
                &format!("node {node} does not serve streaming requests"),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_decoded_and_repeats_kept() {
        let q = url_pairs("command=sh&command=-c&command=echo%20hi%3B+x&container=a");
        let cmd: Vec<&str> = q
            .iter()
            .filter(|(k, _)| k == "command")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(cmd, vec!["sh", "-c", "echo hi; x"]);
        assert_eq!(param(&q, "container"), Some("a"));
    }
}
