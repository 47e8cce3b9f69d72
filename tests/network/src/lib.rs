//! Helpers for the network tests: an API server in-process, "pods" as network namespaces on
//! a bridge of the test's own running a busybox web server, and a loopback DNS upstream.
//!
//! Everything is named from a per-test tag and removed on drop, also when a test fails.

mod cluster;
pub mod netns;
pub mod proxy;
mod upstream;

pub use cluster::Cluster;
pub use netns::{Pod, TestNet};
pub use upstream::Upstream;
