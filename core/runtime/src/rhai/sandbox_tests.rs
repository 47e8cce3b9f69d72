//! Each sandbox limit tripped, error locations, and the config checks, without a cluster.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{Limits, RhaiController};
use crate::cache::Caches;
use crate::cluster::Cluster;
use crate::controller::{Action, Context, Controller};
use crate::events::EventRecorder;
use crate::resources::Resources;

/// A context whose cluster points at a closed port: these scripts never reach it.
fn context() -> Context {
    let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
    let client = kube::Client::try_from(config).unwrap();
    let resources = Arc::new(Resources::new(client.clone()));
    let caches = Arc::new(Caches::new(resources.clone(), CancellationToken::new()));
    Context {
        name: "test".into(),
        now: "2024-01-01T00:00:00Z".into(),
        cluster: Arc::new(Cluster::new(
            caches,
            resources,
            EventRecorder::new(client, "test"),
            vec![],
        )),
    }
}

fn script(body: &str) -> String {
    format!(
        "fn config() {{ #{{ name: \"limits\", primary: #{{ apiVersion: \"v1\", kind: \"ConfigMap\" }} }} }}\n{body}\n"
    )
}

async fn reconcile_error(body: &str, limits: Limits) -> String {
    let controller = RhaiController::compile("limits.rhai", &script(body), &limits).unwrap();
    let ctx = context();
    tokio::task::spawn_blocking(move || {
        controller.reconcile(&json!({"metadata": {"name": "x"}}), &ctx)
    })
    .await
    .unwrap()
    .expect_err("the script must be stopped")
    .message
}

#[tokio::test]
async fn too_many_operations_stop_the_script() {
    let limits = Limits {
        max_operations: 10_000,
        ..Limits::default()
    };
    let error = reconcile_error(
        "fn reconcile(obj, ctx) {\n let x = 0;\n loop { x += 1; }\n}",
        limits,
    )
    .await;
    assert!(
        error.contains("limits.rhai") && error.contains("Too many operations"),
        "{error}"
    );
}

#[tokio::test]
async fn deep_recursion_stops_the_script() {
    let limits = Limits {
        max_call_levels: 8,
        ..Limits::default()
    };
    let error = reconcile_error(
        "fn down(n) { down(n + 1) }\nfn reconcile(obj, ctx) { down(0) }",
        limits,
    )
    .await;
    assert!(error.contains("Stack overflow"), "{error}");
}

#[tokio::test]
async fn a_growing_string_stops_the_script() {
    let limits = Limits {
        max_string_size: 1000,
        ..Limits::default()
    };
    let error = reconcile_error(
        "fn reconcile(obj, ctx) {\n let s = \"x\";\n loop { s += s; }\n}",
        limits,
    )
    .await;
    assert!(error.contains("Length of string"), "{error}");
}

#[tokio::test]
async fn a_growing_array_stops_the_script() {
    let limits = Limits {
        max_array_size: 100,
        ..Limits::default()
    };
    let error = reconcile_error(
        "fn reconcile(obj, ctx) {\n let a = [];\n loop { a.push(1); }\n}",
        limits,
    )
    .await;
    assert!(error.contains("Size of array"), "{error}");
}

#[tokio::test]
async fn a_growing_map_stops_the_script() {
    let limits = Limits {
        max_map_size: 100,
        ..Limits::default()
    };
    let error = reconcile_error(
        "fn reconcile(obj, ctx) {\n let m = #{};\n let i = 0;\n loop { let one = #{}; one[`k${i}`] = i; m += one; i += 1; }\n}",
        limits,
    )
    .await;
    assert!(error.contains("Size of object map"), "{error}");
}

#[tokio::test]
async fn an_endless_loop_is_stopped_by_the_wall_clock_budget() {
    let limits = Limits {
        max_operations: 0,
        wall_clock: Duration::from_millis(200),
        ..Limits::default()
    };
    let started = Instant::now();
    let error = reconcile_error("fn reconcile(obj, ctx) {\n loop { }\n}", limits).await;
    assert!(
        error.contains("wall-clock budget of 200 ms exceeded"),
        "{error}"
    );
    assert!(error.contains("in reconcile()"), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stopped after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn thrown_errors_name_the_script_and_line() {
    let error = reconcile_error(
        "fn reconcile(obj, ctx) {\n let a = 1;\n throw \"boom\";\n}",
        Limits::default(),
    )
    .await;
    assert!(error.contains("limits.rhai"), "{error}");
    assert!(error.contains("boom"), "{error}");
    assert!(error.contains("line 4"), "{error}");
}

#[test]
fn syntax_errors_name_the_script_and_line() {
    let error = RhaiController::compile(
        "broken.rhai",
        &script("fn reconcile(obj, ctx) {\n let = ;\n}"),
        &Limits::default(),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(error.starts_with("broken.rhai: syntax error"), "{error}");
    assert!(error.contains("line 3"), "{error}");
}

#[test]
fn config_must_name_a_controller_with_reconcile_and_mapping_functions() {
    let limits = Limits::default();
    let no_reconcile = RhaiController::compile("a.rhai", &script(""), &limits)
        .err()
        .unwrap()
        .to_string();
    assert!(no_reconcile.contains("no reconcile"), "{no_reconcile}");
    let bad_config = RhaiController::compile(
        "b.rhai",
        "fn config() { 42 }\nfn reconcile(o, c) {}",
        &limits,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(bad_config.contains("invalid config()"), "{bad_config}");
    let missing_map = RhaiController::compile(
        "c.rhai",
        "fn config() { #{ name: \"c\", primary: #{ apiVersion: \"v1\", kind: \"Pod\" }, watches: [#{ apiVersion: \"v1\", kind: \"Node\", map: \"map_node\" }] } }\nfn reconcile(o, c) {}",
        &limits,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(missing_map.contains("map_node"), "{missing_map}");
    let bad_fields = RhaiController::compile(
        "d.rhai",
        "fn config() { #{ name: \"d\", primary: #{ apiVersion: \"v1\", kind: \"Pod\" }, watches: [#{ apiVersion: \"v1\", kind: \"Node\", map: \"map_node\", fields: [\"spec.\"] }] } }\nfn reconcile(o, c) {}\nfn map_node(n) { [] }",
        &limits,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        bad_fields.contains("d.rhai: invalid config()"),
        "{bad_fields}"
    );
    assert!(bad_fields.contains("\"spec.\""), "{bad_fields}");
    let watch = |entry: &str| {
        format!(
            "fn config() {{ #{{ name: \"e\", primary: #{{ apiVersion: \"v1\", kind: \"Service\" }}, watches: [#{{ apiVersion: \"v1\", kind: \"Pod\", {entry} }}] }} }}\nfn reconcile(o, c) {{}}\nfn map_pod(p) {{ [] }}"
        )
    };
    for entry in [
        "",
        "map: \"map_pod\", selected_by: \"spec.selector\"",
        "selected_by: \"spec..selector\"",
    ] {
        let error = RhaiController::compile("e.rhai", &watch(entry), &limits)
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("e.rhai: invalid config()"), "{error}");
        assert!(error.contains("selected_by"), "{error}");
    }
    RhaiController::compile("e.rhai", &watch("selected_by: \"spec.selector\""), &limits).unwrap();
}

#[test]
fn scripts_cannot_import_modules() {
    let error = RhaiController::compile(
        "import.rhai",
        &format!(
            "import \"/etc/passwd\" as p;\n{}",
            script("fn reconcile(o, c) {}")
        ),
        &Limits::default(),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(error.contains("import.rhai"), "{error}");
}

#[tokio::test]
async fn requeue_after_and_unit_are_the_two_actions() {
    let limits = Limits::default();
    let requeue = RhaiController::compile(
        "r.rhai",
        &script("fn reconcile(obj, ctx) { #{ requeue_after: 2.5 } }"),
        &limits,
    )
    .unwrap();
    let wait = RhaiController::compile(
        "w.rhai",
        &script("fn reconcile(obj, ctx) { if ctx.name != \"test\" { throw \"ctx\" } }"),
        &limits,
    )
    .unwrap();
    let ctx = context();
    let (a, b) = tokio::task::spawn_blocking(move || {
        (
            requeue.reconcile(&json!({}), &ctx).unwrap(),
            wait.reconcile(&json!({}), &ctx).unwrap(),
        )
    })
    .await
    .unwrap();
    assert_eq!(a, Action::RequeueAfter(Duration::from_millis(2500)));
    assert_eq!(b, Action::Wait);
}

#[tokio::test]
async fn helpers_are_callable_from_scripts() {
    let body = r#"fn reconcile(obj, ctx) {
        if hash(#{a: 1, b: 2}) != hash(#{b: 2, a: 1}) { throw "hash" }
        if parse_quantity("500m") != 0.5 { throw "quantity" }
        if format_time(parse_time("2024-01-01T00:00:00Z") + 60) != "2024-01-01T00:01:00Z" { throw "time" }
        if format_time(cron_next("@hourly", parse_time("2024-01-01T00:30:00Z"))) != "2024-01-01T01:00:00Z" { throw "cron" }
        if int_or_percent("50%", 5, true) != 3 { throw "percent" }
        if !selector_matches("app=web", #{app: "web"}) { throw "selector" }
        if selector_matches(#{matchLabels: #{app: "db"}}, #{app: "web"}) { throw "selector2" }
        if random_suffix(5).len() != 5 { throw "suffix" }
        if json(#{a: 1}) != "{\"a\":1}" { throw "json" }
        let owner = #{apiVersion: "v1", kind: "A", metadata: #{name: "a", uid: "u"}};
        let child = set_owner(#{metadata: #{name: "c"}}, owner);
        if owner_of(child).uid != "u" { throw "owner" }
        if now() < 1700000000.0 { throw "now" }
        log("helpers", "ok");
    }"#;
    let controller =
        RhaiController::compile("helpers.rhai", &script(body), &Limits::default()).unwrap();
    let ctx = context();
    let result = tokio::task::spawn_blocking(move || controller.reconcile(&json!({}), &ctx))
        .await
        .unwrap();
    assert_eq!(result.unwrap(), Action::Wait);
}
