//! The skiff service proxy: Services and EndpointSlices to one nftables ruleset per sync,
//! load balancer addresses from a local pool, and cluster DNS.
//!
//! `skiff up` runs [`Proxy::start`] on every node. The ruleset lives in one `ip` family
//! table ([`ProxyConfig::table`]) that each sync replaces whole in one transaction, so
//! stale rules cannot survive a sync or a restart.

mod config;
pub mod dns;
mod lb;
pub mod model;
pub mod nft;
mod proxy;
pub mod render;
mod sysctl;

pub use config::{DnsConfig, ProxyConfig, upstreams_from_resolv_conf};
pub use proxy::{Error, Proxy, ProxyHandle, render_and_apply};
