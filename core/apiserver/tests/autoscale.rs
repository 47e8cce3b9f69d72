//! `kubectl autoscale`: the real kubectl creates an `autoscaling/v1` autoscaler, which is
//! stored as `autoscaling/v2` and reads back in either version.

mod support;

use support::Cluster;

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: busybox
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kubectl_autoscale_creates_an_autoscaler_readable_in_both_versions() {
    let c = Cluster::start().await;
    c.ok_stdin(&["apply", "-f", "-"], DEPLOYMENT).await;
    let out = c
        .ok(&[
            "autoscale",
            "deployment",
            "web",
            "--min=2",
            "--max=5",
            "--cpu-percent=80",
        ])
        .await;
    assert!(
        out.contains("horizontalpodautoscaler.autoscaling/web autoscaled"),
        "{out}"
    );

    let table = c.ok(&["get", "hpa"]).await;
    let row = table.lines().find(|l| l.starts_with("web")).unwrap_or("");
    for want in ["Deployment/web", "cpu: <unknown>/80%", " 2 ", " 5 "] {
        assert!(row.contains(want), "{want} missing from:\n{table}");
    }

    let v2 = c
        .ok(&[
            "get",
            "hpa.v2.autoscaling",
            "web",
            "-o",
            "jsonpath={.apiVersion} {.spec.minReplicas} {.spec.maxReplicas} {.spec.metrics[0].resource.name} {.spec.metrics[0].resource.target.averageUtilization}",
        ])
        .await;
    assert_eq!(v2, "autoscaling/v2 2 5 cpu 80");

    // `hpa.v1.autoscaling` would not do: kubectl expands a short name to the group's
    // preferred version (v2) before it sends anything; the plural keeps the version.
    let v1 = c
        .ok(&[
            "get",
            "horizontalpodautoscalers.v1.autoscaling",
            "web",
            "-o",
            "yaml",
        ])
        .await;
    for want in [
        "apiVersion: autoscaling/v1",
        "kind: HorizontalPodAutoscaler",
        "targetCPUUtilizationPercentage: 80",
        "minReplicas: 2",
        "maxReplicas: 5",
        "currentReplicas: 0",
    ] {
        assert!(v1.contains(want), "{want} missing from:\n{v1}");
    }
    assert!(!v1.contains("metrics:"), "{v1}");

    // A change written as v2 reads back as v1, and a v1 patch reads back as v2.
    c.ok(&[
        "patch",
        "hpa.v2.autoscaling",
        "web",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/metrics/0/resource/target/averageUtilization","value":60}]"#,
    ])
    .await;
    let v1 = c
        .ok(&[
            "get",
            "horizontalpodautoscalers.v1.autoscaling",
            "web",
            "-o",
            "jsonpath={.spec.targetCPUUtilizationPercentage}",
        ])
        .await;
    assert_eq!(v1, "60");
    c.ok(&[
        "patch",
        "horizontalpodautoscalers.v1.autoscaling",
        "web",
        "--type=merge",
        "-p",
        r#"{"spec":{"targetCPUUtilizationPercentage":70,"maxReplicas":7}}"#,
    ])
    .await;
    let v2 = c
        .ok(&[
            "get",
            "hpa",
            "web",
            "-o",
            "jsonpath={.apiVersion} {.spec.maxReplicas} {.spec.metrics[*].resource.target.averageUtilization}",
        ])
        .await;
    assert_eq!(v2, "autoscaling/v2 7 70");

    let list = c
        .ok(&[
            "get",
            "horizontalpodautoscalers.v1.autoscaling",
            "-o",
            "jsonpath={.items[*].apiVersion}",
        ])
        .await;
    assert_eq!(list, "autoscaling/v1");

    let out = c.ok(&["delete", "hpa", "web"]).await;
    assert!(
        out.contains("horizontalpodautoscaler.autoscaling \"web\" deleted"),
        "{out}"
    );
    let gone = c
        .kubectl(&["get", "horizontalpodautoscalers.v1.autoscaling", "web"])
        .await;
    assert!(!gone.status.success());
    assert!(
        String::from_utf8_lossy(&gone.stderr).contains("NotFound"),
        "{gone:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn discovery_serves_autoscaling_v1_beside_the_preferred_v2() {
    let c = Cluster::start().await;
    let versions = c.ok(&["api-versions"]).await;
    assert!(
        versions.lines().any(|l| l == "autoscaling/v1"),
        "{versions}"
    );
    assert!(
        versions.lines().any(|l| l == "autoscaling/v2"),
        "{versions}"
    );
    let group = c.ok(&["get", "--raw", "/apis/autoscaling"]).await;
    let group: serde_json::Value = serde_json::from_str(&group).unwrap();
    assert_eq!(group["preferredVersion"]["version"], "v2");
    let resources = c.ok(&["api-resources", "--api-group=autoscaling"]).await;
    assert_eq!(
        resources
            .lines()
            .filter(|l| l.starts_with("horizontalpodautoscalers"))
            .count(),
        1,
        "{resources}"
    );
    let explained = c
        .ok(&[
            "explain",
            "hpa.spec.targetCPUUtilizationPercentage",
            "--api-version=autoscaling/v1",
        ])
        .await;
    assert!(
        explained.contains("targetCPUUtilizationPercentage"),
        "{explained}"
    );
}
