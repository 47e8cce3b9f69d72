//! Job and CronJob checks, including the cron schedule syntax.

use std::str::FromStr;

use serde_json::Value;

use super::field::{self, Path};
use super::pod::{check_enum, validate_template};
use super::workloads::validate_selector;
use super::{check_min, str_of};
use crate::status::StatusCause;

/// Upstream caps CronJob names so that generated Job names stay within 63 characters.
pub const CRON_JOB_NAME_MAX: usize = 52;

const JOB_RESTART_POLICIES: [&str; 2] = ["OnFailure", "Never"];

/// Validates a JobSpec at `path` (`spec`, or `spec.jobTemplate.spec` inside a CronJob).
pub fn validate_job_spec(spec: &Value, path: &Path) -> Vec<StatusCause> {
    let mut causes = Vec::new();
    for key in [
        "parallelism",
        "completions",
        "backoffLimit",
        "ttlSecondsAfterFinished",
    ] {
        check_min(spec, key, path, 0, &mut causes);
    }
    check_min(spec, "activeDeadlineSeconds", path, 1, &mut causes);
    if let Some(mode) = spec.get("completionMode").filter(|v| !v.is_null()) {
        check_enum(
            mode,
            &path.child("completionMode"),
            &["Indexed", "NonIndexed"],
            &mut causes,
        );
        if mode == "Indexed" && spec.get("completions").is_none_or(Value::is_null) {
            causes.push(field::required(
                &path.child("completions"),
                "when completion mode is Indexed",
            ));
        }
    }
    let manual = spec.get("manualSelector").and_then(Value::as_bool) == Some(true);
    if manual || spec.get("selector").is_some_and(|s| !s.is_null()) {
        causes.extend(validate_selector(spec, path, "Job"));
    }
    let template = spec.get("template");
    let tpath = path.child("template");
    causes.extend(validate_template(template, &tpath));
    let policy_path = tpath.child("spec").child("restartPolicy");
    match template.and_then(|t| t.pointer("/spec/restartPolicy")) {
        None | Some(Value::Null) => causes.push(field::required(
            &policy_path,
            "valid values: \"OnFailure\", \"Never\"",
        )),
        Some(p)
            if !p
                .as_str()
                .is_some_and(|p| JOB_RESTART_POLICIES.contains(&p)) =>
        {
            causes.push(field::not_supported(&policy_path, p, &JOB_RESTART_POLICIES))
        }
        Some(_) => {}
    }
    causes
}

pub fn validate_job(obj: &Value) -> Vec<StatusCause> {
    validate_job_spec(obj.get("spec").unwrap_or(&Value::Null), &Path::new("spec"))
}

pub fn validate_cron_job(obj: &Value) -> Vec<StatusCause> {
    let mut causes = Vec::new();
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if name.len() > CRON_JOB_NAME_MAX {
        causes.push(field::invalid_str(
            &Path::new("metadata").child("name"),
            name,
            &format!("must be no more than {CRON_JOB_NAME_MAX} characters"),
        ));
    }
    let path = Path::new("spec");
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    let schedule = str_of(spec, "schedule");
    if schedule.is_empty() {
        causes.push(field::required(&path.child("schedule"), ""));
    } else if let Err(e) = parse_schedule(schedule) {
        causes.push(field::invalid_str(&path.child("schedule"), schedule, &e));
    }
    if let Some(tz) = spec.get("timeZone").and_then(Value::as_str)
        && (tz.is_empty() || tz.contains(' ') || tz.starts_with('/') || tz.contains(".."))
    {
        causes.push(field::invalid_str(
            &path.child("timeZone"),
            tz,
            "unknown time zone",
        ));
    }
    if let Some(p) = spec.get("concurrencyPolicy").filter(|v| !v.is_null()) {
        check_enum(
            p,
            &path.child("concurrencyPolicy"),
            &["Allow", "Forbid", "Replace"],
            &mut causes,
        );
    }
    for key in [
        "startingDeadlineSeconds",
        "successfulJobsHistoryLimit",
        "failedJobsHistoryLimit",
    ] {
        check_min(spec, key, &path, 0, &mut causes);
    }
    match spec.pointer("/jobTemplate/spec") {
        Some(job) if job.is_object() => causes.extend(validate_job_spec(
            job,
            &path.child("jobTemplate").child("spec"),
        )),
        _ => causes.push(field::required(&path.child("jobTemplate"), "")),
    }
    causes
}

/// Checks a schedule in the standard five-field cron syntax or a `@descriptor`.
///
/// The fields themselves are checked by the `croner` crate; the descriptor forms and the field
/// count are checked here because upstream accepts exactly five fields (no seconds).
pub fn parse_schedule(schedule: &str) -> Result<(), String> {
    let s = schedule.trim();
    if s.starts_with("TZ=") || s.starts_with("CRON_TZ=") {
        return Err("cannot use TZ or CRON_TZ in schedule, use timeZone field instead".into());
    }
    if let Some(descriptor) = s.strip_prefix('@') {
        return match descriptor {
            "yearly" | "annually" | "monthly" | "weekly" | "daily" | "midnight" | "hourly" => {
                Ok(())
            }
            d if d.starts_with("every ") => parse_every(d["every ".len()..].trim()),
            _ => Err(format!("unrecognized descriptor: {s}")),
        };
    }
    let fields: Vec<&str> = s.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "expected exactly 5 fields, found {}: [{}]",
            fields.len(),
            fields.join(" ")
        ));
    }
    croner::Cron::from_str(s)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// `@every 1h30m`: Go duration syntax, positive.
fn parse_every(d: &str) -> Result<(), String> {
    let bad = || format!("failed to parse duration @every {d}");
    let mut rest = d;
    let mut total = 0f64;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let n_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let n: f64 = rest[..n_end].parse().map_err(|_| bad())?;
        rest = &rest[n_end..];
        let u_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..u_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += n * unit;
        rest = &rest[u_end..];
    }
    if total <= 0.0 {
        return Err(bad());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(causes: Vec<StatusCause>) -> Vec<String> {
        causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    fn job_spec(policy: Option<&str>) -> Value {
        let mut spec =
            json!({"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}});
        if let Some(p) = policy {
            spec["template"]["spec"]["restartPolicy"] = json!(p);
        }
        spec
    }

    #[test]
    fn jobs_must_restart_on_failure_or_never() {
        assert!(validate_job(&json!({"spec": job_spec(Some("Never"))})).is_empty());
        assert!(validate_job(&json!({"spec": job_spec(Some("OnFailure"))})).is_empty());
        assert_eq!(
            messages(validate_job(&json!({"spec": job_spec(Some("Always"))}))),
            vec![
                "spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\""
            ]
        );
        assert_eq!(
            messages(validate_job(&json!({"spec": job_spec(None)}))),
            vec![
                "spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\""
            ]
        );
    }

    #[test]
    fn job_counts_may_not_be_negative() {
        let mut spec = job_spec(Some("Never"));
        spec["backoffLimit"] = json!(-1);
        spec["completionMode"] = json!("Sometimes");
        assert_eq!(
            messages(validate_job(&json!({"spec": spec}))),
            vec![
                "spec.backoffLimit: Invalid value: -1: must be greater than or equal to 0",
                "spec.completionMode: Unsupported value: \"Sometimes\": supported values: \"Indexed\", \"NonIndexed\"",
            ]
        );
    }

    #[test]
    fn manual_job_selectors_must_match_the_template() {
        let mut spec = job_spec(Some("Never"));
        spec["manualSelector"] = json!(true);
        assert_eq!(
            messages(validate_job(&json!({"spec": spec.clone()}))),
            vec!["spec.selector: Required value"]
        );
        spec["selector"] = json!({"matchLabels": {"a": "b"}});
        spec["template"]["metadata"] = json!({"labels": {"a": "b"}});
        assert!(validate_job(&json!({"spec": spec})).is_empty());
    }

    #[test]
    fn schedules_use_five_fields_or_descriptors() {
        for ok in [
            "*/5 * * * *",
            "0 0 * * FRI",
            "@hourly",
            "@every 1h30m",
            "0 3 1-15 * 1,3",
        ] {
            assert!(parse_schedule(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            parse_schedule("* * * *").unwrap_err(),
            "expected exactly 5 fields, found 4: [* * * *]"
        );
        assert!(parse_schedule("0 0 * * * *").is_err());
        assert!(parse_schedule("61 * * * *").is_err());
        assert!(parse_schedule("@sometimes").is_err());
        assert!(parse_schedule("@every soon").is_err());
        assert_eq!(
            parse_schedule("TZ=UTC 0 * * * *").unwrap_err(),
            "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"
        );
    }

    #[test]
    fn cron_jobs_check_schedule_policy_template_and_name_length() {
        let good = json!({"metadata": {"name": "nightly"}, "spec": {
            "schedule": "0 1 * * *",
            "jobTemplate": {"spec": job_spec(Some("OnFailure"))}
        }});
        assert!(validate_cron_job(&good).is_empty());
        let bad = json!({"metadata": {"name": "n".repeat(53)}, "spec": {
            "schedule": "bogus",
            "concurrencyPolicy": "Sometimes",
            "jobTemplate": {"spec": job_spec(Some("Always"))}
        }});
        let m = messages(validate_cron_job(&bad));
        assert_eq!(m.len(), 4, "{m:?}");
        assert!(m[0].ends_with("must be no more than 52 characters"));
        assert_eq!(
            m[1],
            "spec.schedule: Invalid value: \"bogus\": expected exactly 5 fields, found 1: [bogus]"
        );
        assert!(m[2].starts_with("spec.concurrencyPolicy: Unsupported value"));
        assert!(m[3].starts_with(
            "spec.jobTemplate.spec.template.spec.restartPolicy: Unsupported value: \"Always\""
        ));
    }
}
