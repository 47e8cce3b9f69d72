//! Authentication over HTTPS (client certificates, bearer tokens, and 401 otherwise) and the
//! in-process service, which acts as the admin.

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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_in_process_service_serves_the_same_api_as_the_admin() {
    use futures::{StreamExt, TryStreamExt};
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::{Api, PostParams, WatchEvent, WatchParams};

    let cluster = support::Cluster::start().await;
    let local = kube::Client::new(cluster.server().local_service(), "default");
    let remote = cluster.client().await;
    let local_maps: Api<ConfigMap> = Api::namespaced(local, "default");
    let remote_maps: Api<ConfigMap> = Api::namespaced(remote, "default");

    // A watch through the in-process service sees a write made over HTTPS.
    let mut events = local_maps
        .watch(&WatchParams::default(), "0")
        .await
        .unwrap()
        .boxed();
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some("over-https".into());
    remote_maps
        .create(&PostParams::default(), &cm)
        .await
        .unwrap();
    let seen = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            match events.try_next().await.unwrap() {
                Some(WatchEvent::Added(o)) => break o,
                Some(_) => continue,
                None => panic!("the watch ended"),
            }
        }
    })
    .await
    .expect("no watch event");
    assert_eq!(seen.metadata.name.as_deref(), Some("over-https"));

    // Writes through it land in the same store.
    cm.metadata.name = Some("in-process".into());
    cm.data = Some([("k".to_string(), "v".to_string())].into());
    local_maps
        .create(&PostParams::default(), &cm)
        .await
        .unwrap();
    let read = remote_maps.get("in-process").await.unwrap();
    assert_eq!(read.data.unwrap()["k"], "v");

    // Errors come back as the API's Status.
    match local_maps.get("missing").await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 404);
            assert_eq!(status.reason, "NotFound");
        }
        other => panic!("expected a 404 Status, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lean_in_process_service_answers_without_field_ownership() {
    use futures::StreamExt;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::{Api, ListParams, PostParams, WatchParams};

    let cluster = support::Cluster::start().await;
    let lean = kube::Client::new(cluster.server().local_service().lean(), "default");
    let full = kube::Client::new(cluster.server().local_service(), "default");
    let lean_maps: Api<ConfigMap> = Api::namespaced(lean, "default");
    let full_maps: Api<ConfigMap> = Api::namespaced(full, "default");
    let owned = |cm: &ConfigMap| {
        cm.metadata
            .managed_fields
            .as_ref()
            .is_some_and(|m| !m.is_empty())
    };

    let mut lean_events = lean_maps
        .watch(&WatchParams::default(), "0")
        .await
        .unwrap()
        .boxed();
    let mut full_events = full_maps
        .watch(&WatchParams::default(), "0")
        .await
        .unwrap()
        .boxed();
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some("owned".into());
    cm.data = Some([("k".to_string(), "v".to_string())].into());
    let created = full_maps.create(&PostParams::default(), &cm).await.unwrap();
    assert!(owned(&created), "the server records field ownership");

    let seen_lean = first_added(&mut lean_events).await;
    let seen_full = first_added(&mut full_events).await;
    assert!(
        !owned(&seen_lean),
        "{:?}",
        seen_lean.metadata.managed_fields
    );
    assert!(owned(&seen_full));
    // Everything else is the same object.
    let mut without = seen_full.clone();
    without.metadata.managed_fields = None;
    assert_eq!(seen_lean, without);

    let listed = lean_maps.list(&ListParams::default()).await.unwrap();
    let item = listed
        .items
        .iter()
        .find(|c| c.metadata.name.as_deref() == Some("owned"));
    assert!(item.is_some_and(|c| !owned(c)), "{item:?}");
    let listed = full_maps.list(&ListParams::default()).await.unwrap();
    let item = listed
        .items
        .iter()
        .find(|c| c.metadata.name.as_deref() == Some("owned"));
    assert!(item.is_some_and(owned));

    // Reads and writes answer without it too; the store keeps it.
    assert!(owned(&full_maps.get("owned").await.unwrap()));
    let mut unowned = lean_maps.get("owned").await.unwrap();
    assert!(!owned(&unowned));
    unowned.data = Some([("k".to_string(), "w".to_string())].into());
    let replaced = lean_maps
        .replace("owned", &PostParams::default(), &unowned)
        .await
        .unwrap();
    assert!(!owned(&replaced));
    assert_eq!(replaced.data.unwrap()["k"], "w");
    let stored = full_maps.get("owned").await.unwrap();
    assert!(owned(&stored));
    assert_eq!(stored.data.unwrap()["k"], "w");
}

async fn first_added<K: std::fmt::Debug>(
    events: &mut futures::stream::BoxStream<'static, kube::Result<kube::api::WatchEvent<K>>>,
) -> K {
    use futures::TryStreamExt;
    match tokio::time::timeout(std::time::Duration::from_secs(10), events.try_next()).await {
        Ok(Ok(Some(kube::api::WatchEvent::Added(o)))) => o,
        other => panic!("expected an ADDED event, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_in_process_caller_named_by_the_service_owns_what_it_writes() {
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::{Api, PostParams};

    let cluster = support::Cluster::start().await;
    let named = kube::Client::new(
        cluster
            .server()
            .local_service()
            .user_agent("skiff-test-agent"),
        "default",
    );
    let maps: Api<ConfigMap> = Api::namespaced(named.clone(), "default");
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some("named".into());
    cm.data = Some([("k".to_string(), "v".to_string())].into());
    let created = maps.create(&PostParams::default(), &cm).await.unwrap();
    let managers: Vec<_> = created
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter_map(|m| m.manager.clone())
        .collect();
    assert_eq!(managers, ["skiff-test-agent"]);

    // A request that names itself keeps its own name.
    let request = http::Request::post("/api/v1/namespaces/default/configmaps")
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::USER_AGENT, "other-tool/1.0")
        .body(br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"other"},"data":{"k":"v"}}"#.to_vec())
        .unwrap();
    let answer: serde_json::Value =
        serde_json::from_str(&named.request_text(request).await.unwrap()).unwrap();
    assert_eq!(
        answer["metadata"]["managedFields"][0]["manager"],
        "other-tool"
    );
}
