//! Polling until a condition holds, with a deadline that fails the test and says what was
//! awaited.

use std::future::Future;
use std::time::Duration;

use kube::api::{DynamicObject, ListParams};
use kube::discovery::ApiResource;
use kube::{Api, Client};
use serde_json::Value;

/// Polls `check` every 100 ms until it returns `Some`, failing after `timeout`.
pub async fn until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the object `name` is gone (deleted and its finalizers done), failing after
/// `timeout` with `what`.
pub async fn until_gone(what: &str, timeout: Duration, api: &Api<DynamicObject>, name: &str) {
    until(what, timeout, || async {
        get(api, name).await.is_none().then_some(())
    })
    .await
}

fn resource(api_version: &str, kind: &str, plural: &str) -> ApiResource {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    ApiResource {
        group: group.to_string(),
        version: version.to_string(),
        api_version: api_version.to_string(),
        kind: kind.to_string(),
        plural: plural.to_string(),
    }
}

/// A namespaced API of any kind, as JSON.
pub fn api(
    client: &Client,
    namespace: &str,
    api_version: &str,
    kind: &str,
    plural: &str,
) -> Api<DynamicObject> {
    Api::namespaced_with(
        client.clone(),
        namespace,
        &resource(api_version, kind, plural),
    )
}

/// The ReplicaSets of `default`.
pub fn replicasets(client: &Client) -> Api<DynamicObject> {
    api(client, "default", "apps/v1", "ReplicaSet", "replicasets")
}

/// A cluster-wide API of any kind, as JSON.
pub fn api_all(client: &Client, api_version: &str, kind: &str, plural: &str) -> Api<DynamicObject> {
    Api::all_with(client.clone(), &resource(api_version, kind, plural))
}

/// Every object of an API, as JSON.
pub async fn list(api: &Api<DynamicObject>) -> Vec<Value> {
    api.list(&ListParams::default())
        .await
        .expect("list")
        .items
        .into_iter()
        .map(|o| serde_json::to_value(o).expect("json"))
        .collect()
}

/// One object, as JSON, or `None`.
pub async fn get(api: &Api<DynamicObject>, name: &str) -> Option<Value> {
    api.get_opt(name)
        .await
        .expect("get")
        .map(|o| serde_json::to_value(o).expect("json"))
}

/// Whether a pod is Ready.
pub fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

/// Whether an object is being deleted.
pub fn is_deleting(obj: &Value) -> bool {
    !obj["metadata"]["deletionTimestamp"].is_null()
}

/// The object's name.
pub fn name(obj: &Value) -> String {
    obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Whether a condition of `kind` is True.
pub fn condition(obj: &Value, kind: &str) -> Option<Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
        .cloned()
}
