//! The skiff API server: the Kubernetes REST API (JSON and YAML, discovery, OpenAPI, watch,
//! subresources, CustomResourceDefinitions) over a skiff [`Store`](skiff_store::Store).
//!
//! [`start`] serves HTTPS with a generated PKI and writes an admin kubeconfig, so the real
//! `kubectl` and kube-rs clients work against it unchanged.

// Handlers return the API `Status` by value: it is built once per failed request, so its
// size does not matter and boxing it everywhere would only add noise.
#![allow(clippy::result_large_err)]

mod auth;
mod body;
mod config;
mod crd;
mod default_class;
mod discovery;
mod disruption;
mod handlers;
mod kubeconfig;
mod local;
mod machinery;
mod namespaces;
mod objects;
mod openapi;
mod partial;
mod recent;
mod request;
mod response;
mod server;
mod services;
mod state;
mod streaming;
mod tls;
mod watch;

pub use auth::User;
pub use config::Config;
pub use local::LocalService;
pub use server::{Error, Server, start};
pub use services::{ServiceRanges, service_ranges, set_service_ranges};
pub use streaming::{StreamRequest, StreamingHandler};
