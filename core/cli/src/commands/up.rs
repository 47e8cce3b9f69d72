//! `skiff up`: the all-in-one cluster in the foreground — store, API server and, as they are
//! enabled, the controllers, scheduler, kubelet and proxy.

use anyhow::Context as _;
use std::net::SocketAddr;
use std::path::PathBuf;

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
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create data dir {}", args.data_dir.display()))?;
    let store = skiff_store::open(&args.store, &args.data_dir)
        .await
        .with_context(|| format!("cannot open store {}", args.store))?;
    let mut config = skiff_apiserver::Config::new(args.data_dir.clone());
    config.listen = args.listen;
    config.store = Some(store);
    let server = skiff_apiserver::start(config)
        .await
        .context("cannot start the API server")?;
    println!(
        "skiff is up: API server at https://{}; use it with: kubectl --kubeconfig {}",
        server.local_addr(),
        server.kubeconfig_path().display()
    );
    wait_for_signal().await?;
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
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
