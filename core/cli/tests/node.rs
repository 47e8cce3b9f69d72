//! `skiff up` with its node: real containerd, runc and skiff's CNI plugins. A Deployment
//! applied with the real kubectl runs containers that serve pages on their pod IPs and through
//! their Service's cluster IP; logs and exec work; deleting the Deployment removes the pods.

use std::path::Path;
use std::time::Duration;

use skiff_test_support::{SkiffUp, http_get, until};

/// The body served at `/` on `addr`, if anything answers there.
fn body_at(addr: &str) -> Option<String> {
    http_get(addr, "test", "/").map(|(_, body)| body)
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
    let node = SkiffUp::start(&[]);
    let pod_cidr = node.pod_cidr();
    node.build_busybox();
    node.apply(APP);

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
            body_at(&format!("{ip}:8080"))
        });
        assert_eq!(page.trim(), "hello from a skiff pod");
    }

    let cluster_ip = node.kubectl_ok(&["get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}"]);
    let page = until(
        "the page through the cluster IP",
        Duration::from_secs(30),
        || body_at(&format!("{cluster_ip}:80")),
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
            body_at(&format!("{ip}:8080")).is_none(),
            "{ip} still answers"
        );
    }
    for uid in &uids {
        let netns = Path::new("/var/run/netns").join(format!("skiff-{uid}"));
        assert!(!netns.exists(), "{} was not removed", netns.display());
    }
}
