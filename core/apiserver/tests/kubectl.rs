//! The real `kubectl` against an in-process server.

mod support;

use support::Cluster;

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: busybox
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn api_resources_lists_builtin_groups_and_short_names() {
    let c = Cluster::start().await;
    let out = c.ok(&["api-resources"]).await;
    for want in [
        "deployments",
        "deploy",
        "apps/v1",
        "pods",
        "customresourcedefinitions",
    ] {
        assert!(out.contains(want), "{want} missing from:\n{out}");
    }
    let version = c.ok(&["version", "-o", "json"]).await;
    assert!(version.contains("\"minor\": \"32\""), "{version}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn apply_get_label_annotate_scale_describe_and_delete_a_deployment() {
    let c = Cluster::start().await;
    let out = c.ok_stdin(&["apply", "-f", "-"], DEPLOYMENT).await;
    assert!(out.contains("deployment.apps/web created"), "{out}");
    let out = c.ok_stdin(&["apply", "-f", "-"], DEPLOYMENT).await;
    assert!(out.contains("deployment.apps/web unchanged"), "{out}");
    let table = c.ok(&["get", "deployments"]).await;
    assert!(table.contains("NAME") && table.contains("web"), "{table}");
    let wide = c.ok(&["get", "deploy", "web", "-o", "wide"]).await;
    assert!(wide.contains("web"), "{wide}");
    c.ok(&["label", "deployment", "web", "tier=front"]).await;
    c.ok(&["annotate", "deployment", "web", "note=hello"]).await;
    let by_label = c
        .ok(&["get", "deploy", "-l", "tier=front", "-o", "name"])
        .await;
    assert_eq!(by_label.trim(), "deployment.apps/web");
    let none = c
        .ok(&["get", "deploy", "-l", "tier notin (front)", "-o", "name"])
        .await;
    assert_eq!(none.trim(), "");
    c.ok(&["scale", "deployment", "web", "--replicas=5"]).await;
    let replicas = c
        .ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.replicas} {.metadata.annotations.note} {.metadata.generation}",
        ])
        .await;
    assert_eq!(replicas, "5 hello 2");
    let yaml = c.ok(&["get", "deploy", "web", "-o", "yaml"]).await;
    assert!(
        yaml.contains("kind: Deployment") && yaml.contains("resourceVersion:"),
        "{yaml}"
    );
    let described = c.ok(&["describe", "deployment", "web"]).await;
    assert!(
        described.contains("Name:") && described.contains("web"),
        "{described}"
    );
    let out = c.ok(&["delete", "deployment", "web"]).await;
    assert!(out.contains("deleted"), "{out}");
    let gone = c.kubectl(&["get", "deploy", "web"]).await;
    assert!(!gone.status.success());
    assert!(String::from_utf8_lossy(&gone.stderr).contains("NotFound"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn edit_through_kube_editor_changes_the_object() {
    let c = Cluster::start().await;
    c.ok_stdin(
        &["create", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {mode: slow}\n",
    )
    .await;
    let editor = c.dir.path().join("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nsed -i 's/mode: slow/mode: fast/' \"$1\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let editor = editor.to_str().unwrap();
    let out = c
        .kubectl_with(
            &["edit", "configmap", "settings"],
            &[("KUBE_EDITOR", editor)],
            None,
        )
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("edited"));
    let mode = c
        .ok(&["get", "cm", "settings", "-o", "jsonpath={.data.mode}"])
        .await;
    assert_eq!(mode, "fast");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn server_side_apply_reports_conflicts_until_forced() {
    let c = Cluster::start().await;
    let out = c
        .ok_stdin(
            &["apply", "--server-side", "--field-manager=alice", "-f", "-"],
            DEPLOYMENT,
        )
        .await;
    assert!(out.contains("serverside-applied"), "{out}");
    let changed = DEPLOYMENT.replace("replicas: 2", "replicas: 7");
    let out = c
        .kubectl_with(
            &["apply", "--server-side", "--field-manager=bob", "-f", "-"],
            &[],
            Some(&changed),
        )
        .await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("conflict") && err.contains(".spec.replicas"),
        "{err}"
    );
    assert!(err.contains("alice"), "{err}");
    c.ok_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager=bob",
            "--force-conflicts",
            "-f",
            "-",
        ],
        &changed,
    )
    .await;
    let replicas = c
        .ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"])
        .await;
    assert_eq!(replicas, "7");
    let managers = c
        .ok(&[
            "get",
            "deploy",
            "web",
            "--show-managed-fields",
            "-o",
            "jsonpath={.metadata.managedFields[*].manager}",
        ])
        .await;
    assert!(managers.contains("bob"), "{managers}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn get_watch_sees_a_change() {
    let c = Cluster::start().await;
    c.ok_stdin(
        &["create", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: watched}\n",
    )
    .await;
    let mut cmd = std::process::Command::new("kubectl");
    cmd.arg("--kubeconfig")
        .arg(c.kubeconfig())
        .args([
            "get",
            "configmaps",
            "-w",
            "-o",
            "name",
            "--request-timeout=20s",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut lines = Vec::new();
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let done = line.contains("later");
            lines.push(line);
            if done {
                break;
            }
        }
        lines
    });
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    c.ok_stdin(
        &["create", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: later}\n",
    )
    .await;
    let lines = tokio::task::spawn_blocking(move || reader.join().unwrap())
        .await
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        lines.iter().any(|l| l.contains("configmap/watched")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("configmap/later")),
        "{lines:?}"
    );
}

const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: websites.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: websites, singular: website, kind: Website, shortNames: [ws]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas}
    additionalPrinterColumns:
    - {name: URL, type: string, jsonPath: .spec.url}
    - {name: Replicas, type: integer, jsonPath: .spec.replicas}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              url: {type: string}
              replicas: {type: integer, minimum: 0}
          status:
            type: object
            properties:
              replicas: {type: integer}
"#;

const WEBSITE: &str = r#"
apiVersion: example.com/v1
kind: Website
metadata: {name: blog}
spec: {url: "https://blog.example", replicas: 1, unknownField: dropped}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn custom_resources_round_trip_with_printer_columns() {
    let c = Cluster::start().await;
    c.ok_stdin(&["apply", "-f", "-"], CRD).await;
    c.ok(&[
        "wait",
        "--for=condition=established",
        "crd/websites.example.com",
        "--timeout=20s",
    ])
    .await;
    let out = c.ok_stdin(&["apply", "-f", "-"], WEBSITE).await;
    assert!(out.contains("website.example.com/blog created"), "{out}");
    let table = c.ok(&["get", "ws"]).await;
    assert!(
        table.contains("URL") && table.contains("https://blog.example"),
        "{table}"
    );
    let spec = c
        .ok(&["get", "website", "blog", "-o", "jsonpath={.spec}"])
        .await;
    assert!(!spec.contains("unknownField"), "not pruned: {spec}");
    c.ok(&["scale", "website", "blog", "--replicas=3"]).await;
    let replicas = c
        .ok(&["get", "ws", "blog", "-o", "jsonpath={.spec.replicas}"])
        .await;
    assert_eq!(replicas, "3");
    let resources = c.ok(&["api-resources", "--api-group=example.com"]).await;
    assert!(resources.contains("websites"), "{resources}");
    let bad = WEBSITE.replace("replicas: 1", "replicas: -1");
    let out = c
        .kubectl_with(
            &["apply", "-f", "-"],
            &[],
            Some(&bad.replace("blog", "bad")),
        )
        .await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("spec.replicas"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    c.ok(&["delete", "crd", "websites.example.com"]).await;
    let out = c.kubectl(&["get", "websites"]).await;
    assert!(!out.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn get_all_and_explain_work() {
    let c = Cluster::start().await;
    c.ok_stdin(&["apply", "-f", "-"], DEPLOYMENT).await;
    let all = c.ok(&["get", "all"]).await;
    assert!(all.contains("deployment.apps/web"), "{all}");
    let explained = c.ok(&["explain", "deployment.spec.replicas"]).await;
    assert!(explained.contains("replicas"), "{explained}");
}
