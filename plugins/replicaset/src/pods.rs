//! What the ReplicaSet controller reads from a pod: whether it is active, ready and
//! available, and upstream's order for choosing which pods go first on a scale-down.

use std::cmp::Ordering;

use chrono::DateTime;
use skiff_plugin_sdk::Value;

/// Why a pod's fields could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A time does not parse as RFC 3339.
    #[error("invalid time {text:?}")]
    Time {
        /// The input.
        text: String,
        /// The parser's reason.
        #[source]
        source: chrono::ParseError,
    },
}

/// An RFC 3339 time as epoch seconds (the script helper `parse_time`).
pub fn parse_time(text: &str) -> Result<f64, Error> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp() as f64 + f64::from(t.timestamp_subsec_nanos()) / 1e9)
        .map_err(|source| Error::Time {
            text: text.to_string(),
            source,
        })
}

/// Whether the object carries a deletion timestamp.
pub fn is_deleting(obj: &Value) -> bool {
    !obj["metadata"]["deletionTimestamp"].is_null()
}

/// Not being deleted and not finished.
pub fn is_active(pod: &Value) -> bool {
    let phase = pod["status"]["phase"].as_str();
    !is_deleting(pod) && phase != Some("Succeeded") && phase != Some("Failed")
}

fn ready_condition(pod: &Value) -> Option<&Value> {
    pod["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")
}

/// Whether the pod's Ready condition is True.
pub fn is_ready(pod: &Value) -> bool {
    ready_condition(pod).is_some_and(|c| c["status"] == "True")
}

/// Seconds until a ready pod counts as available: 0 when it already does, -1 when it is not
/// ready.
pub fn until_available(pod: &Value, min_ready: i64, now: f64) -> Result<f64, Error> {
    if !is_ready(pod) {
        return Ok(-1.0);
    }
    if min_ready <= 0 {
        return Ok(0.0);
    }
    let Some(since) = ready_condition(pod).and_then(|c| c["lastTransitionTime"].as_str()) else {
        return Ok(0.0);
    };
    let left = parse_time(since)? + min_ready as f64 - now;
    Ok(left.max(0.0))
}

/// Upstream's deletion order as a sortable rank: unscheduled, pending, not ready, ready for
/// less time, more restarts and newer pods come first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeletionRank([f64; 6]);

impl DeletionRank {
    /// The rank of `pod` at `now` (epoch seconds).
    pub fn of(pod: &Value, now: f64) -> Result<Self, Error> {
        let scheduled = if pod["spec"]["nodeName"].as_str().unwrap_or("").is_empty() {
            0.0
        } else {
            1.0
        };
        let phase_rank = match pod["status"]["phase"].as_str().unwrap_or("Pending") {
            "Pending" => 0.0,
            "Unknown" => 1.0,
            _ => 2.0,
        };
        let ready = is_ready(pod);
        let mut ready_for = 0.0;
        if ready
            && let Some(since) = ready_condition(pod).and_then(|c| c["lastTransitionTime"].as_str())
        {
            ready_for = now - parse_time(since)?;
        }
        let restarts: i64 = pod["status"]["containerStatuses"]
            .as_array()
            .map(|statuses| {
                statuses
                    .iter()
                    .map(|s| s["restartCount"].as_i64().unwrap_or(0))
                    .sum()
            })
            .unwrap_or(0);
        let created = match pod["metadata"]["creationTimestamp"].as_str() {
            Some(text) => parse_time(text)?,
            // The script formats `now` to whole seconds and parses it back.
            None => now.floor(),
        };
        Ok(DeletionRank([
            scheduled,
            phase_rank,
            if ready { 1.0 } else { 0.0 },
            ready_for,
            -(restarts as f64),
            -created,
        ]))
    }

    /// Lexicographic order; lower ranks are deleted first.
    pub fn compare(&self, other: &Self) -> Ordering {
        for (a, b) in self.0.iter().zip(other.0.iter()) {
            if a < b {
                return Ordering::Less;
            }
            if a > b {
                return Ordering::Greater;
            }
        }
        Ordering::Equal
    }
}

#[cfg(test)]
mod tests {
    use skiff_plugin_sdk::json;

    use super::*;

    fn pod(node: &str, phase: &str, ready_since: Option<&str>, created: &str) -> Value {
        let mut pod = json!({
            "metadata": {"name": "p", "creationTimestamp": created},
            "spec": {"nodeName": node},
            "status": {"phase": phase},
        });
        if let Some(since) = ready_since {
            pod["status"]["conditions"] =
                json!([{"type": "Ready", "status": "True", "lastTransitionTime": since}]);
        }
        pod
    }

    #[test]
    fn unscheduled_pending_and_newer_pods_are_deleted_first() {
        let now = parse_time("2024-05-01T10:00:00Z").unwrap();
        let rank = |p: &Value| DeletionRank::of(p, now).unwrap();
        let unscheduled = pod("", "Pending", None, "2024-05-01T09:00:00Z");
        let pending = pod("n", "Pending", None, "2024-05-01T09:00:00Z");
        let ready_new = pod(
            "n",
            "Running",
            Some("2024-05-01T09:59:00Z"),
            "2024-05-01T09:00:00Z",
        );
        let ready_old = pod(
            "n",
            "Running",
            Some("2024-05-01T09:00:00Z"),
            "2024-05-01T09:00:00Z",
        );
        let order = [&unscheduled, &pending, &ready_new, &ready_old];
        for pair in order.windows(2) {
            assert_eq!(rank(pair[0]).compare(&rank(pair[1])), Ordering::Less);
        }
        let older = pod("", "Pending", None, "2024-05-01T08:00:00Z");
        assert_eq!(rank(&unscheduled).compare(&rank(&older)), Ordering::Less);
    }

    #[test]
    fn availability_waits_for_min_ready_seconds() {
        let now = parse_time("2024-05-01T10:00:00Z").unwrap();
        let ready = pod(
            "n",
            "Running",
            Some("2024-05-01T09:59:55Z"),
            "2024-05-01T09:00:00Z",
        );
        assert_eq!(until_available(&ready, 0, now).unwrap(), 0.0);
        assert_eq!(until_available(&ready, 10, now).unwrap(), 5.0);
        assert_eq!(until_available(&ready, 2, now).unwrap(), 0.0);
        let not_ready = pod("n", "Running", None, "2024-05-01T09:00:00Z");
        assert_eq!(until_available(&not_ready, 10, now).unwrap(), -1.0);
    }

    #[test]
    fn finished_and_deleting_pods_are_not_active() {
        assert!(is_active(&pod(
            "n",
            "Running",
            None,
            "2024-05-01T09:00:00Z"
        )));
        assert!(!is_active(&pod(
            "n",
            "Succeeded",
            None,
            "2024-05-01T09:00:00Z"
        )));
        let mut deleting = pod("n", "Running", None, "2024-05-01T09:00:00Z");
        deleting["metadata"]["deletionTimestamp"] = json!("2024-05-01T09:30:00Z");
        assert!(!is_active(&deleting));
    }
}
