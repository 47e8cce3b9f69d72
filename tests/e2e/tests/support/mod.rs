//! A one-node skiff cluster for end-to-end tests: the API server in-process, a private
//! containerd, the kubelet with CNI on a bridge of its own, and the real `kubectl`.
//!
//! Everything a test makes is unique to it (bridge, subnet, netns prefix, containerd
//! namespace and socket) and is removed on drop, also when the test fails. skiff's CNI
//! plugins are taken from `SKIFF_CNI_BIN_DIR`, else from the target dir of this test binary
//! (`cargo build -p skiff-bridge -p skiff-host-local -p skiff-loopback` first).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use skiff_kubelet::cni::{CniConfig, CniRuntime};
use skiff_kubelet::image::{self, testimage};
use skiff_kubelet::runtime::ContainerRuntime;
use skiff_kubelet::runtime::containerd::ContainerdRuntime;
use skiff_kubelet::runtime::supervisor::{Containerd, ContainerdConfig};
use skiff_kubelet::streaming::StreamingRouter;
use skiff_kubelet::{BackoffConfig, Kubelet, KubeletConfig, KubeletHandle};

/// The busybox test image every pod uses.
pub const IMAGE: &str = "skiff.test/busybox:1";

pub fn unique() -> u32 {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    ((std::process::id() ^ nanos) & 0xfff) << 4 | (N.fetch_add(1, Ordering::Relaxed) & 0xf)
}

/// Which CNI plugins the node uses.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Plugins {
    /// skiff-bridge, skiff-host-local, skiff-loopback.
    Skiff,
    /// The Debian reference plugins: bridge, host-local, loopback.
    Reference,
}

fn skiff_bin_dir() -> PathBuf {
    let dir = std::env::var_os("SKIFF_CNI_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let exe = std::env::current_exe().unwrap();
            exe.parent().and_then(Path::parent).unwrap().to_path_buf()
        });
    for plugin in ["skiff-bridge", "skiff-host-local", "skiff-loopback"] {
        assert!(
            dir.join(plugin).is_file(),
            "{plugin} is not in {dir:?}: run `cargo build -p skiff-bridge -p skiff-host-local \
             -p skiff-loopback` or set SKIFF_CNI_BIN_DIR"
        );
    }
    dir
}

pub struct Cluster {
    pub server: Option<skiff_apiserver::Server>,
    pub kubelet: Option<KubeletHandle>,
    pub containerd: Option<Containerd>,
    pub runtime: Arc<dyn ContainerRuntime>,
    pub router: Arc<StreamingRouter>,
    pub config: KubeletConfig,
    pub cni: CniRuntime,
    pub bridge: String,
    pub subnet: String,
    pub dir: tempfile::TempDir,
}

impl Cluster {
    pub async fn start(plugins: Plugins) -> Cluster {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        // A short path: unix socket paths are limited to 108 bytes.
        let dir = tempfile::Builder::new()
            .prefix("ske")
            .tempdir_in("/tmp")
            .unwrap();
        let tag = unique();
        let bridge = format!("skb{tag:x}");
        let subnet = format!("10.{}.{}", 150 + (tag >> 8) % 100, tag % 250);

        let router = Arc::new(StreamingRouter::default());
        let mut api = skiff_apiserver::Config::new(dir.path().join("api"));
        api.listen = "127.0.0.1:0".parse().unwrap();
        api.streaming = Some(router.clone());
        let server = skiff_apiserver::start(api).await.unwrap();

        let mut cd = ContainerdConfig::new(dir.path().join("c"));
        cd.namespace = format!("skiff-e2e-{tag:x}");
        // The log writer the shim runs for each container, as `skiff up` has it (there
        // `skiff container-log`; here the kubelet's own build of it).
        cd.log_driver = Some(skiff_test_support::binary("skiff-container-log"));
        let containerd = Containerd::start(cd).await.unwrap();
        let runtime: ContainerdRuntime = containerd.runtime().await.unwrap();
        let tar = testimage::busybox(IMAGE, dir.path()).unwrap();
        image::import(&runtime, &tar).await.unwrap();
        let runtime: Arc<dyn ContainerRuntime> = Arc::new(runtime);

        let conf_dir = dir.path().join("net.d");
        std::fs::create_dir_all(&conf_dir).unwrap();
        let ipam_dir = dir.path().join("ipam");
        let (bin_dirs, conf) = match plugins {
            Plugins::Skiff => (
                vec![skiff_bin_dir()],
                json!({"cniVersion": "1.1.0", "name": "skiff-e2e", "plugins": [
                    {"type": "skiff-bridge", "bridge": bridge, "isGateway": true,
                     "ipam": {"type": "skiff-host-local", "dataDir": ipam_dir,
                              "ranges": [[{"subnet": format!("{subnet}.0/24")}]]}},
                    {"type": "skiff-loopback"}]}),
            ),
            Plugins::Reference => (
                vec![PathBuf::from("/usr/lib/cni")],
                json!({"cniVersion": "1.0.0", "name": "reference-e2e", "plugins": [
                    {"type": "bridge", "bridge": bridge, "isGateway": true, "ipMasq": false,
                     "ipam": {"type": "host-local", "dataDir": ipam_dir,
                              "ranges": [[{"subnet": format!("{subnet}.0/24")}]]}},
                    {"type": "loopback"}]}),
            ),
        };
        std::fs::write(conf_dir.join("10-e2e.conflist"), conf.to_string()).unwrap();
        let cni = CniRuntime::new(CniConfig {
            conf_dir,
            bin_dirs,
            cache_dir: dir.path().join("cni-cache"),
        });

        let mut config = KubeletConfig::new(format!("node-{tag:x}"), dir.path().join("kubelet"));
        config.netns_prefix = format!("ske{tag:x}-");
        config.backoff = BackoffConfig {
            initial: Duration::from_secs(2),
            max: Duration::from_secs(16),
            reset_after: Duration::from_secs(600),
        };
        config.volume_refresh = Duration::from_secs(1);
        config.heartbeat_interval = Duration::from_secs(2);
        config.register_node = std::env::var_os("E2E_NO_REGISTER").is_none();
        let mut cluster = Cluster {
            server: Some(server),
            kubelet: None,
            containerd: Some(containerd),
            runtime,
            router,
            config,
            cni,
            bridge,
            subnet,
            dir,
        };
        cluster.start_kubelet().await;
        cluster
    }

    pub async fn start_kubelet(&mut self) {
        let kubelet = Kubelet::start(
            self.client().await,
            self.runtime.clone(),
            Some(self.cni.clone()),
            self.config.clone(),
        )
        .await
        .unwrap();
        self.router
            .register(&self.config.node_name, Arc::new(kubelet.streaming()));
        self.kubelet = Some(kubelet);
    }

    pub async fn stop_kubelet(&mut self) {
        if let Some(k) = self.kubelet.take() {
            k.stop().await;
        }
    }

    pub fn node(&self) -> &str {
        &self.config.node_name
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.server
            .as_ref()
            .unwrap()
            .kubeconfig_path()
            .to_path_buf()
    }

    pub async fn client(&self) -> kube::Client {
        let kc = kube::config::Kubeconfig::read_from(self.kubeconfig()).unwrap();
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .unwrap();
        kube::Client::try_from(config).unwrap()
    }

    /// Runs kubectl (on a blocking thread, so the in-process server keeps serving).
    pub async fn kubectl_with(&self, args: &[&str], stdin: Option<&str>) -> Output {
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
            let mut input = child.stdin.take().unwrap();
            if let Some(text) = stdin {
                input.write_all(text.as_bytes()).unwrap();
            }
            drop(input);
            child.wait_with_output().unwrap()
        })
        .await
        .unwrap()
    }

    /// kubectl that must succeed; returns stdout.
    pub async fn kubectl(&self, args: &[&str]) -> String {
        self.kubectl_stdin(args, None).await
    }

    pub async fn kubectl_stdin(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.kubectl_with(args, stdin).await;
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `kubectl apply -f -` of a JSON manifest.
    pub async fn apply(&self, manifest: &Value) {
        self.kubectl_stdin(&["apply", "-f", "-"], Some(&manifest.to_string()))
            .await;
    }

    /// The pod as JSON.
    pub async fn pod(&self, name: &str) -> Value {
        let out = self.kubectl(&["get", "pod", name, "-o", "json"]).await;
        serde_json::from_str(&out).unwrap()
    }

    /// Polls the pod until `check` holds, failing after `timeout` with the last pod shown.
    pub async fn wait_pod(
        &self,
        name: &str,
        timeout: Duration,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let out = self
                .kubectl_with(&["get", "pod", name, "-o", "json"], None)
                .await;
            let pod: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
            if check(&pod) {
                return pod;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for pod {name}: {pod:#}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Waits until the pod runs with an IP and is Ready.
    pub async fn wait_running(&self, name: &str) -> Value {
        self.wait_pod(name, Duration::from_secs(60), |p| {
            p["status"]["phase"] == "Running"
                && p["status"]["podIP"].is_string()
                && p["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
        .await
    }

    /// A pod manifest bound to this node.
    pub fn pod_manifest(&self, name: &str, spec: Value) -> Value {
        let mut spec = spec;
        spec["nodeName"] = json!(self.node());
        if spec.get("terminationGracePeriodSeconds").is_none() {
            spec["terminationGracePeriodSeconds"] = json!(5);
        }
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec})
    }

    /// An httpd pod serving `text` at `/` on port 80.
    pub fn httpd(&self, name: &str, text: &str) -> Value {
        self.pod_manifest(
            name,
            json!({"containers": [{"name": "web", "image": IMAGE, "imagePullPolicy": "Never",
                "command": ["sh", "-c",
                    format!("mkdir -p /www && echo '{text}' > /www/index.html && echo started && exec httpd -f -v -p 80 -h /www")]}]}),
        )
    }
}

/// An HTTP GET from the host to a pod address (inside this test's own subnet).
pub fn http_get(ip: &str, port: u16, path: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let addr: std::net::SocketAddr = format!("{ip}:{port}").parse().unwrap();
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
    s.set_read_timeout(Some(Duration::from_secs(3)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {ip}\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(k) = self.kubelet.take() {
            drop(k);
        }
        let state = self
            .dir
            .path()
            .join("c/state/io.containerd.runtime.v2.task");
        let kill = |pid: i32| {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        };
        for ns in std::fs::read_dir(&state).into_iter().flatten().flatten() {
            for task in std::fs::read_dir(ns.path()).into_iter().flatten().flatten() {
                let pid = std::fs::read_to_string(task.path().join("init.pid"));
                if let Ok(pid) = pid.unwrap_or_default().trim().parse::<i32>() {
                    kill(pid);
                }
            }
        }
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            if std::fs::read_link(entry.path().join("cwd")).is_ok_and(|cwd| cwd.starts_with(&state))
            {
                kill(pid);
            }
        }
        drop(self.containerd.take());
        std::thread::sleep(Duration::from_millis(200));
        // Pod cgroups of this test's pods (`/skiff/pod<uid>`), found through the pod dirs.
        let pods = self.config.data_dir.join("pods");
        let uids: Vec<String> = std::fs::read_dir(&pods)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        for controller in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            for uid in &uids {
                remove_cgroup(&controller.path().join("skiff").join(format!("pod{uid}")));
            }
        }
        for entry in std::fs::read_dir("/var/run/netns")
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(&self.config.netns_prefix) {
                let _ = Command::new("ip").args(["netns", "delete", &name]).status();
            }
        }
        let _ = Command::new("ip")
            .args(["link", "delete", &self.bridge])
            .stderr(Stdio::null())
            .status();
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let root = self.dir.path().to_string_lossy().into_owned();
        let mut points: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|p| p.starts_with(&root))
            .collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for p in points {
            let _ = nix::mount::umount2(p, nix::mount::MntFlags::MNT_DETACH);
        }
        if let Some(server) = self.server.take() {
            drop(server);
        }
    }
}

fn remove_cgroup(path: &Path) {
    for child in std::fs::read_dir(path).into_iter().flatten().flatten() {
        if child.file_type().is_ok_and(|t| t.is_dir()) {
            remove_cgroup(&child.path());
        }
    }
    let _ = std::fs::remove_dir(path);
}
