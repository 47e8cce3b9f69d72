//! Resolving `apiVersion` + `kind` to a served resource (URL path, scope) through discovery,
//! remembered once found.

use std::collections::HashMap;
use std::sync::Mutex;

use kube::api::{ApiResource, GroupVersionKind};
use kube::discovery::Scope;
use kube::{Api, Client};

use crate::controller::KindRef;
use crate::json_object::JsonObject;

/// Why a kind could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Discovery failed or the server does not serve the kind.
    #[error("kind {kind} is not served")]
    NotServed {
        /// The kind asked for.
        kind: KindRef,
        /// What discovery answered.
        #[source]
        source: kube::Error,
    },
}

/// A served kind.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Group, version, kind and plural.
    pub resource: ApiResource,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
}

/// The resolver, shared by every cache and controller of a host.
pub struct Resources {
    client: Client,
    known: Mutex<HashMap<KindRef, Resolved>>,
    discovery: crate::discovery::Discovery,
}

impl Resources {
    /// A resolver over `client`.
    pub fn new(client: Client) -> Self {
        Resources {
            discovery: crate::discovery::Discovery::new(client.clone()),
            client,
            known: Mutex::new(HashMap::new()),
        }
    }

    /// The client requests go through.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Every served resource, kept between CRD changes (see [`crate::discovery`]).
    pub fn discovery(&self) -> &crate::discovery::Discovery {
        &self.discovery
    }

    /// Resolves a kind, asking discovery the first time.
    pub async fn resolve(&self, kind: &KindRef) -> Result<Resolved, Error> {
        if let Some(found) = self.known.lock().unwrap().get(kind) {
            return Ok(found.clone());
        }
        let (group, version) = match kind.api_version.rsplit_once('/') {
            Some((group, version)) => (group, version),
            None => ("", kind.api_version.as_str()),
        };
        let gvk = GroupVersionKind::gvk(group, version, &kind.kind);
        let (resource, capabilities) = kube::discovery::pinned_kind(&self.client, &gvk)
            .await
            .map_err(|source| Error::NotServed {
                kind: kind.clone(),
                source,
            })?;
        let resolved = Resolved {
            resource,
            namespaced: capabilities.scope == Scope::Namespaced,
        };
        self.known
            .lock()
            .unwrap()
            .insert(kind.clone(), resolved.clone());
        Ok(resolved)
    }

    /// An API handle for one namespace (`""` = all namespaces, or a cluster-scoped kind).
    pub fn api(&self, resolved: &Resolved, namespace: &str) -> Api<JsonObject> {
        if resolved.namespaced && !namespace.is_empty() {
            Api::namespaced_with(self.client.clone(), namespace, &resolved.resource)
        } else {
            Api::all_with(self.client.clone(), &resolved.resource)
        }
    }
}
