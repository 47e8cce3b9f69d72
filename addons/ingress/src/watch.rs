//! Informers on what routes depend on; each change rebuilds the table and the certificates,
//! and Ingresses we serve get our address in their status.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use kube::api::{Patch, PatchParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use serde_json::json;
use tokio::sync::Notify;

use crate::routes::{Table, is_ours};
use crate::server::Shared;
use crate::tls::SniResolver;

fn informer<K>(client: &Client, changed: &Arc<Notify>) -> Store<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store::<K>();
    let stream = reflector::reflector(
        writer,
        watcher(Api::<K>::all(client.clone()), watcher::Config::default()),
    )
    .default_backoff();
    let changed = changed.clone();
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(event) = stream.next().await {
            if event.is_ok() {
                changed.notify_one();
            }
        }
    });
    reader
}

fn owned<K>(store: &Store<K>) -> Vec<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    store.state().iter().map(|k| k.as_ref().clone()).collect()
}

/// Runs until the process ends.
pub async fn run(
    client: Client,
    class: String,
    shared: Arc<Shared>,
    sni: Arc<SniResolver>,
    status_ip: IpAddr,
) -> anyhow::Result<()> {
    let changed = Arc::new(Notify::new());
    let ingresses = informer::<Ingress>(&client, &changed);
    let classes = informer::<IngressClass>(&client, &changed);
    let services = informer::<Service>(&client, &changed);
    let slices = informer::<EndpointSlice>(&client, &changed);
    let secrets = informer::<Secret>(&client, &changed);
    loop {
        changed.notified().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let ings = owned(&ingresses);
        let cls = owned(&classes);
        let table = Table::build(&ings, &cls, &class, &owned(&services), &owned(&slices));
        sni.update(&table.tls, &owned(&secrets));
        *shared.table.write().unwrap_or_else(|e| e.into_inner()) = table;
        for ing in ings.iter().filter(|i| is_ours(i, &cls, &class)) {
            let has = ing
                .status
                .as_ref()
                .and_then(|s| s.load_balancer.as_ref())
                .and_then(|l| l.ingress.as_ref())
                .is_some_and(|i| {
                    i.iter()
                        .any(|i| i.ip.as_deref() == Some(&status_ip.to_string()))
                });
            if has {
                continue;
            }
            let ns = ing.metadata.namespace.clone().unwrap_or_default();
            let name = ing.metadata.name.clone().unwrap_or_default();
            let api: Api<Ingress> = Api::namespaced(client.clone(), &ns);
            let patch =
                json!({"status": {"loadBalancer": {"ingress": [{"ip": status_ip.to_string()}]}}});
            if let Err(e) = api
                .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                tracing::warn!(error = %e, %ns, %name, "ingress status not written");
            }
        }
    }
}
