//! Scheduler settings, with documented defaults.

use std::path::PathBuf;
use std::sync::Arc;

use crate::framework::Plugin;

/// How to run a scheduler. Build one with [`SchedulerConfig::default`] and adjust the fields.
#[derive(Clone)]
pub struct SchedulerConfig {
    /// Pods whose `spec.schedulerName` is this (or unset) are ours. Default
    /// `default-scheduler`.
    pub scheduler_name: String,
    /// Share of nodes to find feasible before scoring, 1–100. Default `None`: upstream's
    /// adaptive share (50% minus 1% per 125 nodes, at least 5%, at least 100 nodes).
    pub percentage_of_nodes_to_score: Option<u32>,
    /// Directory of `*.rhai` filter/score plugins, compiled at start. Default: none.
    pub plugin_dir: Option<PathBuf>,
    /// Further filters and scores (for example volume topology). Default: none.
    pub plugins: Vec<Arc<dyn Plugin>>,
    /// Most API writes (bindings, status updates, events, evictions) in flight at once.
    /// Default 64.
    pub max_writes_in_flight: usize,
    /// Grace period given to pods evicted by preemption. Default `None`: the victim's own
    /// `terminationGracePeriodSeconds`.
    pub preemption_grace_period: Option<i64>,
    /// Record a `Scheduled` event for every placed pod, as upstream does. Default true.
    pub scheduled_events: bool,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            scheduler_name: "default-scheduler".into(),
            percentage_of_nodes_to_score: None,
            plugin_dir: None,
            plugins: Vec::new(),
            max_writes_in_flight: 64,
            preemption_grace_period: None,
            scheduled_events: true,
        }
    }
}

impl std::fmt::Debug for SchedulerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchedulerConfig")
            .field("scheduler_name", &self.scheduler_name)
            .field(
                "percentage_of_nodes_to_score",
                &self.percentage_of_nodes_to_score,
            )
            .field("plugin_dir", &self.plugin_dir)
            .field(
                "plugins",
                &self
                    .plugins
                    .iter()
                    .map(|p| p.name().to_string())
                    .collect::<Vec<_>>(),
            )
            .field("max_writes_in_flight", &self.max_writes_in_flight)
            .field("preemption_grace_period", &self.preemption_grace_period)
            .field("scheduled_events", &self.scheduled_events)
            .finish()
    }
}
