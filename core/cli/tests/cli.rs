//! The `skiff` command against a real `skiff up`: output snapshots for apply, get, delete and
//! errors, clean shutdown, and objects surviving a restart.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A `skiff up` child process on a free port with its own data dir; stopped on drop.
struct Cluster {
    child: Option<Child>,
    dir: PathBuf,
}

impl Cluster {
    fn start(dir: &Path) -> Cluster {
        // The node (containerd, CNI, proxy) is covered by tests/e2e; these tests need only
        // the control plane.
        Self::start_without(dir, "kubelet,proxy")
    }

    /// Starts `skiff up` without the components in `disable` (comma-separated).
    fn start_without(dir: &Path, disable: &str) -> Cluster {
        let mut child = Command::new(env!("CARGO_BIN_EXE_skiff"))
            .args(["up", "--listen", "127.0.0.1:0", "--disable", disable])
            .arg("--data-dir")
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("skiff up starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let cluster = Cluster {
            child: Some(child),
            dir: dir.to_path_buf(),
        };
        let line = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("skiff up prints its ready line");
        assert!(
            line.starts_with("skiff is up"),
            "unexpected first line: {line}"
        );
        cluster
    }

    /// Runs `skiff ARGS` with this cluster's kubeconfig; returns (stdout, stderr, success).
    fn skiff(&self, args: &[&str], stdin: Option<&str>) -> (String, String, bool) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_skiff"))
            .args(args)
            .env("KUBECONFIG", self.dir.join("kubeconfig"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
        drop(input);
        let out = child.wait_with_output().unwrap();
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            out.status.success(),
        )
    }

    /// Sends SIGTERM and returns whether the server exited successfully.
    fn stop(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        for _ in 0..300 {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

const APP: &str = "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  labels: {app: shop}
data:
  color: blue
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop
  labels: {app: shop}
spec:
  replicas: 2
  selector:
    matchLabels: {app: shop}
  template:
    metadata:
      labels: {app: shop}
    spec:
      containers:
      - name: web
        image: busybox
        ports:
        - containerPort: 8080
";

/// Table lines as `cell | cell | ...` with ages (`5s`, `2m3s`) replaced by `<age>`, so snapshots
/// do not depend on timing or on the column widths ages cause.
fn mask_ages(text: &str) -> String {
    text.lines()
        .map(|line| {
            line.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(|c| {
                    let is_age = c.chars().any(|ch| ch.is_ascii_digit())
                        && c.chars()
                            .all(|ch| ch.is_ascii_digit() || "smhdy".contains(ch))
                        && c.ends_with(|ch: char| "smhdy".contains(ch));
                    if is_age { "<age>" } else { c }
                })
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn apply_reports_created_then_unchanged_then_configured() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path());

    let (out, err, ok) = cluster.skiff(&["apply", "-f", "-"], Some(APP));
    assert!(ok, "{err}");
    insta::assert_snapshot!("apply_created", out);

    let (out, _, ok) = cluster.skiff(&["apply", "-f", "-"], Some(APP));
    assert!(ok);
    insta::assert_snapshot!("apply_unchanged", out);

    let changed = APP.replace("replicas: 2", "replicas: 3");
    let (out, _, ok) = cluster.skiff(&["apply", "-f", "-"], Some(&changed));
    assert!(ok);
    insta::assert_snapshot!("apply_configured", out);

    let (out, _, ok) = cluster.skiff(&["get", "deployment", "shop", "-o", "json"], None);
    assert!(ok);
    let deploy: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(deploy["spec"]["replicas"], 3);

    let (out, _, ok) = cluster.skiff(&["apply", "-f", "-", "--dry-run=server"], Some(APP));
    assert!(ok);
    insta::assert_snapshot!("apply_dry_run", out);
    let (out, _, _) = cluster.skiff(&["get", "deployment", "shop", "-o", "json"], None);
    let deploy: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(deploy["spec"]["replicas"], 3, "a dry run changes nothing");

    let (out, err, ok) = cluster.skiff(&["apply", "--server-side", "-f", "-"], Some(APP));
    assert!(
        !ok,
        "server-side apply conflicts with the client-side owner of replicas"
    );
    assert!(
        out.contains("configmap/settings serverside-applied"),
        "{out}"
    );
    assert!(err.contains("conflict"), "{err}");
    let (out, err, ok) = cluster.skiff(
        &["apply", "--server-side", "--force-conflicts", "-f", "-"],
        Some(APP),
    );
    assert!(ok, "{err}");
    insta::assert_snapshot!("apply_server_side", out);
}

#[test]
fn get_prints_tables_names_and_yaml() {
    let dir = tempfile::tempdir().unwrap();
    // Without controllers the deployment's status columns stay as created, so the table
    // does not depend on how far its rollout got.
    let cluster = Cluster::start_without(dir.path(), "kubelet,proxy,controllers,scheduler");
    assert!(cluster.skiff(&["apply", "-f", "-"], Some(APP)).2);

    let (out, _, ok) = cluster.skiff(&["get", "configmaps,deployments", "-l", "app=shop"], None);
    assert!(ok);
    insta::assert_snapshot!("get_tables", mask_ages(&out));

    let (out, _, ok) = cluster.skiff(&["get", "deploy", "-o", "name"], None);
    assert!(ok);
    assert_eq!(out, "deployment.apps/shop\n");

    let (out, _, ok) = cluster.skiff(&["get", "cm", "settings", "-o", "yaml"], None);
    assert!(ok);
    let cm: serde_json::Value = serde_yaml::from_str(&out).unwrap();
    assert_eq!(cm["data"]["color"], "blue");
    assert_eq!(cm["kind"], "ConfigMap");

    let (out, err, ok) = cluster.skiff(&["get", "deploy", "-l", "app=other"], None);
    assert!(ok);
    assert_eq!(out, "");
    assert_eq!(err, "No resources found in default namespace.\n");

    let (out, _, ok) = cluster.skiff(&["get", "ns", "--no-headers", "-o", "name"], None);
    assert!(ok);
    assert!(out.contains("namespace/kube-system\n"), "{out}");
}

#[test]
fn errors_are_one_clear_line_and_a_failure_exit() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path());
    let cases: Vec<(&str, Vec<&str>, Option<&str>)> = vec![
        ("missing_object", vec!["get", "deployment", "nope"], None),
        ("unknown_type", vec!["get", "gizmos"], None),
        (
            "invalid_name",
            vec!["apply", "-f", "-"],
            Some("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Bad_Name}\n"),
        ),
        (
            "malformed_yaml",
            vec!["apply", "-f", "-"],
            Some("a: [unclosed\n"),
        ),
        (
            "unknown_kind",
            vec!["apply", "-f", "-"],
            Some("apiVersion: example.com/v1\nkind: Gizmo\nmetadata: {name: a}\n"),
        ),
        (
            "missing_file",
            vec!["apply", "-f", "/nonexistent/x.yaml"],
            None,
        ),
        ("delete_missing", vec!["delete", "configmap", "nope"], None),
    ];
    for (name, args, stdin) in cases {
        let (out, err, ok) = cluster.skiff(&args, stdin);
        assert!(!ok, "{name} must fail");
        assert_eq!(out, "", "{name} prints nothing on stdout");
        assert_eq!(err.lines().count(), 1, "{name}: one line, got {err:?}");
        insta::assert_snapshot!(format!("error_{name}"), err);
    }
}

#[test]
fn objects_survive_a_clean_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(dir.path());
    let (out, _, ok) = cluster.skiff(&["create", "namespace", "keep"], None);
    assert!(ok);
    assert_eq!(out, "namespace/keep created\n");
    assert!(
        cluster
            .skiff(&["apply", "-n", "keep", "-f", "-"], Some(APP))
            .2
    );
    assert!(cluster.stop(), "skiff up exits cleanly on SIGTERM");

    let cluster = Cluster::start(dir.path());
    let (out, _, ok) = cluster.skiff(&["get", "cm", "settings", "-n", "keep", "-o", "name"], None);
    assert!(ok);
    assert_eq!(out, "configmap/settings\n");
    let (out, _, ok) = cluster.skiff(&["delete", "deployment", "shop", "-n", "keep"], None);
    assert!(ok);
    assert_eq!(out, "deployment.apps \"shop\" deleted\n");
}

#[test]
fn api_resources_lists_builtin_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path());
    let (out, _, ok) = cluster.skiff(&["api-resources", "--api-group", "apps"], None);
    assert!(ok);
    insta::assert_snapshot!("api_resources_apps", out);
}
