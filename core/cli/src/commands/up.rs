//! `skiff up`: the all-in-one cluster in the foreground — store, API server, the controller
//! host with the built-in controllers, and the scheduler.

use anyhow::Context as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin_controllers.rs"));
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Where the store, certificates and kubeconfig live.
    #[arg(long, default_value = "/var/lib/skiff")]
    pub data_dir: PathBuf,
    /// `embedded` (durable, in-process) or `etcd://HOST:PORT[,HOST:PORT...]`.
    #[arg(long, default_value = "embedded")]
    pub store: String,
    /// Address the API server listens on (`127.0.0.1:0` picks a free port).
    #[arg(long, default_value = "127.0.0.1:6443")]
    pub listen: SocketAddr,
    /// Which controllers run: `*` for all, `-name` to disable one, `name` to enable one
    /// (e.g. `*,-cronjob`).
    #[arg(long, default_value = "*")]
    pub controllers: String,
    /// More directories of `*.rhai` controllers (hot-reloaded).
    #[arg(long)]
    pub controllers_dir: Vec<PathBuf>,
    /// Run the built-in controllers from this directory instead of the copies embedded in
    /// the binary (to hot-edit them in a checkout).
    #[arg(long)]
    pub builtin_controllers_dir: Option<PathBuf>,
    /// The only directory native controller plugins (`*.so`) load from.
    #[arg(long)]
    pub plugins_dir: Option<PathBuf>,
    /// Where the controller host serves Prometheus metrics (e.g. `127.0.0.1:9090`).
    #[arg(long)]
    pub metrics_addr: Option<SocketAddr>,
    /// Directory of Rhai scheduler filter/score plugins.
    #[arg(long)]
    pub scheduler_plugins_dir: Option<PathBuf>,
    /// Components not to start: any of `controllers`, `scheduler`.
    #[arg(long, value_delimiter = ',')]
    pub disable: Vec<String>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create data dir {}", args.data_dir.display()))?;
    for name in &args.disable {
        anyhow::ensure!(
            matches!(name.as_str(), "controllers" | "scheduler"),
            "unknown component {name:?} in --disable (known: controllers, scheduler)"
        );
    }
    let enabled = |c: &str| !args.disable.iter().any(|d| d == c);

    let store = skiff_store::open(&args.store, &args.data_dir)
        .await
        .with_context(|| format!("cannot open store {}", args.store))?;
    let mut config = skiff_apiserver::Config::new(args.data_dir.clone());
    config.listen = args.listen;
    config.store = Some(store);
    let server = skiff_apiserver::start(config)
        .await
        .context("cannot start the API server")?;
    let client = client_for(server.kubeconfig_path()).await?;

    let host = if enabled("controllers") {
        let builtin_dir = match &args.builtin_controllers_dir {
            Some(dir) => dir.clone(),
            None => install_builtin_controllers(&args.data_dir)?,
        };
        let mut host_config = skiff_runtime::HostConfig {
            controller_dirs: std::iter::once(builtin_dir)
                .chain(args.controllers_dir.iter().cloned())
                .collect(),
            plugins_dir: args.plugins_dir.clone(),
            enable: skiff_runtime::EnableList::parse(&args.controllers),
            metrics_addr: args.metrics_addr,
            ..Default::default()
        };
        // Several `skiff up` processes may share one etcd: only one may reconcile.
        if args.store.starts_with("etcd://") {
            host_config.leader_election = Some(skiff_runtime::LeaderElection::default());
        }
        let host = std::sync::Arc::new(
            skiff_runtime::Host::start(client.clone(), host_config)
                .await
                .context("cannot start the controller host")?,
        );
        let publisher = tokio::spawn(super::controllers::publish(client.clone(), host.clone()));
        Some((host, publisher))
    } else {
        None
    };

    let scheduler = if enabled("scheduler") {
        let scheduler_config = skiff_scheduler::SchedulerConfig {
            plugin_dir: args.scheduler_plugins_dir.clone(),
            ..Default::default()
        };
        Some(
            skiff_scheduler::Scheduler::start(client.clone(), scheduler_config)
                .context("cannot start the scheduler")?,
        )
    } else {
        None
    };

    println!(
        "skiff is up: API server at https://{}; use it with: kubectl --kubeconfig {}",
        server.local_addr(),
        server.kubeconfig_path().display()
    );
    wait_for_signal().await?;
    tracing::info!("shutting down");
    if let Some(s) = scheduler {
        s.shutdown().await;
    }
    if let Some((host, publisher)) = host {
        publisher.abort();
        let _ = publisher.await;
        match std::sync::Arc::try_unwrap(host) {
            Ok(host) => host.shutdown().await,
            Err(_) => tracing::warn!("controller host still in use at shutdown"),
        }
    }
    server.shutdown().await;
    Ok(())
}

/// A client with the admin credentials `skiff up` wrote for itself.
async fn client_for(kubeconfig: &Path) -> anyhow::Result<kube::Client> {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)
        .with_context(|| format!("cannot read {}", kubeconfig.display()))?;
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    Ok(kube::Client::try_from(config)?)
}

/// Writes the built-in controller scripts embedded in this binary to
/// `DATA/controllers/builtin`, leaving files that already exist alone so a user's edits
/// survive restarts (delete a file to get the shipped version back).
fn install_builtin_controllers(data_dir: &Path) -> anyhow::Result<PathBuf> {
    let dir = data_dir.join("controllers").join("builtin");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (name, source) in builtin::SCRIPTS {
        let path = dir.join(name);
        if !path.exists() {
            std::fs::write(&path, source)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    Ok(dir)
}

/// Resolves on SIGINT or SIGTERM.
async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
