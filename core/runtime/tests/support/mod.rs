//! Test harness: an in-process API server on a free loopback port over the embedded store in
//! a temporary directory, a kube-rs client, a CRD for `Website` objects and polling helpers.

#![allow(dead_code)]

use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DynamicObject, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};
use skiff_apiserver::{Config, Server};

pub struct ApiServer {
    pub server: Option<Server>,
    pub dir: tempfile::TempDir,
    pub client: Client,
}

impl ApiServer {
    pub async fn start() -> ApiServer {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::new(dir.path().join("apiserver"));
        config.listen = "127.0.0.1:0".parse().unwrap();
        let server = skiff_apiserver::start(config).await.unwrap();
        let kubeconfig = kube::config::Kubeconfig::read_from(server.kubeconfig_path()).unwrap();
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .unwrap();
        let client = Client::try_from(config).unwrap();
        ApiServer {
            server: Some(server),
            dir,
            client,
        }
    }

    /// A fresh directory inside the test's temporary directory.
    pub fn subdir(&self, name: &str) -> std::path::PathBuf {
        let path = self.dir.path().join(name);
        std::fs::create_dir_all(&path).unwrap();
        path
    }

    /// Installs the `websites.example.skiff.dev` CRD (namespaced, status subresource).
    pub async fn install_website_crd(&self) {
        let crd: CustomResourceDefinition = serde_json::from_value(json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": { "name": "websites.example.skiff.dev" },
            "spec": {
                "group": "example.skiff.dev",
                "scope": "Namespaced",
                "names": { "plural": "websites", "singular": "website", "kind": "Website", "listKind": "WebsiteList" },
                "versions": [{
                    "name": "v1", "served": true, "storage": true,
                    "subresources": { "status": {} },
                    "schema": { "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": true,
                    }},
                }],
            },
        }))
        .unwrap();
        let api: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        api.create(&PostParams::default(), &crd).await.unwrap();
        // Wait until the kind is served.
        let client = self.client.clone();
        eventually("website kind served", Duration::from_secs(20), || {
            let client = client.clone();
            async move {
                websites(&client, "default")
                    .list(&Default::default())
                    .await
                    .ok()
                    .map(drop)
            }
        })
        .await;
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        if let Some(server) = self.server.take()
            && let Ok(handle) = tokio::runtime::Handle::try_current()
        {
            handle.spawn(server.shutdown());
        }
    }
}

pub fn website_resource() -> ApiResource {
    ApiResource {
        group: "example.skiff.dev".into(),
        version: "v1".into(),
        api_version: "example.skiff.dev/v1".into(),
        kind: "Website".into(),
        plural: "websites".into(),
    }
}

pub fn websites(client: &Client, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), namespace, &website_resource())
}

pub fn dynamic(value: Value) -> DynamicObject {
    serde_json::from_value(value).unwrap()
}

pub async fn create_website(client: &Client, name: &str, spec: Value) -> DynamicObject {
    websites(client, "default")
        .create(
            &PostParams::default(),
            &dynamic(json!({
                "apiVersion": "example.skiff.dev/v1", "kind": "Website",
                "metadata": { "name": name, "namespace": "default" },
                "spec": spec,
            })),
        )
        .await
        .unwrap()
}

/// Polls `check` every 100 ms until it returns `Some`, failing the test after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn write(dir: &Path, file: &str, text: &str) {
    // Write then rename, so the watcher never sees half a file.
    let tmp = dir.join(format!(".{file}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, dir.join(file)).unwrap();
}

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}
