//! `proxy-sync`: how long the service proxy takes to bring the kernel's rules up to date
//! after a change, for many services — rendering the whole ruleset and applying it in one
//! `nft -f` transaction — beside applying the already rendered script with `nft -f` alone (the floor: the
//! kernel's transaction).
//!
//! The rules go into a table of their own (named after this process), deleted at the end and
//! on error; they only match the synthetic service addresses, which nothing on the machine
//! talks to.

use crate::report::Figure;
use crate::stats::percentile_ms;
use anyhow::Context;
use skiff_proxy::nft::{Nft, NftCommand};
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Services in the ruleset.
    #[arg(long, default_value_t = 1000)]
    pub services: usize,
    /// Endpoints per service.
    #[arg(long, default_value_t = 10)]
    pub endpoints: usize,
    /// Syncs timed (after one untimed warm-up).
    #[arg(long, default_value_t = 10)]
    pub rounds: usize,
}

/// Deletes the benchmark's table when dropped, so a failed run leaves no rules behind.
struct TableGuard(String);

impl Drop for TableGuard {
    fn drop(&mut self) {
        let _ = NftCommand.apply(&skiff_proxy::render::remove(&self.0));
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || measure(&args)).await?
}

fn measure(args: &Args) -> anyhow::Result<()> {
    let table = format!("skiff-bench-{}", std::process::id());
    let _guard = TableGuard(table.clone());
    let mut syncs = Vec::with_capacity(args.rounds);
    let mut renders = Vec::with_capacity(args.rounds);
    let mut bare = Vec::with_capacity(args.rounds);
    let mut script = String::new();
    for round in 0..=args.rounds {
        let started = Instant::now();
        let (s, rendered, _) =
            skiff_proxy::render_and_apply(args.services, args.endpoints, &table, Some(&NftCommand))
                .context("applying the proxy's ruleset failed")?;
        let sync = started.elapsed();
        script = s;
        let started = Instant::now();
        NftCommand
            .apply(&script)
            .context("applying the same script again failed")?;
        let direct = started.elapsed();
        if round > 0 {
            syncs.push(sync);
            renders.push(rendered);
            bare.push(direct);
        }
    }
    let rules = script.lines().count() as f64;
    let p50 = |v: &mut Vec<Duration>| percentile_ms(v, 50.0);
    let p99 = |v: &mut Vec<Duration>| percentile_ms(v, 99.0);
    let (sync50, sync99) = (p50(&mut syncs), p99(&mut syncs));
    let (bare50, bare99) = (p50(&mut bare), p99(&mut bare));
    let render99 = p99(&mut renders);
    for f in [
        Figure {
            bench: "proxy-sync",
            metric: "sync_p50_ms",
            value: sync50,
            unit: "ms",
            baseline: Some(("nft_file_p50_ms", bare50)),
        },
        Figure {
            bench: "proxy-sync",
            metric: "sync_p99_ms",
            value: sync99,
            unit: "ms",
            baseline: Some(("nft_file_p99_ms", bare99)),
        },
        Figure {
            bench: "proxy-sync",
            metric: "render_p99_ms",
            value: render99,
            unit: "ms",
            baseline: None,
        },
        Figure {
            bench: "proxy-sync",
            metric: "script_lines",
            value: rules,
            unit: "lines",
            baseline: None,
        },
    ] {
        f.print();
    }
    Ok(())
}
