//! The `skiff` command: run a cluster and work with it like kubectl.

mod addons;
mod client;
mod commands;
mod manifest;
mod node;
mod printer;
mod storage;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "skiff",
    version,
    about = "A small, scriptable Kubernetes-compatible orchestrator"
)]
struct Cli {
    /// Path to the kubeconfig file (defaults to $KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true)]
    kubeconfig: Option<PathBuf>,

    /// Namespace for namespaced resources (defaults to the kubeconfig context's).
    #[arg(short = 'n', long, global = true)]
    namespace: Option<String>,

    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
enum Command {
    /// Run an all-in-one cluster in the foreground.
    Up(commands::up::Args),
    /// Create or update resources from files, directories or stdin.
    Apply(commands::apply::Args),
    /// List resources as tables, or print them as YAML, JSON or names.
    Get(commands::get::Args),
    /// Show a resource in detail, with its events.
    Describe(commands::describe::Args),
    /// Delete resources by name, label selector or manifest.
    Delete(commands::delete::Args),
    /// Create a resource from command-line arguments.
    Create(commands::create::Args),
    /// List the controllers a running `skiff up` has loaded.
    Controllers(commands::controllers::Args),
    /// List the resource types the server serves.
    ApiResources(commands::api_resources::Args),
    /// Import images into the node's containerd.
    Image(commands::image::Args),
    /// Print the client and server versions.
    Version(commands::version::Args),
    /// Write a container's output to its log file (run by containerd's shim).
    #[command(hide = true)]
    ContainerLog {
        /// The log file, appended to.
        file: std::path::PathBuf,
    },
}

/// mimalloc instead of glibc's allocator: the API server's request path allocates many small
/// JSON values, and glibc malloc/free were about 30% of a profile of it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SKIFF_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();

    // One of these runs beside every container for its whole life: no async runtime, two
    // threads copying.
    if let Command::ContainerLog { file } = &cli.command {
        return match skiff_kubelet::runtime::log_driver::run(file) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: writing the container log {}: {e}", file.display());
                ExitCode::FAILURE
            }
        };
    }

    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if e.downcast_ref::<client::Reported>().is_none() {
                eprintln!("{}", client::describe_error(&e));
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let ctx = client::Context {
        kubeconfig: cli.kubeconfig,
        namespace: cli.namespace,
    };
    match cli.command {
        Command::Up(args) => commands::up::run(args).await,
        Command::Apply(args) => commands::apply::run(&ctx, args).await,
        Command::Get(args) => commands::get::run(&ctx, args).await,
        Command::Describe(args) => commands::describe::run(&ctx, args).await,
        Command::Delete(args) => commands::delete::run(&ctx, args).await,
        Command::Create(args) => commands::create::run(&ctx, args).await,
        Command::Controllers(args) => commands::controllers::run(&ctx, args).await,
        Command::ApiResources(args) => commands::api_resources::run(&ctx, args).await,
        Command::Image(args) => commands::image::run(args).await,
        Command::Version(args) => commands::version::run(&ctx, args).await,
        Command::ContainerLog { .. } => unreachable!("run before the async runtime starts"),
    }
}
