//! Test support for storage: an in-process API server and controller host running the
//! built-in scripts and the CSI provisioner plugin, a real `skiff-hostpath` driver process,
//! the real kubectl, and a polling helper.

pub mod cluster;
pub mod driver;
pub mod wait;
