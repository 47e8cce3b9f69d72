//! Every built-in controller and the CSI provisioner plugin on an in-process API server and
//! controller host (the shared [`InProcessCluster`]), as `skiff up` loads them.

use std::ops::Deref;
use std::path::{Path, PathBuf};

use skiff_test_support::{InProcessCluster, builtin_controllers};

/// The provisioner plugin, built as a cdylib beside the test binaries (a dev-dependency).
pub fn provisioner_library() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let name = format!(
        "{}skiff_csi_provisioner.{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_EXTENSION
    );
    let path = exe.parent().expect("deps dir").join(name);
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// A cluster with storage controllers; stops on drop.
pub struct TestCluster(InProcessCluster);

impl TestCluster {
    /// Starts a server and a host running every built-in controller and the CSI
    /// provisioner plugin.
    pub async fn start() -> TestCluster {
        let cluster = InProcessCluster::start(|scratch, config| {
            let plugins = scratch.join("plugins");
            std::fs::create_dir_all(&plugins).expect("plugins dir");
            std::fs::copy(
                provisioner_library(),
                plugins.join("libskiff_csi_provisioner.so"),
            )
            .expect("plugin installed");
            config.controller_dirs = vec![builtin_controllers()];
            config.plugins_dir = Some(plugins);
        })
        .await;
        TestCluster(cluster)
    }

    /// Points the provisioner at `driver` for this cluster (its settings ConfigMap).
    pub async fn use_driver(&self, socket: &Path) {
        self.kubectl(&["create", "namespace", "kube-system"], None)
            .await;
        let manifest = serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "skiff-csi-provisioner", "namespace": "kube-system"},
            "data": {"driver": "hostpath.csi.skiff.dev", "endpoint": format!("unix://{}", socket.display())},
        });
        self.apply(&manifest.to_string()).await;
    }
}

impl Deref for TestCluster {
    type Target = InProcessCluster;

    fn deref(&self) -> &InProcessCluster {
        &self.0
    }
}
