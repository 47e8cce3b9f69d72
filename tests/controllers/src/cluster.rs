//! The built-in Rhai controllers on an in-process API server and controller host (the
//! shared [`InProcessCluster`]), selected as `skiff up --controllers` does.

use std::ops::Deref;
use std::path::PathBuf;

use skiff_runtime::EnableList;
use skiff_runtime::rhai::Limits;
pub use skiff_test_support::{InProcessCluster, builtin_controllers as builtin_dir, client_for};

/// A cluster running some of the built-in controllers.
pub struct TestCluster(InProcessCluster);

impl TestCluster {
    /// Starts a server and a host running the built-in controllers selected by `enable`
    /// (`*`, `replicaset,deployment`, ...).
    pub async fn start(enable: &str) -> TestCluster {
        TestCluster::start_with(enable, &[]).await
    }

    /// Like [`TestCluster::start`], also loading the controllers in `extra_dirs` (user
    /// directories, as `skiff up --controllers-dir`).
    pub async fn start_with(enable: &str, extra_dirs: &[PathBuf]) -> TestCluster {
        TestCluster::start_configured(enable, extra_dirs, Limits::default()).await
    }

    /// Like [`TestCluster::start`], with the scripts' sandbox `limits` in place of the
    /// defaults (see [`entry_limits`]): a few hundred objects can then stand in for the tens
    /// of thousands the default limits are made for.
    pub async fn start_limited(enable: &str, limits: Limits) -> TestCluster {
        TestCluster::start_configured(enable, &[], limits).await
    }

    async fn start_configured(enable: &str, extra_dirs: &[PathBuf], limits: Limits) -> TestCluster {
        let cluster = InProcessCluster::start(|_, config| {
            config.controller_dirs = std::iter::once(builtin_dir())
                .chain(extra_dirs.iter().cloned())
                .collect();
            config.enable = EnableList::parse(enable);
            config.limits = limits;
        })
        .await;
        TestCluster(cluster)
    }
}

impl Deref for TestCluster {
    type Target = InProcessCluster;

    fn deref(&self) -> &InProcessCluster {
        &self.0
    }
}

/// The default sandbox limits with at most `entries` array items and map entries in one
/// script value.
pub fn entry_limits(entries: usize) -> Limits {
    Limits {
        max_array_size: entries,
        max_map_size: entries,
        ..Limits::default()
    }
}
