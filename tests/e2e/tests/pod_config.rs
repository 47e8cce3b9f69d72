//! ConfigMaps and Secrets reach containers as environment and as files, and the files follow
//! edits of the objects.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::{Cluster, IMAGE, Plugins};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn config_maps_and_secrets_become_env_and_files_that_follow_edits() {
    let cluster = Cluster::start(Plugins::Skiff).await;
    cluster
        .apply(
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"},
            "data": {"MODE": "fast", "app.conf": "version=1\n"}}),
        )
        .await;
    cluster
        .apply(
            &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"},
            "stringData": {"password": "hunter2"}}),
        )
        .await;
    let pod = cluster.pod_manifest(
        "cfg",
        json!({
            "containers": [{"name": "app", "image": IMAGE, "imagePullPolicy": "Never",
                "command": ["sleep", "3600"],
                "env": [
                    {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "MODE"}}},
                    {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}},
                    {"name": "MY_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "MY_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}
                ],
                "envFrom": [{"secretRef": {"name": "creds"}, "prefix": "S_"}],
                "volumeMounts": [
                    {"name": "conf", "mountPath": "/etc/app"},
                    {"name": "secret", "mountPath": "/etc/secret", "readOnly": true},
                    {"name": "scratch", "mountPath": "/scratch"}
                ]}],
            "volumes": [
                {"name": "conf", "configMap": {"name": "settings", "items": [{"key": "app.conf", "path": "app.conf"}]}},
                {"name": "secret", "secret": {"secretName": "creds", "defaultMode": 0o400}},
                {"name": "scratch", "emptyDir": {}}
            ]
        }),
    );
    cluster.apply(&pod).await;
    let pod = cluster.wait_running("cfg").await;
    let ip = pod["status"]["podIP"].as_str().unwrap();

    let env = cluster.kubectl(&["exec", "cfg", "--", "env"]).await;
    for want in [
        "MODE=fast",
        "PASSWORD=hunter2",
        "S_password=hunter2",
        "MY_NAME=cfg",
    ] {
        assert!(env.lines().any(|l| l == want), "{want} missing in:\n{env}");
    }
    assert!(env.lines().any(|l| l == format!("MY_IP={ip}")), "{env}");

    let conf = cluster
        .kubectl(&["exec", "cfg", "--", "cat", "/etc/app/app.conf"])
        .await;
    assert_eq!(conf, "version=1\n");
    let secret = cluster
        .kubectl(&["exec", "cfg", "--", "cat", "/etc/secret/password"])
        .await;
    assert_eq!(secret, "hunter2");
    let mode = cluster
        .kubectl(&[
            "exec",
            "cfg",
            "--",
            "stat",
            "-L",
            "-c",
            "%a",
            "/etc/secret/password",
        ])
        .await;
    assert_eq!(mode.trim(), "400");
    cluster
        .kubectl(&["exec", "cfg", "--", "sh", "-c", "echo x > /scratch/f"])
        .await;

    cluster
        .apply(
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"},
            "data": {"MODE": "fast", "app.conf": "version=2\n"}}),
        )
        .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let conf = cluster
            .kubectl(&["exec", "cfg", "--", "cat", "/etc/app/app.conf"])
            .await;
        if conf == "version=2\n" {
            break;
        }
        assert!(Instant::now() < deadline, "the file still says {conf:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    cluster
        .kubectl(&["delete", "pod", "cfg", "--wait=true", "--timeout=60s"])
        .await;
}
