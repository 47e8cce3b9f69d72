//! Rhai controllers in a real host against a real API server.

mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Event, Secret};
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use skiff_runtime::rhai::Limits;
use skiff_runtime::{ControllerState, EnableList, Host, HostConfig};
use support::*;

const WEBSITE: &str = r#"
fn config() {
    #{
        name: "website",
        primary: #{ apiVersion: "example.skiff.dev/v1", kind: "Website" },
        owns: [ #{ apiVersion: "v1", kind: "ConfigMap" } ],
    }
}

fn reconcile(obj, ctx) {
    if obj.deleted == true { return; }
    let name = obj.metadata.name;
    let children = sync_children(obj, [
        #{
            apiVersion: "v1", kind: "ConfigMap",
            metadata: #{ name: name + "-site", labels: #{ site: name } },
            data: #{ "index.html": "<h1>" + obj.spec.title + "</h1>", version: "VERSION" },
        }
    ]);
    if obj.status?.configMap != children[0].metadata.name {
        obj.status = #{ configMap: children[0].metadata.name, renderedBy: ctx.name };
        update_status(obj);
    }
}
"#;

fn website_script(version: &str) -> String {
    WEBSITE.replace("VERSION", version)
}

fn config(dir: &std::path::Path) -> HostConfig {
    HostConfig {
        controller_dirs: vec![dir.to_path_buf()],
        reload_debounce: Duration::from_millis(100),
        ..HostConfig::default()
    }
}

async fn site_config_map(api: &ApiServer, name: &str, version: &str) -> ConfigMap {
    let config_maps: Api<ConfigMap> = Api::namespaced(api.client.clone(), "default");
    let name = format!("{name}-site");
    let version = version.to_string();
    eventually(
        &format!("config map {name} at version {version}"),
        Duration::from_secs(20),
        || {
            let config_maps = config_maps.clone();
            let name = name.clone();
            let version = version.clone();
            async move {
                let cm = config_maps.get_opt(&name).await.ok()??;
                (cm.data.as_ref()?.get("version")? == &version).then_some(cm)
            }
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_script_renders_a_config_map_per_custom_object_and_reports_status() {
    init_tracing();
    let api = ApiServer::start().await;
    api.install_website_crd().await;
    let dir = api.subdir("controllers");
    write(&dir, "website.rhai", &website_script("v1"));
    let host = Host::start(api.client.clone(), config(&dir)).await.unwrap();

    let site = create_website(&api.client, "blog", json!({"title": "Hello"})).await;
    let cm = site_config_map(&api, "blog", "v1").await;
    assert_eq!(cm.data.as_ref().unwrap()["index.html"], "<h1>Hello</h1>");
    let owner = &cm.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(owner.kind, "Website");
    assert_eq!(Some(&owner.uid), site.metadata.uid.as_ref());
    assert_eq!(owner.controller, Some(true));
    assert_eq!(owner.block_owner_deletion, Some(true));

    let websites = websites(&api.client, "default");
    let status = eventually("website status", Duration::from_secs(20), || {
        let websites = websites.clone();
        async move {
            let site = websites.get("blog").await.ok()?;
            site.data.get("status").filter(|s| !s.is_null()).cloned()
        }
    })
    .await;
    assert_eq!(
        status,
        json!({"configMap": "blog-site", "renderedBy": "website"})
    );

    let info = host.controllers();
    assert_eq!(info.len(), 1);
    assert_eq!(info[0].name, "website");
    assert_eq!(info[0].state, ControllerState::Running);
    assert!(info[0].reconciles >= 1);
    assert_eq!(info[0].source, dir.join("website.rhai"));
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sync_children_creates_updates_and_deletes_owned_children() {
    init_tracing();
    let api = ApiServer::start().await;
    api.install_website_crd().await;
    let dir = api.subdir("controllers");
    write(
        &dir,
        "pages.rhai",
        r#"
fn config() {
    #{ name: "pages", primary: #{ apiVersion: "example.skiff.dev/v1", kind: "Website" },
       owns: [ #{ apiVersion: "v1", kind: "ConfigMap" } ] }
}
fn reconcile(obj, ctx) {
    if obj.deleted == true { return; }
    let desired = [];
    for i in 0..obj.spec.pages {
        desired.push(#{ apiVersion: "v1", kind: "ConfigMap",
            metadata: #{ name: `${obj.metadata.name}-page-${i}` },
            data: #{ title: obj.spec.title } });
    }
    sync_children(obj, desired);
}
"#,
    );
    let host = Host::start(api.client.clone(), config(&dir)).await.unwrap();
    let site = create_website(&api.client, "docs", json!({"title": "one", "pages": 3})).await;
    let config_maps: Api<ConfigMap> = Api::namespaced(api.client.clone(), "default");
    let pages = |want: usize, title: &'static str| {
        let config_maps = config_maps.clone();
        async move {
            eventually(
                &format!("{want} pages titled {title}"),
                Duration::from_secs(20),
                || {
                    let config_maps = config_maps.clone();
                    async move {
                        let list = config_maps.list(&ListParams::default()).await.ok()?;
                        let mut pages: Vec<ConfigMap> = list
                            .items
                            .into_iter()
                            .filter(|cm| {
                                cm.metadata
                                    .name
                                    .as_deref()
                                    .unwrap_or("")
                                    .starts_with("docs-page-")
                            })
                            .filter(|cm| cm.metadata.deletion_timestamp.is_none())
                            .collect();
                        pages.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
                        (pages.len() == want
                            && pages.iter().all(|p| {
                                p.data
                                    .as_ref()
                                    .and_then(|d| d.get("title"))
                                    .map(String::as_str)
                                    == Some(title)
                            }))
                        .then_some(pages)
                    }
                },
            )
            .await
        }
    };
    let created = pages(3, "one").await;
    for page in &created {
        let owner = &page.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(Some(&owner.uid), site.metadata.uid.as_ref());
        assert_eq!(owner.controller, Some(true));
    }
    websites(&api.client, "default")
        .patch(
            "docs",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"title": "two", "pages": 2}})),
        )
        .await
        .unwrap();
    let updated = pages(2, "two").await;
    assert_eq!(updated[0].metadata.name.as_deref(), Some("docs-page-0"));
    assert_eq!(updated[1].metadata.name.as_deref(), Some("docs-page-1"));
    // The surviving pages were updated in place, not recreated.
    assert_eq!(updated[0].metadata.uid, created[0].metadata.uid);
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_changed_script_is_reloaded_and_a_broken_one_keeps_the_old_version_running() {
    init_tracing();
    let api = ApiServer::start().await;
    api.install_website_crd().await;
    let dir = api.subdir("controllers");
    write(&dir, "website.rhai", &website_script("v1"));
    let host = Host::start(api.client.clone(), config(&dir)).await.unwrap();
    create_website(&api.client, "shop", json!({"title": "Shop"})).await;
    site_config_map(&api, "shop", "v1").await;
    let first_version = host.controllers()[0].version.clone();

    // A new version takes effect on the existing object.
    write(&dir, "website.rhai", &website_script("v2"));
    site_config_map(&api, "shop", "v2").await;
    let second_version = host.controllers()[0].version.clone();
    assert_ne!(first_version, second_version);

    // A broken version is refused; the running one stays and says why.
    write(
        &dir,
        "website.rhai",
        &format!("{}\nfn broken( {{\n", website_script("v3")),
    );
    let info = eventually("reload error reported", Duration::from_secs(20), || {
        let info = host.controllers();
        async move { info.into_iter().find(|i| i.last_error.is_some()) }
    })
    .await;
    let error = info.last_error.unwrap();
    assert!(
        error.contains("website.rhai") && error.contains("syntax error") && error.contains("line"),
        "{error}"
    );
    assert_eq!(info.state, ControllerState::Running);
    assert_eq!(info.version, second_version);
    create_website(&api.client, "cafe", json!({"title": "Cafe"})).await;
    site_config_map(&api, "cafe", "v2").await;

    // The failure is visible as an Event about the controller.
    let events: Api<Event> = Api::namespaced(api.client.clone(), "kube-system");
    let event = eventually("load failure event", Duration::from_secs(20), || {
        let events = events.clone();
        async move {
            let list = events.list(&ListParams::default()).await.ok()?;
            list.items.into_iter().find(|e| {
                e.involved_object.kind.as_deref() == Some("Controller")
                    && e.involved_object.name.as_deref() == Some("website")
            })
        }
    })
    .await;
    assert_eq!(event.reason.as_deref(), Some("LoadFailed"));
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    assert!(event.message.unwrap().contains("syntax error"));

    // A new file starts a controller; removing a file stops it.
    write(
        &dir,
        "labeler.rhai",
        r#"fn config() { #{ name: "labeler", primary: #{ apiVersion: "example.skiff.dev/v1", kind: "Website" } } }
fn reconcile(obj, ctx) { if obj.deleted != true && obj.metadata.labels?.seen == () { patch("example.skiff.dev/v1", "Website", obj.metadata.namespace, obj.metadata.name, #{ metadata: #{ labels: #{ seen: "yes" } } }); } }"#,
    );
    let sites = websites(&api.client, "default");
    eventually(
        "label from the new controller",
        Duration::from_secs(20),
        || {
            let sites = sites.clone();
            async move {
                let site = sites.get("shop").await.ok()?;
                (site.metadata.labels?.get("seen")? == "yes").then_some(())
            }
        },
    )
    .await;
    std::fs::remove_file(dir.join("labeler.rhai")).unwrap();
    eventually("labeler stopped", Duration::from_secs(20), || {
        let gone = !host.controllers().iter().any(|i| i.name == "labeler");
        async move { gone.then_some(()) }
    })
    .await;
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_script_stuck_in_a_loop_is_stopped_while_other_controllers_keep_working() {
    init_tracing();
    let api = ApiServer::start().await;
    api.install_website_crd().await;
    let dir = api.subdir("controllers");
    write(&dir, "website.rhai", &website_script("v1"));
    write(
        &dir,
        "spin.rhai",
        "fn config() { #{ name: \"spin\", primary: #{ apiVersion: \"v1\", kind: \"Secret\" } } }\nfn reconcile(obj, ctx) {\n    loop { }\n}\n",
    );
    write(
        &dir,
        "deep.rhai",
        "fn config() { #{ name: \"deep\", primary: #{ apiVersion: \"v1\", kind: \"Secret\" } } }\nfn down(n) { down(n + 1) }\nfn reconcile(obj, ctx) {\n    down(0)\n}\n",
    );
    let mut config = config(&dir);
    config.limits = Limits {
        wall_clock: Duration::from_millis(300),
        max_operations: 0,
        ..Limits::default()
    };
    let host = Host::start(api.client.clone(), config).await.unwrap();
    let secrets: Api<Secret> = Api::namespaced(api.client.clone(), "default");
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "s"}})).unwrap(),
        )
        .await
        .unwrap();
    // Both stuck scripts keep failing, each stopped by its own limit...
    let errors = eventually(
        "both stuck scripts stopped",
        Duration::from_secs(20),
        || {
            let infos = host.controllers();
            async move {
                let spin = infos
                    .iter()
                    .find(|i| i.name == "spin")?
                    .last_error
                    .clone()?;
                let deep = infos
                    .iter()
                    .find(|i| i.name == "deep")?
                    .last_error
                    .clone()?;
                Some((spin, deep))
            }
        },
    )
    .await;
    assert!(
        errors
            .0
            .contains("spin.rhai: wall-clock budget of 300 ms exceeded"),
        "{}",
        errors.0
    );
    assert!(
        errors.1.contains("deep.rhai: Stack overflow"),
        "{}",
        errors.1
    );
    // ... while the website controller works.
    create_website(&api.client, "busy", json!({"title": "Busy"})).await;
    site_config_map(&api, "busy", "v1").await;
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failing_reconciles_are_retried_with_growing_delays_and_recorded_as_events() {
    init_tracing();
    let api = ApiServer::start().await;
    api.install_website_crd().await;
    let dir = api.subdir("controllers");
    write(
        &dir,
        "fail.rhai",
        "fn config() { #{ name: \"fail\", primary: #{ apiVersion: \"example.skiff.dev/v1\", kind: \"Website\" } } }\nfn reconcile(obj, ctx) {\n    if obj.deleted == true { return; }\n    throw \"always failing\";\n}\n",
    );
    let host = Host::start(api.client.clone(), config(&dir)).await.unwrap();
    create_website(&api.client, "bad", json!({"title": "Bad"})).await;
    let errors = || host.controllers()[0].errors;
    eventually("first failure", Duration::from_secs(20), || {
        let n = errors();
        async move { (n >= 1).then_some(()) }
    })
    .await;
    // Backoff 5 ms doubling: nine attempts within ~1.3 s, the tenth at ~2.6 s. Without
    // backoff there would be hundreds.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after_1500ms = errors();
    assert!(
        (6..=10).contains(&after_1500ms),
        "{after_1500ms} failures after 1.5 s"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after_3s = errors();
    assert!(
        after_3s - after_1500ms <= 2,
        "{after_1500ms} then {after_3s} failures: delays must grow"
    );

    let events: Api<Event> = Api::namespaced(api.client.clone(), "default");
    let event = eventually("reconcile error event", Duration::from_secs(10), || {
        let events = events.clone();
        async move {
            let list = events.list(&ListParams::default()).await.ok()?;
            list.items
                .into_iter()
                .find(|e| e.reason.as_deref() == Some("ReconcileError"))
        }
    })
    .await;
    let message = event.message.unwrap();
    assert!(
        message.contains("fail.rhai")
            && message.contains("always failing")
            && message.contains("line 4"),
        "{message}"
    );
    assert_eq!(event.involved_object.name.as_deref(), Some("bad"));
    assert_eq!(event.source.unwrap().component.as_deref(), Some("fail"));
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_disabled_controller_is_loaded_but_never_runs() {
    init_tracing();
    let api = ApiServer::start().await;
    api.install_website_crd().await;
    let dir = api.subdir("controllers");
    write(&dir, "website.rhai", &website_script("v1"));
    write(
        &dir,
        "labeler.rhai",
        r#"fn config() { #{ name: "labeler", primary: #{ apiVersion: "example.skiff.dev/v1", kind: "Website" } } }
fn reconcile(obj, ctx) { if obj.deleted != true { patch("example.skiff.dev/v1", "Website", obj.metadata.namespace, obj.metadata.name, #{ metadata: #{ labels: #{ seen: "yes" } } }); } }"#,
    );
    let mut config = config(&dir);
    config.enable = EnableList::parse("*,-labeler");
    let host = Host::start(api.client.clone(), config).await.unwrap();
    create_website(&api.client, "quiet", json!({"title": "Quiet"})).await;
    site_config_map(&api, "quiet", "v1").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let site = websites(&api.client, "default").get("quiet").await.unwrap();
    assert!(
        !site
            .metadata
            .labels
            .unwrap_or_default()
            .contains_key("seen")
    );
    let infos = host.controllers();
    let labeler = infos.iter().find(|i| i.name == "labeler").unwrap();
    assert_eq!(labeler.state, ControllerState::Disabled);
    assert_eq!(labeler.reconciles, 0);
    assert_eq!(
        infos.iter().find(|i| i.name == "website").unwrap().state,
        ControllerState::Running
    );
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_are_served_per_controller() {
    init_tracing();
    let api = ApiServer::start().await;
    api.install_website_crd().await;
    let dir = api.subdir("controllers");
    write(&dir, "website.rhai", &website_script("v1"));
    let mut config = config(&dir);
    config.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
    let host = Host::start(api.client.clone(), config).await.unwrap();
    create_website(&api.client, "metered", json!({"title": "M"})).await;
    site_config_map(&api, "metered", "v1").await;
    let addr = host.metrics_addr().unwrap();
    let scrape = move || async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut body = String::new();
        stream.read_to_string(&mut body).await.unwrap();
        body
    };
    // The counter moves when the reconcile returns, a moment after its config map is
    // written: wait for it rather than read once.
    let body = eventually(
        "a reconcile counter",
        Duration::from_secs(20),
        || async move {
            let body = scrape().await;
            body.contains("skiff_controller_reconciles_total{controller=\"website\"}")
                .then_some(body)
        },
    )
    .await;
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    let reconciles = body
        .lines()
        .find(|l| l.starts_with("skiff_controller_reconciles_total{controller=\"website\"}"))
        .unwrap_or_else(|| panic!("no reconcile counter in {body}"));
    let count: f64 = reconciles.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(count >= 1.0, "{reconciles}");
    assert!(
        body.contains("skiff_controller_reconcile_duration_seconds_count{controller=\"website\"}"),
        "{body}"
    );
    assert!(
        body.contains("skiff_controller_queue_depth{controller=\"website\"}"),
        "{body}"
    );
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_watch_naming_fields_maps_objects_holding_only_those_and_reads_with_fields_get_only_those()
 {
    init_tracing();
    let api = ApiServer::start().await;
    api.install_website_crd().await;
    let dir = api.subdir("controllers");
    // The mapping names the site after what it was handed: the labels (asked for) and
    // whether the data (not asked for) came along.
    write(
        &dir,
        "fields.rhai",
        r#"
fn config() {
    #{ name: "fields", primary: #{ apiVersion: "example.skiff.dev/v1", kind: "Website" },
       watches: [ #{ apiVersion: "v1", kind: "ConfigMap", map: "map_cm", fields: ["metadata.labels"] } ] }
}
fn map_cm(cm) {
    let site = cm.metadata?.labels?.site;
    if site == () { return []; }
    let seen = if cm.data == () && cm.metadata.name == () && cm.kind == "ConfigMap" { "projected" } else { "whole" };
    [#{ namespace: "default", name: site + "-" + seen }]
}
fn reconcile(obj, ctx) {
    if obj.deleted != true { return; }
    let source = get("v1", "ConfigMap", "default", "source", ["data.big", "metadata.labels"]);
    // `list` and `children` with fields hand out only those too.
    let listed = list("v1", "ConfigMap", "default", #{ matchLabels: #{ site: "docs" } }, ["metadata.name"]);
    let owner = #{ metadata: #{ uid: "u-1", namespace: "default" } };
    let kids = children(owner, "v1", "ConfigMap", ["metadata.name", "data"]);
    let kid_owner = owner_of(get("v1", "ConfigMap", "default", "kid"));
    create(#{ apiVersion: "v1", kind: "ConfigMap", metadata: #{ name: "seen-" + obj.name, namespace: obj.namespace },
              data: #{ source: json(source), listed: json(listed), kids: json(kids), kid_owner: json(kid_owner),
                       no_owner: json(owner_of(source)) } });
}
"#,
    );
    let host = Host::start(api.client.clone(), config(&dir)).await.unwrap();
    let config_maps: Api<ConfigMap> = Api::namespaced(api.client.clone(), "default");
    // Created first, so the cache holds it when the source's change is mapped.
    let kid: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "kid", "labels": {"role": "kid"}, "ownerReferences": [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "other", "uid": "u-0"},
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "source", "uid": "u-1", "controller": true}
        ]},
        "data": {"k": "v"},
    }))
    .unwrap();
    config_maps
        .create(&PostParams::default(), &kid)
        .await
        .unwrap();
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "source", "labels": {"site": "docs"}},
        "data": {"big": "x"},
    }))
    .unwrap();
    config_maps
        .create(&PostParams::default(), &cm)
        .await
        .unwrap();
    let marker = eventually("the mapping's marker", Duration::from_secs(20), || {
        let config_maps = config_maps.clone();
        async move { config_maps.get_opt("seen-docs-projected").await.ok()? }
    })
    .await;
    // `get` with fields reads just those.
    let data = marker.data.unwrap();
    let read = |key: &str| -> serde_json::Value { serde_json::from_str(&data[key]).unwrap() };
    assert_eq!(
        read("source"),
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"labels": {"site": "docs"}}, "data": {"big": "x"}})
    );
    assert_eq!(
        read("listed"),
        json!([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "source"}}])
    );
    assert_eq!(
        read("kids"),
        json!([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kid"}, "data": {"k": "v"}}])
    );
    assert_eq!(read("kid_owner")["uid"], "u-1", "the controller reference");
    assert_eq!(read("no_owner"), serde_json::Value::Null);
    assert!(
        config_maps
            .get_opt("seen-docs-whole")
            .await
            .unwrap()
            .is_none(),
        "the mapping was handed the whole config map"
    );
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_watch_naming_changed_fields_maps_modifications_of_those_only() {
    init_tracing();
    let api = ApiServer::start().await;
    api.install_website_crd().await;
    let dir = api.subdir("controllers");
    // Each mapping queues a key named after what it saw; its reconcile leaves a marker.
    write(
        &dir,
        "changed.rhai",
        r#"
fn config() {
    #{ name: "changed", primary: #{ apiVersion: "example.skiff.dev/v1", kind: "Website" },
       watches: [ #{ apiVersion: "v1", kind: "ConfigMap", map: "map_cm", changed: ["data.watched"] } ] }
}
fn map_cm(cm) {
    if cm.metadata.name != "c" { return []; }
    [#{ namespace: "default", name: `c-${cm.data.watched}-${cm.data.other}` }]
}
fn reconcile(obj, ctx) {
    if obj.deleted != true { return; }
    create(#{ apiVersion: "v1", kind: "ConfigMap", metadata: #{ name: "seen-" + obj.name, namespace: obj.namespace } });
}
"#,
    );
    let host = Host::start(api.client.clone(), config(&dir)).await.unwrap();
    let config_maps: Api<ConfigMap> = Api::namespaced(api.client.clone(), "default");
    let seen = |name: &str| {
        let config_maps = config_maps.clone();
        let name = format!("seen-{name}");
        async move {
            eventually(&name.clone(), Duration::from_secs(20), || {
                let config_maps = config_maps.clone();
                let name = name.clone();
                async move { config_maps.get_opt(&name).await.ok()? }
            })
            .await
        }
    };
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "c"}, "data": {"watched": "1", "other": "a"},
    }))
    .unwrap();
    config_maps
        .create(&PostParams::default(), &cm)
        .await
        .unwrap();
    seen("c-1-a").await;
    let patch = |data: serde_json::Value| {
        let config_maps = config_maps.clone();
        async move {
            config_maps
                .patch(
                    "c",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"data": data})),
                )
                .await
                .unwrap();
        }
    };
    // Only an unwatched field changes: not mapped. Then the watched one: mapped.
    patch(json!({"other": "b"})).await;
    patch(json!({"watched": "2"})).await;
    seen("c-2-b").await;
    // One worker reconciles keys in the order they were queued: a mapping of the first
    // change would have left its marker before the second's.
    assert!(
        config_maps.get_opt("seen-c-1-b").await.unwrap().is_none(),
        "a change of an unwatched field was mapped"
    );
    // Deletions are always mapped, with the last version seen.
    patch(json!({"other": "c"})).await;
    config_maps.delete("c", &Default::default()).await.unwrap();
    seen("c-2-c").await;
    host.shutdown().await;
}

/// Each Website waits, inside its reconcile, for the marker its peer's reconcile creates:
/// both finish only when the two reconciles run at the same time.
const PAIRS: &str = r#"
fn config() {
    #{ name: "pairs", primary: #{ apiVersion: "example.skiff.dev/v1", kind: "Website" }, workers: 2 }
}

fn reconcile(obj, ctx) {
    if obj.deleted == true || obj.status?.met == true { return; }
    let ns = obj.metadata.namespace;
    let marker = "here-" + obj.metadata.name;
    create(#{ apiVersion: "v1", kind: "ConfigMap", metadata: #{ name: marker, namespace: ns } });
    let deadline = now() + 3.0;
    let seen = false;
    while !seen && now() < deadline {
        seen = get("v1", "ConfigMap", ns, "here-" + obj.spec.peer) != ();
    }
    if !seen {
        delete("v1", "ConfigMap", ns, marker);
        throw "the peer's reconcile was not running meanwhile";
    }
    obj.status = #{ met: true };
    update_status(obj);
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_controller_with_several_workers_reconciles_different_objects_at_once() {
    init_tracing();
    let api = ApiServer::start().await;
    api.install_website_crd().await;
    let dir = api.subdir("controllers");
    write(&dir, "pairs.rhai", PAIRS);
    let mut config = config(&dir);
    // The waiting loop spins: only the wall clock bounds it.
    config.limits = Limits {
        max_operations: u64::MAX,
        ..Limits::default()
    };
    let host = Host::start(api.client.clone(), config).await.unwrap();

    create_website(&api.client, "left", json!({"peer": "right"})).await;
    create_website(&api.client, "right", json!({"peer": "left"})).await;
    let websites = websites(&api.client, "default");
    for name in ["left", "right"] {
        eventually(
            &format!("{name} met its peer"),
            Duration::from_secs(20),
            || {
                let websites = websites.clone();
                async move {
                    let site = websites.get(name).await.ok()?;
                    (site.data["status"]["met"] == json!(true)).then_some(())
                }
            },
        )
        .await;
    }
    host.shutdown().await;
}
