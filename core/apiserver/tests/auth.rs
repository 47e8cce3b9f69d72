//! Authentication over HTTPS: client certificates, bearer tokens, and 401 otherwise.

mod support;

use std::process::Command;

async fn curl(args: Vec<String>) -> (u16, serde_json::Value) {
    let out = tokio::task::spawn_blocking(move || {
        Command::new("curl")
            .args(["-sk", "-o", "-", "-w", "\n%{http_code}"])
            .args(args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (
        code.trim().parse().unwrap(),
        serde_json::from_str(body).unwrap_or_default(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_without_credentials_get_a_401_status_and_tokens_work() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.csv");
    std::fs::write(&tokens, "t0ken,robot,1,\"system:masters\"\n").unwrap();
    let mut config = support::config(dir.path());
    config.token_file = Some(tokens);
    let server = skiff_apiserver::start(config).await.unwrap();
    let url = format!("https://{}/api/v1/namespaces", server.local_addr());

    let (code, body) = curl(vec![url.clone()]).await;
    assert_eq!(code, 401);
    assert_eq!(body["kind"], "Status");
    assert_eq!(body["reason"], "Unauthorized");

    let (code, _) = curl(vec![
        "-H".into(),
        "Authorization: Bearer wrong".into(),
        url.clone(),
    ])
    .await;
    assert_eq!(code, 401);

    let (code, body) = curl(vec![
        "-H".into(),
        "Authorization: Bearer t0ken".into(),
        url.clone(),
    ])
    .await;
    assert_eq!(code, 200);
    let names: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["metadata"]["name"].as_str().unwrap())
        .collect();
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(names.contains(&ns), "{names:?}");
    }

    let (code, _) = curl(vec![format!("https://{}/healthz", server.local_addr())]).await;
    assert_eq!(code, 200);
    server.shutdown().await;
}
