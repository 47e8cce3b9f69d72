//! `controllers`: the ReplicaSet controller as the built-in Rhai script beside the same logic
//! as a native plugin, each alone in a controller host on an in-process API server, driving
//! 1,000 ReplicaSets of 10 replicas each to convergence (pods stay Pending: no nodes); then
//! the host's own ceiling, a no-op script resyncing the same sets as fast as it can.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, ListParams, PostParams};
use skiff_runtime::{Host, HostConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::report::Figure;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// ReplicaSets created.
    #[arg(long, default_value_t = 1000)]
    pub replicasets: usize,
    /// Replicas of each set.
    #[arg(long, default_value_t = 10)]
    pub replicas: usize,
    /// Namespaces the sets are spread over (both controllers list every pod of a set's
    /// namespace on each reconcile, as upstream's does).
    #[arg(long, default_value_t = 100)]
    pub namespaces: usize,
    /// Concurrent clients creating the sets.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Seconds the no-op ceiling is measured over.
    #[arg(long, default_value_t = 10)]
    pub ceiling_seconds: u64,
    /// Seconds a controller may take to converge before the run fails.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
    /// The built-in controllers directory (default: the source tree's).
    #[arg(long)]
    pub builtin_dir: Option<PathBuf>,
    /// The native plugin library (default: `libskiff_replicaset_plugin.so` beside this
    /// binary; build it with `cargo build --release -p skiff-replicaset-plugin`).
    #[arg(long)]
    pub plugin: Option<PathBuf>,
}

/// What one controller run measured.
struct Run {
    converge_s: f64,
    reconciles: u64,
    reconcile_mean_ms: f64,
}

impl Run {
    fn reconciles_per_s(&self) -> f64 {
        self.reconciles as f64 / self.converge_s
    }
}

/// An in-process API server over the embedded store in a temporary directory.
struct Server {
    server: skiff_apiserver::Server,
    client: kube::Client,
    dir: tempfile::TempDir,
}

impl Server {
    async fn start() -> anyhow::Result<Server> {
        let dir = tempfile::tempdir()?;
        let mut config = skiff_apiserver::Config::new(dir.path().join("data"));
        config.listen = "127.0.0.1:0".parse()?;
        let server = skiff_apiserver::start(config)
            .await
            .context("cannot start the API server")?;
        let kubeconfig = kube::config::Kubeconfig::read_from(server.kubeconfig_path())?;
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
        Ok(Server {
            server,
            client: kube::Client::try_from(config)?,
            dir,
        })
    }

    fn subdir(&self, name: &str) -> anyhow::Result<PathBuf> {
        let path = self.dir.path().join(name);
        std::fs::create_dir_all(&path)?;
        Ok(path)
    }
}

fn builtin_dir(args: &Args) -> PathBuf {
    args.builtin_dir
        .clone()
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../builtin-controllers"))
}

fn plugin_path(args: &Args) -> anyhow::Result<PathBuf> {
    if let Some(path) = &args.plugin {
        return Ok(path.clone());
    }
    let exe = std::env::current_exe()?;
    let dir = exe.parent().context("the binary has no directory")?;
    let name = format!(
        "{}skiff_replicaset_plugin.{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_EXTENSION
    );
    let path = dir.join(name);
    ensure!(
        path.exists(),
        "{} is missing: run `cargo build --release -p skiff-replicaset-plugin` or pass --plugin",
        path.display()
    );
    Ok(path)
}

fn host_config() -> HostConfig {
    HostConfig {
        hot_reload: false,
        metrics_addr: Some(([127, 0, 0, 1], 0).into()),
        ..HostConfig::default()
    }
}

/// A host running the built-in ReplicaSet script only.
async fn script_host(server: &Server, args: &Args) -> anyhow::Result<Host> {
    let dir = server.subdir("scripts")?;
    std::fs::copy(
        builtin_dir(args).join("replicaset.rhai"),
        dir.join("replicaset.rhai"),
    )
    .context("copying replicaset.rhai")?;
    let config = HostConfig {
        controller_dirs: vec![dir],
        ..host_config()
    };
    Ok(Host::start(server.client.clone(), config).await?)
}

/// A host running the native ReplicaSet plugin only.
async fn plugin_host(server: &Server, args: &Args) -> anyhow::Result<Host> {
    let dir = server.subdir("plugins")?;
    let library = dir.join("libreplicaset.so");
    std::fs::copy(plugin_path(args)?, &library).context("copying the plugin")?;
    let config = HostConfig {
        plugins_dir: Some(dir),
        ..host_config()
    };
    Ok(Host::start(server.client.clone(), config).await?)
}

/// A host running a script that returns at once, resyncing every primary continuously.
async fn noop_host(server: &Server) -> anyhow::Result<Host> {
    let dir = server.subdir("noop")?;
    std::fs::write(
        dir.join("noop.rhai"),
        r#"fn config() {
    #{ name: "noop", primary: #{ apiVersion: "apps/v1", kind: "ReplicaSet" }, resync_seconds: 0.05 }
}
fn reconcile(obj, ctx) { }
"#,
    )?;
    let config = HostConfig {
        controller_dirs: vec![dir],
        ..host_config()
    };
    Ok(Host::start(server.client.clone(), config).await?)
}

fn namespace_of(args: &Args, i: usize) -> String {
    format!("bench-{:03}", i % args.namespaces.max(1))
}

fn replica_set(namespace: &str, name: &str, replicas: usize) -> anyhow::Result<ReplicaSet> {
    Ok(serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": { "name": name, "namespace": namespace },
        "spec": {
            "replicas": replicas,
            "selector": { "matchLabels": { "app": name } },
            "template": {
                "metadata": { "labels": { "app": name } },
                "spec": { "containers": [{ "name": "main", "image": "busybox" }] },
            },
        },
    }))?)
}

async fn create_namespaces(client: &kube::Client, args: &Args) -> anyhow::Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    for i in 0..args.namespaces.max(1) {
        let mut ns = Namespace::default();
        ns.metadata.name = Some(namespace_of(args, i));
        api.create(&PostParams::default(), &ns).await?;
    }
    Ok(())
}

async fn create_sets(client: &kube::Client, args: &Args) -> anyhow::Result<()> {
    stream::iter(0..args.replicasets)
        .map(|i| {
            let client = client.clone();
            let namespace = namespace_of(args, i);
            async move {
                let api: Api<ReplicaSet> = Api::namespaced(client, &namespace);
                let rs = replica_set(&namespace, &format!("rs-{i:05}"), args.replicas)?;
                api.create(&PostParams::default(), &rs).await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(args.concurrency.max(1))
        .try_collect::<Vec<_>>()
        .await?;
    Ok(())
}

/// How many sets report every replica created and seen, for their current generation.
async fn converged_sets(client: &kube::Client, args: &Args) -> anyhow::Result<usize> {
    let api: Api<ReplicaSet> = Api::all(client.clone());
    let want = args.replicas as i32;
    Ok(api
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .filter(|rs| {
            rs.status.as_ref().is_some_and(|s| {
                s.replicas == want
                    && s.fully_labeled_replicas == Some(want)
                    && s.observed_generation == rs.metadata.generation
            })
        })
        .count())
}

/// Reads `skiff_controller_reconcile_duration_seconds` (sum, count) of `controller` from the
/// host's `/metrics`. A plain HTTP/1.0 GET written by hand: the bench has no HTTP client and
/// the endpoint is a local text page.
async fn reconcile_seconds(host: &Host, controller: &str) -> anyhow::Result<(f64, f64)> {
    let addr = host.metrics_addr().context("metrics are not served")?;
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .await?;
    let mut text = String::new();
    stream.read_to_string(&mut text).await?;
    let label = format!("{{controller=\"{controller}\"}}");
    let value = |metric: &str| -> anyhow::Result<f64> {
        let prefix = format!("skiff_controller_reconcile_duration_seconds_{metric}{label} ");
        let line = text
            .lines()
            .find(|l| l.starts_with(&prefix))
            .with_context(|| format!("no {prefix} in the metrics"))?;
        Ok(line[prefix.len()..].trim().parse()?)
    };
    Ok((value("sum")?, value("count")?))
}

fn reconciles(host: &Host, controller: &str) -> u64 {
    host.controllers()
        .iter()
        .find(|c| c.name == controller)
        .map_or(0, |c| c.reconciles)
}

/// Creates the sets and waits until every one has its pods and an up-to-date status.
async fn drive(server: &Server, host: Host, args: &Args, label: &str) -> anyhow::Result<Run> {
    let info = host.controllers();
    ensure!(
        info.len() == 1 && info[0].name == "replicaset" && info[0].last_error.is_none(),
        "{label}: the host did not load the controller: {info:?}"
    );
    create_namespaces(&server.client, args).await?;
    let started = Instant::now();
    create_sets(&server.client, args).await?;
    let deadline = started + Duration::from_secs(args.timeout);
    loop {
        let done = converged_sets(&server.client, args).await?;
        if done == args.replicasets {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "{label}: {done} of {} sets converged after {} s",
                args.replicasets,
                args.timeout
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let converge_s = started.elapsed().as_secs_f64();
    let count = reconciles(&host, "replicaset");
    let (sum, samples) = reconcile_seconds(&host, "replicaset").await?;
    let errors = host.controllers()[0].errors;
    host.shutdown().await;

    let pods: Api<Pod> = Api::all(server.client.clone());
    let listed = pods
        .list_metadata(&ListParams::default())
        .await?
        .items
        .len();
    ensure!(
        listed == args.replicasets * args.replicas,
        "{label}: {listed} pods exist, expected {}",
        args.replicasets * args.replicas
    );
    eprintln!(
        "{label}: converged in {converge_s:.1} s, {count} reconciles ({errors} failed), mean {:.2} ms",
        sum / samples.max(1.0) * 1000.0
    );
    Ok(Run {
        converge_s,
        reconciles: count,
        reconcile_mean_ms: sum / samples.max(1.0) * 1000.0,
    })
}

/// Reconciles per second of a no-op script over the sets already in `server`.
async fn ceiling(server: &Server, args: &Args) -> anyhow::Result<f64> {
    let host = noop_host(server).await?;
    let ready = Instant::now();
    while reconciles(&host, "noop") < args.replicasets as u64 {
        ensure!(
            ready.elapsed() < Duration::from_secs(60),
            "the no-op controller does not run"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before = reconciles(&host, "noop");
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.ceiling_seconds)).await;
    let rate = (reconciles(&host, "noop") - before) as f64 / started.elapsed().as_secs_f64();
    host.shutdown().await;
    Ok(rate)
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let native = {
        let server = Server::start().await?;
        let host = plugin_host(&server, &args).await?;
        let run = drive(&server, host, &args, "native").await?;
        let ceiling = ceiling(&server, &args).await?;
        server.server.shutdown().await;
        (run, ceiling)
    };
    let (native, ceiling) = native;
    let script = {
        let server = Server::start().await?;
        let host = script_host(&server, &args).await?;
        let run = drive(&server, host, &args, "rhai").await?;
        server.server.shutdown().await;
        run
    };

    let figures = [
        (
            "reconciles_per_s",
            script.reconciles_per_s(),
            "native_reconciles_per_s",
            native.reconciles_per_s(),
            "reconciles/s",
        ),
        (
            "converge_s",
            script.converge_s,
            "native_converge_s",
            native.converge_s,
            "s",
        ),
        (
            "reconciles",
            script.reconciles as f64,
            "native_reconciles",
            native.reconciles as f64,
            "reconciles",
        ),
        (
            "reconcile_mean_ms",
            script.reconcile_mean_ms,
            "native_reconcile_mean_ms",
            native.reconcile_mean_ms,
            "ms",
        ),
    ];
    for (metric, value, baseline_metric, baseline, unit) in figures {
        Figure {
            bench: "controllers",
            metric,
            value,
            unit,
            baseline: Some((baseline_metric, baseline)),
        }
        .print();
    }
    Figure {
        bench: "controllers",
        metric: "noop_reconciles_per_s",
        value: ceiling,
        unit: "reconciles/s",
        baseline: None,
    }
    .print();
    Ok(())
}
