//! The seam for pod subresources that stream (`log`, `exec`, `attach`, `portforward`).
//!
//! The API server does not run containers: the node side implements [`StreamingHandler`]
//! and hands it to [`Config::streaming`](crate::Config::streaming); the router sends these
//! requests to it untouched (including protocol upgrades).

use async_trait::async_trait;
use axum::body::Body;
use axum::response::Response;
use serde_json::Value;

/// One request for a streaming pod subresource.
#[derive(Debug)]
pub struct StreamRequest {
    pub namespace: String,
    pub pod: String,
    /// `log`, `exec`, `attach` or `portforward`.
    pub subresource: String,
    /// The pod as stored, so the handler can find its node and containers.
    pub object: Value,
    /// The full HTTP request (query, headers, upgrade).
    pub request: http::Request<Body>,
}

/// Serves the streaming subresources of pods.
#[async_trait]
pub trait StreamingHandler: Send + Sync + 'static {
    async fn handle(&self, request: StreamRequest) -> Response;
}
