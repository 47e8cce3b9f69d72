//! Job and CronJob defaults, and the selector the server generates for Jobs.

use serde_json::{Value, json};

use super::{child, pod, root, set};

/// Label the generated Job selector uses.
pub const CONTROLLER_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";
/// Older spelling of [`CONTROLLER_UID_LABEL`], still set on pods for compatibility.
pub const LEGACY_CONTROLLER_UID_LABEL: &str = "controller-uid";
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";
pub const LEGACY_JOB_NAME_LABEL: &str = "job-name";

pub fn job(obj: &mut Value) {
    let Some(spec) = child(root(obj), "spec") else {
        return;
    };
    let unset = |k: &str| spec.get(k).is_none_or(Value::is_null);
    if unset("completions") && unset("parallelism") {
        set(spec, "completions", 1);
    }
    set(spec, "parallelism", 1);
    set(spec, "backoffLimit", 6);
    set(spec, "completionMode", "NonIndexed");
    set(spec, "suspend", false);
    if spec.get("podFailurePolicy").is_none_or(Value::is_null) {
        set(spec, "podReplacementPolicy", "TerminatingOrFailed");
    }
    pod::template(spec.get_mut("template"));
}

pub fn cron_job(obj: &mut Value) {
    let Some(spec) = child(root(obj), "spec") else {
        return;
    };
    set(spec, "concurrencyPolicy", "Allow");
    set(spec, "suspend", false);
    set(spec, "successfulJobsHistoryLimit", 3);
    set(spec, "failedJobsHistoryLimit", 1);
    if let Some(job_spec) = spec
        .get_mut("jobTemplate")
        .and_then(|t| t.get_mut("spec"))
        .and_then(Value::as_object_mut)
    {
        pod::template(job_spec.get_mut("template"));
    }
}

/// Generates a Job's selector and pod labels from its uid, unless `spec.manualSelector` is true.
///
/// Called by the server once the uid is assigned. Labels and selector entries the user already
/// set are kept, as upstream does.
pub fn job_selector(obj: &mut Value, uid: &str) {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let Some(spec) = child(root(obj), "spec") else {
        return;
    };
    if spec.get("manualSelector").and_then(Value::as_bool) == Some(true) {
        return;
    }
    if let Some(labels) = child(spec, "template")
        .and_then(|t| child(t, "metadata"))
        .and_then(|m| child(m, "labels"))
    {
        set(labels, CONTROLLER_UID_LABEL, uid);
        set(labels, LEGACY_CONTROLLER_UID_LABEL, uid);
        set(labels, JOB_NAME_LABEL, name.as_str());
        set(labels, LEGACY_JOB_NAME_LABEL, name.as_str());
    }
    if let Some(selector) = child(spec, "selector")
        && let Some(match_labels) = child(selector, "matchLabels")
    {
        set(match_labels, CONTROLLER_UID_LABEL, json!(uid));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> Value {
        json!({"spec": {"restartPolicy": "Never", "containers": [{"name": "pi", "image": "perl:5.34"}]}})
    }

    #[test]
    fn a_job_reads_back_like_from_kubernetes() {
        let mut j = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi"}, "spec": {"template": template()}});
        job(&mut j);
        job_selector(&mut j, "0b7a9c4e-1111-2222-3333-444455556666");
        insta::assert_json_snapshot!(j);
    }

    #[test]
    fn parallel_jobs_keep_completions_unset() {
        let mut j = json!({"spec": {"parallelism": 3}});
        job(&mut j);
        assert!(j["spec"].get("completions").is_none());
        assert_eq!(j["spec"]["parallelism"], 3);
        let mut j = json!({"spec": {"completions": 5}});
        job(&mut j);
        assert_eq!(j["spec"]["completions"], 5);
        assert_eq!(j["spec"]["parallelism"], 1);
    }

    #[test]
    fn pod_failure_policies_leave_replacement_policy_unset() {
        let mut j = json!({"spec": {"podFailurePolicy": {"rules": []}}});
        job(&mut j);
        assert!(j["spec"].get("podReplacementPolicy").is_none());
    }

    #[test]
    fn manual_selectors_are_left_alone() {
        let mut j = json!({"metadata": {"name": "j"}, "spec": {"manualSelector": true, "selector": {"matchLabels": {"a": "b"}}, "template": template()}});
        let before = j.clone();
        job_selector(&mut j, "uid-1");
        assert_eq!(j, before);
    }

    #[test]
    fn generated_selectors_keep_user_labels() {
        let mut j = json!({"metadata": {"name": "j"}, "spec": {"template": {"metadata": {"labels": {"job-name": "custom", "app": "x"}}}}});
        job_selector(&mut j, "uid-1");
        let labels = &j["spec"]["template"]["metadata"]["labels"];
        assert_eq!(labels["job-name"], "custom");
        assert_eq!(labels["batch.kubernetes.io/job-name"], "j");
        assert_eq!(labels["controller-uid"], "uid-1");
        assert_eq!(
            j["spec"]["selector"],
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "uid-1"}})
        );
    }

    #[test]
    fn a_cron_job_reads_back_like_from_kubernetes() {
        let mut c = json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "hello"},
            "spec": {"schedule": "*/1 * * * *", "jobTemplate": {"spec": {"template": template()}}}});
        cron_job(&mut c);
        insta::assert_json_snapshot!(c);
    }
}
