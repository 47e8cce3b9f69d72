//! ReplicaSets, Deployments, StatefulSets and DaemonSets driven by the built-in scripts,
//! checked with the real kubectl on simulated nodes.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::Value;
use skiff_controller_tests::cluster::{TestCluster, entry_limits};
use skiff_controller_tests::sim_node::SimNodes;
use skiff_controller_tests::wait::{self, api, is_deleting, is_ready, name, until};

const WAIT: Duration = Duration::from_secs(60);

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
      containers: [{{name: main, image: busybox}}]
"#
    )
}

async fn live_pods(cluster: &TestCluster, selector: &str) -> Vec<Value> {
    let pods = api(&cluster.client, "default", "v1", "Pod", "pods");
    pods.list(&kube::api::ListParams::default().labels(selector))
        .await
        .expect("list pods")
        .items
        .into_iter()
        .map(|p| serde_json::to_value(p).expect("json"))
        .filter(|p| !is_deleting(p))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicaset_replaces_a_deleted_pod() {
    let cluster = TestCluster::start("replicaset").await;
    let _nodes = SimNodes::start(cluster.client.clone(), &["rs-node"]).await;
    cluster
        .kubectl_ok(&["apply", "-f", "-"], Some(&replicaset("web", 3)))
        .await;

    let first = until("three ready pods", WAIT, || async {
        let pods = live_pods(&cluster, "app=web").await;
        (pods.len() == 3 && pods.iter().all(is_ready)).then_some(pods)
    })
    .await;
    for pod in &first {
        let n = name(pod);
        let suffix = n
            .strip_prefix("web-")
            .expect("pods are named after their set");
        assert_eq!(suffix.len(), 5, "a generated five-character suffix: {n}");
        assert_eq!(pod["metadata"]["ownerReferences"][0]["kind"], "ReplicaSet");
        assert_eq!(pod["metadata"]["ownerReferences"][0]["controller"], true);
    }

    let victim = name(&first[0]);
    cluster
        .kubectl_ok(&["delete", "pod", &victim, "--wait=false"], None)
        .await;
    until("a replacement pod", WAIT, || async {
        let pods = live_pods(&cluster, "app=web").await;
        let replaced = pods.len() == 3 && pods.iter().all(|p| name(p) != victim && is_ready(p));
        replaced.then_some(())
    })
    .await;
    until("status of three ready replicas", WAIT, || async {
        let out = cluster
            .kubectl_ok(&["get", "rs", "web", "-o", "jsonpath={.status.readyReplicas}/{.status.availableReplicas}/{.status.replicas}"], None)
            .await;
        (out == "3/3/3").then_some(())
    })
    .await;

    // Scaling down removes pods; a pod that stops matching is released and replaced.
    cluster
        .kubectl_ok(&["scale", "rs", "web", "--replicas=2"], None)
        .await;
    let two = until("two pods", WAIT, || async {
        let pods = live_pods(&cluster, "app=web").await;
        (pods.len() == 2).then_some(pods)
    })
    .await;
    let released = name(&two[0]);
    cluster
        .kubectl_ok(
            &["label", "pod", &released, "app=other", "--overwrite"],
            None,
        )
        .await;
    until("the relabelled pod released and replaced", WAIT, || async {
        let pods = live_pods(&cluster, "app=web").await;
        let other = live_pods(&cluster, "app=other").await;
        let orphaned = other.iter().any(|p| {
            name(p) == released
                && p["metadata"]["ownerReferences"]
                    .as_array()
                    .is_none_or(|r| r.is_empty())
        });
        (pods.len() == 2 && orphaned).then_some(())
    })
    .await;

    // Matching again, the orphan is adopted: one pod too many, so one goes.
    cluster
        .kubectl_ok(&["label", "pod", &released, "app=web", "--overwrite"], None)
        .await;
    until(
        "the orphan adopted and the set back at two",
        WAIT,
        || async {
            let pods = live_pods(&cluster, "app=web").await;
            let owned = pods.iter().all(|p| {
                p["metadata"]["ownerReferences"][0]["name"] == "web"
                    && p["metadata"]["ownerReferences"][0]["controller"] == true
            });
            (pods.len() == 2 && owned).then_some(())
        },
    )
    .await;
}

/// Scaling down takes the pods that have been ready for the least time first (upstream's
/// order), so the pods that were there before a scale-up are the ones kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scaling_down_removes_the_newest_pods_first() {
    let cluster = TestCluster::start("replicaset").await;
    let _nodes = SimNodes::start(cluster.client.clone(), &["order-node"]).await;
    cluster
        .kubectl_ok(&["apply", "-f", "-"], Some(&replicaset("order", 2)))
        .await;
    let ready_names = || async {
        let pods = live_pods(&cluster, "app=order").await;
        let mut names: Vec<String> = pods.iter().filter(|p| is_ready(p)).map(name).collect();
        names.sort();
        names
    };
    let first = until("two ready pods", WAIT, || async {
        let names = ready_names().await;
        (names.len() == 2).then_some(names)
    })
    .await;
    // Timestamps have whole seconds: the newcomer must be visibly younger.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    cluster
        .kubectl_ok(&["scale", "rs", "order", "--replicas=4"], None)
        .await;
    until("four ready pods", WAIT, || async {
        (ready_names().await.len() == 4).then_some(())
    })
    .await;
    cluster
        .kubectl_ok(&["scale", "rs", "order", "--replicas=2"], None)
        .await;
    until("the first two kept", WAIT, || async {
        let pods = live_pods(&cluster, "app=order").await;
        let mut names: Vec<String> = pods.iter().map(name).collect();
        names.sort();
        (names == first).then_some(())
    })
    .await;
}

/// A set of more replicas than its controller's script may hold as one array (limits lowered
/// so that a few hundred pods stand for the tens of thousands the defaults are made for)
/// scales up, reports them and scales down: the script counts its pods one at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replicaset_larger_than_a_script_may_hold_scales_up_and_down() {
    let limits = entry_limits(8_000);
    let cluster = TestCluster::start_limited("replicaset", limits).await;
    cluster
        .kubectl_ok(&["apply", "-f", "-"], Some(&replicaset("crowd", 600)))
        .await;
    // The set's own count of its pods beside the pods the server has.
    let counted = || async {
        let status = "jsonpath={.status.replicas}/{.status.fullyLabeledReplicas}";
        let out = cluster
            .kubectl_ok(&["get", "rs", "crowd", "-o", status], None)
            .await;
        (out, live_pods(&cluster, "app=crowd").await.len())
    };
    until("600 pods counted", WAIT, || async {
        (counted().await == ("600/600".to_string(), 600)).then_some(())
    })
    .await;
    cluster
        .kubectl_ok(&["scale", "rs", "crowd", "--replicas=250"], None)
        .await;
    until("250 pods left and counted", WAIT, || async {
        (counted().await == ("250/250".to_string(), 250)).then_some(())
    })
    .await;
}

/// A DaemonSet over more nodes than its script may hold as one array (limits lowered as
/// above) runs one pod on each.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_daemonset_over_more_nodes_than_a_script_may_hold_runs_on_each() {
    let limits = entry_limits(2_500);
    let cluster = TestCluster::start_limited("daemonset", limits).await;
    const NODES: usize = 60;
    let names: Vec<String> = (0..NODES).map(|i| format!("fleet-{i:02}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let _nodes = SimNodes::start(cluster.client.clone(), &refs).await;
    let manifest = r#"
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: fleet-agent, namespace: default}
spec:
  selector: {matchLabels: {app: fleet-agent}}
  template:
    metadata: {labels: {app: fleet-agent}}
    spec:
      containers: [{name: main, image: busybox}]
"#;
    cluster
        .kubectl_ok(&["apply", "-f", "-"], Some(manifest))
        .await;
    until("one ready pod on every node", WAIT, || async {
        let pods = live_pods(&cluster, "app=fleet-agent").await;
        let mut on: Vec<&str> = pods
            .iter()
            .filter(|p| is_ready(p))
            .filter_map(|p| p["spec"]["nodeName"].as_str())
            .collect();
        on.sort();
        (on == refs).then_some(())
    })
    .await;
    let expected = format!("{NODES}/{NODES}");
    until("the status counts every node", WAIT, || async {
        let out = cluster
            .kubectl_ok(
                &[
                    "get",
                    "ds",
                    "fleet-agent",
                    "-o",
                    "jsonpath={.status.desiredNumberScheduled}/{.status.numberReady}",
                ],
                None,
            )
            .await;
        (out == expected).then_some(())
    })
    .await;
}

fn deployment(image: &str) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: default}}
spec:
  replicas: 4
  strategy:
    type: RollingUpdate
    rollingUpdate: {{maxSurge: 1, maxUnavailable: 1}}
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers: [{{name: main, image: {image}}}]
"#
    )
}

/// A cluster running the Deployment "web" (busybox:1), rolled out on simulated `nodes`.
async fn rolled_out(nodes: &[&str]) -> (TestCluster, SimNodes) {
    let cluster = TestCluster::start("replicaset,deployment").await;
    let sim = SimNodes::start(cluster.client.clone(), nodes).await;
    cluster
        .kubectl_ok(&["apply", "-f", "-"], Some(&deployment("busybox:1")))
        .await;
    cluster
        .kubectl_ok(
            &["rollout", "status", "deployment/web", "--timeout=60s"],
            None,
        )
        .await;
    (cluster, sim)
}

/// A set that appears without an owner, matching a settled Deployment's selector, is adopted
/// as it appears (not at the next resync, minutes later).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deployment_adopts_an_orphaned_replicaset() {
    let (cluster, _nodes) = rolled_out(&["adopt-node"]).await;
    // Settled: the set's last status writes have reached the Deployment, so only the new
    // set's appearance can bring it to reconcile again (its next resync is minutes away).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stray =
        replicaset("stray", 0).replace("matchLabels: {app: stray}}", "matchLabels: {app: web}}");
    let stray = stray.replace("labels: {app: stray}", "labels: {app: web}");
    let stray = stray.replace(
        "metadata: {name: stray, namespace: default}",
        "metadata: {name: stray, namespace: default, labels: {app: web}}",
    );
    cluster
        .kubectl_ok(&["apply", "-f", "-"], Some(&stray))
        .await;
    let sets = wait::replicasets(&cluster.client);
    until(
        "the orphaned set adopted by the Deployment",
        WAIT,
        || async {
            let rs = wait::get(&sets, "stray").await?;
            let owner = &rs["metadata"]["ownerReferences"][0];
            (owner["kind"] == "Deployment" && owner["name"] == "web" && owner["controller"] == true)
                .then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rolling_update_stays_within_surge_and_unavailability_and_undo_restores_the_template() {
    let (cluster, _nodes) = rolled_out(&["deploy-node-a", "deploy-node-b"]).await;
    let rs_list = wait::list(&wait::replicasets(&cluster.client)).await;
    assert_eq!(rs_list.len(), 1);
    let first_rs = &rs_list[0];
    let hash = first_rs["metadata"]["labels"]["pod-template-hash"]
        .as_str()
        .expect("hash label")
        .to_string();
    assert_eq!(name(first_rs), format!("web-{hash}"));
    assert_eq!(
        first_rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "1"
    );

    // Watch every pod change during the rollout and check the bounds at each step.
    let pods_api: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(cluster.client.clone(), "default");
    let mut stream = watcher(pods_api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let watch_task = tokio::spawn(async move {
        let mut pods: BTreeMap<String, Value> = BTreeMap::new();
        let mut initialised = false;
        while let Some(event) = stream.next().await {
            match event {
                Ok(watcher::Event::Apply(pod)) | Ok(watcher::Event::InitApply(pod)) => {
                    let pod = serde_json::to_value(pod).expect("json");
                    pods.insert(name(&pod), pod);
                }
                Ok(watcher::Event::Delete(pod)) => {
                    pods.remove(&pod.metadata.name.unwrap_or_default());
                }
                Ok(watcher::Event::Init) => {
                    pods.clear();
                    initialised = false;
                }
                Ok(watcher::Event::InitDone) => initialised = true,
                Err(_) => continue,
            }
            if !initialised {
                continue;
            }
            let live: Vec<&Value> = pods.values().filter(|p| !is_deleting(p)).collect();
            let available = live.iter().filter(|p| is_ready(p)).count();
            let _ = tx.send((live.len(), available));
        }
    });

    cluster
        .kubectl_ok(&["set", "image", "deployment/web", "main=busybox:2"], None)
        .await;
    cluster
        .kubectl_ok(
            &["rollout", "status", "deployment/web", "--timeout=90s"],
            None,
        )
        .await;
    // Let the last changes arrive, then check every observed step.
    tokio::time::sleep(Duration::from_millis(500)).await;
    watch_task.abort();
    let mut steps = 0;
    while let Ok((live, available)) = rx.try_recv() {
        steps += 1;
        assert!(
            live <= 5,
            "more than replicas + maxSurge pods at step {steps}: {live}"
        );
        assert!(
            available >= 3,
            "fewer than replicas - maxUnavailable available at step {steps}: {available}"
        );
    }
    assert!(steps >= 8, "the rollout was observed ({steps} steps)");
    let pods = live_pods(&cluster, "app=web").await;
    assert_eq!(pods.len(), 4);
    assert!(
        pods.iter()
            .all(|p| p["spec"]["containers"][0]["image"] == "busybox:2")
    );

    let status = cluster
        .kubectl_ok(
            &[
                "get",
                "deployment",
                "web",
                "-o",
                "jsonpath={.status.updatedReplicas}/{.status.availableReplicas}/{.status.replicas}",
            ],
            None,
        )
        .await;
    assert_eq!(status, "4/4/4");
    let history = cluster
        .kubectl_ok(&["rollout", "history", "deployment/web"], None)
        .await;
    assert!(
        history.contains('1') && history.contains('2'),
        "two revisions: {history}"
    );

    // Undo: kubectl patches the template back; the first set becomes new again.
    cluster
        .kubectl_ok(&["rollout", "undo", "deployment/web"], None)
        .await;
    cluster
        .kubectl_ok(
            &["rollout", "status", "deployment/web", "--timeout=90s"],
            None,
        )
        .await;
    let image = cluster
        .kubectl_ok(
            &[
                "get",
                "deployment",
                "web",
                "-o",
                "jsonpath={.spec.template.spec.containers[0].image}",
            ],
            None,
        )
        .await;
    assert_eq!(image, "busybox:1");
    let sets = wait::list(&wait::replicasets(&cluster.client)).await;
    assert_eq!(
        sets.len(),
        2,
        "undo makes the first set new again instead of a third one: {:#}",
        serde_json::Value::Array(sets.iter().map(|s| s["spec"]["template"].clone()).collect())
    );
    let revived = wait::get(&wait::replicasets(&cluster.client), &format!("web-{hash}"))
        .await
        .expect("the first set is kept");
    assert_eq!(revived["spec"]["replicas"], 4, "{sets:#?}");
    assert_eq!(
        revived["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "3"
    );
    until(
        "the old pods replaced by ones of the first template",
        WAIT,
        || async {
            let pods = live_pods(&cluster, "app=web").await;
            let done = pods.len() == 4
                && pods
                    .iter()
                    .all(|p| p["spec"]["containers"][0]["image"] == "busybox:1");
            done.then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stuck_rollout_exceeds_its_progress_deadline() {
    let cluster = TestCluster::start("replicaset,deployment").await;
    let _nodes = SimNodes::start(cluster.client.clone(), &["stuck-node"]).await;
    let manifest = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: stuck, namespace: default}
spec:
  replicas: 1
  progressDeadlineSeconds: 3
  selector: {matchLabels: {app: stuck}}
  template:
    metadata:
      labels: {app: stuck}
      annotations: {sim.skiff.dev/exec-exit-code: "1"}
    spec:
      containers:
      - name: main
        image: busybox
        readinessProbe: {exec: {command: ["false"]}, periodSeconds: 1}
"#;
    cluster
        .kubectl_ok(&["apply", "-f", "-"], Some(manifest))
        .await;
    let out = cluster
        .kubectl(
            &["rollout", "status", "deployment/stuck", "--timeout=60s"],
            None,
        )
        .await;
    assert!(
        !out.status.success(),
        "a rollout that never gets ready does not complete"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("exceeded its progress deadline"),
        "kubectl says why: {stderr}"
    );
    let reason = cluster
        .kubectl_ok(
            &[
                "get",
                "deployment",
                "stuck",
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"Progressing\")].reason}",
            ],
            None,
        )
        .await;
    assert_eq!(reason, "ProgressDeadlineExceeded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn statefulset_creates_in_order_and_scales_down_in_reverse() {
    let cluster = TestCluster::start("statefulset,pv-binder").await;
    let _nodes = SimNodes::start(cluster.client.clone(), &["sts-node"]).await;
    // Volumes for the claims (the scheduler places a pod only once its claims are bound).
    for i in 0..3 {
        let volume = serde_json::json!({
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": format!("sts-volume-{i}")},
            "spec": {
                "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                "hostPath": {"path": format!("/var/tmp/skiff-sim-unused-{i}")},
            },
        });
        cluster
            .kubectl_ok(&["apply", "-f", "-"], Some(&volume.to_string()))
            .await;
    }

    let pods_api: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(cluster.client.clone(), "default");
    let mut stream = watcher(pods_api, watcher::Config::default().labels("app=db"))
        .default_backoff()
        .boxed();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, String, bool)>();
    let watch_task = tokio::spawn(async move {
        let mut seen: BTreeMap<String, bool> = BTreeMap::new();
        while let Some(Ok(event)) = stream.next().await {
            if let watcher::Event::Apply(pod) | watcher::Event::InitApply(pod) = event {
                let pod = serde_json::to_value(pod).expect("json");
                let n = name(&pod);
                if !seen.contains_key(&n) {
                    let _ = tx.send(("created".into(), n.clone(), false));
                }
                let deleting = is_deleting(&pod);
                if deleting && seen.get(&n) != Some(&true) {
                    let _ = tx.send(("deleting".into(), n.clone(), true));
                }
                seen.insert(n, deleting);
            }
        }
    });

    let manifest = r#"
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: default}
spec:
  replicas: 3
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: main, image: busybox}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
"#;
    cluster
        .kubectl_ok(&["apply", "-f", "-"], Some(manifest))
        .await;
    cluster
        .kubectl_ok(
            &["rollout", "status", "statefulset/db", "--timeout=60s"],
            None,
        )
        .await;
    let pods = live_pods(&cluster, "app=db").await;
    let mut names: Vec<String> = pods.iter().map(name).collect();
    names.sort();
    assert_eq!(names, ["db-0", "db-1", "db-2"]);
    for pod in &pods {
        let n = name(pod);
        assert_eq!(pod["spec"]["hostname"], n.as_str());
        assert_eq!(pod["spec"]["subdomain"], "db");
        assert_eq!(
            pod["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"],
            n.as_str()
        );
        assert!(
            pod["metadata"]["labels"]["controller-revision-hash"]
                .as_str()
                .is_some_and(|h| h.starts_with("db-"))
        );
        let claim = format!("data-{n}");
        assert!(
            pod["spec"]["volumes"]
                .as_array()
                .expect("volumes")
                .iter()
                .any(|v| v["persistentVolumeClaim"]["claimName"] == claim.as_str()),
            "{n} mounts {claim}"
        );
    }

    cluster
        .kubectl_ok(&["scale", "statefulset", "db", "--replicas=1"], None)
        .await;
    until("one pod left", WAIT, || async {
        let pods = live_pods(&cluster, "app=db").await;
        let all = wait::list(&api(&cluster.client, "default", "v1", "Pod", "pods")).await;
        (pods.len() == 1 && all.len() == 1 && name(&pods[0]) == "db-0").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    watch_task.abort();
    let mut created = Vec::new();
    let mut deleted = Vec::new();
    while let Ok((what, n, _)) = rx.try_recv() {
        if what == "created" {
            created.push(n)
        } else {
            deleted.push(n)
        }
    }
    assert_eq!(
        created,
        ["db-0", "db-1", "db-2"],
        "pods are created in ordinal order"
    );
    assert_eq!(
        deleted,
        ["db-2", "db-1"],
        "pods are removed highest ordinal first"
    );

    // Claims outlive their pods.
    let claims = wait::list(&api(
        &cluster.client,
        "default",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
    ))
    .await;
    let mut claim_names: Vec<String> = claims.iter().map(name).collect();
    claim_names.sort();
    assert_eq!(claim_names, ["data-db-0", "data-db-1", "data-db-2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn daemonset_runs_a_pod_on_every_node_including_an_added_one() {
    let cluster = TestCluster::start("daemonset").await;
    let nodes = SimNodes::start(cluster.client.clone(), &["ds-node-a", "ds-node-b"]).await;
    let manifest = r#"
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: default}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: main, image: busybox}]
"#;
    cluster
        .kubectl_ok(&["apply", "-f", "-"], Some(manifest))
        .await;
    let on_nodes = |pods: &[Value]| {
        let mut nodes: Vec<String> = pods
            .iter()
            .map(|p| {
                p["spec"]["nodeName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
        nodes.sort();
        nodes
    };
    until("one ready pod per node", WAIT, || async {
        let pods = live_pods(&cluster, "app=agent").await;
        (on_nodes(&pods) == ["ds-node-a", "ds-node-b"] && pods.iter().all(is_ready)).then_some(())
    })
    .await;
    cluster
        .kubectl_ok(
            &["rollout", "status", "daemonset/agent", "--timeout=60s"],
            None,
        )
        .await;

    nodes.add_node("ds-node-c").await;
    until("a pod on the added node", WAIT, || async {
        let pods = live_pods(&cluster, "app=agent").await;
        (on_nodes(&pods) == ["ds-node-a", "ds-node-b", "ds-node-c"] && pods.iter().all(is_ready))
            .then_some(())
    })
    .await;
    until("status counting three nodes", WAIT, || async {
        let out = cluster
            .kubectl_ok(&["get", "ds", "agent", "-o", "jsonpath={.status.desiredNumberScheduled}/{.status.currentNumberScheduled}/{.status.numberReady}"], None)
            .await;
        (out == "3/3/3").then_some(())
    })
    .await;

    nodes.remove_node("ds-node-b").await;
    until("the removed node's pod gone", WAIT, || async {
        let pods = live_pods(&cluster, "app=agent").await;
        (on_nodes(&pods) == ["ds-node-a", "ds-node-c"]).then_some(())
    })
    .await;
}
