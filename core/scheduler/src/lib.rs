//! The skiff scheduler: places pending pods on nodes.
//!
//! Pods, nodes and namespaces are watched into an incremental cache; pending pods wait in a
//! priority queue with backoff; each attempt filters nodes (a sample in large clusters), scores
//! the feasible ones like upstream's default profile, and binds through `pods/binding`
//! asynchronously while the pod already counts on its node. Pods that fit nowhere get the
//! upstream `PodScheduled=False` condition and `FailedScheduling` event, and may preempt
//! lower-priority pods. Rhai scripts (and native [`Plugin`]s) add filters and scores.

mod affinity_term;
mod cache;
mod config;
mod framework;
mod label_index;
mod node_info;
mod node_selector;
mod plugins;
mod pod_info;
mod preemption;
mod queue;
mod resources;
#[cfg(test)]
mod scale_tests;
mod scheduler;
mod volumes;
mod writer;

pub use config::SchedulerConfig;
pub use framework::{Failure, Plugin};
pub use node_info::NodeInfo;
pub use plugins::rhai::{Error as PluginError, RhaiPlugin};
pub use pod_info::PodInfo;
pub use resources::Resources;
pub use scheduler::{Error, Scheduler, SchedulerHandle};
