//! The real `kubectl` commands whose typed clients send protobuf bodies, against an
//! in-process server; each stored object is read back as JSON.

mod support;

use serde_json::{Value, json};
use support::Cluster;

async fn get_json(c: &Cluster, args: &[&str]) -> Value {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    serde_json::from_str(&c.ok(&all).await).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn create_deployment_and_expose_it() {
    let c = Cluster::start().await;
    let out = c
        .ok(&[
            "create",
            "deployment",
            "web",
            "--image=busybox",
            "--replicas=2",
            "--port=80",
        ])
        .await;
    assert!(out.contains("deployment.apps/web created"), "{out}");
    let d = get_json(&c, &["deployment", "web"]).await;
    assert_eq!(d["spec"]["replicas"], json!(2));
    assert_eq!(d["spec"]["selector"]["matchLabels"], json!({"app": "web"}));
    let template = &d["spec"]["template"];
    assert_eq!(template["metadata"]["labels"], json!({"app": "web"}));
    let container = &template["spec"]["containers"][0];
    assert_eq!(container["name"], json!("busybox"));
    assert_eq!(container["image"], json!("busybox"));
    assert_eq!(container["ports"][0]["containerPort"], json!(80));
    assert!(d["metadata"]["uid"].as_str().is_some_and(|u| !u.is_empty()));

    let out = c.ok(&["expose", "deployment", "web", "--port=80"]).await;
    assert!(out.contains("service/web exposed"), "{out}");
    let s = get_json(&c, &["service", "web"]).await;
    assert_eq!(s["spec"]["selector"], json!({"app": "web"}));
    assert_eq!(s["spec"]["ports"][0]["port"], json!(80));
    assert_eq!(s["spec"]["ports"][0]["targetPort"], json!(80));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn create_configmap_and_secret_from_literals() {
    let c = Cluster::start().await;
    // The request really is protobuf: kubectl logs its request headers at -v=8.
    let out = c
        .kubectl(&["create", "configmap", "c", "--from-literal=a=b", "-v=8"])
        .await;
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(
        log.lines().any(
            |l| l.contains("Content-Type") && l.contains("application/vnd.kubernetes.protobuf")
        ),
        "{log}"
    );
    let value = c
        .ok(&["get", "configmap", "c", "-o", "jsonpath={.data.a}"])
        .await;
    assert_eq!(value, "b");

    c.ok(&["create", "secret", "generic", "s", "--from-literal=p=q"])
        .await;
    let encoded = c
        .ok(&["get", "secret", "s", "-o", "jsonpath={.data.p}"])
        .await;
    assert_eq!(encoded, "cQ==");
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    assert_eq!(decoded, b"q");
    let s = get_json(&c, &["secret", "s"]).await;
    assert_eq!(s["type"], json!("Opaque"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn create_service_job_pod_and_namespace() {
    let c = Cluster::start().await;
    c.ok(&["create", "service", "clusterip", "x", "--tcp=80:8080"])
        .await;
    let s = get_json(&c, &["service", "x"]).await;
    let port = &s["spec"]["ports"][0];
    assert_eq!(
        (&port["port"], &port["targetPort"], &port["name"]),
        (&json!(80), &json!(8080), &json!("80-8080"))
    );
    assert_eq!(s["spec"]["type"], json!("ClusterIP"));
    assert_eq!(s["spec"]["selector"], json!({"app": "x"}));

    c.ok(&["create", "job", "j", "--image=busybox"]).await;
    let j = get_json(&c, &["job", "j"]).await;
    let pod = &j["spec"]["template"]["spec"];
    assert_eq!(pod["containers"][0]["image"], json!("busybox"));
    assert_eq!(pod["restartPolicy"], json!("Never"));

    c.ok(&["run", "p", "--image=busybox", "--restart=Never"])
        .await;
    let p = get_json(&c, &["pod", "p"]).await;
    assert_eq!(p["metadata"]["labels"], json!({"run": "p"}));
    assert_eq!(p["spec"]["containers"][0]["image"], json!("busybox"));
    assert_eq!(p["spec"]["restartPolicy"], json!("Never"));

    c.ok(&["create", "namespace", "n"]).await;
    let n = get_json(&c, &["namespace", "n"]).await;
    assert_eq!(n["metadata"]["name"], json!("n"));
    c.ok(&[
        "create",
        "configmap",
        "inside",
        "-n",
        "n",
        "--from-literal=k=v",
    ])
    .await;
    let value = c
        .ok(&["get", "cm", "inside", "-n", "n", "-o", "jsonpath={.data.k}"])
        .await;
    assert_eq!(value, "v");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn other_typed_creates_store_their_objects() {
    let c = Cluster::start().await;
    let commands: &[&[&str]] = &[
        &["create", "serviceaccount", "robot"],
        &[
            "create",
            "role",
            "reader",
            "--verb=get,list",
            "--resource=pods",
        ],
        &[
            "create",
            "rolebinding",
            "read",
            "--role=reader",
            "--serviceaccount=default:robot",
        ],
        &["create", "quota", "q", "--hard=pods=3,requests.cpu=1"],
        &["create", "priorityclass", "high", "--value=1000"],
        &[
            "create",
            "poddisruptionbudget",
            "pdb",
            "--selector=app=web",
            "--min-available=50%",
        ],
        &[
            "create",
            "cronjob",
            "cj",
            "--image=busybox",
            "--schedule=*/5 * * * *",
        ],
        &["create", "ingress", "ing", "--rule=example.com/=svc:80"],
    ];
    for args in commands {
        c.ok(args).await;
    }
    let role = get_json(&c, &["role", "reader"]).await;
    assert_eq!(role["rules"][0]["verbs"], json!(["get", "list"]));
    assert_eq!(role["rules"][0]["resources"], json!(["pods"]));
    let binding = get_json(&c, &["rolebinding", "read"]).await;
    assert_eq!(binding["roleRef"]["name"], json!("reader"));
    assert_eq!(binding["subjects"][0]["name"], json!("robot"));
    let quota = get_json(&c, &["quota", "q"]).await;
    assert_eq!(
        quota["spec"]["hard"],
        json!({"pods": "3", "requests.cpu": "1"})
    );
    let pc = get_json(&c, &["priorityclass", "high"]).await;
    assert_eq!(pc["value"], json!(1000));
    let pdb = get_json(&c, &["pdb", "pdb"]).await;
    assert_eq!(pdb["spec"]["minAvailable"], json!("50%"));
    let cj = get_json(&c, &["cronjob", "cj"]).await;
    assert_eq!(cj["spec"]["schedule"], json!("*/5 * * * *"));
    let ing = get_json(&c, &["ingress", "ing"]).await;
    let backend = &ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"];
    assert_eq!(backend, &json!({"name": "svc", "port": {"number": 80}}));
    assert_eq!(ing["spec"]["rules"][0]["host"], json!("example.com"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn drain_evicts_the_pods_of_a_node() {
    let c = Cluster::start().await;
    c.ok_stdin(
        &["apply", "-f", "-"],
        r#"{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "worker"}}"#,
    )
    .await;
    c.ok_stdin(
        &["apply", "-f", "-"],
        r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "victim"},
            "spec": {"nodeName": "worker", "containers": [{"name": "c", "image": "busybox"}]}}"#,
    )
    .await;
    let out = c
        .kubectl(&[
            "drain",
            "worker",
            "--force",
            "--grace-period=0",
            "--timeout=30s",
        ])
        .await;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("pod/victim evicted"), "{text}");
    let gone = c.kubectl(&["get", "pod", "victim"]).await;
    assert!(!gone.status.success());
    let node = get_json(&c, &["node", "worker"]).await;
    assert_eq!(node["spec"]["unschedulable"], json!(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn protobuf_bodies_of_unknown_kinds_and_broken_bodies_are_refused() {
    let c = Cluster::start().await;
    let envelope = |api_version: &str, kind: &str, raw: &[u8]| {
        // runtime.Unknown{typeMeta{apiVersion, kind}, raw}, encoded field by field.
        let mut type_meta = vec![0x0a, api_version.len() as u8];
        type_meta.extend(api_version.as_bytes());
        type_meta.extend([0x12, kind.len() as u8]);
        type_meta.extend(kind.as_bytes());
        let mut body = b"k8s\0".to_vec();
        body.extend([0x0a, type_meta.len() as u8]);
        body.extend(type_meta);
        body.extend([0x12, raw.len() as u8]);
        body.extend(raw);
        body
    };
    let protobuf = "application/vnd.kubernetes.protobuf";
    let cms = "/api/v1/namespaces/default/configmaps";

    // ConfigMap{metadata{name: "hand"}, data{"k": "v"}}.
    let config_map = [
        0x0a, 0x06, 0x0a, 0x04, b'h', b'a', b'n', b'd', 0x12, 0x06, 0x0a, 0x01, b'k', 0x12, 0x01,
        b'v',
    ];
    let (code, obj) = c
        .raw(
            "POST",
            cms,
            protobuf,
            envelope("v1", "ConfigMap", &config_map),
        )
        .await;
    assert_eq!(code, 201, "{obj}");
    assert_eq!(obj["data"], json!({"k": "v"}));

    let (code, s) = c
        .raw(
            "POST",
            cms,
            protobuf,
            envelope("example.com/v1", "Widget", &[]),
        )
        .await;
    assert_eq!(code, 415, "{s}");

    let (code, s) = c
        .raw(
            "POST",
            cms,
            protobuf,
            envelope("v1", "ConfigMap", &config_map[..config_map.len() - 2]),
        )
        .await;
    assert_eq!(code, 400, "{s}");
    assert!(s["message"].as_str().unwrap().contains("protobuf"), "{s}");
}
