//! Reading the objects pods refer to: ConfigMaps and Secrets (env and volumes), claims and
//! their volumes (CSI volumes).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolume, PersistentVolumeClaim, Secret};
use kube::{Api, Client};

/// Errors reading referenced objects.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to read {kind} {namespace}/{name}")]
    Read {
        kind: &'static str,
        namespace: String,
        name: String,
        #[source]
        source: Box<kube::Error>,
    },
}

/// The key/value data of a ConfigMap or Secret (Secret values decoded).
pub type Data = BTreeMap<String, Vec<u8>>;

/// Read access to the objects pods refer to; `None` when the object does not exist.
#[async_trait]
pub trait Objects: Send + Sync {
    async fn config_map(&self, namespace: &str, name: &str) -> Result<Option<Data>, Error>;
    async fn secret(&self, namespace: &str, name: &str) -> Result<Option<Data>, Error>;
    async fn claim(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<PersistentVolumeClaim>, Error>;
    async fn persistent_volume(&self, name: &str) -> Result<Option<PersistentVolume>, Error>;
}

/// [`Objects`] through the API.
#[derive(Clone)]
pub struct ApiObjects {
    client: Client,
}

impl std::fmt::Debug for ApiObjects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiObjects").finish_non_exhaustive()
    }
}

impl ApiObjects {
    pub fn new(client: Client) -> Self {
        ApiObjects { client }
    }
}

/// The data of a ConfigMap: `data` as bytes plus `binaryData`.
pub fn config_map_data(cm: &ConfigMap) -> Data {
    let mut data: Data = cm
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
        .collect();
    for (k, v) in cm.binary_data.iter().flatten() {
        data.insert(k.clone(), v.0.clone());
    }
    data
}

/// The data of a Secret: `data` plus `stringData`.
pub fn secret_data(secret: &Secret) -> Data {
    let mut data: Data = secret
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect();
    for (k, v) in secret.string_data.iter().flatten() {
        data.insert(k.clone(), v.clone().into_bytes());
    }
    data
}

#[async_trait]
impl Objects for ApiObjects {
    async fn config_map(&self, namespace: &str, name: &str) -> Result<Option<Data>, Error> {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), namespace);
        let cm = api.get_opt(name).await.map_err(|source| Error::Read {
            source: Box::new(source),
            kind: "configmap",
            namespace: namespace.into(),
            name: name.into(),
        })?;
        Ok(cm.as_ref().map(config_map_data))
    }

    async fn secret(&self, namespace: &str, name: &str) -> Result<Option<Data>, Error> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let secret = api.get_opt(name).await.map_err(|source| Error::Read {
            source: Box::new(source),
            kind: "secret",
            namespace: namespace.into(),
            name: name.into(),
        })?;
        Ok(secret.as_ref().map(secret_data))
    }

    async fn claim(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<PersistentVolumeClaim>, Error> {
        let api: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), namespace);
        api.get_opt(name).await.map_err(|source| Error::Read {
            source: Box::new(source),
            kind: "persistentvolumeclaim",
            namespace: namespace.into(),
            name: name.into(),
        })
    }

    async fn persistent_volume(&self, name: &str) -> Result<Option<PersistentVolume>, Error> {
        let api: Api<PersistentVolume> = Api::all(self.client.clone());
        api.get_opt(name).await.map_err(|source| Error::Read {
            source: Box::new(source),
            kind: "persistentvolume",
            namespace: String::new(),
            name: name.into(),
        })
    }
}

/// In-memory [`Objects`], for tests and for simulated nodes without an API.
#[derive(Debug, Default)]
pub struct MemoryObjects {
    config_maps: Mutex<HashMap<(String, String), Data>>,
    secrets: Mutex<HashMap<(String, String), Data>>,
    claims: Mutex<HashMap<(String, String), PersistentVolumeClaim>>,
    volumes: Mutex<HashMap<String, PersistentVolume>>,
}

impl MemoryObjects {
    pub fn put_config_map(&self, namespace: &str, name: &str, data: Data) {
        self.config_maps
            .lock()
            .unwrap()
            .insert((namespace.into(), name.into()), data);
    }

    pub fn put_secret(&self, namespace: &str, name: &str, data: Data) {
        self.secrets
            .lock()
            .unwrap()
            .insert((namespace.into(), name.into()), data);
    }

    /// Stores a claim under its namespace and name.
    pub fn put_claim(&self, claim: PersistentVolumeClaim) {
        let key = (
            claim.metadata.namespace.clone().unwrap_or_default(),
            claim.metadata.name.clone().unwrap_or_default(),
        );
        self.claims.lock().unwrap().insert(key, claim);
    }

    /// Stores a PersistentVolume under its name.
    pub fn put_persistent_volume(&self, volume: PersistentVolume) {
        let name = volume.metadata.name.clone().unwrap_or_default();
        self.volumes.lock().unwrap().insert(name, volume);
    }
}

#[async_trait]
impl Objects for MemoryObjects {
    async fn config_map(&self, namespace: &str, name: &str) -> Result<Option<Data>, Error> {
        Ok(self
            .config_maps
            .lock()
            .unwrap()
            .get(&(namespace.into(), name.into()))
            .cloned())
    }

    async fn secret(&self, namespace: &str, name: &str) -> Result<Option<Data>, Error> {
        Ok(self
            .secrets
            .lock()
            .unwrap()
            .get(&(namespace.into(), name.into()))
            .cloned())
    }

    async fn claim(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<PersistentVolumeClaim>, Error> {
        Ok(self
            .claims
            .lock()
            .unwrap()
            .get(&(namespace.into(), name.into()))
            .cloned())
    }

    async fn persistent_volume(&self, name: &str) -> Result<Option<PersistentVolume>, Error> {
        Ok(self.volumes.lock().unwrap().get(name).cloned())
    }
}
