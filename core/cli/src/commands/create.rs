//! `skiff create`: objects from command-line arguments (`create namespace NAME`).

use crate::client::{Body, Cluster, Context, resource_path};
use clap::Subcommand;
use http::Method;
use serde_json::json;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub what: What,
}

#[derive(Subcommand, Debug)]
pub enum What {
    /// Create a namespace.
    #[command(alias = "ns")]
    Namespace {
        name: String,
        /// `none` or `server`.
        #[arg(long, default_value = "none")]
        dry_run: String,
    },
}

pub async fn run(ctx: &Context, args: Args) -> anyhow::Result<()> {
    let cluster = Cluster::connect(ctx).await?;
    match args.what {
        What::Namespace { name, dry_run } => {
            let info = cluster.resolve("namespaces")?;
            let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
            let mut path = resource_path(info, None, None, None);
            let server_dry_run = dry_run == "server";
            if server_dry_run {
                path.push_str("?dryRun=All");
            }
            cluster
                .send(
                    Method::POST,
                    &path,
                    Some(Body {
                        content_type: "application/json",
                        bytes: serde_json::to_vec(&body)?,
                    }),
                    "application/json",
                )
                .await?;
            let suffix = if server_dry_run {
                " (server dry run)"
            } else {
                ""
            };
            println!("namespace/{name} created{suffix}");
        }
    }
    Ok(())
}
