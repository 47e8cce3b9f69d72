//! `storage`: a claim of the default (CSI, `skiff-hostpath`) StorageClass from create to
//! Bound, and a pod using a freshly provisioned volume from create to Running, beside the
//! same pod without a volume in the same run on the same real `skiff up` node.
//!
//! Times are taken by polling every 10 ms, the same way for both pod kinds, so the polling
//! error is the same on both sides of the comparison.

use crate::report::Figure;
use crate::scenarios::pod_startup::{Cluster, IMAGE, LABEL};
use crate::stats::percentile_ms;
use anyhow::Context as _;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Claims (and pods of each kind) timed, one after the other.
    #[arg(long, default_value_t = 20)]
    pub count: usize,
    /// Longest wait for one claim or pod, in seconds.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
}

const POLL: Duration = Duration::from_millis(10);

pub async fn run(args: Args) -> anyhow::Result<()> {
    let cluster = Cluster::start().await?;
    let result = measure(&cluster, &args).await;
    let cleanup = delete_claims(&cluster).await;
    cluster.shutdown().await;
    let mut figures = result?;
    cleanup?;
    let (mut bound, mut with_volume, mut without) = (
        std::mem::take(&mut figures.0),
        std::mem::take(&mut figures.1),
        std::mem::take(&mut figures.2),
    );
    let bound99 = percentile_ms(&mut bound, 99.0);
    let with99 = percentile_ms(&mut with_volume, 99.0);
    let without99 = percentile_ms(&mut without, 99.0);
    for f in [
        Figure {
            bench: "storage",
            metric: "claim_bound_p50_ms",
            value: percentile_ms(&mut bound, 50.0),
            unit: "ms",
            baseline: None,
        },
        Figure {
            bench: "storage",
            metric: "claim_bound_p99_ms",
            value: bound99,
            unit: "ms",
            baseline: None,
        },
        Figure {
            bench: "storage",
            metric: "pod_with_volume_p50_ms",
            value: percentile_ms(&mut with_volume, 50.0),
            unit: "ms",
            baseline: Some((
                "pod_without_volume_p50_ms",
                percentile_ms(&mut without, 50.0),
            )),
        },
        Figure {
            bench: "storage",
            metric: "pod_with_volume_p99_ms",
            value: with99,
            unit: "ms",
            baseline: Some(("pod_without_volume_p99_ms", without99)),
        },
        Figure {
            bench: "storage",
            metric: "volume_adds_p99_ms",
            value: with99 - without99,
            unit: "ms",
            baseline: None,
        },
    ] {
        f.print();
    }
    Ok(())
}

type Samples = (Vec<Duration>, Vec<Duration>, Vec<Duration>);

async fn measure(cluster: &Cluster, args: &Args) -> anyhow::Result<Samples> {
    let timeout = Duration::from_secs(args.timeout);
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(cluster.client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), "default");

    // Untimed warm-up of both paths (first container of the image, first volume).
    claims
        .create(&PostParams::default(), &claim("warm")?)
        .await?;
    wait_bound(&claims, "bench-warm", timeout).await?;
    start_pod(&pods, "warm-plain", None, timeout).await?;
    start_pod(&pods, "warm-vol", Some("bench-warm"), timeout).await?;

    let mut bound = Vec::with_capacity(args.count);
    for i in 0..args.count {
        let name = format!("bound-{i}");
        let started = Instant::now();
        claims
            .create(&PostParams::default(), &claim(&name)?)
            .await?;
        wait_bound(&claims, &format!("bench-{name}"), timeout).await?;
        bound.push(started.elapsed());
    }
    let mut with_volume = Vec::with_capacity(args.count);
    let mut without = Vec::with_capacity(args.count);
    for i in 0..args.count {
        without.push(start_pod(&pods, &format!("plain-{i}"), None, timeout).await?);
        // A fresh volume: provisioned and bound (timed above) but never used, so the pod's
        // time includes staging and publishing it. A claim still unbound when its pod is
        // created would add the scheduler's retry back-off, as upstream.
        let name = format!("fresh-{i}");
        claims
            .create(&PostParams::default(), &claim(&name)?)
            .await?;
        wait_bound(&claims, &format!("bench-{name}"), timeout).await?;
        let claim_name = format!("bench-{name}");
        with_volume.push(start_pod(&pods, &format!("vol-{i}"), Some(&claim_name), timeout).await?);
    }
    Ok((bound, with_volume, without))
}

fn claim(name: &str) -> anyhow::Result<PersistentVolumeClaim> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": format!("bench-{name}"), "labels": {LABEL: "storage"}},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "16Mi"}},
        },
    }))?)
}

async fn wait_bound(
    claims: &Api<PersistentVolumeClaim>,
    name: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let claim = claims.get(name).await?;
        if claim.status.and_then(|s| s.phase).as_deref() == Some("Bound") {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "claim {name} not Bound in time");
        tokio::time::sleep(POLL).await;
    }
}

/// Creates a sleeping pod (with the claim mounted when given) and returns the time from
/// just before its create call until it is Running.
async fn start_pod(
    pods: &Api<Pod>,
    name: &str,
    claim: Option<&str>,
    timeout: Duration,
) -> anyhow::Result<Duration> {
    let name = format!("bench-{name}");
    let mut spec = json!({
        "terminationGracePeriodSeconds": 0,
        "containers": [{
            "name": "sleep",
            "image": IMAGE,
            "imagePullPolicy": "Never",
            "command": ["sleep", "3600"],
        }],
    });
    if let Some(claim) = claim {
        spec["volumes"] = json!([{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]);
        spec["containers"][0]["volumeMounts"] = json!([{"name": "data", "mountPath": "/data"}]);
    }
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {LABEL: "storage"}},
        "spec": spec,
    }))?;
    let started = Instant::now();
    pods.create(&PostParams::default(), &pod)
        .await
        .with_context(|| format!("cannot create pod {name}"))?;
    let deadline = started + timeout;
    loop {
        let pod = pods.get(&name).await?;
        if pod.status.and_then(|s| s.phase).as_deref() == Some("Running") {
            return Ok(started.elapsed());
        }
        anyhow::ensure!(Instant::now() < deadline, "pod {name} not Running in time");
        tokio::time::sleep(POLL).await;
    }
}

/// Deletes the bench's pods first (so their volumes are unpublished), then its claims.
async fn delete_claims(cluster: &Cluster) -> anyhow::Result<()> {
    let selector = ListParams::default().labels(&format!("{LABEL}=storage"));
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), "default");
    pods.delete_collection(&DeleteParams::default(), &selector)
        .await?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while !pods.list(&selector).await?.items.is_empty() {
        anyhow::ensure!(Instant::now() < deadline, "bench pods are still there");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(cluster.client.clone(), "default");
    claims
        .delete_collection(&DeleteParams::default(), &selector)
        .await?;
    Ok(())
}
