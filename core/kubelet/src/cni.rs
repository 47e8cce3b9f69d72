//! Running CNI plugins for pod sandboxes, as a CNI runtime.
//!
//! The kubelet reads the lexically first network configuration from a conf dir, runs its
//! plugin chain with the spec's `CNI_*` environment and JSON on stdin, and caches each ADD
//! result so DEL and CHECK get `prevResult`. Any spec-conforming plugin works: skiff's own
//! (`skiff-bridge`, `skiff-host-local`, `skiff-loopback`) and the reference plugins.

mod cache;
mod chain;
mod config;
mod exec;
mod pod;
#[cfg(test)]
mod tests;

pub use cache::CacheEntry;
pub use chain::{CniRuntime, Error};
pub use config::{CniConfig, NetworkConfigList};
pub use pod::{AddResult, DnsConfig, PodNetwork, PortMapping};
pub use skiff_cni_skel::{Attachment, CniResult};
