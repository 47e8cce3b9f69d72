//! The REST API driven by kube-rs and raw requests: verbs, conflicts, watches, errors.

mod support;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, DeleteParams, ListParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;
use support::Cluster;

fn configmap(name: &str, labels: serde_json::Value) -> ConfigMap {
    serde_json::from_value(
        json!({"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}}),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stale_update_is_a_conflict_and_an_unconditional_one_wins() {
    let c = Cluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client().await, "default");
    let created = api
        .create(&PostParams::default(), &configmap("a", json!({})))
        .await
        .unwrap();
    let mut first = created.clone();
    first.data = Some([("k".to_string(), "first".to_string())].into());
    api.replace("a", &PostParams::default(), &first)
        .await
        .unwrap();
    let mut stale = created.clone();
    stale.data = Some([("k".to_string(), "stale".to_string())].into());
    let err = api
        .replace("a", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 409);
            assert!(
                s.message.contains("the object has been modified"),
                "{}",
                s.message
            );
        }
        other => panic!("{other:?}"),
    }
    stale.metadata.resource_version = None;
    let replaced = api
        .replace("a", &PostParams::default(), &stale)
        .await
        .unwrap();
    assert_eq!(replaced.data.unwrap()["k"], "stale");
    assert_ne!(
        replaced.metadata.resource_version,
        created.metadata.resource_version
    );
    assert_eq!(replaced.metadata.uid, created.metadata.uid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lists_page_with_continue_tokens_and_filter_by_labels_and_fields() {
    let c = Cluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client().await, "default");
    for i in 0..7 {
        let tier = if i % 2 == 0 { "even" } else { "odd" };
        api.create(
            &PostParams::default(),
            &configmap(&format!("cm-{i}"), json!({"tier": tier})),
        )
        .await
        .unwrap();
    }
    let mut names = Vec::new();
    let mut params = ListParams::default().limit(3);
    loop {
        let page = api.list(&params).await.unwrap();
        assert!(page.items.len() <= 3);
        names.extend(page.items.iter().map(|c| c.metadata.name.clone().unwrap()));
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => break,
        }
    }
    assert_eq!(names.len(), 7, "{names:?}");
    let odd = api
        .list(&ListParams::default().labels("tier=odd"))
        .await
        .unwrap();
    assert_eq!(odd.items.len(), 3);
    let not_even = api
        .list(&ListParams::default().labels("tier notin (even)"))
        .await
        .unwrap();
    assert_eq!(not_even.items.len(), 3);
    let one = api
        .list(&ListParams::default().fields("metadata.name=cm-4"))
        .await
        .unwrap();
    assert_eq!(one.items.len(), 1);
    let paged_odd = api
        .list(&ListParams::default().labels("tier=odd").limit(2))
        .await
        .unwrap();
    assert_eq!(paged_odd.items.len(), 2);
    assert!(paged_odd.metadata.continue_.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_watch_resumes_after_a_restart_on_the_same_data_dir() {
    let mut c = Cluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client().await, "default");
    let created = api
        .create(&PostParams::default(), &configmap("w", json!({})))
        .await
        .unwrap();
    let rv = created.metadata.resource_version.clone().unwrap();
    c.restart().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client().await, "default");
    let mut later = configmap("w", json!({"changed": "yes"}));
    later.metadata.resource_version = None;
    api.replace("w", &PostParams::default(), &later)
        .await
        .unwrap();
    let mut stream = api
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    let event = tokio::time::timeout(std::time::Duration::from_secs(10), stream.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    match event {
        WatchEvent::Modified(cm) => {
            assert_eq!(cm.metadata.labels.unwrap()["changed"], "yes");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn watching_a_compacted_revision_is_gone_and_bookmarks_arrive() {
    let c = Cluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client().await, "default");
    let first = api
        .create(&PostParams::default(), &configmap("x", json!({})))
        .await
        .unwrap();
    let old_rv = first.metadata.resource_version.clone().unwrap();
    api.create(&PostParams::default(), &configmap("y", json!({})))
        .await
        .unwrap();
    let store = c.server().store();
    let now = store.current_revision().await.unwrap();
    store.compact(now).await.unwrap();
    let mut stream = api
        .watch(&WatchParams::default(), &old_rv)
        .await
        .unwrap()
        .boxed();
    match stream.try_next().await.unwrap().unwrap() {
        WatchEvent::Error(e) => {
            assert_eq!(e.code, 410);
            assert_eq!(e.reason, "Expired");
        }
        other => panic!("{other:?}"),
    }
    let params = WatchParams::default();
    let mut stream = api.watch(&params, &now.to_string()).await.unwrap().boxed();
    let event = tokio::time::timeout(std::time::Duration::from_secs(10), stream.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(matches!(event, WatchEvent::Bookmark(_)), "{event:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_watch_from_zero_starts_with_the_current_objects_then_follows_changes() {
    let c = Cluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client().await, "default");
    api.create(
        &PostParams::default(),
        &configmap("before", json!({"app": "x"})),
    )
    .await
    .unwrap();
    let mut stream = api
        .watch(&WatchParams::default().labels("app=x"), "0")
        .await
        .unwrap()
        .boxed();
    assert!(
        matches!(next(&mut stream).await, WatchEvent::Added(cm) if cm.metadata.name.as_deref() == Some("before"))
    );
    api.create(
        &PostParams::default(),
        &configmap("other", json!({"app": "y"})),
    )
    .await
    .unwrap();
    api.create(
        &PostParams::default(),
        &configmap("after", json!({"app": "x"})),
    )
    .await
    .unwrap();
    assert!(
        matches!(next(&mut stream).await, WatchEvent::Added(cm) if cm.metadata.name.as_deref() == Some("after"))
    );
    api.delete("after", &DeleteParams::default()).await.unwrap();
    assert!(
        matches!(next(&mut stream).await, WatchEvent::Deleted(cm) if cm.metadata.name.as_deref() == Some("after"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_watch_pinned_to_a_node_sees_its_pods_and_bookmarks_past_other_nodes() {
    let c = Cluster::start().await;
    let pods: Api<Pod> = Api::namespaced(c.client().await, "default");
    let pod = |name: &str, node: Option<&str>| -> Pod {
        serde_json::from_value(json!({"metadata": {"name": name},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]}}))
        .unwrap()
    };
    let start = pods
        .create(&PostParams::default(), &pod("before", Some("n1")))
        .await
        .unwrap();
    // Bookmarks are asked for by default.
    let params = WatchParams::default().fields("spec.nodeName=n1");
    let mut stream = pods
        .watch(&params, start.metadata.resource_version.as_deref().unwrap())
        .await
        .unwrap()
        .boxed();
    pods.create(&PostParams::default(), &pod("elsewhere", Some("n2")))
        .await
        .unwrap();
    pods.create(&PostParams::default(), &pod("here", Some("n1")))
        .await
        .unwrap();
    pods.create(&PostParams::default(), &pod("moving", None))
        .await
        .unwrap();
    let (code, body) = c
        .raw(
            "POST",
            "/api/v1/namespaces/default/pods/moving/binding",
            "application/json",
            serde_json::to_vec(&json!({"metadata": {"name": "moving"}, "target": {"name": "n1"}}))
                .unwrap(),
        )
        .await;
    assert_eq!(code, 201, "{body}");
    pods.delete("before", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        match next(&mut stream).await {
            WatchEvent::Added(p) => seen.push(format!("added {}", p.metadata.name.unwrap())),
            WatchEvent::Deleted(p) => seen.push(format!("deleted {}", p.metadata.name.unwrap())),
            WatchEvent::Bookmark(_) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(seen, ["added here", "added moving", "deleted before"]);

    // Changes on another node are not sent, but the bookmarks still move past them.
    let mut last = String::new();
    for i in 0..3 {
        let p = pods
            .create(
                &PostParams::default(),
                &pod(&format!("far-{i}"), Some("n2")),
            )
            .await
            .unwrap();
        last = p.metadata.resource_version.unwrap();
    }
    let last: i64 = last.parse().unwrap();
    loop {
        match next(&mut stream).await {
            WatchEvent::Bookmark(b)
                if b.metadata.resource_version.parse::<i64>().unwrap() >= last =>
            {
                break;
            }
            WatchEvent::Bookmark(_) => {}
            other => panic!("only bookmarks were due: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn finalizers_hold_deletion_until_removed() {
    let c = Cluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client().await, "default");
    let mut cm = configmap("held", json!({}));
    cm.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    api.create(&PostParams::default(), &cm).await.unwrap();
    api.delete("held", &DeleteParams::foreground())
        .await
        .unwrap();
    let marked = api.get("held").await.unwrap();
    assert!(marked.metadata.deletion_timestamp.is_some());
    let finalizers = marked.metadata.finalizers.clone().unwrap();
    assert!(
        finalizers.contains(&"foregroundDeletion".to_string()),
        "{finalizers:?}"
    );
    let mut cleared = marked.clone();
    cleared.metadata.finalizers = None;
    api.replace("held", &PostParams::default(), &cleared)
        .await
        .unwrap();
    assert!(api.get_opt("held").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bound_pods_wait_for_the_kubelet_and_unbound_pods_go_at_once() {
    let c = Cluster::start().await;
    let pods: Api<Pod> = Api::namespaced(c.client().await, "default");
    let pod = |name: &str| -> Pod {
        serde_json::from_value(json!({"metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}))
        .unwrap()
    };
    let created = pods
        .create(&PostParams::default(), &pod("bound"))
        .await
        .unwrap();
    assert_eq!(created.status.unwrap().phase.as_deref(), Some("Pending"));
    let (code, _) = c
        .raw(
            "POST",
            "/api/v1/namespaces/default/pods/bound/binding",
            "application/json",
            serde_json::to_vec(
                &json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "bound"},
                "target": {"kind": "Node", "name": "node-1"}}),
            )
            .unwrap(),
        )
        .await;
    assert_eq!(code, 201);
    let (code, body) = c
        .raw(
            "POST",
            "/api/v1/namespaces/default/pods/bound/binding",
            "application/json",
            serde_json::to_vec(
                &json!({"metadata": {"name": "bound"}, "target": {"name": "node-2"}}),
            )
            .unwrap(),
        )
        .await;
    assert_eq!(code, 409, "{body}");
    let bound = pods.get("bound").await.unwrap();
    assert_eq!(bound.spec.unwrap().node_name.as_deref(), Some("node-1"));
    pods.delete("bound", &DeleteParams::default())
        .await
        .unwrap();
    let terminating = pods.get("bound").await.unwrap();
    assert!(terminating.metadata.deletion_timestamp.is_some());
    assert_eq!(terminating.metadata.deletion_grace_period_seconds, Some(30));
    pods.delete("bound", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    assert!(pods.get_opt("bound").await.unwrap().is_none());

    pods.create(&PostParams::default(), &pod("loose"))
        .await
        .unwrap();
    pods.delete("loose", &DeleteParams::default())
        .await
        .unwrap();
    assert!(pods.get_opt("loose").await.unwrap().is_none());

    pods.create(&PostParams::default(), &pod("evicted"))
        .await
        .unwrap();
    let (code, body) = c
        .raw("POST", "/api/v1/namespaces/default/pods/evicted/eviction", "application/json",
            serde_json::to_vec(&json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "evicted"}})).unwrap())
        .await;
    assert_eq!(code, 201, "{body}");
    assert!(pods.get_opt("evicted").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn status_is_only_written_through_the_status_subresource() {
    let c = Cluster::start().await;
    let body = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}},
        "status": {"replicas": 9}});
    let path = "/apis/apps/v1/namespaces/default/deployments";
    let (code, created) = c
        .raw(
            "POST",
            path,
            "application/json",
            serde_json::to_vec(&body).unwrap(),
        )
        .await;
    assert_eq!(code, 201, "{created}");
    assert!(created["status"].get("replicas").is_none(), "{created}");
    assert_eq!(created["metadata"]["generation"], 1);
    let (code, patched) = c
        .raw(
            "PATCH",
            &format!("{path}/d"),
            "application/merge-patch+json",
            serde_json::to_vec(&json!({"status": {"replicas": 5}, "spec": {"replicas": 2}}))
                .unwrap(),
        )
        .await;
    assert_eq!(code, 200);
    assert!(patched["status"].get("replicas").is_none(), "{patched}");
    assert_eq!(patched["metadata"]["generation"], 2);
    let (code, patched) = c
        .raw(
            "PATCH",
            &format!("{path}/d/status"),
            "application/merge-patch+json",
            serde_json::to_vec(&json!({"status": {"replicas": 5}, "spec": {"replicas": 9}}))
                .unwrap(),
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(patched["status"]["replicas"], 5);
    assert_eq!(patched["spec"]["replicas"], 2);
    assert_eq!(patched["metadata"]["generation"], 2);
    // A status update that drops the spec and changes the labels changes only the status.
    let mut sent = patched.clone();
    sent.as_object_mut().unwrap().remove("spec");
    sent["metadata"]["labels"] = json!({"x": "y"});
    sent["status"]["replicas"] = json!(6);
    let (code, put) = c
        .raw(
            "PUT",
            &format!("{path}/d/status"),
            "application/json",
            serde_json::to_vec(&sent).unwrap(),
        )
        .await;
    assert_eq!(code, 200, "{put}");
    assert_eq!(put["status"]["replicas"], 6);
    assert_eq!(put["spec"], patched["spec"]);
    assert!(put["metadata"].get("labels").is_none(), "{put}");
    let (code, scale) = c
        .raw(
            "GET",
            &format!("{path}/d/scale"),
            "application/json",
            vec![],
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["spec"]["replicas"], 2);
    assert_eq!(scale["status"]["selector"], "a=b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_is_answered_with_the_upstream_status_codes() {
    let c = Cluster::start().await;
    let cms = "/api/v1/namespaces/default/configmaps";
    let (code, s) = c
        .raw("POST", cms, "application/json", b"{not json".to_vec())
        .await;
    assert_eq!((code, s["reason"].as_str()), (400, Some("BadRequest")));
    let (code, _) = c
        .raw("POST", cms, "application/yaml", b"metadata: [".to_vec())
        .await;
    assert_eq!(code, 400);
    let (code, s) = c
        .raw(
            "POST",
            cms,
            "application/yaml",
            b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Bad_Name}\n".to_vec(),
        )
        .await;
    assert_eq!(code, 422);
    assert_eq!(s["details"]["causes"][0]["field"], "metadata.name");
    let big = json!({"metadata": {"name": "big"}, "data": {"x": "a".repeat(2 * 1024 * 1024)}});
    let (code, _) = c
        .raw(
            "POST",
            cms,
            "application/json",
            serde_json::to_vec(&big).unwrap(),
        )
        .await;
    assert_eq!(code, 413);
    let (code, _) = c
        .raw(
            "GET",
            "/api/v1/namespaces/default/nothings",
            "application/json",
            vec![],
        )
        .await;
    assert_eq!(code, 404);
    let (code, _) = c
        .raw(
            "GET",
            "/apis/nothing.example/v1",
            "application/json",
            vec![],
        )
        .await;
    assert_eq!(code, 404);
    let (code, _) = c.raw("PUT", cms, "application/json", b"{}".to_vec()).await;
    assert_eq!(code, 405);
    let ok = serde_json::to_vec(&json!({"metadata": {"name": "x"}})).unwrap();
    let (code, s) = c
        .raw(
            "POST",
            "/api/v1/namespaces/missing/configmaps",
            "application/json",
            ok.clone(),
        )
        .await;
    assert_eq!(code, 404, "{s}");
    assert_eq!(s["message"], "namespaces \"missing\" not found");
    let (code, _) = c.raw("POST", cms, "application/json", ok.clone()).await;
    assert_eq!(code, 201);
    let (code, s) = c.raw("POST", cms, "application/json", ok.clone()).await;
    assert_eq!((code, s["reason"].as_str()), (409, Some("AlreadyExists")));
    let (code, _) = c
        .raw(
            "PATCH",
            &format!("{cms}/x"),
            "application/strategic-merge-patch+json",
            b"{\"data\":{\"a\":\"b\"}}".to_vec(),
        )
        .await;
    assert_eq!(code, 200);
    let (code, _) = c
        .raw("PATCH", &format!("{cms}/x"), "text/plain", b"{}".to_vec())
        .await;
    assert_eq!(code, 415);

    // A terminating namespace takes no new content.
    let ns = serde_json::to_vec(&json!({"metadata": {"name": "doomed"}})).unwrap();
    assert_eq!(
        c.raw("POST", "/api/v1/namespaces", "application/json", ns)
            .await
            .0,
        201
    );
    assert_eq!(
        c.raw(
            "DELETE",
            "/api/v1/namespaces/doomed",
            "application/json",
            vec![]
        )
        .await
        .0,
        200
    );
    let (code, s) = c
        .raw(
            "POST",
            "/api/v1/namespaces/doomed/configmaps",
            "application/json",
            ok,
        )
        .await;
    assert_eq!(code, 403, "{s}");
    // The namespace goes once its finalizers are cleared.
    let (code, _) = c
        .raw(
            "PUT",
            "/api/v1/namespaces/doomed/finalize",
            "application/json",
            serde_json::to_vec(
                &json!({"metadata": {"name": "doomed"}, "spec": {"finalizers": []}}),
            )
            .unwrap(),
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(
        c.raw(
            "GET",
            "/api/v1/namespaces/doomed",
            "application/json",
            vec![]
        )
        .await
        .0,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn generate_name_dry_run_and_tables_behave_as_upstream() {
    let c = Cluster::start().await;
    let cms = "/api/v1/namespaces/default/configmaps";
    let body = serde_json::to_vec(&json!({"metadata": {"generateName": "gen-"}})).unwrap();
    let (code, created) = c.raw("POST", cms, "application/json", body.clone()).await;
    assert_eq!(code, 201);
    let name = created["metadata"]["name"].as_str().unwrap();
    assert!(name.starts_with("gen-") && name.len() == 9, "{name}");
    let (code, dry) = c
        .raw(
            "POST",
            &format!("{cms}?dryRun=All"),
            "application/json",
            body,
        )
        .await;
    assert_eq!(code, 201);
    let dry_name = dry["metadata"]["name"].as_str().unwrap().to_string();
    let (code, _) = c
        .raw(
            "GET",
            &format!("{cms}/{dry_name}"),
            "application/json",
            vec![],
        )
        .await;
    assert_eq!(code, 404);

    let client = c.client().await;
    let req = http::Request::builder()
        .uri(cms)
        .header(
            "accept",
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
        )
        .body(Vec::new())
        .unwrap();
    let table: serde_json::Value = client.request(req).await.unwrap();
    assert_eq!(table["kind"], "Table");
    assert!(table["metadata"]["resourceVersion"].is_string());
    assert_eq!(table["rows"].as_array().unwrap().len(), 1);
    let list: kube::core::ObjectList<ConfigMap> = Api::<ConfigMap>::namespaced(client, "default")
        .list(&ListParams::default())
        .await
        .unwrap();
    assert_eq!(list.items.len(), 1);
}

async fn next<K>(
    s: &mut futures::stream::BoxStream<'static, kube::Result<WatchEvent<K>>>,
) -> WatchEvent<K> {
    tokio::time::timeout(std::time::Duration::from_secs(10), s.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_that_prefers_a_minimal_return_is_answered_without_its_object() {
    let c = Cluster::start().await;
    let client = c.client().await;
    let send = |method: &str, path: &str, body: serde_json::Value, prefer: bool| {
        let mut request = http::Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::CONTENT_TYPE, "application/json");
        if prefer {
            request = request.header("prefer", "return=minimal");
        }
        let request = request.body(serde_json::to_vec(&body).unwrap()).unwrap();
        let client = client.clone();
        async move {
            let answer = client.send(request.map(Into::into)).await.unwrap();
            let (parts, body) = answer.into_parts();
            let bytes = http_body_util::BodyExt::collect(body)
                .await
                .unwrap()
                .to_bytes();
            (parts, bytes)
        }
    };
    let path = "/api/v1/namespaces/default/configmaps";
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "quiet"},
        "data": {"k": "v"}});

    let (parts, body) = send("POST", path, cm.clone(), true).await;
    assert_eq!(parts.status, 201);
    assert!(body.is_empty(), "{body:?}");
    assert_eq!(parts.headers["preference-applied"], "return=minimal");

    // The write landed; reads answer the object whatever the client prefers.
    let (parts, body) = send("GET", &format!("{path}/quiet"), json!(null), true).await;
    assert_eq!(parts.status, 200);
    let read: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(read["data"]["k"], "v");
    assert!(parts.headers.get("preference-applied").is_none());

    // A failed write still says why.
    let (parts, body) = send("POST", path, cm.clone(), true).await;
    assert_eq!(parts.status, 409);
    let status: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status["reason"], "AlreadyExists");

    // Without the preference a write answers the object, as always.
    let mut other = cm.clone();
    other["metadata"]["name"] = json!("loud");
    let (parts, body) = send("POST", path, other, false).await;
    assert_eq!(parts.status, 201);
    let created: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(created["metadata"]["name"], "loud");
}
