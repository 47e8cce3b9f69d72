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
