//! `skiff controllers`: the controllers a running `skiff up` has loaded, with their source,
//! version, state and last error.
//!
//! `skiff up` publishes its controller host's view to the ConfigMap
//! `kube-system/skiff-controllers` (one JSON entry per controller), so this command — and
//! `kubectl get configmap skiff-controllers -n kube-system -o yaml` — can read it remotely.

use crate::client::{Cluster, Context};
use crate::printer;
use serde_json::{Value, json};
use std::time::Duration;

/// Namespace and name of the published status.
pub const NAMESPACE: &str = "kube-system";
pub const NAME: &str = "skiff-controllers";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print the full last error of each controller instead of its first line.
    #[arg(long)]
    pub errors: bool,
}

pub async fn run(ctx: &Context, args: Args) -> anyhow::Result<()> {
    let cluster = Cluster::connect(ctx).await?;
    let cm = cluster
        .get(&format!("/api/v1/namespaces/{NAMESPACE}/configmaps/{NAME}"))
        .await?;
    let mut lines = vec![vec![
        "NAME".to_string(),
        "STATE".into(),
        "VERSION".into(),
        "RECONCILES".into(),
        "ERRORS".into(),
        "SOURCE".into(),
        "LAST ERROR".into(),
    ]];
    let data = cm["data"].as_object().cloned().unwrap_or_default();
    for (name, entry) in &data {
        let e: Value = serde_json::from_str(entry.as_str().unwrap_or("{}")).unwrap_or_default();
        let last = e["lastError"].as_str().unwrap_or("");
        let last = if args.errors {
            last.to_string()
        } else {
            last.lines().next().unwrap_or("").to_string()
        };
        lines.push(vec![
            name.clone(),
            e["state"].as_str().unwrap_or("").into(),
            e["version"].as_str().unwrap_or("").into(),
            e["reconciles"].to_string(),
            e["errors"].to_string(),
            e["source"].as_str().unwrap_or("").into(),
            if last.is_empty() {
                "<none>".into()
            } else {
                last
            },
        ]);
    }
    print!("{}", printer::align(&lines));
    Ok(())
}

/// The ConfigMap data describing `controllers`.
pub fn status_data(
    controllers: &[skiff_runtime::ControllerInfo],
) -> serde_json::Map<String, Value> {
    controllers
        .iter()
        .map(|c| {
            let state = match c.state {
                skiff_runtime::ControllerState::Running => "Running",
                skiff_runtime::ControllerState::Failed => "Failed",
                skiff_runtime::ControllerState::Disabled => "Disabled",
            };
            let entry = json!({
                "source": c.source.display().to_string(),
                "version": c.version,
                "state": state,
                "reconciles": c.reconciles,
                "errors": c.errors,
                "lastError": c.last_error,
            });
            (c.name.clone(), Value::String(entry.to_string()))
        })
        .collect()
}

/// Publishes the host's controllers every few seconds until the task is dropped, writing
/// only when something changed.
pub async fn publish(client: kube::Client, host: std::sync::Arc<skiff_runtime::Host>) {
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::{Api, Patch, PatchParams};
    let api: Api<ConfigMap> = Api::namespaced(client, NAMESPACE);
    let params = PatchParams::apply("skiff-controllers").force();
    let mut last = serde_json::Map::new();
    loop {
        let data = status_data(&host.controllers());
        if data != last {
            let body = json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": NAME, "namespace": NAMESPACE},
                "data": data,
            });
            match api.patch(NAME, &params, &Patch::Apply(&body)).await {
                Ok(_) => last = data,
                Err(e) => tracing::warn!(error = %e, "cannot publish controller status"),
            }
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
}
