//! The skiff node agent: pods on a container runtime, CNI networking, CSI volumes.

pub mod cni;
pub mod image;
pub mod runtime;
