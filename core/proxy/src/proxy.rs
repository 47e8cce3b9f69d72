//! The proxy: informers on Services and EndpointSlices, a debounced sync loop that renders
//! the ruleset and applies what changed, load balancer addresses, and the node's cluster DNS.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::ProxyConfig;
use crate::dns::{ClusterView, DnsServer};
use crate::nft::{Nft, NftCommand};
use crate::plan::{Plan, plan};
use crate::render::{RenderOptions, render};
use crate::ruleset::Ruleset;
use crate::{dns, lb, model, nft, sysctl};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot set kernel parameters")]
    Sysctl(#[from] sysctl::Error),
    #[error("cannot start the cluster dns")]
    Dns(#[from] dns::Error),
    #[error("the dns listen address must be IPv4 to be reached through the service address")]
    DnsFamily,
    #[error("cannot apply the ruleset")]
    Apply(#[source] nft::Error),
    #[error("the caches did not fill: the api server is unreachable")]
    NotReady,
}

/// The entry point: see [`Proxy::start`].
#[derive(Debug)]
pub struct Proxy;

/// A running proxy.
pub struct ProxyHandle {
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    syncs: watch::Receiver<u64>,
    dns: Option<DnsServer>,
    table: String,
    nft: Arc<dyn Nft>,
}

impl std::fmt::Debug for ProxyHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyHandle")
            .field("table", &self.table)
            .field("dns", &self.dns)
            .finish()
    }
}

impl Proxy {
    /// Starts the proxy with the real `nft`: sets the kernel switches, waits for the caches
    /// to fill (so a restart never applies an empty ruleset), applies the first ruleset,
    /// and keeps the rules in step with the cluster until [`ProxyHandle::shutdown`].
    pub async fn start(client: Client, config: ProxyConfig) -> Result<ProxyHandle, Error> {
        Self::start_with(client, config, Arc::new(NftCommand)).await
    }

    /// [`Proxy::start`] with another way to apply rulesets (a recording fake in tests).
    pub async fn start_with(
        client: Client,
        config: ProxyConfig,
        nft: Arc<dyn Nft>,
    ) -> Result<ProxyHandle, Error> {
        if config.set_sysctls {
            sysctl::apply()?;
        }
        let stop = CancellationToken::new();
        let changed = Arc::new(Notify::new());
        let mut tasks = Vec::new();
        let services = informer::<Service>(&client, &changed, &stop, &mut tasks);
        let slices = informer::<EndpointSlice>(&client, &changed, &stop, &mut tasks);
        let ready = async {
            services.wait_until_ready().await.ok()?;
            slices.wait_until_ready().await.ok()
        };
        if tokio::time::timeout(Duration::from_secs(30), ready)
            .await
            .ok()
            .flatten()
            .is_none()
        {
            stop.cancel();
            return Err(Error::NotReady);
        }

        let mut dns_target = None;
        let dns = match &config.dns {
            Some(d) => {
                let view = ClusterView {
                    services: services.clone(),
                    slices: slices.clone(),
                    domain: d.domain.clone(),
                    ttl: d.ttl,
                };
                let server = DnsServer::start(d.listen, view, &d.upstreams).await?;
                let SocketAddr::V4(local) = server.local_addr() else {
                    return Err(Error::DnsFamily);
                };
                dns_target = Some((d.service_ip, local));
                Some(server)
            }
            None => None,
        };

        let syncer = Syncer {
            client,
            config: config.clone(),
            options: RenderOptions {
                table: config.table.clone(),
                dns: dns_target,
            },
            services,
            slices,
            nft: nft.clone(),
            last: None,
            last_full: Instant::now(),
        };
        let (tx, syncs) = watch::channel(0);
        let mut syncer = syncer;
        if let Err(e) = syncer.sync().await {
            stop.cancel();
            return Err(e);
        }
        let _ = tx.send(1);
        tasks.push(tokio::spawn(syncer.run(changed, stop.clone(), tx)));
        Ok(ProxyHandle {
            stop,
            tasks,
            syncs,
            dns,
            table: config.table,
            nft,
        })
    }
}

/// A reflector feeding `Store<K>`, waking `changed` on every event.
fn informer<K>(
    client: &Client,
    changed: &Arc<Notify>,
    stop: &CancellationToken,
    tasks: &mut Vec<JoinHandle<()>>,
) -> Store<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store::<K>();
    let api: Api<K> = Api::all(client.clone());
    let stream =
        reflector::reflector(writer, watcher(api, watcher::Config::default())).default_backoff();
    let changed = changed.clone();
    let stop = stop.clone();
    tasks.push(tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                event = stream.next() => match event {
                    Some(Ok(_)) => changed.notify_one(),
                    Some(Err(e)) => tracing::debug!(error = %e, "watch error"),
                    None => break,
                },
            }
        }
    }));
    reader
}

struct Syncer {
    client: Client,
    config: ProxyConfig,
    options: RenderOptions,
    services: Store<Service>,
    slices: Store<EndpointSlice>,
    nft: Arc<dyn Nft>,
    /// The ruleset the kernel holds, as far as this proxy knows: `None` before the first
    /// sync and after a failed one, which makes the next sync a full one.
    last: Option<Ruleset>,
    /// When the table was last replaced whole.
    last_full: Instant,
}

impl Syncer {
    /// Assigns load balancer addresses, renders, and applies what changed since the last
    /// sync; the whole table when no ruleset is known or a full sync is due.
    async fn sync(&mut self) -> Result<(), Error> {
        let services = self.services.state();
        if let Some(pool) = &self.config.load_balancer_pool {
            for (ns, name, ip) in lb::plan(services.iter().map(|s| s.as_ref()), pool) {
                if let Err(e) = lb::assign(&self.client, &ns, &name, ip).await {
                    tracing::warn!(error = %e, "load balancer address not written");
                }
            }
        }
        let slices = self.slices.state();
        let models = model::build(
            services.iter().map(|s| s.as_ref()),
            slices.iter().map(|s| s.as_ref()),
            &self.config.node_name,
        );
        let next = render(&models, &self.options);
        let full_due = self.last_full.elapsed() >= self.config.full_sync_interval;
        let last = self.last.take().filter(|_| !full_due);
        let (full, script) = match plan(last.as_ref(), &next) {
            Plan::Unchanged => {
                self.last = Some(next);
                return Ok(());
            }
            Plan::Partial(script) => (false, script),
            Plan::Full(script) => (true, script),
        };
        let nft = self.nft.clone();
        let started = Instant::now();
        // On failure `last` stays `None`: the kernel may hold anything, so the retry
        // replaces the table whole.
        tokio::task::spawn_blocking(move || nft.apply(&script))
            .await
            .map_err(|e| Error::Apply(nft::Error::Spawn(std::io::Error::other(e))))?
            .map_err(Error::Apply)?;
        tracing::debug!(
            services = models.len(),
            full,
            took = ?started.elapsed(),
            "ruleset applied"
        );
        if full {
            self.last_full = Instant::now();
        }
        self.last = Some(next);
        Ok(())
    }

    async fn run(mut self, changed: Arc<Notify>, stop: CancellationToken, tx: watch::Sender<u64>) {
        let mut last_sync = Instant::now();
        let mut count = 1u64;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = changed.notified() => {}
                () = tokio::time::sleep(self.config.resync_interval) => {}
            }
            let wait = self
                .config
                .min_sync_interval
                .saturating_sub(last_sync.elapsed());
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            last_sync = Instant::now();
            match self.sync().await {
                Ok(()) => {
                    count += 1;
                    let _ = tx.send(count);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "sync failed; retrying with a full sync");
                    changed.notify_one();
                }
            }
        }
    }
}

impl ProxyHandle {
    /// How many syncs ran so far (each renders; it applies only what changed, if anything).
    pub fn syncs(&self) -> u64 {
        *self.syncs.borrow()
    }

    /// Waits until a sync ran after this call (at most `timeout`); true if one did.
    pub async fn wait_for_sync(&mut self, timeout: Duration) -> bool {
        self.syncs.mark_unchanged();
        tokio::time::timeout(timeout, self.syncs.changed())
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Where the cluster DNS of this node listens, if it runs one.
    pub fn dns_addr(&self) -> Option<SocketAddr> {
        self.dns.as_ref().map(DnsServer::local_addr)
    }

    /// The address pods use as `nameserver` (the DNS service IP), if DNS runs here.
    pub fn dns_service_ip(&self, config: &ProxyConfig) -> Option<IpAddr> {
        config.dns.as_ref().map(|d| IpAddr::V4(d.service_ip))
    }

    /// Stops watching and serving. The rules stay in place (traffic keeps flowing while
    /// the proxy restarts) unless `remove_rules`.
    pub async fn shutdown(self, remove_rules: bool) -> Result<(), Error> {
        self.stop.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
        if let Some(d) = self.dns {
            d.shutdown().await;
        }
        if remove_rules {
            let nft = self.nft.clone();
            let script = crate::render::remove(&self.table);
            tokio::task::spawn_blocking(move || nft.apply(&script))
                .await
                .map_err(|e| Error::Apply(nft::Error::Spawn(std::io::Error::other(e))))?
                .map_err(Error::Apply)?;
        }
        Ok(())
    }
}
