//! A real `skiff up` (API server, controllers, scheduler, containerd, CNI, kubelet, proxy and
//! DNS) on a temporary data dir with its own bridge, address ranges and nftables tables, and
//! everything it made removed again on drop, also when the test failed.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::slot::Slot;

/// How long `skiff up` may take to print its ready line (it starts containerd first).
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// A running `skiff up` process and what it owns on the machine.
pub struct SkiffUp {
    child: Option<Child>,
    dir: tempfile::TempDir,
    slot: Slot,
}

impl std::fmt::Debug for SkiffUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SkiffUp({})", self.dir.path().display())
    }
}

impl SkiffUp {
    /// Starts `skiff up` with `extra_args` added to the ones that make it unique on this
    /// machine, and waits until it is ready. The log goes to `<data dir>/skiff.log`.
    pub fn start(extra_args: &[&str]) -> SkiffUp {
        let slot = Slot::claim();
        let dir = tempfile::Builder::new()
            .prefix("skiff-up-")
            .tempdir()
            .expect("temp data dir");
        let log = std::fs::File::create(dir.path().join("skiff.log")).expect("log file");
        let mut child = Command::new(crate::binary("skiff"))
            .arg("up")
            .args(["--listen", "127.0.0.1:0"])
            .args(["--bridge", &slot.bridge()])
            .args(["--pod-cidr", &slot.pod_cidr()])
            .args(["--service-cidr", &slot.service_cidr()])
            .args(["--load-balancer-pool", &slot.load_balancer_pool()])
            .arg("--data-dir")
            .arg(dir.path())
            .args(extra_args)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or("info".into()),
            )
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("skiff up starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let up = SkiffUp {
            child: Some(child),
            dir,
            slot,
        };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(line) if line.starts_with("skiff is up") => up,
            other => panic!(
                "skiff up did not get ready ({other:?}); its log:\n{}",
                up.log_tail()
            ),
        }
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    pub fn bridge(&self) -> String {
        self.slot.bridge()
    }

    pub fn pod_cidr(&self) -> String {
        self.slot.pod_cidr()
    }

    pub fn service_cidr(&self) -> String {
        self.slot.service_cidr()
    }

    pub fn load_balancer_pool(&self) -> String {
        self.slot.load_balancer_pool()
    }

    /// The last lines of skiff's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("skiff.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Runs the real kubectl against this cluster.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", self.kubeconfig())
            .output()
            .expect("kubectl runs")
    }

    /// Runs kubectl and returns its stdout; panics with its stderr when it fails.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `kubectl apply -f -` of `yaml`; returns kubectl's output.
    pub fn apply(&self, yaml: &str) -> String {
        use std::io::Write;
        let mut child = Command::new("kubectl")
            .args(["apply", "-f", "-"])
            .env("KUBECONFIG", self.kubeconfig())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl runs");
        child
            .stdin
            .take()
            .expect("stdin is piped")
            .write_all(yaml.as_bytes())
            .expect("manifest written to kubectl");
        let out = child.wait_with_output().expect("kubectl finishes");
        assert!(
            out.status.success(),
            "kubectl apply failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Imports `skiff.local/busybox:latest` (busybox-static: sh, httpd, nslookup, ...) into
    /// this cluster's containerd; pods use it with `imagePullPolicy: Never`.
    pub fn build_busybox(&self) {
        let out = Command::new(crate::binary("skiff"))
            .args(["image", "build-busybox", "skiff.local/busybox:latest"])
            .arg("--data-dir")
            .arg(self.dir.path())
            .output()
            .expect("skiff image runs");
        assert!(
            out.status.success(),
            "skiff image build-busybox failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The UIDs of every pod the API server knows, to clean up what skiff cannot once stopped.
    fn pod_uids(&self) -> Vec<String> {
        let out = self.kubectl(&[
            "get",
            "pods",
            "-A",
            "--request-timeout=5s",
            "-o",
            "jsonpath={.items[*].metadata.uid}",
        ]);
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for SkiffUp {
    fn drop(&mut self) {
        let uids = self.pod_uids();
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let data = self.dir.path().display().to_string();
        // Containers outlive skiff by design (a restart adopts them), and so do the driver
        // processes it started: stop everything started with this data dir...
        kill_matching(&data);
        // ...and every process left in a pod's cgroup, then the pod's cgroups and netns.
        for uid in &uids {
            kill_pod_processes(uid);
            let _ = Command::new("ip")
                .args(["netns", "del", &format!("skiff-{uid}")])
                .stderr(Stdio::null())
                .status();
        }
        let bridge = self.slot.bridge();
        let _ = Command::new("ip")
            .args(["link", "del", &bridge])
            .stderr(Stdio::null())
            .status();
        for (family, table) in [
            ("ip", format!("skiff-proxy-{bridge}")),
            ("inet", format!("skiff_masq_{bridge}")),
        ] {
            let _ = Command::new("nft")
                .args(["delete", "table", family, &table])
                .stderr(Stdio::null())
                .status();
        }
        let mut points = crate::mounts_under(self.dir.path());
        // Deepest first, so nested mounts come off before their parents.
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for point in points {
            let _ = Command::new("umount").args(["-l", &point]).status();
        }
    }
}

/// Kills (SIGKILL) every process whose command line mentions `needle`.
fn kill_matching(needle: &str) {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return;
    };
    let me = std::process::id().to_string();
    for p in procs.filter_map(Result::ok) {
        let pid = p.file_name().to_string_lossy().into_owned();
        if pid == me || !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let cmdline = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(needle) {
            let _ = Command::new("kill").args(["-9", &pid]).status();
        }
    }
}

/// Kills what runs in the pod's cgroups (`/skiff/pod<uid>` in every hierarchy) and removes
/// the cgroups: containers outlive skiff and their shims.
pub fn kill_pod_processes(uid: &str) {
    let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    for h in hierarchies.filter_map(Result::ok) {
        let pod = h.path().join("skiff").join(format!("pod{uid}"));
        if !pod.is_dir() {
            continue;
        }
        let mut dirs = vec![pod.clone()];
        let mut i = 0;
        while i < dirs.len() {
            if let Ok(children) = std::fs::read_dir(&dirs[i]) {
                dirs.extend(
                    children
                        .filter_map(Result::ok)
                        .map(|c| c.path())
                        .filter(|p| p.is_dir()),
                );
            }
            i += 1;
        }
        for dir in &dirs {
            let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
            for pid in procs.split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
        }
        std::thread::sleep(Duration::from_millis(100));
        for dir in dirs.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}
