//! Names outside the cluster: asked of the upstream servers through hickory's resolver,
//! whose cache keeps answers for their TTL.

use std::net::SocketAddr;

use hickory_proto::rr::{Name, Record, RecordType};
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::{Resolver, TokioResolver};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot build the upstream resolver")]
    Build(#[source] hickory_resolver::net::NetError),
}

/// What the upstream servers said.
#[derive(Debug)]
pub enum Forwarded {
    Records(Vec<Record>),
    NxDomain,
    Failed,
}

/// A caching client of the upstream servers.
#[derive(Clone)]
pub struct Forwarder {
    resolver: Option<TokioResolver>,
}

impl std::fmt::Debug for Forwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarder")
            .field("enabled", &self.resolver.is_some())
            .finish()
    }
}

impl Forwarder {
    /// Forwards to `upstreams` (UDP, then TCP for truncated answers); none: every
    /// forwarded name fails.
    pub fn new(upstreams: &[SocketAddr]) -> Result<Self, Error> {
        if upstreams.is_empty() {
            return Ok(Forwarder { resolver: None });
        }
        let servers = upstreams
            .iter()
            .map(|a| {
                let mut udp = ConnectionConfig::udp();
                udp.port = a.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = a.port();
                NameServerConfig::new(a.ip(), true, vec![udp, tcp])
            })
            .collect();
        let config = ResolverConfig::from_parts(None, Vec::new(), servers);
        let mut opts = ResolverOpts::default();
        // Names arrive fully qualified; the client already applied its search list.
        opts.ndots = 0;
        opts.cache_size = 4096;
        opts.preserve_intermediates = true;
        let resolver = Resolver::builder_with_config(config, TokioRuntimeProvider::default())
            .with_options(opts)
            .build()
            .map_err(Error::Build)?;
        Ok(Forwarder {
            resolver: Some(resolver),
        })
    }

    pub async fn lookup(&self, name: &Name, qtype: RecordType) -> Forwarded {
        let Some(resolver) = &self.resolver else {
            return Forwarded::Failed;
        };
        let mut fqdn = name.clone();
        fqdn.set_fqdn(true);
        match resolver.lookup(fqdn, qtype).await {
            Ok(lookup) => Forwarded::Records(lookup.answers().to_vec()),
            Err(e) if e.is_nx_domain() => Forwarded::NxDomain,
            Err(e) if e.is_no_records_found() => Forwarded::Records(Vec::new()),
            Err(e) => {
                tracing::debug!(error = %e, %name, "upstream lookup failed");
                Forwarded::Failed
            }
        }
    }
}
