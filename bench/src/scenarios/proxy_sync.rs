//! `proxy-sync`: how long the service proxy takes to bring the kernel's rules up to date
//! after a change, for many services. After a first full sync, it times partial syncs (render,
//! plan, one `nft -f` transaction of what changed) after one service's endpoints change and
//! after a batch of services change at once, beside the full sync the proxy did before partial
//! syncs existed (render and replace the whole table in one transaction), measured in the
//! same run.
//!
//! The rules go into a table of their own (named after this process), deleted at the end and
//! on error; they only match the synthetic service addresses, which nothing on the machine
//! talks to.

use crate::report::Figure;
use crate::stats::percentile_ms;
use anyhow::{Context, bail};
use skiff_proxy::model::{Endpoint, ServiceModel, synthetic};
use skiff_proxy::nft::{Nft, NftCommand};
use skiff_proxy::plan::{Plan, plan};
use skiff_proxy::render::{RenderOptions, remove, render};
use skiff_proxy::ruleset::Ruleset;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Services in the ruleset.
    #[arg(long, default_value_t = 1000)]
    pub services: usize,
    /// Endpoints per service.
    #[arg(long, default_value_t = 10)]
    pub endpoints: usize,
    /// Partial syncs timed after one service's endpoints change.
    #[arg(long, default_value_t = 20)]
    pub rounds: usize,
    /// Services changed at once in the batch rounds.
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Partial syncs timed after a batch of services change.
    #[arg(long, default_value_t = 10)]
    pub batch_rounds: usize,
    /// Full syncs (whole table replaced) timed as the baseline.
    #[arg(long, default_value_t = 5)]
    pub full_rounds: usize,
}

/// Deletes the benchmark's table when dropped, so a failed run leaves no rules behind.
struct TableGuard(String);

impl Drop for TableGuard {
    fn drop(&mut self) {
        let _ = NftCommand.apply(&remove(&self.0));
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || measure(&args)).await?
}

/// The synthetic cluster and the ruleset the kernel holds for it.
struct Cluster {
    services: Vec<ServiceModel>,
    options: RenderOptions,
    last: Option<Ruleset>,
    /// Next unused endpoint address.
    fresh: u32,
}

/// One timed sync: the whole time, the part spent rendering and planning, script lines.
struct Sync {
    took: Duration,
    render: Duration,
    lines: usize,
}

impl Cluster {
    /// Renders, plans against the last ruleset (none: a full sync) and applies.
    fn sync(&mut self, full: bool) -> anyhow::Result<Sync> {
        let started = Instant::now();
        let next = render(&self.services, &self.options);
        let last = if full { None } else { self.last.as_ref() };
        let planned = plan(last, &next);
        let render = started.elapsed();
        if !full && !matches!(planned, Plan::Partial(_)) {
            bail!("a change did not plan a partial sync");
        }
        let script = planned.script().unwrap_or_default();
        NftCommand.apply(script).with_context(|| {
            format!(
                "applying a {} sync failed",
                if full { "full" } else { "partial" }
            )
        })?;
        self.last = Some(next);
        Ok(Sync {
            took: started.elapsed(),
            render,
            lines: script.lines().count(),
        })
    }

    /// Replaces one endpoint of service `i` by a new address, as a rolling update does.
    fn replace_endpoint(&mut self, i: usize, which: usize) {
        self.fresh += 1;
        let eps = &mut self.services[i].ports[0].endpoints;
        let new = Endpoint {
            ip: Ipv4Addr::from(0x0afa_0000 + self.fresh),
            port: 8080,
            local: false,
        };
        match eps.len() {
            0 => eps.push(new),
            n => eps[which % n] = new,
        }
        eps.sort();
    }
}

fn measure(args: &Args) -> anyhow::Result<()> {
    if args.services == 0 {
        bail!("--services must be at least 1");
    }
    let table = format!("skiff-bench-{}", std::process::id());
    let _guard = TableGuard(table.clone());
    let mut cluster = Cluster {
        services: synthetic(args.services, args.endpoints),
        options: RenderOptions { table, dns: None },
        last: None,
        fresh: 0,
    };
    let first = cluster.sync(true).context("the first full sync failed")?;

    let mut full = Vec::with_capacity(args.full_rounds);
    for _ in 0..args.full_rounds {
        full.push(cluster.sync(true)?.took);
    }

    let mut one = Vec::with_capacity(args.rounds);
    let mut one_render = Vec::with_capacity(args.rounds);
    let mut one_lines = 0;
    for round in 0..args.rounds {
        cluster.replace_endpoint((round * 37) % args.services, round);
        let s = cluster.sync(false)?;
        one.push(s.took);
        one_render.push(s.render);
        one_lines = one_lines.max(s.lines);
    }

    let batch = args.batch.min(args.services);
    let mut many = Vec::with_capacity(args.batch_rounds);
    let mut many_lines = 0;
    for round in 0..args.batch_rounds {
        for k in 0..batch {
            cluster.replace_endpoint((round * batch + k) % args.services, round + k);
        }
        let s = cluster.sync(false)?;
        many.push(s.took);
        many_lines = many_lines.max(s.lines);
    }

    let p50 = |v: &mut Vec<Duration>| percentile_ms(v, 50.0);
    let p99 = |v: &mut Vec<Duration>| percentile_ms(v, 99.0);
    let (full50, full99) = (p50(&mut full), p99(&mut full));
    let figures = [
        (
            "one_service_sync_p50_ms",
            p50(&mut one),
            "ms",
            Some(("full_sync_p50_ms", full50)),
        ),
        (
            "one_service_sync_p99_ms",
            p99(&mut one),
            "ms",
            Some(("full_sync_p99_ms", full99)),
        ),
        (
            "batch_sync_p50_ms",
            p50(&mut many),
            "ms",
            Some(("full_sync_p50_ms", full50)),
        ),
        (
            "batch_sync_p99_ms",
            p99(&mut many),
            "ms",
            Some(("full_sync_p99_ms", full99)),
        ),
        ("batch_services", batch as f64, "services", None),
        (
            "one_service_render_p99_ms",
            p99(&mut one_render),
            "ms",
            None,
        ),
        ("one_service_script_lines", one_lines as f64, "lines", None),
        ("batch_script_lines", many_lines as f64, "lines", None),
        ("full_script_lines", first.lines as f64, "lines", None),
    ];
    for (metric, value, unit, baseline) in figures {
        Figure {
            bench: "proxy-sync",
            metric,
            value,
            unit,
            baseline,
        }
        .print();
    }
    Ok(())
}
