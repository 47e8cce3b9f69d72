//! Test harness: an API server in-process on 127.0.0.1:0 over the embedded store in a
//! temporary data dir, with a kube-rs client and the real `kubectl`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use skiff_apiserver::{Config, Server};

pub struct Cluster {
    pub server: Option<Server>,
    pub dir: tempfile::TempDir,
}

pub fn config(dir: &Path) -> Config {
    let mut config = Config::new(dir);
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.bookmark_interval = Duration::from_secs(1);
    config
}

impl Cluster {
    pub async fn start() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let server = skiff_apiserver::start(config(dir.path())).await.unwrap();
        Cluster {
            server: Some(server),
            dir,
        }
    }

    pub fn server(&self) -> &Server {
        self.server.as_ref().expect("server running")
    }

    /// Stops the server and starts a new one on the same data dir (a new port).
    pub async fn restart(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
        self.server = Some(
            skiff_apiserver::start(config(self.dir.path()))
                .await
                .unwrap(),
        );
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.server().kubeconfig_path().to_path_buf()
    }

    pub async fn client(&self) -> kube::Client {
        let kc = kube::config::Kubeconfig::read_from(self.kubeconfig()).unwrap();
        let mut config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .unwrap();
        // Tests assert the server's first answer: no client-side retries of 429/503.
        config.default_retry = false;
        kube::Client::try_from(config).unwrap()
    }

    /// Runs kubectl against the cluster (in a blocking thread, so the server keeps serving).
    pub async fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_with(args, &[], None).await
    }

    pub async fn kubectl_with(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
        stdin: Option<&str>,
    ) -> Output {
        let mut cmd = Command::new("kubectl");
        cmd.arg("--kubeconfig").arg(self.kubeconfig());
        cmd.arg("--cache-dir")
            .arg(self.dir.path().join("kubectl-cache"));
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let stdin = stdin.map(str::to_string);
        tokio::task::spawn_blocking(move || {
            use std::io::Write;
            use std::process::Stdio;
            cmd.stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let mut child = cmd.spawn().expect("kubectl runs");
            if let Some(input) = stdin {
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(input.as_bytes())
                    .unwrap();
            }
            drop(child.stdin.take());
            child.wait_with_output().unwrap()
        })
        .await
        .unwrap()
    }

    /// kubectl that must succeed; returns stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args).await;
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// kubectl with a manifest on stdin that must succeed.
    pub async fn ok_stdin(&self, args: &[&str], stdin: &str) -> String {
        let out = self.kubectl_with(args, &[], Some(stdin)).await;
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A raw request through the kube-rs client: (status code, JSON body).
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (u16, serde_json::Value) {
        let client = self.client().await;
        let req = http::Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", content_type)
            .body(body)
            .unwrap();
        let resp = client
            .send(req.map(kube::client::Body::from))
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect_bytes().await.unwrap();
        let value = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        (status, value)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            // Stop serving even when a test panicked.
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(server.shutdown());
            }
        }
    }
}
