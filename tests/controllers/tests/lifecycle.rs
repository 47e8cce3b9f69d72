//! Garbage collection, namespace deletion, node lifecycle and endpoints driven by the
//! built-in scripts.

use std::time::Duration;

use kube::api::{DeleteParams, PostParams, PropagationPolicy};
use serde_json::{Value, json};
use skiff_controller_tests::cluster::{TestCluster, entry_limits};
use skiff_controller_tests::sim_node::SimNodes;
use skiff_controller_tests::wait::{self, api, api_all, is_deleting, is_ready, until};
use skiff_runtime::rhai::Limits;

const WAIT: Duration = Duration::from_secs(60);

async fn create_config_map(cluster: &TestCluster, name: &str, owner: Option<&Value>) -> Value {
    let configmaps = api(&cluster.client, "default", "v1", "ConfigMap", "configmaps");
    let mut obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}, "data": {"k": "v"}});
    if let Some(owner) = owner {
        obj["metadata"]["ownerReferences"] = json!([{
            "apiVersion": "v1", "kind": "ConfigMap", "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "blockOwnerDeletion": true,
        }]);
    }
    let created = configmaps
        .create(
            &PostParams::default(),
            &serde_json::from_value(obj).expect("object"),
        )
        .await
        .expect("config map created");
    serde_json::to_value(created).expect("json")
}

fn replicaset(name: &str, replicas: u32) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: ReplicaSet
metadata: {{name: {name}, namespace: default}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - name: main
        image: busybox
        ports: [{{name: http, containerPort: 8080}}]
"#
    )
}

/// A Service in `default` selecting `selector` (a YAML map), port 80 to the pods' `http` port.
fn service(name: &str, selector: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: default}}
spec:
  selector: {selector}
  ports: [{{name: http, port: 80, targetPort: http}}]
"#
    )
}

/// The EndpointSlices of `default`.
fn endpoint_slices(cluster: &TestCluster) -> kube::Api<kube::api::DynamicObject> {
    api(
        &cluster.client,
        "default",
        "discovery.k8s.io/v1",
        "EndpointSlice",
        "endpointslices",
    )
}

async fn pods_of(cluster: &TestCluster, namespace: &str, selector: &str) -> Vec<Value> {
    let pods = api(&cluster.client, namespace, "v1", "Pod", "pods");
    pods.list(&kube::api::ListParams::default().labels(selector))
        .await
        .expect("pods")
        .items
        .into_iter()
        .map(|p| serde_json::to_value(p).expect("json"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn garbage_collector_cascades_in_background_and_foreground_and_orphans_on_request() {
    let cluster = TestCluster::start("replicaset,garbage-collector").await;
    let _nodes = SimNodes::start(cluster.client.clone(), &["gc-node"]).await;
    let configmaps = api(&cluster.client, "default", "v1", "ConfigMap", "configmaps");

    // Background: the dependent goes after its owner.
    let owner = create_config_map(&cluster, "owner", None).await;
    create_config_map(&cluster, "dependent", Some(&owner)).await;
    create_config_map(&cluster, "bystander", None).await;
    configmaps
        .delete(
            "owner",
            &DeleteParams {
                propagation_policy: Some(PropagationPolicy::Background),
                ..Default::default()
            },
        )
        .await
        .expect("owner deleted");
    wait::until_gone("the dependent collected", WAIT, &configmaps, "dependent").await;
    assert!(
        wait::get(&configmaps, "bystander").await.is_some(),
        "objects without owners stay"
    );

    // Foreground: the pods go first, then the set.
    cluster
        .kubectl_ok(&["apply", "-f", "-"], Some(&replicaset("front", 2)))
        .await;
    until("two pods", WAIT, || async {
        (pods_of(&cluster, "default", "app=front").await.len() == 2).then_some(())
    })
    .await;
    let sets = wait::replicasets(&cluster.client);
    sets.delete(
        "front",
        &DeleteParams {
            propagation_policy: Some(PropagationPolicy::Foreground),
            ..Default::default()
        },
    )
    .await
    .expect("foreground delete");
    let held = wait::get(&sets, "front").await;
    if let Some(held) = held {
        assert!(is_deleting(&held));
        assert!(
            held["metadata"]["finalizers"]
                .as_array()
                .expect("finalizers")
                .contains(&json!("foregroundDeletion"))
        );
    }
    until("the set and its pods gone", WAIT, || async {
        let pods = pods_of(&cluster, "default", "app=front").await;
        (pods.is_empty() && wait::get(&sets, "front").await.is_none()).then_some(())
    })
    .await;

    // Orphan: the set goes, its pods stay without the reference.
    cluster
        .kubectl_ok(&["apply", "-f", "-"], Some(&replicaset("keep", 2)))
        .await;
    until("two pods", WAIT, || async {
        (pods_of(&cluster, "default", "app=keep").await.len() == 2).then_some(())
    })
    .await;
    cluster
        .kubectl_ok(&["delete", "rs", "keep", "--cascade=orphan"], None)
        .await;
    until("the set gone and its pods orphaned", WAIT, || async {
        let pods = pods_of(&cluster, "default", "app=keep").await;
        let orphaned = pods.len() == 2
            && pods.iter().all(|p| {
                !is_deleting(p)
                    && p["metadata"]["ownerReferences"]
                        .as_array()
                        .is_none_or(|r| r.is_empty())
            });
        (orphaned && wait::get(&sets, "keep").await.is_none()).then_some(())
    })
    .await;
    // And they stay.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(pods_of(&cluster, "default", "app=keep").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_a_namespace_empties_it_and_removes_it() {
    let cluster = TestCluster::start("namespace,replicaset,garbage-collector,serviceaccount").await;
    let _nodes = SimNodes::start(cluster.client.clone(), &["ns-node"]).await;
    cluster
        .kubectl_ok(&["create", "namespace", "doomed"], None)
        .await;
    until("the default service account", WAIT, || async {
        let accounts = api(
            &cluster.client,
            "doomed",
            "v1",
            "ServiceAccount",
            "serviceaccounts",
        );
        wait::get(&accounts, "default").await.map(|_| ())
    })
    .await;
    cluster
        .kubectl_ok(
            &[
                "-n",
                "doomed",
                "create",
                "configmap",
                "settings",
                "--from-literal=a=b",
            ],
            None,
        )
        .await;
    let rs = replicaset("app", 2).replace("namespace: default", "namespace: doomed");
    cluster.kubectl_ok(&["apply", "-f", "-"], Some(&rs)).await;
    until("pods in the namespace", WAIT, || async {
        (pods_of(&cluster, "doomed", "app=app").await.len() == 2).then_some(())
    })
    .await;

    cluster
        .kubectl_ok(&["delete", "namespace", "doomed", "--wait=false"], None)
        .await;
    let phase = cluster
        .kubectl(
            &[
                "get",
                "namespace",
                "doomed",
                "-o",
                "jsonpath={.status.phase}",
            ],
            None,
        )
        .await;
    if phase.status.success() {
        assert_eq!(String::from_utf8_lossy(&phase.stdout), "Terminating");
    }
    let namespaces = api_all(&cluster.client, "v1", "Namespace", "namespaces");
    wait::until_gone("the namespace gone", WAIT, &namespaces, "doomed").await;
    let leftover = cluster
        .kubectl_ok(
            &[
                "get",
                "pods,configmaps,replicasets",
                "-n",
                "doomed",
                "-o",
                "name",
            ],
            None,
        )
        .await;
    assert_eq!(leftover.trim(), "", "nothing is left in the namespace");
}

/// The collector, node deletion and namespace deletion walk every object of a namespace or
/// of the cluster. With sandbox limits a few hundred pods exceed (as ten thousand exceed the
/// defaults), each still does its work: the walks take the objects one at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn controllers_walk_more_objects_than_a_script_may_hold_at_once() {
    let limits = Limits {
        max_string_size: 64 << 10,
        ..entry_limits(1_000)
    };
    let cluster =
        TestCluster::start_limited("garbage-collector,namespace,node-lifecycle", limits).await;
    cluster
        .kubectl_ok(&["create", "namespace", "crowd"], None)
        .await;
    let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "doomed-node"}});
    cluster
        .kubectl_ok(&["create", "-f", "-"], Some(&node.to_string()))
        .await;
    let configmaps = api(&cluster.client, "crowd", "v1", "ConfigMap", "configmaps");
    let pods = api(&cluster.client, "crowd", "v1", "Pod", "pods");
    let create = |api: &kube::Api<kube::api::DynamicObject>, obj: Value| {
        let api = api.clone();
        async move {
            let created = api
                .create(
                    &PostParams::default(),
                    &serde_json::from_value(obj).expect("object"),
                )
                .await
                .expect("created");
            serde_json::to_value(created).expect("json")
        }
    };
    let owned_by = |owner: &Value| {
        json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": owner["metadata"]["name"],
                "uid": owner["metadata"]["uid"]}])
    };
    let map =
        |name: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}});
    let keeper = create(&configmaps, map("keeper")).await;
    let doomed_owner = create(&configmaps, map("doomed-owner")).await;
    let mut dependent = map("dependent");
    dependent["metadata"]["ownerReferences"] = owned_by(&doomed_owner);
    create(&configmaps, dependent).await;
    // Pods the collector must look at (they have an owner), none of which it may touch.
    const CROWD: usize = 150;
    for i in 0..CROWD {
        let pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("crowd-{i}"), "ownerReferences": owned_by(&keeper)},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}});
        create(&pods, pod).await;
    }
    let on_node = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "on-doomed-node"},
        "spec": {"nodeName": "doomed-node", "containers": [{"name": "c", "image": "busybox"}]}});
    create(&pods, on_node).await;

    // The owner's deletion sweeps the namespace: its dependent goes, the crowd stays.
    configmaps
        .delete("doomed-owner", &DeleteParams::background())
        .await
        .expect("owner deleted");
    wait::until_gone("the dependent collected", WAIT, &configmaps, "dependent").await;
    assert_eq!(wait::list(&pods).await.len(), CROWD + 1, "owned pods stay");

    // A deleted node's pods are found among all the cluster's and removed.
    cluster
        .kubectl_ok(&["delete", "node", "doomed-node"], None)
        .await;
    wait::until_gone(
        "the deleted node's pod removed",
        WAIT,
        &pods,
        "on-doomed-node",
    )
    .await;
    assert_eq!(wait::list(&pods).await.len(), CROWD);

    // The namespace is emptied and goes.
    cluster
        .kubectl_ok(&["delete", "namespace", "crowd", "--wait=false"], None)
        .await;
    let namespaces = api_all(&cluster.client, "v1", "Namespace", "namespaces");
    wait::until_gone("the namespace emptied and gone", WAIT, &namespaces, "crowd").await;
    assert!(wait::list(&pods).await.is_empty(), "no pod is left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pods_of_a_node_whose_lease_goes_stale_are_evicted_and_replaced() {
    let cluster = TestCluster::start("replicaset,node-lifecycle").await;
    let settings = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "skiff-node-lifecycle", "namespace": "kube-system"},
        "data": {"nodeMonitorGracePeriodSeconds": "3", "defaultTolerationSeconds": "2"},
    });
    cluster
        .kubectl_ok(&["apply", "-f", "-"], Some(&settings.to_string()))
        .await;
    let nodes = SimNodes::start(cluster.client.clone(), &["failing-node"]).await;
    cluster
        .kubectl_ok(&["apply", "-f", "-"], Some(&replicaset("moved", 2)))
        .await;
    until("two ready pods on the first node", WAIT, || async {
        let pods = pods_of(&cluster, "default", "app=moved").await;
        (pods.len() == 2
            && pods
                .iter()
                .all(|p| is_ready(p) && p["spec"]["nodeName"] == "failing-node"))
        .then_some(())
    })
    .await;
    nodes.add_node("healthy-node").await;
    nodes.stop_heartbeat("failing-node").await;

    let node_api = api_all(&cluster.client, "v1", "Node", "nodes");
    until("the node unreachable and tainted", WAIT, || async {
        let node = wait::get(&node_api, "failing-node").await?;
        let ready = wait::condition(&node, "Ready")?;
        let taints = node["spec"]["taints"].as_array()?;
        let tainted = taints
            .iter()
            .any(|t| t["key"] == "node.kubernetes.io/unreachable" && t["effect"] == "NoExecute");
        (ready["status"] == "Unknown" && tainted).then_some(())
    })
    .await;
    until("the pods replaced on the healthy node", WAIT, || async {
        let pods = pods_of(&cluster, "default", "app=moved").await;
        let live: Vec<&Value> = pods.iter().filter(|p| !is_deleting(p)).collect();
        let evicted = pods
            .iter()
            .filter(|p| is_deleting(p) && p["spec"]["nodeName"] == "failing-node")
            .count();
        let moved = live.len() == 2
            && live
                .iter()
                .all(|p| is_ready(p) && p["spec"]["nodeName"] == "healthy-node");
        (moved && evicted == 2).then_some(())
    })
    .await;
    let healthy = wait::get(&node_api, "healthy-node").await.expect("node");
    assert!(
        healthy["spec"]["taints"]
            .as_array()
            .is_none_or(|t| t.is_empty()),
        "a node with a fresh lease keeps no unreachable taint"
    );
}

/// A heartbeat that comes late (a loaded machine) makes the node lifecycle controller mark the
/// node's pods not ready; once the heartbeat is back, the node reports them ready again, as a
/// kubelet's status sync does. (Without that, a late heartbeat left pods not ready for good and
/// the eviction test above timed out on a loaded machine.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pods_marked_not_ready_by_a_late_heartbeat_become_ready_again() {
    let cluster = TestCluster::start("replicaset,node-lifecycle").await;
    let settings = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "skiff-node-lifecycle", "namespace": "kube-system"},
        "data": {"nodeMonitorGracePeriodSeconds": "2", "defaultTolerationSeconds": "600"},
    });
    cluster
        .kubectl_ok(&["apply", "-f", "-"], Some(&settings.to_string()))
        .await;
    let nodes = SimNodes::start(cluster.client.clone(), &["late-node"]).await;
    cluster
        .kubectl_ok(&["apply", "-f", "-"], Some(&replicaset("late", 2)))
        .await;
    let ready_pods = || async {
        let pods = pods_of(&cluster, "default", "app=late").await;
        let mut names: Vec<String> = pods
            .iter()
            .filter(|p| is_ready(p) && !is_deleting(p))
            .map(wait::name)
            .collect();
        names.sort();
        (pods.len() == 2 && names.len() == 2).then_some(names)
    };
    let before = until("two ready pods", WAIT, ready_pods).await;

    nodes.stop_heartbeat("late-node").await;
    until("the pods marked not ready", WAIT, || async {
        let pods = pods_of(&cluster, "default", "app=late").await;
        (pods.len() == 2 && pods.iter().all(|p| !is_ready(p))).then_some(())
    })
    .await;
    nodes.resume_heartbeat("late-node").await;
    let node_api = api_all(&cluster.client, "v1", "Node", "nodes");
    until("the unreachable taint removed", WAIT, || async {
        let node = wait::get(&node_api, "late-node").await?;
        node["spec"]["taints"]
            .as_array()
            .is_none_or(|t| t.is_empty())
            .then_some(())
    })
    .await;
    let after = until("the same pods ready again", WAIT, ready_pods).await;
    assert_eq!(after, before, "the pods were not replaced, only marked");
}

/// A service whose pods are more than the endpoint scripts may hold as one array (limits
/// lowered as in the test above) still gets every ready address and every slice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn endpoints_of_more_pods_than_a_script_may_hold_at_once() {
    let limits = entry_limits(5_000);
    let cluster = TestCluster::start_limited("replicaset,endpoints,endpointslice", limits).await;
    let _nodes = SimNodes::start(cluster.client.clone(), &["many-1", "many-2", "many-3"]).await;
    const PODS: usize = 300;
    cluster
        .kubectl_ok(
            &["apply", "-f", "-"],
            Some(&replicaset("many", PODS as u32)),
        )
        .await;
    cluster
        .kubectl_ok(&["apply", "-f", "-"], Some(&service("many", "{app: many}")))
        .await;
    until("every pod ready", WAIT, || async {
        let pods = pods_of(&cluster, "default", "app=many").await;
        (pods.len() == PODS && pods.iter().all(is_ready)).then_some(())
    })
    .await;
    let endpoints = api(&cluster.client, "default", "v1", "Endpoints", "endpoints");
    until("every address in the endpoints", WAIT, || async {
        let ep = wait::get(&endpoints, "many").await?;
        let addresses = ep["subsets"][0]["addresses"].as_array()?;
        (addresses.len() == PODS && ep["subsets"][0]["ports"][0]["port"] == 8080).then_some(())
    })
    .await;
    let slices = endpoint_slices(&cluster);
    until("every pod ready in slices of 100", WAIT, || async {
        let list = wait::list(&slices).await;
        let mine: Vec<&Value> = list
            .iter()
            .filter(|s| s["metadata"]["labels"]["kubernetes.io/service-name"] == "many")
            .collect();
        let ready = mine
            .iter()
            .filter_map(|s| s["endpoints"].as_array())
            .flatten()
            .filter(|e| e["conditions"]["ready"] == true)
            .count();
        (mine.len() == PODS / 100 && ready == PODS).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn endpoints_list_the_ready_pod_ips_of_a_service() {
    let cluster = TestCluster::start("replicaset,endpoints,endpointslice").await;
    let _nodes = SimNodes::start(cluster.client.clone(), &["ep-node"]).await;
    let rs = replicaset("web", 2).replace("labels: {app: web}", "labels: {app: web, tier: front}");
    cluster.kubectl_ok(&["apply", "-f", "-"], Some(&rs)).await;
    cluster
        .kubectl_ok(
            &["apply", "-f", "-"],
            Some(&service("web", "{tier: front}")),
        )
        .await;
    let pods = until("two ready pods", WAIT, || async {
        let pods = pods_of(&cluster, "default", "app=web").await;
        (pods.len() == 2 && pods.iter().all(is_ready)).then_some(pods)
    })
    .await;
    let mut ips: Vec<String> = pods
        .iter()
        .map(|p| p["status"]["podIP"].as_str().expect("pod IP").to_string())
        .collect();
    ips.sort();
    let endpoints = api(&cluster.client, "default", "v1", "Endpoints", "endpoints");
    until(
        "endpoints with the pod IPs and the resolved port",
        WAIT,
        || async {
            let ep = wait::get(&endpoints, "web").await?;
            let subset = &ep["subsets"][0];
            let mut listed: Vec<String> = subset["addresses"]
                .as_array()?
                .iter()
                .map(|a| a["ip"].as_str().unwrap_or_default().to_string())
                .collect();
            listed.sort();
            let refs_ok = subset["addresses"]
                .as_array()?
                .iter()
                .all(|a| a["targetRef"]["kind"] == "Pod");
            (listed == ips && subset["ports"][0]["port"] == 8080 && refs_ok).then_some(())
        },
    )
    .await;
    let out = cluster
        .kubectl_ok(
            &[
                "get",
                "endpoints",
                "web",
                "-o",
                "jsonpath={.subsets[0].addresses[*].ip}",
            ],
            None,
        )
        .await;
    let mut shown: Vec<&str> = out.split_whitespace().collect();
    shown.sort();
    assert_eq!(shown, ips.iter().map(String::as_str).collect::<Vec<_>>());

    let slices = endpoint_slices(&cluster);
    until("an endpoint slice with both pods ready", WAIT, || async {
        let list = wait::list(&slices).await;
        let slice = list
            .iter()
            .find(|s| s["metadata"]["labels"]["kubernetes.io/service-name"] == "web")?;
        let endpoints = slice["endpoints"].as_array()?;
        let mut listed: Vec<String> = endpoints
            .iter()
            .map(|e| e["addresses"][0].as_str().unwrap_or_default().to_string())
            .collect();
        listed.sort();
        let ready = endpoints.iter().all(|e| e["conditions"]["ready"] == true);
        (listed == ips
            && ready
            && slice["ports"][0]["port"] == 8080
            && slice["addressType"] == "IPv4")
            .then_some(())
    })
    .await;

    // A pod that is not ready is listed apart.
    let not_ready = r#"
apiVersion: v1
kind: Pod
metadata:
  name: warming
  namespace: default
  labels: {tier: front}
  annotations: {sim.skiff.dev/exec-exit-code: "1"}
spec:
  containers:
  - name: main
    image: busybox
    ports: [{name: http, containerPort: 9090}]
    readinessProbe: {exec: {command: ["false"]}, periodSeconds: 1}
"#;
    cluster
        .kubectl_ok(&["apply", "-f", "-"], Some(not_ready))
        .await;
    until("the unready pod in notReadyAddresses", WAIT, || async {
        let ep = wait::get(&endpoints, "web").await?;
        let subsets = ep["subsets"].as_array()?;
        let listed = subsets.iter().any(|s| {
            s["notReadyAddresses"]
                .as_array()
                .is_some_and(|a| a.iter().any(|a| a["targetRef"]["name"] == "warming"))
                && s["ports"][0]["port"] == 9090
        });
        listed.then_some(())
    })
    .await;

    // Its port differs, so it is in a slice of its own: every slice of the service counts.
    let sliced = || async {
        wait::list(&slices)
            .await
            .iter()
            .filter(|s| s["metadata"]["labels"]["kubernetes.io/service-name"] == "web")
            .map(|s| s["endpoints"].to_string())
            .collect::<String>()
    };
    until("the unready pod in a slice", WAIT, || async {
        sliced().await.contains("warming").then_some(())
    })
    .await;

    // A pod relabelled out of the selector leaves both lists: the service hears of the
    // change through the labels the pod had before.
    cluster
        .kubectl_ok(
            &["label", "pod", "warming", "tier=back", "--overwrite"],
            None,
        )
        .await;
    until(
        "the relabelled pod gone from the endpoints",
        WAIT,
        || async {
            let ep = wait::get(&endpoints, "web").await?;
            let text = ep["subsets"].to_string();
            (!text.contains("warming") && text.contains(&ips[0])).then_some(())
        },
    )
    .await;
    until("the relabelled pod gone from the slices", WAIT, || async {
        let text = sliced().await;
        (!text.contains("warming") && text.contains(&ips[0])).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simulated_nodes_keep_pod_dirs_in_memory_and_remove_them_with_the_pod() {
    use skiff_kubelet::files::Files;

    let cluster = TestCluster::start("").await;
    let nodes = SimNodes::start(cluster.client.clone(), &["mem-node"]).await;
    create_config_map(&cluster, "settings", None).await;
    let pods = api(&cluster.client, "default", "v1", "Pod", "pods");
    let pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "files", "namespace": "default"},
        "spec": {"nodeName": "mem-node",
            "containers": [{"name": "main", "image": "busybox",
                "volumeMounts": [{"name": "cfg", "mountPath": "/cfg"}, {"name": "scratch", "mountPath": "/s"}]}],
            "volumes": [{"name": "cfg", "configMap": {"name": "settings"}}, {"name": "scratch", "emptyDir": {}}]}});
    let created = pods
        .create(
            &PostParams::default(),
            &serde_json::from_value(pod).expect("pod"),
        )
        .await
        .expect("pod created");
    let uid = created.metadata.uid.clone().expect("uid");
    until("the pod ready", WAIT, || async {
        wait::get(&pods, "files").await.filter(is_ready)
    })
    .await;

    let dir = nodes.data_dir().join("mem-node").join("pods").join(&uid);
    let files = nodes.files();
    // What a real node writes, in memory: the sandbox record, /etc files, volume files
    // behind the atomic-update links.
    assert!(files.exists(&dir.join("sandbox.json")));
    let hosts = String::from_utf8(files.read(&dir.join("etc/hosts")).expect("hosts")).unwrap();
    assert!(hosts.contains("files"), "{hosts}");
    assert_eq!(
        files.read(&dir.join("volumes/cfg/k")).expect("cm key"),
        b"v"
    );
    assert!(files.read_link(&dir.join("volumes/cfg/..data")).is_ok());
    assert!(files.exists(&dir.join("volumes/scratch")));
    // Nothing of it on the host's disk.
    assert!(!nodes.data_dir().join("mem-node").join("pods").exists());

    pods.delete("files", &DeleteParams::default())
        .await
        .expect("pod deleted");
    until("the pod gone", WAIT, || async {
        wait::get(&pods, "files").await.is_none().then_some(())
    })
    .await;
    until("its pod dir removed", WAIT, || async {
        (!files.exists(&dir)).then_some(())
    })
    .await;
}
