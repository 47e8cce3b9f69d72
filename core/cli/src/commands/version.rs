//! `skiff version`: the client's version and, when reachable, the server's.

use crate::client::{Cluster, Context};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Only print the client version.
    #[arg(long)]
    pub client: bool,
}

pub async fn run(ctx: &Context, args: Args) -> anyhow::Result<()> {
    println!("Client Version: v{}", env!("CARGO_PKG_VERSION"));
    if args.client {
        return Ok(());
    }
    let cluster = Cluster::connect(ctx).await?;
    let version = cluster.get("/version").await?;
    println!(
        "Server Version: {}",
        version["gitVersion"].as_str().unwrap_or("unknown")
    );
    Ok(())
}
