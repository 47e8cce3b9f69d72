//! The example operator in `examples/website`: a CRD plus a Rhai controller, loaded from a
//! user directory next to the built-in controllers.

use std::path::{Path, PathBuf};
use std::time::Duration;

use skiff_controller_tests::cluster::TestCluster;
use skiff_controller_tests::sim_node::SimNodes;
use skiff_controller_tests::wait;

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/website")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_website_example_creates_its_children_and_reports_status() {
    let cluster = TestCluster::start_with("*", &[example_dir()]).await;
    let _nodes = SimNodes::start(cluster.client.clone(), &["node-a"]).await;
    let crd = example_dir().join("crd.yaml");
    cluster
        .kubectl_ok(&["apply", "-f", crd.to_str().unwrap()], None)
        .await;
    cluster
        .kubectl_ok(
            &[
                "wait",
                "--for=condition=established",
                "crd/websites.example.skiff.dev",
            ],
            None,
        )
        .await;
    let site = example_dir().join("website.yaml");
    cluster
        .kubectl_ok(&["apply", "-f", site.to_str().unwrap()], None)
        .await;

    let deployments = wait::api(
        &cluster.client,
        "default",
        "apps/v1",
        "Deployment",
        "deployments",
    );
    let deployment = wait::until("the website's Deployment", Duration::from_secs(60), || {
        let api = deployments.clone();
        async move { wait::get(&api, "hello").await }
    })
    .await;
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(
        deployment["metadata"]["ownerReferences"][0]["kind"],
        "Website"
    );
    let config_maps = wait::api(&cluster.client, "default", "v1", "ConfigMap", "configmaps");
    // The script creates its children one after the other: wait for each.
    let page = wait::until("the page ConfigMap", Duration::from_secs(60), || {
        let api = config_maps.clone();
        async move { wait::get(&api, "hello-html").await }
    })
    .await;
    assert!(
        page["data"]["index.html"]
            .as_str()
            .unwrap()
            .contains("Hello from a Website")
    );
    let services = wait::api(&cluster.client, "default", "v1", "Service", "services");
    wait::until("the website's Service", Duration::from_secs(60), || {
        let api = services.clone();
        async move { wait::get(&api, "hello").await }
    })
    .await;

    // The simulated node runs the pods; the status follows the Deployment's readiness.
    let out = wait::until(
        "2 ready replicas in the website's status",
        Duration::from_secs(90),
        || {
            let cluster = &cluster;
            async move {
                let out = cluster
                    .kubectl_ok(&["get", "websites", "hello"], None)
                    .await;
                out.lines()
                    .nth(1)
                    .filter(|l| l.split_whitespace().nth(2) == Some("2"))
                    .map(|_| out.clone())
            }
        },
    )
    .await;
    assert!(
        out.contains("http://hello.default.svc.cluster.local"),
        "{out}"
    );

    cluster
        .kubectl_ok(&["delete", "website", "hello"], None)
        .await;
    wait::until(
        "the children to go with their owner",
        Duration::from_secs(60),
        || {
            let api = deployments.clone();
            async move { wait::get(&api, "hello").await.is_none().then_some(()) }
        },
    )
    .await;
}
