//! The skiff service proxy: Services and EndpointSlices to one nftables ruleset per sync,
//! load balancer addresses from a local pool, and cluster DNS.
//!
//! `skiff up` runs [`Proxy::start`] on every node. The ruleset lives in one `ip` family
//! table ([`ProxyConfig::table`]). Each sync is one transaction: the first one after a start,
//! after a failure and every [`ProxyConfig::full_sync_interval`] replaces the table whole, so
//! stale rules cannot survive a restart or a hand edit for long; the others change only the
//! chains and elements of the services that changed ([`plan`]).

mod config;
pub mod dns;
mod lb;
pub mod model;
pub mod nft;
pub mod plan;
mod proxy;
pub mod render;
pub mod ruleset;
mod sysctl;

pub use config::{DnsConfig, ProxyConfig, upstreams_from_resolv_conf};
pub use proxy::{Error, Proxy, ProxyHandle};
