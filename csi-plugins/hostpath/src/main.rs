//! `skiff-hostpath`: the CSI hostpath driver executable.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use skiff_hostpath::{Config, client, server, size};
use tokio::signal::unix::{SignalKind, signal};

/// A CSI v1 driver whose volumes are directories on this node.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Where to serve CSI gRPC: `unix:///path/csi.sock` or a plain socket path.
    #[arg(
        long,
        env = "CSI_ENDPOINT",
        default_value = "unix:///run/skiff/csi/hostpath/csi.sock"
    )]
    endpoint: PathBuf,
    /// This node's id, as the orchestrator knows the node.
    #[arg(long)]
    node_id: String,
    /// Directory holding the state file, volumes and snapshots.
    #[arg(long, default_value = "/var/lib/skiff/csi/hostpath")]
    root: PathBuf,
    /// Largest volume accepted, in bytes or with a suffix (`10Gi`).
    #[arg(long, default_value = "1Ti", value_parser = size::parse)]
    max_volume_size: i64,
    /// Total bytes all volumes together may claim (`500Gi`).
    #[arg(long, default_value = "1Ti", value_parser = size::parse)]
    capacity: i64,
    /// Volumes this node accepts, reported to the scheduler; 0 means no limit.
    #[arg(long, default_value_t = 1000)]
    max_volumes_per_node: i64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let config = Config {
        max_volume_size: args.max_volume_size,
        capacity: args.capacity,
        max_volumes_per_node: args.max_volumes_per_node,
        ..Config::new(args.node_id, args.root)
    };
    let mut terminate = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    let shutdown = async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM received"),
            _ = interrupt.recv() => tracing::info!("SIGINT received"),
        }
    };
    let socket = client::socket_path(&args.endpoint);
    server::serve(config, &socket, shutdown)
        .await
        .context("the CSI driver stopped with an error")
}
