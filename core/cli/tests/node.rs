//! `skiff up` with its node: real containerd, runc and skiff's CNI plugins. A Deployment
//! applied with the real kubectl runs containers that serve pages on their pod IPs and through
//! their Service's cluster IP; logs and exec work; deleting the Deployment removes the pods.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Everything this test creates on the machine, removed on drop (also when the test fails).
struct Node {
    child: Option<Child>,
    dir: tempfile::TempDir,
    bridge: String,
}

impl Node {
    fn kubectl(&self, args: &[&str]) -> Output {
        Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", self.dir.path().join("kubeconfig"))
            .output()
            .expect("kubectl runs")
    }

    fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // Containers outlive skiff by design (a restart adopts them): stop what is left.
        let data = self.dir.path().display().to_string();
        if let Ok(procs) = std::fs::read_dir("/proc") {
            for p in procs.filter_map(Result::ok) {
                let cmdline = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
                if String::from_utf8_lossy(&cmdline).contains(&data) {
                    let _ = Command::new("kill")
                        .args(["-9", &p.file_name().to_string_lossy()])
                        .status();
                }
            }
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .status();
        let _ = Command::new("nft")
            .args(["delete", "table", "ip", "skiff-proxy"])
            .status();
        let _ = Command::new("nft")
            .args([
                "delete",
                "table",
                "inet",
                &format!("skiff_masq_{}", self.bridge),
            ])
            .status();
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
        for line in mounts.lines() {
            if let Some(point) = line.split_whitespace().nth(1)
                && point.starts_with(&data)
            {
                let _ = Command::new("umount").args(["-l", point]).status();
            }
        }
    }
}

fn skiff() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_skiff"))
}

/// An HTTP GET over a plain TCP connection; the body, or `None` if nothing answered.
fn http_get(addr: &str) -> Option<String> {
    let mut stream =
        TcpStream::connect_timeout(&addr.parse().ok()?, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    write!(stream, "GET / HTTP/1.0\r\nHost: test\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
}

fn until<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

const APP: &str = "\
apiVersion: v1
kind: ConfigMap
metadata: {name: page}
data:
  index.html: hello from a skiff pod
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: httpd
        image: skiff.local/busybox:latest
        imagePullPolicy: Never
        command: [sh, -c, 'echo serving; exec httpd -f -p 8080 -h /www']
        ports: [{containerPort: 8080}]
        volumeMounts: [{name: page, mountPath: /www}]
      volumes: [{name: page, configMap: {name: page}}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
";

#[test]
fn skiff_up_runs_a_deployment_on_real_containers() {
    let n = std::process::id() % 200;
    let bridge = format!("skt{n}");
    let pod_cidr = format!("10.{}.0.0/16", 30 + n % 60);
    let service_cidr = format!("10.{}.0.0/16", 150 + n % 60);
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node {
        child: None,
        dir,
        bridge: bridge.clone(),
    };
    let data_dir = node.dir.path().to_path_buf();
    let mut child = Command::new(skiff())
        .args(["up", "--listen", "127.0.0.1:0", "--bridge", &bridge])
        .args(["--pod-cidr", &pod_cidr, "--service-cidr", &service_cidr])
        .args([
            "--load-balancer-pool",
            &format!("10.{}.0.0/24", 215 + n % 30),
        ])
        .arg("--data-dir")
        .arg(&data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("skiff up starts");
    let stdout = child.stdout.take().unwrap();
    node.child = Some(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("skiff up prints its ready line");
    assert!(line.starts_with("skiff is up"), "{line}");

    let out = Command::new(skiff())
        .args([
            "image",
            "build-busybox",
            "skiff.local/busybox:latest",
            "--data-dir",
        ])
        .arg(&data_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut apply = Command::new("kubectl")
        .args(["apply", "-f", "-"])
        .env("KUBECONFIG", data_dir.join("kubeconfig"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    apply
        .stdin
        .take()
        .unwrap()
        .write_all(APP.as_bytes())
        .unwrap();
    assert!(apply.wait().unwrap().success());

    let ips: Vec<String> = until(
        "two running pods with IPs",
        Duration::from_secs(120),
        || {
            let out = node.kubectl_ok(&[
                "get",
                "pods",
                "-l",
                "app=web",
                "-o",
                "jsonpath={range .items[*]}{.status.phase} {.status.podIP}{\"\\n\"}{end}",
            ]);
            let running: Vec<String> = out
                .lines()
                .filter_map(|l| l.strip_prefix("Running "))
                .filter(|ip| !ip.is_empty())
                .map(str::to_string)
                .collect();
            (running.len() == 2).then_some(running)
        },
    );
    let prefix = pod_cidr.trim_end_matches(".0.0/16");
    for ip in &ips {
        assert!(ip.starts_with(prefix), "{ip} is outside {pod_cidr}");
        let page = until("the page on the pod IP", Duration::from_secs(30), || {
            http_get(&format!("{ip}:8080"))
        });
        assert_eq!(page.trim(), "hello from a skiff pod");
    }

    let cluster_ip = node.kubectl_ok(&["get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}"]);
    let page = until(
        "the page through the cluster IP",
        Duration::from_secs(30),
        || http_get(&format!("{cluster_ip}:80")),
    );
    assert_eq!(page.trim(), "hello from a skiff pod");

    let logs = node.kubectl_ok(&["logs", "deploy/web"]);
    assert!(logs.contains("serving"), "{logs}");
    let exec = node.kubectl_ok(&["exec", "deploy/web", "--", "cat", "/www/index.html"]);
    assert_eq!(exec.trim(), "hello from a skiff pod");

    let uids = node.kubectl_ok(&[
        "get",
        "pods",
        "-l",
        "app=web",
        "-o",
        "jsonpath={.items[*].metadata.uid}",
    ]);
    let uids: Vec<&str> = uids.split_whitespace().collect();
    assert_eq!(uids.len(), 2);
    node.kubectl_ok(&["delete", "deployment", "web"]);
    until("the pods to be gone", Duration::from_secs(60), || {
        let out = node.kubectl_ok(&["get", "pods", "-o", "name"]);
        out.trim().is_empty().then_some(())
    });
    for ip in &ips {
        assert!(
            http_get(&format!("{ip}:8080")).is_none(),
            "{ip} still answers"
        );
    }
    for uid in &uids {
        let netns = Path::new("/var/run/netns").join(format!("skiff-{uid}"));
        assert!(!netns.exists(), "{} was not removed", netns.display());
    }
}
