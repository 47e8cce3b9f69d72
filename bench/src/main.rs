//! `skiff-bench SCENARIO`: runs one benchmark scenario and prints one JSON object per result.
//!
//! Every figure comes with a baseline measured in the same run (the same operation on the
//! layer below), so results are read as ratios: machines are noisy, ratios less so.

mod report;
mod scenarios;
mod stats;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "skiff-bench",
    about = "Benchmarks for skiff, one scenario per run"
)]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand, Debug)]
enum Scenario {
    /// API server create/get/list/watch beside the bare store.
    Api(scenarios::api::Args),
    /// Pods placed per second on simulated nodes beside creating them already bound.
    Scheduler(scenarios::scheduler::Args),
    /// The ReplicaSet controller as a Rhai script beside the native plugin, and the host's ceiling.
    Controllers(scenarios::controllers::Args),
    /// Pod created to Running on a real node beside containerd + CNI started directly.
    PodStartup(scenarios::pod_startup::Args),
    /// Requests through a ClusterIP beside a pod IP, and cluster DNS lookups.
    Services(scenarios::service_traffic::Args),
    /// Service proxy rule sync: a partial sync after one or 100 services change, beside
    /// replacing the whole table.
    ProxySync(scenarios::proxy_sync::Args),
    /// Claim to Bound, and a pod with a fresh volume beside one without, on a real node.
    Storage(scenarios::storage::Args),
}

/// mimalloc instead of glibc's allocator: the API server's request path allocates many small
/// JSON values, and glibc malloc/free were about 30% of a profile of it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.scenario {
            Scenario::Api(args) => scenarios::api::run(args).await,
            Scenario::Scheduler(args) => scenarios::scheduler::run(args).await,
            Scenario::Controllers(args) => scenarios::controllers::run(args).await,
            Scenario::PodStartup(args) => scenarios::pod_startup::run(args).await,
            Scenario::Services(args) => scenarios::service_traffic::run(args).await,
            Scenario::ProxySync(args) => scenarios::proxy_sync::run(args).await,
            Scenario::Storage(args) => scenarios::storage::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
