//! Pods on this node: their source, their per-pod workers and what those workers use.

pub mod addresses;
pub mod backoff;
pub mod context;
pub mod downward;
pub mod env;
pub mod etc;
pub mod netns;
pub mod objects;
pub mod probe;
pub mod resources;
pub mod source;
mod status;
pub mod worker;
