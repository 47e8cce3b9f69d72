//! An API server and the controller host in the test's own process, loading controllers as
//! `skiff up` does, plus the real `kubectl` against them: for tests of controllers and
//! plugins that need no real node (simulated nodes at most).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use kube::Client;
use skiff_apiserver::{Config, Server};
use skiff_runtime::{Host, HostConfig};

/// The directory holding the built-in controllers.
pub fn builtin_controllers() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../builtin-controllers")
}

/// A running API server with the controller host attached; both stop on drop.
pub struct InProcessCluster {
    server: Option<Server>,
    host: Option<Host>,
    /// The kube-rs client the host and the tests use.
    pub client: Client,
    dir: tempfile::TempDir,
}

impl InProcessCluster {
    /// Starts a server on a free loopback port over a fresh data dir, then a host with the
    /// configuration `configure` makes (given a scratch directory of the cluster's, e.g. for
    /// a plugins dir). Hot reload is off unless `configure` turns it on.
    pub async fn start(configure: impl FnOnce(&Path, &mut HostConfig)) -> InProcessCluster {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::new(dir.path().join("data"));
        config.listen = "127.0.0.1:0".parse().expect("address");
        config.bookmark_interval = Duration::from_secs(1);
        let server = skiff_apiserver::start(config)
            .await
            .expect("API server starts");
        let client = client_for(server.kubeconfig_path()).await;
        let mut host_config = HostConfig {
            hot_reload: false,
            ..HostConfig::default()
        };
        let scratch = dir.path().join("scratch");
        std::fs::create_dir_all(&scratch).expect("scratch dir");
        configure(&scratch, &mut host_config);
        let host = Host::start(client.clone(), host_config)
            .await
            .expect("controller host starts");
        InProcessCluster {
            server: Some(server),
            host: Some(host),
            client,
            dir,
        }
    }

    /// The host running the controllers.
    pub fn host(&self) -> &Host {
        self.host.as_ref().expect("host running")
    }

    /// The kubeconfig kubectl uses.
    pub fn kubeconfig(&self) -> PathBuf {
        self.server
            .as_ref()
            .expect("server running")
            .kubeconfig_path()
            .to_path_buf()
    }

    /// Runs the real kubectl against the cluster on a blocking thread (the server keeps
    /// serving meanwhile), optionally feeding `stdin`.
    pub async fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new("kubectl");
        cmd.arg("--kubeconfig").arg(self.kubeconfig());
        cmd.arg("--cache-dir")
            .arg(self.dir.path().join("kubectl-cache"));
        cmd.args(args);
        let stdin = stdin.map(str::to_string);
        tokio::task::spawn_blocking(move || {
            use std::io::Write;
            cmd.stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let mut child = cmd.spawn().expect("kubectl runs");
            if let Some(input) = stdin {
                child
                    .stdin
                    .take()
                    .expect("stdin")
                    .write_all(input.as_bytes())
                    .expect("kubectl reads stdin");
            }
            drop(child.stdin.take());
            child.wait_with_output().expect("kubectl finishes")
        })
        .await
        .expect("kubectl thread")
    }

    /// Runs kubectl and fails the test with its output when it fails.
    pub async fn kubectl_ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.kubectl(args, stdin).await;
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Applies a YAML or JSON manifest with kubectl.
    pub async fn apply(&self, manifest: &str) {
        self.kubectl_ok(&["apply", "-f", "-"], Some(manifest)).await;
    }

    /// A JSON object read with `kubectl get -o json`, or `None` when it does not exist.
    pub async fn get_json(&self, args: &[&str]) -> Option<serde_json::Value> {
        let mut full = vec!["get"];
        full.extend_from_slice(args);
        full.extend_from_slice(&["-o", "json"]);
        let out = self.kubectl(&full, None).await;
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }
}

impl Drop for InProcessCluster {
    fn drop(&mut self) {
        // Stop the host first (it talks to the server), then the server; best effort on a
        // runtime that may be shutting down.
        let host = self.host.take();
        let server = self.server.take();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                if let Some(host) = host {
                    host.shutdown().await;
                }
                if let Some(server) = server {
                    server.shutdown().await;
                }
            });
        }
    }
}

/// A kube-rs client from a kubeconfig file.
pub async fn client_for(kubeconfig: &Path) -> Client {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .expect("client config");
    Client::try_from(config).expect("client")
}
