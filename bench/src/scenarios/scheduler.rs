//! `scheduler`: the real `skiff up` with simulated nodes (no kubelet, no proxy) places
//! Deployments' pods; figures are pods/s from the first create to the last bind, the p99
//! per-pod scheduling latency and the process's peak memory, without and with required pod
//! anti-affinity. The baseline is the API floor: the rate at which as many pods with
//! `spec.nodeName` preset can be created, in a fresh `skiff up` of the same size.

use crate::report::Figure;
use crate::stats::percentile_ms;
use anyhow::Context;
use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::watcher;
use serde::Deserialize;
use serde_json::{Value, json};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Simulated nodes.
    #[arg(long, default_value_t = 1000)]
    pub nodes: usize,
    /// Pods per phase.
    #[arg(long, default_value_t = 10_000)]
    pub pods: usize,
    /// Replicas per Deployment (the pods are split into Deployments of this size).
    #[arg(long, default_value_t = 100)]
    pub replicas: usize,
    /// Replicas per Deployment in the anti-affinity phase (fewer than nodes, so they fit).
    #[arg(long, default_value_t = 500)]
    pub anti_replicas: usize,
    /// Concurrent API writers when creating objects.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Longest wait for one phase's pods to be bound.
    #[arg(long, default_value_t = 300)]
    pub timeout_s: u64,
    /// The `skiff` binary (default: next to `skiff-bench`).
    #[arg(long)]
    pub skiff: Option<PathBuf>,
    /// The phases to run (all by default); fewer make a shorter profiling run.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "floor,deployments,anti-affinity"
    )]
    pub phases: Vec<PhaseName>,
    /// One more argument for `skiff up` (repeatable), e.g. `--up-arg=--builtin-controllers-dir=DIR`
    /// to compare controller scripts on the same binary.
    #[arg(long, allow_hyphen_values = true)]
    pub up_arg: Vec<String>,
}

/// One phase of the scenario, each on a fresh `skiff up`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhaseName {
    /// Pods created with `spec.nodeName` preset (the API floor, the baseline).
    Floor,
    /// Deployments of `--replicas`.
    Deployments,
    /// Deployments of `--anti-replicas` with required hostname anti-affinity.
    AntiAffinity,
}

/// One phase's figures.
struct Phase {
    pods_per_s: f64,
    p99_ms: f64,
    peak_mib: f64,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.replicas > 0 && args.anti_replicas > 0 && args.pods > 0,
        "--pods, --replicas and --anti-replicas must be positive"
    );
    anyhow::ensure!(
        args.anti_replicas <= args.nodes,
        "--anti-replicas must not exceed --nodes: one replica per node"
    );
    let skiff = match &args.skiff {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("skiff"),
    };
    anyhow::ensure!(
        skiff.exists(),
        "{} not found: build it with cargo build --release -p skiff-cli",
        skiff.display()
    );

    let runs = |phase| args.phases.contains(&phase);
    let floor = if runs(PhaseName::Floor) {
        let up = SkiffUp::start(&skiff, &args).await?;
        let rate = create_bound_pods(&up.client, &args).await?;
        eprintln!(
            "api floor: {rate:.0} pods/s with nodeName preset, peak {:.0} MiB",
            up.peak_mib()?
        );
        Some(rate)
    } else {
        None
    };
    let mut phases = Vec::new();
    for (name, prefix, per_deployment, anti) in [
        (PhaseName::Deployments, "", args.replicas, false),
        (
            PhaseName::AntiAffinity,
            "anti_affinity_",
            args.anti_replicas,
            true,
        ),
    ] {
        if !runs(name) {
            continue;
        }
        let up = SkiffUp::start(&skiff, &args).await?;
        let phase = schedule(&up, &args, per_deployment, anti).await?;
        eprintln!(
            "{name:?}: {:.0} pods/s, p99 {:.0} ms, peak {:.0} MiB",
            phase.pods_per_s, phase.p99_ms, phase.peak_mib
        );
        phases.push((prefix, phase));
    }
    if let Some(floor) = floor {
        Figure {
            bench: "scheduler",
            metric: "api_bound_pod_create_per_s",
            value: floor,
            unit: "pods/s",
            baseline: None,
        }
        .print();
    }
    for (prefix, p) in &phases {
        Figure {
            bench: "scheduler",
            metric: &format!("{prefix}pods_per_s"),
            value: p.pods_per_s,
            unit: "pods/s",
            baseline: floor.map(|f| ("api_bound_pod_create_per_s", f)),
        }
        .print();
        Figure {
            bench: "scheduler",
            metric: &format!("{prefix}p99_latency_ms"),
            value: p.p99_ms,
            unit: "ms",
            baseline: None,
        }
        .print();
        Figure {
            bench: "scheduler",
            metric: &format!("{prefix}peak_rss_mib"),
            value: p.peak_mib,
            unit: "MiB",
            baseline: None,
        }
        .print();
    }
    Ok(())
}

/// A `skiff up` child process on a temp data dir and a free port; killed on drop.
struct SkiffUp {
    child: Child,
    client: kube::Client,
    _dir: tempfile::TempDir,
}

impl SkiffUp {
    async fn start(skiff: &Path, args: &Args) -> anyhow::Result<SkiffUp> {
        let nodes = args.nodes;
        let dir = tempfile::tempdir()?;
        let mut child = Command::new(skiff)
            .arg("up")
            .arg("--data-dir")
            .arg(dir.path())
            .args(["--listen", "127.0.0.1:0", "--disable", "kubelet,proxy"])
            .arg("--sim-nodes")
            .arg(nodes.to_string())
            .args(&args.up_arg)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot run {}", skiff.display()))?;
        // Printed so a profiler can be attached to the server under load.
        eprintln!("skiff up pid {}", child.id());
        let stdout = child.stdout.take().context("no stdout")?;
        // The ready line names the kubeconfig: `... use it with: kubectl --kubeconfig PATH`.
        let ready = tokio::task::spawn_blocking(move || {
            for line in BufReader::new(stdout).lines() {
                let line = line.ok()?;
                if let Some((_, path)) = line.split_once("--kubeconfig ") {
                    return Some(PathBuf::from(path.trim()));
                }
            }
            None
        });
        let kubeconfig = match tokio::time::timeout(Duration::from_secs(120), ready).await {
            Ok(Ok(Some(path))) => path,
            _ => {
                let _ = child.kill();
                anyhow::bail!("skiff up did not print its ready line");
            }
        };
        let kc = kube::config::Kubeconfig::read_from(&kubeconfig)?;
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
        let client = kube::Client::try_from(config)?;
        let up = SkiffUp {
            child,
            client,
            _dir: dir,
        };
        up.wait_for_nodes(nodes).await?;
        Ok(up)
    }

    async fn wait_for_nodes(&self, want: usize) -> anyhow::Result<()> {
        let api: Api<Node> = Api::all(self.client.clone());
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let ready = api
                .list(&ListParams::default())
                .await?
                .items
                .iter()
                .filter(|n| {
                    n.status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
                })
                .count();
            if ready >= want {
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "only {ready} of {want} simulated nodes became ready"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// The process's peak resident memory (`VmHWM`), in MiB.
    fn peak_mib(&self) -> anyhow::Result<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .context("no VmHWM in /proc/PID/status")?;
        Ok(kib / 1024.0)
    }
}

impl Drop for SkiffUp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn namespace(client: &kube::Client, name: &str) -> anyhow::Result<()> {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}}))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await?;
    Ok(())
}

fn pod_template(labels: &Value, anti: bool) -> Value {
    let mut spec = json!({"containers": [{"name": "c", "image": "skiff.local/busybox:latest",
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]});
    if anti {
        spec["affinity"] = json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": labels}, "topologyKey": "kubernetes.io/hostname"}]}});
    }
    json!({"metadata": {"labels": labels}, "spec": spec})
}

/// The API floor: creates `pods` pods already bound to the simulated nodes; pods/s.
async fn create_bound_pods(client: &kube::Client, args: &Args) -> anyhow::Result<f64> {
    namespace(client, "floor").await?;
    let api: Api<Pod> = Api::namespaced(client.clone(), "floor");
    let started = Instant::now();
    stream::iter(0..args.pods)
        .map(|i| {
            let api = api.clone();
            let mut pod = pod_template(&json!({"app": "floor"}), false);
            pod["metadata"]["name"] = json!(format!("floor-{i}"));
            pod["spec"]["nodeName"] = json!(format!("sim-{}", i % args.nodes));
            async move {
                let pod: Pod = serde_json::from_value(pod)?;
                api.create(&PostParams::default(), &pod).await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(args.concurrency)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(args.pods as f64 / started.elapsed().as_secs_f64())
}

/// What the bench reads of a pod: its name, resourceVersion and node. The client shares the
/// machine with the server it measures, and decoding every watched pod whole (spec, status,
/// managed fields) made its CPU time in a run about half as much again (2.2–2.9 s against
/// 1.4–1.9 s); the rest of each event is skipped unread.
#[derive(Clone, Debug)]
struct Placement {
    metadata: ObjectMeta,
    node: Option<String>,
}

impl<'de> Deserialize<'de> for Placement {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Meta {
            name: Option<String>,
            namespace: Option<String>,
            resource_version: Option<String>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Spec {
            node_name: Option<String>,
        }
        #[derive(Deserialize)]
        struct Raw {
            metadata: Meta,
            spec: Option<Spec>,
        }
        let raw = Raw::deserialize(d)?;
        Ok(Placement {
            metadata: ObjectMeta {
                name: raw.metadata.name,
                namespace: raw.metadata.namespace,
                resource_version: raw.metadata.resource_version,
                ..ObjectMeta::default()
            },
            node: raw.spec.and_then(|s| s.node_name),
        })
    }
}

impl kube::Resource for Placement {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("Pod")
    }
    fn group(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("")
    }
    fn version(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("v1")
    }
    fn plural(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("pods")
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// Creates Deployments totalling `args.pods` pods and waits for every pod to be bound,
/// timing each pod from its appearance to its binding as seen by a watch.
async fn schedule(
    up: &SkiffUp,
    args: &Args,
    per_deployment: usize,
    anti: bool,
) -> anyhow::Result<Phase> {
    let ns = "sched";
    namespace(&up.client, ns).await?;
    let pods: Api<Placement> = Api::namespaced(up.client.clone(), ns);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    // Watch before creating anything, so every pod's creation is seen.
    let watch = tokio::spawn(async move {
        let mut events = watcher::watcher(pods, watcher::Config::default()).boxed();
        while let Some(ev) = events.next().await {
            let now = Instant::now();
            let pods = match ev {
                Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p)) => vec![p],
                _ => continue,
            };
            for p in pods {
                let bound = p.node.is_some();
                let name = p.metadata.name.unwrap_or_default();
                if tx.send((name, bound, now)).is_err() {
                    return;
                }
            }
        }
    });
    let deployments: Api<Deployment> = Api::namespaced(up.client.clone(), ns);
    let count = args.pods.div_ceil(per_deployment);
    let started = Instant::now();
    stream::iter(0..count)
        .map(|i| {
            let api = deployments.clone();
            let name = format!("app-{i}");
            let replicas = per_deployment.min(args.pods - i * per_deployment);
            let labels = json!({"app": name});
            let d = json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": name},
                "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                    "template": pod_template(&labels, anti)}});
            async move {
                let d: Deployment = serde_json::from_value(d)?;
                api.create(&PostParams::default(), &d).await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(args.concurrency)
        .try_collect::<Vec<_>>()
        .await?;
    let mut seen: HashMap<String, Instant> = HashMap::new();
    let mut done: HashSet<String> = HashSet::new();
    let mut latencies: Vec<Duration> = Vec::with_capacity(args.pods);
    let mut last_bind = started;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout_s);
    while latencies.len() < args.pods {
        let (name, bound, at) = match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(x)) => x,
            Ok(None) => anyhow::bail!("the pod watch ended"),
            Err(_) => anyhow::bail!(
                "only {} of {} pods were bound within {} s ({} seen)",
                latencies.len(),
                args.pods,
                args.timeout_s,
                seen.len()
            ),
        };
        let first = *seen.entry(name.clone()).or_insert(at);
        if bound && done.insert(name) {
            latencies.push(at - first);
            last_bind = at;
        }
    }
    watch.abort();
    let elapsed = (last_bind - started).as_secs_f64();
    Ok(Phase {
        pods_per_s: args.pods as f64 / elapsed,
        p99_ms: percentile_ms(&mut latencies, 99.0),
        peak_mib: up.peak_mib()?,
    })
}
