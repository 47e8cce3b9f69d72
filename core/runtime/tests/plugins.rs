//! Native plugins in a real host: the example plugin, a panicking reconcile, a library of
//! another ABI version, and a library outside the plugins directory.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Event};
use kube::Api;
use kube::api::{ListParams, PostParams};
use serde_json::json;
use skiff_runtime::{ControllerState, Host, HostConfig};
use support::*;

/// The example plugin, built as a cdylib beside the test binaries (it is a dev-dependency).
fn example_library() -> PathBuf {
    let deps = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    let name = format!(
        "{}skiff_example_controller.{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_EXTENSION
    );
    let path = deps.join(&name);
    assert!(path.exists(), "{} was not built", path.display());
    path
}

fn install_example(plugins: &Path) -> PathBuf {
    let target = plugins.join("libexample.so");
    std::fs::copy(example_library(), &target).unwrap();
    target
}

fn config(plugins: &Path) -> HostConfig {
    HostConfig {
        plugins_dir: Some(plugins.to_path_buf()),
        ..HostConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_example_plugin_renders_websites_and_survives_a_panic() {
    init_tracing();
    let api = ApiServer::start().await;
    api.install_website_crd().await;
    let plugins = api.subdir("plugins");
    let library = install_example(&plugins);
    let host = Host::start(api.client.clone(), config(&plugins))
        .await
        .unwrap();
    let info = host.controllers();
    assert_eq!(info.len(), 1);
    assert_eq!(info[0].name, "example-website");
    assert_eq!(info[0].state, ControllerState::Running);
    assert_eq!(info[0].source, library);

    let site = create_website(&api.client, "home", json!({"title": "Home", "body": "hi"})).await;
    let config_maps: Api<ConfigMap> = Api::namespaced(api.client.clone(), "default");
    let cm = eventually("rendered config map", Duration::from_secs(20), || {
        let config_maps = config_maps.clone();
        async move { config_maps.get_opt("home-site").await.ok()? }
    })
    .await;
    assert!(cm.data.unwrap()["index.html"].contains("<h1>Home</h1><p>hi</p>"));
    assert_eq!(
        cm.metadata.owner_references.unwrap()[0].uid,
        site.metadata.uid.unwrap()
    );
    let sites = websites(&api.client, "default");
    eventually(
        "status written by the plugin",
        Duration::from_secs(20),
        || {
            let sites = sites.clone();
            async move {
                let site = sites.get("home").await.ok()?;
                (site.data["status"]
                    == json!({"configMap": "home-site", "renderedBy": "example-website"}))
                .then_some(())
            }
        },
    )
    .await;
    let events: Api<Event> = Api::namespaced(api.client.clone(), "default");
    eventually("event from the plugin", Duration::from_secs(20), || {
        let events = events.clone();
        async move {
            let list = events.list(&ListParams::default()).await.ok()?;
            list.items.into_iter().find(|e| {
                e.reason.as_deref() == Some("Rendered")
                    && e.source.as_ref().and_then(|s| s.component.as_deref())
                        == Some("example-website")
            })
        }
    })
    .await;

    // A panic inside the plugin is an error result, not a crash.
    sites
        .create(
            &PostParams::default(),
            &dynamic(json!({
                "apiVersion": "example.skiff.dev/v1", "kind": "Website",
                "metadata": { "name": "boom", "namespace": "default",
                              "annotations": { "example.skiff.dev/panic": "true" } },
                "spec": { "title": "Boom" },
            })),
        )
        .await
        .unwrap();
    let error = eventually("panic reported", Duration::from_secs(20), || {
        let error = host.controllers()[0].last_error.clone();
        async move { error.filter(|e| e.contains("panicked")) }
    })
    .await;
    assert!(
        error.contains("libexample.so: plugin panicked: asked to panic"),
        "{error}"
    );
    create_website(&api.client, "after", json!({"title": "After"})).await;
    eventually("the host still reconciles", Duration::from_secs(20), || {
        let config_maps = config_maps.clone();
        async move { config_maps.get_opt("after-site").await.ok()? }
    })
    .await;
    host.shutdown().await;
}

/// Builds a library whose entry table says ABI 2, with the real compiler.
fn build_abi2_library(dir: &Path) -> PathBuf {
    let source = dir.join("abi2.rs");
    std::fs::write(
        &source,
        r#"
#[repr(C)]
pub struct Entry { abi_version: u32, rest: [usize; 5] }
static ENTRY: Entry = Entry { abi_version: 2, rest: [0; 5] };
#[no_mangle]
pub extern "C" fn skiff_plugin_entry() -> *const Entry { &ENTRY }
"#,
    )
    .unwrap();
    let output = dir.join(format!("libabi2.{}", std::env::consts::DLL_EXTENSION));
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let status = std::process::Command::new(rustc)
        .args(["--crate-type", "cdylib", "--edition", "2021", "-o"])
        .arg(&output)
        .arg(&source)
        .status()
        .unwrap();
    assert!(status.success());
    output
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_library_built_for_another_abi_is_refused_with_the_reason() {
    init_tracing();
    let api = ApiServer::start().await;
    let plugins = api.subdir("plugins");
    build_abi2_library(&plugins);
    let host = Host::start(api.client.clone(), config(&plugins))
        .await
        .unwrap();
    let info = host.controllers();
    assert_eq!(info.len(), 1);
    assert_eq!(info[0].state, ControllerState::Failed);
    assert_eq!(
        info[0].last_error.as_deref(),
        Some("plugin libabi2.so was built for ABI 2, this host speaks ABI 1")
    );
    host.shutdown().await;
}

fn mapped_libraries() -> String {
    std::fs::read_to_string("/proc/self/maps").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_library_outside_the_plugins_dir_is_never_loaded() {
    init_tracing();
    let api = ApiServer::start().await;
    let plugins = api.subdir("plugins");
    let elsewhere = api.subdir("elsewhere");
    let unique = format!("libelsewhere{}.so", std::process::id());
    let outside = elsewhere.join(&unique);
    std::fs::copy(example_library(), &outside).unwrap();
    // A symlink in the plugins dir pointing outside does not count as inside.
    std::os::unix::fs::symlink(&outside, plugins.join("libsneaky.so")).unwrap();
    let host = Host::start(api.client.clone(), config(&plugins))
        .await
        .unwrap();
    assert!(host.controllers().is_empty());
    let error = host.load_plugin(&outside).await.unwrap_err().to_string();
    assert!(error.contains("plugins load only from"), "{error}");
    assert!(
        !mapped_libraries().contains(&unique),
        "the library was mapped"
    );
    // The same library inside the directory loads.
    let inside = plugins.join("libexample.so");
    std::fs::copy(&outside, &inside).unwrap();
    assert_eq!(host.load_plugin(&inside).await.unwrap(), "example-website");
    host.shutdown().await;
}
