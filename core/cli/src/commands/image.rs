//! `skiff image`: put images into the containerd a `skiff up --data-dir DIR` uses — from an
//! OCI layout or `docker save` tarball, or a small busybox image built locally (no download).

use anyhow::Context as _;
use clap::Subcommand;
use skiff_kubelet::runtime::ContainerRuntime;
use skiff_kubelet::runtime::containerd::ContainerdRuntime;
use skiff_kubelet::runtime::supervisor::ContainerdConfig;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub what: What,
}

#[derive(Subcommand, Debug)]
pub enum What {
    /// Import an OCI image layout tarball or a `docker save` tarball under the image's name.
    Import {
        file: PathBuf,
        /// The data dir of the `skiff up` whose containerd receives the image.
        #[arg(long, default_value = "/var/lib/skiff")]
        data_dir: PathBuf,
    },
    /// Build a one-layer image from the host's busybox-static and import it as NAME.
    BuildBusybox {
        name: String,
        #[arg(long, default_value = "/var/lib/skiff")]
        data_dir: PathBuf,
    },
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    match args.what {
        What::Import { file, data_dir } => import(&file, &data_dir).await,
        What::BuildBusybox { name, data_dir } => {
            let dir = tempfile::tempdir()?;
            let tarball = skiff_kubelet::image::testimage::busybox(&name, dir.path())
                .context("cannot build the busybox image (is busybox-static installed?)")?;
            import(&tarball, &data_dir).await
        }
    }
}

async fn import(file: &Path, data_dir: &Path) -> anyhow::Result<()> {
    let socket = ContainerdConfig::new(data_dir.join("containerd")).socket();
    let runtime = ContainerdRuntime::connect(&socket, "skiff")
        .await
        .with_context(|| {
            format!(
                "cannot reach containerd at {} (is `skiff up --data-dir {}` running?)",
                socket.display(),
                data_dir.display()
            )
        })?;
    let names = runtime
        .import_image(file)
        .await
        .with_context(|| format!("cannot import {}", file.display()))?;
    for name in names {
        println!("imported {name}");
    }
    Ok(())
}
