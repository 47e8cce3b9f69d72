//! Jobs and CronJobs driven by the built-in scripts on simulated nodes.

use std::time::Duration;

use serde_json::json;
use skiff_controller_tests::cluster::TestCluster;
use skiff_controller_tests::sim_node::SimNodes;
use skiff_controller_tests::wait::{self, api, condition, name, until};

const WAIT: Duration = Duration::from_secs(90);

fn job(name: &str, annotations: &str, backoff_limit: u32) -> String {
    format!(
        r#"
apiVersion: batch/v1
kind: Job
metadata: {{name: {name}, namespace: default}}
spec:
  backoffLimit: {backoff_limit}
  template:
    metadata:
      annotations: {{{annotations}}}
    spec:
      restartPolicy: Never
      containers: [{{name: main, image: busybox}}]
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn job_retries_a_failed_pod_and_completes() {
    let cluster = TestCluster::start("job").await;
    let _nodes = SimNodes::start(cluster.client.clone(), &["job-node"]).await;
    cluster
        .kubectl_ok(
            &["apply", "-f", "-"],
            Some(&job("retry", r#"sim.skiff.dev/fail-times: "1""#, 3)),
        )
        .await;
    let waited = cluster
        .kubectl(
            &[
                "wait",
                "--for=condition=complete",
                "job/retry",
                "--timeout=90s",
            ],
            None,
        )
        .await;
    if !waited.status.success() {
        let dump = cluster
            .kubectl_ok(&["get", "jobs,pods", "-o", "yaml"], None)
            .await;
        panic!("the job did not complete:\n{dump}");
    }
    let jobs = api(&cluster.client, "default", "batch/v1", "Job", "jobs");
    let done = wait::get(&jobs, "retry").await.expect("job");
    assert_eq!(done["status"]["failed"], 1, "{}", done["status"]);
    assert_eq!(done["status"]["succeeded"], 1);
    assert!(done["status"]["completionTime"].is_string());
    assert!(done["status"]["startTime"].is_string());
    assert_eq!(
        condition(&done, "Complete").expect("Complete")["status"],
        "True"
    );
    // Counted pods lose their tracking finalizer.
    let pods = wait::list(&api(&cluster.client, "default", "v1", "Pod", "pods")).await;
    assert_eq!(pods.len(), 2);
    for pod in &pods {
        assert!(name(pod).starts_with("retry-"));
        let finalizers = pod["metadata"]["finalizers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(!finalizers.contains(&json!("batch.kubernetes.io/job-tracking")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn job_fails_when_the_backoff_limit_is_exceeded() {
    let cluster = TestCluster::start("job").await;
    let _nodes = SimNodes::start(cluster.client.clone(), &["job-fail-node"]).await;
    cluster
        .kubectl_ok(
            &["apply", "-f", "-"],
            Some(&job("doomed", r#"sim.skiff.dev/exit-code: "1""#, 1)),
        )
        .await;
    cluster
        .kubectl_ok(
            &[
                "wait",
                "--for=condition=failed",
                "job/doomed",
                "--timeout=90s",
            ],
            None,
        )
        .await;
    let jobs = api(&cluster.client, "default", "batch/v1", "Job", "jobs");
    let failed = wait::get(&jobs, "doomed").await.expect("job");
    assert_eq!(
        condition(&failed, "Failed").expect("Failed")["reason"],
        "BackoffLimitExceeded"
    );
    assert_eq!(
        failed["status"]["failed"], 2,
        "one try plus one retry: {}",
        failed["status"]
    );
    assert_eq!(failed["status"]["active"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cronjob_creates_the_job_of_a_missed_schedule_time() {
    let cluster = TestCluster::start("cronjob").await;
    let manifest = r#"
apiVersion: batch/v1
kind: CronJob
metadata: {name: tick, namespace: default}
spec:
  schedule: "*/1 * * * *"
  concurrencyPolicy: Forbid
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: main, image: busybox}]
"#;
    cluster
        .kubectl_ok(&["apply", "-f", "-"], Some(manifest))
        .await;
    // Pretend the last run was three minutes ago: the run of the last minute is due now.
    let three_minutes_ago = chrono::Utc::now() - chrono::Duration::minutes(3);
    let patch = json!({"status": {"lastScheduleTime": three_minutes_ago.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)}});
    cluster
        .kubectl_ok(
            &[
                "patch",
                "cronjob",
                "tick",
                "--subresource=status",
                "--type=merge",
                "-p",
                &patch.to_string(),
            ],
            None,
        )
        .await;
    let jobs = api(&cluster.client, "default", "batch/v1", "Job", "jobs");
    let created = until("a job of the cron job", WAIT, || async {
        let list = wait::list(&jobs).await;
        (!list.is_empty()).then_some(list)
    })
    .await;
    assert_eq!(created.len(), 1, "Forbid runs one job at a time");
    let job = &created[0];
    let scheduled =
        job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"]
            .as_str()
            .expect("scheduled time annotation");
    let scheduled = chrono::DateTime::parse_from_rfc3339(scheduled)
        .expect("time")
        .timestamp();
    assert_eq!(scheduled % 60, 0, "a minute of the schedule");
    assert!(
        chrono::Utc::now().timestamp() - scheduled < 120,
        "the most recent missed time"
    );
    assert_eq!(name(job), format!("tick-{}", scheduled / 60));
    assert_eq!(job["metadata"]["ownerReferences"][0]["kind"], "CronJob");

    until(
        "lastScheduleTime and the active job in status",
        WAIT,
        || async {
            let cj = wait::get(
                &api(
                    &cluster.client,
                    "default",
                    "batch/v1",
                    "CronJob",
                    "cronjobs",
                ),
                "tick",
            )
            .await?;
            let last = cj["status"]["lastScheduleTime"].as_str()?;
            let active = cj["status"]["active"].as_array()?;
            let last = chrono::DateTime::parse_from_rfc3339(last).ok()?.timestamp();
            (last == scheduled && active.len() == 1 && active[0]["name"] == name(job).as_str())
                .then_some(())
        },
    )
    .await;
}
