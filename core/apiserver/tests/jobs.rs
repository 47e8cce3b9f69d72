//! Jobs get their selector and pod labels from their own uid at creation, as upstream.

mod support;

use serde_json::json;
use support::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_job_selects_its_pods_by_its_uid() {
    let c = Cluster::start().await;
    let job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once"},
        "spec": {"template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox"}]}}}});
    let (code, created) = c
        .raw(
            "POST",
            "/apis/batch/v1/namespaces/default/jobs",
            "application/json",
            serde_json::to_vec(&job).unwrap(),
        )
        .await;
    assert_eq!(code, 201, "{created}");
    let uid = created["metadata"]["uid"].as_str().unwrap();
    assert_eq!(
        created["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"],
        uid
    );
    let labels = &created["spec"]["template"]["metadata"]["labels"];
    assert_eq!(labels["batch.kubernetes.io/job-name"], "once");
    assert_eq!(labels["controller-uid"], uid);
}
