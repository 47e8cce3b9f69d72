//! An API server on 127.0.0.1:0 over the embedded store in a temporary directory.

use std::time::Duration;

use skiff_apiserver::{Config, Server};

pub struct Cluster {
    pub server: Server,
    pub dir: tempfile::TempDir,
}

impl Cluster {
    pub async fn start() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::new(dir.path());
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.bookmark_interval = Duration::from_secs(1);
        let server = skiff_apiserver::start(config).await.unwrap();
        Cluster { server, dir }
    }

    pub async fn client(&self) -> kube::Client {
        let kc = kube::config::Kubeconfig::read_from(self.server.kubeconfig_path()).unwrap();
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .unwrap();
        kube::Client::try_from(config).unwrap()
    }

    /// Creates any object from JSON through the API.
    pub async fn create(&self, obj: serde_json::Value) -> serde_json::Value {
        let client = self.client().await;
        let api_version = obj["apiVersion"].as_str().unwrap().to_string();
        let kind = obj["kind"].as_str().unwrap().to_string();
        let ns = obj["metadata"]["namespace"].as_str().unwrap_or("default");
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), api_version.clone()),
        };
        let gvk = kube::api::GroupVersionKind::gvk(&group, &version, &kind);
        let (ar, _) = kube::discovery::pinned_kind(&client, &gvk).await.unwrap();
        let api: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(client, ns, &ar);
        let dynamic: kube::api::DynamicObject = serde_json::from_value(obj).unwrap();
        let created = api
            .create(&Default::default(), &dynamic)
            .await
            .unwrap_or_else(|e| panic!("create {kind}: {e}"));
        serde_json::to_value(created).unwrap()
    }
}
