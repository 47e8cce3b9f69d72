//! The skiff node agent: pods on a container runtime, CNI networking, CSI volumes.

pub mod cni;
pub mod config;
pub mod files;
pub mod image;
pub mod kubelet;
pub mod node;
pub mod pod;
pub mod runtime;
pub mod simulated;
pub mod streaming;
pub mod volume;

pub use config::{BackoffConfig, Capacity, ClusterDns, KubeletConfig};
pub use kubelet::{Kubelet, KubeletHandle};
pub use pod::source::{PodEvent, PodSource, WatchPodSource};
pub use volume::{VolumePlugin, VolumePlugins};
