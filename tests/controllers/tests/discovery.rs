//! The garbage collector and namespace deletion cover custom resources, which they find
//! through the host's discovery (`api_resources()`) rather than a fixed list of kinds.

use std::time::Duration;

use kube::api::{DeleteParams, PostParams, PropagationPolicy};
use serde_json::{Value, json};
use skiff_controller_tests::cluster::TestCluster;
use skiff_controller_tests::wait::{self, api, api_all, until};

const WAIT: Duration = Duration::from_secs(60);

/// A namespaced custom resource, `widgets.discovery.skiff.dev`.
const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.discovery.skiff.dev}
spec:
  group: discovery.skiff.dev
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, x-kubernetes-preserve-unknown-fields: true}
"#;

const WIDGET: &str = "discovery.skiff.dev/v1";

async fn install_crd(cluster: &TestCluster) {
    cluster.kubectl_ok(&["apply", "-f", "-"], Some(CRD)).await;
    cluster
        .kubectl_ok(
            &[
                "wait",
                "--for=condition=Established",
                "crd/widgets.discovery.skiff.dev",
                "--timeout=30s",
            ],
            None,
        )
        .await;
}

async fn create_widget(cluster: &TestCluster, namespace: &str, name: &str, owner: Option<&Value>) {
    let widgets = api(&cluster.client, namespace, WIDGET, "Widget", "widgets");
    let mut obj = json!({
        "apiVersion": WIDGET, "kind": "Widget",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"size": 3},
    });
    if let Some(owner) = owner {
        obj["metadata"]["ownerReferences"] = json!([{
            "apiVersion": "v1", "kind": "ConfigMap", "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"],
        }]);
    }
    widgets
        .create(
            &PostParams::default(),
            &serde_json::from_value(obj).expect("object"),
        )
        .await
        .expect("widget created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_custom_resource_owned_by_a_deleted_config_map_is_collected() {
    let cluster = TestCluster::start("garbage-collector").await;
    install_crd(&cluster).await;
    let configmaps = api(&cluster.client, "default", "v1", "ConfigMap", "configmaps");
    let owner = configmaps
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "widget-owner", "namespace": "default"},
            }))
            .expect("object"),
        )
        .await
        .expect("owner created");
    let owner = serde_json::to_value(owner).expect("json");
    create_widget(&cluster, "default", "owned", Some(&owner)).await;
    create_widget(&cluster, "default", "free", None).await;

    let widgets = api(&cluster.client, "default", WIDGET, "Widget", "widgets");
    // The collector leaves a dependent with a living owner alone.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(wait::get(&widgets, "owned").await.is_some());

    configmaps
        .delete(
            "widget-owner",
            &DeleteParams {
                propagation_policy: Some(PropagationPolicy::Background),
                ..Default::default()
            },
        )
        .await
        .expect("owner deleted");
    until("the owned widget collected", WAIT, || async {
        wait::get(&widgets, "owned").await.is_none().then_some(())
    })
    .await;
    assert!(
        wait::get(&widgets, "free").await.is_some(),
        "a widget without owners stays"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_a_namespace_removes_its_custom_resources_and_then_the_namespace() {
    let cluster = TestCluster::start("namespace").await;
    install_crd(&cluster).await;
    cluster
        .kubectl_ok(&["create", "namespace", "crowded"], None)
        .await;
    create_widget(&cluster, "crowded", "one", None).await;
    create_widget(&cluster, "crowded", "two", None).await;
    create_widget(&cluster, "default", "elsewhere", None).await;
    // A finalizer holds one widget: the namespace must wait for it.
    let widgets = api(&cluster.client, "crowded", WIDGET, "Widget", "widgets");
    widgets
        .patch(
            "two",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"metadata": {"finalizers": ["test.skiff.dev/hold"]}})),
        )
        .await
        .expect("finalizer added");

    cluster
        .kubectl_ok(&["delete", "namespace", "crowded", "--wait=false"], None)
        .await;
    until("widget one deleted and two marked", WAIT, || async {
        let one = wait::get(&widgets, "one").await;
        let two = wait::get(&widgets, "two").await?;
        (one.is_none() && wait::is_deleting(&two)).then_some(())
    })
    .await;
    let namespaces = api_all(&cluster.client, "v1", "Namespace", "namespaces");
    // The namespace waits for the held widget and says so.
    let remaining = until("content remaining reported", WAIT, || async {
        let held = wait::get(&namespaces, "crowded").await?;
        wait::condition(&held, "NamespaceContentRemaining").filter(|c| c["status"] == "True")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        wait::get(&namespaces, "crowded").await.is_some(),
        "the namespace stays while a widget in it is held"
    );
    assert!(
        remaining["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Widget"),
        "{remaining}"
    );

    widgets
        .patch(
            "two",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .expect("finalizer removed");
    wait::until_gone("the namespace gone", WAIT, &namespaces, "crowded").await;
    let elsewhere = api(&cluster.client, "default", WIDGET, "Widget", "widgets");
    assert!(
        wait::get(&elsewhere, "elsewhere").await.is_some(),
        "widgets in other namespaces stay"
    );
}
