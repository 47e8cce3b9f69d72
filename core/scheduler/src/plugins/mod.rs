//! The built-in filters and scores, one upstream plugin per file, and the script plugins.

pub mod fit;
pub mod inter_pod_affinity;
pub mod node_affinity;
pub mod node_name;
pub mod node_ports;
pub mod node_unschedulable;
pub mod owner_spread;
pub mod rhai;
pub mod taint_toleration;
pub mod topology_spread;
pub mod volume_binding;
