//! What every request handler shares: the store, the registry, CRD details and watch hubs.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::Value;
use skiff_api::{Registry, ResourceInfo};
use skiff_store::Store;
use tokio_util::sync::CancellationToken;

use crate::auth::Authenticator;
use crate::recent::Recent;
use crate::streaming::StreamingHandler;
use crate::watch::WatchHubs;

/// Serving details of one version of a custom resource, from its CRD.
#[derive(Clone, Debug, Default)]
pub struct CustomVersion {
    /// `openAPIV3Schema`, if the version declares one.
    pub schema: Option<Value>,
    /// `additionalPrinterColumns`.
    pub printer_columns: Vec<Value>,
    /// `subresources.scale`: spec, status and label selector JSON paths.
    pub scale: Option<Value>,
}

/// Shared server state.
pub struct ApiState {
    pub store: Arc<dyn Store>,
    pub registry: RwLock<Registry>,
    /// Custom resource versions by (group, version, plural).
    /// Shared, so a request takes its resource's details without copying schemas.
    pub custom: RwLock<HashMap<(String, String, String), Arc<CustomVersion>>>,
    pub watches: WatchHubs,
    /// Objects written or read last, decoded (see [`Recent`]).
    pub recent: Recent,
    pub auth: Authenticator,
    pub streaming: Option<Arc<dyn StreamingHandler>>,
    /// `host:port` clients reach the server at (for discovery's server address).
    pub server_address: RwLock<String>,
    pub bookmark_interval: Duration,
    pub watch_timeout: Duration,
    pub shutdown: CancellationToken,
}

impl ApiState {
    pub fn registry(&self) -> std::sync::RwLockReadGuard<'_, Registry> {
        self.registry.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn registry_mut(&self) -> std::sync::RwLockWriteGuard<'_, Registry> {
        self.registry.write().unwrap_or_else(|e| e.into_inner())
    }

    /// CRD details of a resource, if it is a custom one.
    pub fn custom(&self, info: &ResourceInfo) -> Option<Arc<CustomVersion>> {
        self.custom
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(
                info.group.clone(),
                info.version.clone(),
                info.plural.clone(),
            ))
            .cloned()
    }
}
