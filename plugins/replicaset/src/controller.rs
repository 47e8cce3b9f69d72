//! The ReplicaSet controller: keeps `spec.replicas` pods matching the selector, adopts
//! orphans, releases children that stop matching, and reports status — step for step what
//! `builtin-controllers/replicaset.rhai` does, so the two can be compared and swapped.

use std::collections::BTreeMap;
use std::time::Duration;

use skiff_plugin_sdk::{Action, Context, Controller, Host, HostError, Value, json};

use crate::expectations;
use crate::labels;
use crate::pods::{self, DeletionRank, is_active, is_deleting, is_ready, until_available};

/// Most pods created by one reconcile; the rest come with the next one.
const MAX_CREATES: i64 = 500;

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A host callback failed.
    #[error(transparent)]
    Host(#[from] HostError),
    /// A selector or a label map is invalid.
    #[error(transparent)]
    Labels(#[from] labels::Error),
    /// A pod's time fields are invalid.
    #[error(transparent)]
    Pod(#[from] pods::Error),
    /// The expectations annotation is invalid.
    #[error(transparent)]
    Expectations(#[from] expectations::Error),
    /// The object lacks a field the controller needs.
    #[error("invalid object: {0}")]
    Invalid(&'static str),
}

/// The ReplicaSet controller.
#[derive(Default)]
pub struct ReplicaSetController;

fn str_of<'a>(value: &'a Value, what: &'static str) -> Result<&'a str, Error> {
    value.as_str().ok_or(Error::Invalid(what))
}

/// The controller ownerReference of an object (the script helper `owner_of`).
fn owner_of(obj: &Value) -> Option<&Value> {
    obj["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|r| r["controller"].as_bool() == Some(true))
}

/// `child` with a controller ownerReference to `owner` replacing any other controller
/// reference (the script helper `set_owner`).
fn set_owner(mut child: Value, owner: &Value) -> Result<Value, Error> {
    let reference = json!({
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": true,
        "blockOwnerDeletion": true,
    });
    if reference["uid"].as_str().is_none() || reference["name"].as_str().is_none() {
        return Err(Error::Invalid(
            "owner without metadata.name and metadata.uid",
        ));
    }
    let mut references: Vec<Value> = child["metadata"]["ownerReferences"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    references.retain(|r| r["controller"].as_bool() != Some(true) && r["uid"] != reference["uid"]);
    references.push(reference);
    child["metadata"]["ownerReferences"] = Value::Array(references);
    Ok(child)
}

fn without_owner(pod: &Value, uid: &str) -> Vec<Value> {
    pod["metadata"]["ownerReferences"]
        .as_array()
        .map(|refs| refs.iter().filter(|r| r["uid"] != uid).cloned().collect())
        .unwrap_or_default()
}

fn new_pod(rs: &Value) -> Result<Value, Error> {
    let template = &rs["spec"]["template"];
    let mut meta = json!({
        "generateName": format!("{}-", str_of(&rs["metadata"]["name"], "replica set without a name")?),
        "namespace": rs["metadata"]["namespace"],
        "labels": match &template["metadata"]["labels"] {
            Value::Null => json!({}),
            labels => labels.clone(),
        },
    });
    for field in ["annotations", "finalizers"] {
        if !template["metadata"][field].is_null() {
            meta[field] = template["metadata"][field].clone();
        }
    }
    set_owner(
        json!({ "apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template["spec"] }),
        rs,
    )
}

fn name_of(obj: &Value) -> &str {
    obj["metadata"]["name"].as_str().unwrap_or_default()
}

fn with_expectations(mut rs: Value, text: String) -> Value {
    if !rs["metadata"]["annotations"].is_object() {
        rs["metadata"]["annotations"] = json!({});
    }
    rs["metadata"]["annotations"][expectations::ANNOTATION] = Value::String(text);
    rs
}

impl ReplicaSetController {
    fn sync(&self, rs: &Value, ctx: &Context<'_>) -> Result<Action, Error> {
        if rs["deleted"] == true {
            return Ok(Action::Wait);
        }
        let host: &Host<'_> = &ctx.host;
        let now = pods::parse_time(&ctx.now)?;
        let mut rs = rs.clone();
        let ns = str_of(
            &rs["metadata"]["namespace"],
            "replica set without a namespace",
        )?
        .to_string();
        let uid = str_of(&rs["metadata"]["uid"], "replica set without a uid")?.to_string();
        let selector = labels::selector(&rs["spec"]["selector"])?;
        let deleting = is_deleting(&rs);

        // Claim: keep matching children, release the others, adopt matching orphans.
        let all = host.list("v1", "Pod", &ns, Value::Null)?;
        let mut mine: Vec<Value> = Vec::new();
        for pod in &all {
            let owner = owner_of(pod);
            let matches = selector.matches(&labels::labels(&pod["metadata"]["labels"])?);
            match owner {
                Some(owner) if owner["uid"] == uid.as_str() => {
                    if matches {
                        mine.push(pod.clone());
                    } else if !is_deleting(pod) {
                        let refs = without_owner(pod, &uid);
                        host.patch(
                            "v1",
                            "Pod",
                            &ns,
                            name_of(pod),
                            json!({ "metadata": { "ownerReferences": refs } }),
                        )?;
                    }
                }
                None if matches && !deleting && !is_deleting(pod) => {
                    let refs = match &pod["metadata"]["ownerReferences"] {
                        Value::Null => json!([]),
                        refs => refs.clone(),
                    };
                    let adopted =
                        set_owner(json!({ "metadata": { "ownerReferences": refs } }), &rs)?;
                    mine.push(host.patch("v1", "Pod", &ns, name_of(pod), adopted)?);
                }
                _ => {}
            }
        }
        let by_name: BTreeMap<&str, &Value> = all.iter().map(|p| (name_of(p), p)).collect();

        let mut active: Vec<Value> = mine.into_iter().filter(is_active).collect();
        let want = rs["spec"]["replicas"].as_i64().unwrap_or(1);
        let waiting = expectations::pending(&rs, &by_name, now)?;
        let mut created: Vec<String> = Vec::new();
        let mut deleted: Vec<String> = Vec::new();

        let have = active.len() as i64;
        if !deleting && !waiting && have != want {
            let stamp = now as i64;
            if have < want {
                // Marks creates in flight first: the update fails if this copy of the set is
                // stale, so a reconcile on an old cache never creates twice.
                rs = host.update(&with_expectations(rs, expectations::creating(stamp)))?;
                for _ in 0..(want - have).min(MAX_CREATES) {
                    let pod = host.create(&new_pod(&rs)?)?;
                    created.push(name_of(&pod).to_string());
                }
            } else {
                let mut ranked = active
                    .iter()
                    .map(|p| Ok((DeletionRank::of(p, now)?, p)))
                    .collect::<Result<Vec<_>, pods::Error>>()?;
                ranked.sort_by(|a, b| a.0.compare(&b.0));
                deleted = ranked
                    .iter()
                    .take((have - want) as usize)
                    .map(|(_, p)| name_of(p).to_string())
                    .collect();
                let text = expectations::format(stamp, &[], &deleted);
                rs = host.update(&with_expectations(rs, text))?;
                for name in &deleted {
                    host.delete("v1", "Pod", &ns, name)?;
                }
            }
            if !created.is_empty() {
                let text = expectations::format(stamp, &created, &[]);
                let name = name_of(&rs).to_string();
                rs = host.patch(
                    "apps/v1",
                    "ReplicaSet",
                    &ns,
                    &name,
                    json!({ "metadata": { "annotations": { expectations::ANNOTATION: text } } }),
                )?;
            }
        }
        // Counting on a cache that has not seen the last writes would report pods that are gone.
        if waiting {
            return Ok(Action::RequeueAfter(Duration::from_millis(500)));
        }
        active.retain(|p| !deleted.iter().any(|d| d == name_of(p)));

        // Status from what the cache shows now; the writes above bring another reconcile.
        let min_ready = rs["spec"]["minReadySeconds"].as_i64().unwrap_or(0);
        let template_labels =
            labels::selector(match &rs["spec"]["template"]["metadata"]["labels"] {
                Value::Null => &Value::Null,
                labels => labels,
            })?;
        let mut ready = 0;
        let mut available = 0;
        let mut fully_labeled = 0;
        let mut next_check = -1.0f64;
        for pod in &active {
            if template_labels.matches(&labels::labels(&pod["metadata"]["labels"])?) {
                fully_labeled += 1;
            }
            if is_ready(pod) {
                ready += 1;
            }
            let left = until_available(pod, min_ready, now)?;
            if left == 0.0 {
                available += 1;
            } else if left > 0.0 && (next_check < 0.0 || left < next_check) {
                next_check = left;
            }
        }
        let old = match &rs["status"] {
            Value::Object(_) => rs["status"].clone(),
            _ => json!({}),
        };
        let mut status = old.clone();
        status["replicas"] = json!(active.len() + created.len());
        status["fullyLabeledReplicas"] = json!(fully_labeled);
        status["readyReplicas"] = json!(ready);
        status["availableReplicas"] = json!(available);
        status["observedGeneration"] = match &rs["metadata"]["generation"] {
            Value::Null => json!(1),
            generation => generation.clone(),
        };
        if status != old {
            rs["status"] = status;
            host.update_status(&rs)?;
        }
        if next_check > 0.0 {
            return Ok(Action::RequeueAfter(Duration::from_secs_f64(
                next_check + 0.1,
            )));
        }
        Ok(Action::Wait)
    }

    /// Orphans are not mapped through ownerReferences: find the sets that may adopt them.
    fn map_orphan(&self, pod: &Value, host: &Host<'_>) -> Result<Vec<(String, String)>, Error> {
        if owner_of(pod).is_some() {
            return Ok(Vec::new());
        }
        let ns = str_of(&pod["metadata"]["namespace"], "pod without a namespace")?;
        let pod_labels = labels::labels(&pod["metadata"]["labels"])?;
        let mut keys = Vec::new();
        for rs in host.list("apps/v1", "ReplicaSet", ns, Value::Null)? {
            let selector = &rs["spec"]["selector"];
            if !selector.is_null() && labels::selector(selector)?.matches(&pod_labels) {
                keys.push((ns.to_string(), name_of(&rs).to_string()));
            }
        }
        Ok(keys)
    }
}

impl Controller for ReplicaSetController {
    fn config(&self) -> Value {
        json!({
            "name": "replicaset",
            "primary": { "apiVersion": "apps/v1", "kind": "ReplicaSet" },
            "owns": [ { "apiVersion": "v1", "kind": "Pod" } ],
            "watches": [ { "apiVersion": "v1", "kind": "Pod", "map": "map_orphan" } ],
            "resync_seconds": 300,
        })
    }

    fn reconcile(&self, obj: &Value, ctx: &Context<'_>) -> Result<Action, String> {
        self.sync(obj, ctx).map_err(|e| error_text(&e))
    }

    fn map(
        &self,
        function: &str,
        obj: &Value,
        host: &Host<'_>,
    ) -> Result<Vec<(String, String)>, String> {
        match function {
            "map_orphan" => self.map_orphan(obj, host).map_err(|e| error_text(&e)),
            other => Err(format!("no mapping function {other}")),
        }
    }
}

/// The error with its causes, as one line (the host records only the text).
fn error_text(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rs() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web", "namespace": "default", "uid": "u-1"},
            "spec": {"template": {
                "metadata": {"labels": {"app": "web"}, "annotations": {"a": "b"}},
                "spec": {"containers": [{"name": "main", "image": "busybox"}]},
            }},
        })
    }

    #[test]
    fn new_pods_carry_the_template_and_a_controller_reference() {
        let pod = new_pod(&rs()).unwrap();
        assert_eq!(pod["metadata"]["generateName"], "web-");
        assert_eq!(pod["metadata"]["labels"], json!({"app": "web"}));
        assert_eq!(pod["metadata"]["annotations"], json!({"a": "b"}));
        assert!(pod["metadata"]["finalizers"].is_null());
        assert_eq!(pod["spec"]["containers"][0]["image"], "busybox");
        let owner = owner_of(&pod).unwrap();
        assert_eq!(owner["uid"], "u-1");
        assert_eq!(owner["kind"], "ReplicaSet");
        assert_eq!(owner["blockOwnerDeletion"], true);
    }

    #[test]
    fn set_owner_replaces_another_controller_and_keeps_plain_references() {
        let child = json!({"metadata": {"ownerReferences": [
            {"uid": "other", "controller": true},
            {"uid": "plain"},
        ]}});
        let owned = set_owner(child, &rs()).unwrap();
        let refs = owned["metadata"]["ownerReferences"].as_array().unwrap();
        assert_eq!(refs.len(), 2);
        assert_eq!(refs[0]["uid"], "plain");
        assert_eq!(refs[1]["uid"], "u-1");
        assert!(set_owner(json!({}), &json!({"metadata": {}})).is_err());
    }

    #[test]
    fn releasing_drops_only_this_owner() {
        let pod = json!({"metadata": {"ownerReferences": [{"uid": "u-1"}, {"uid": "u-2"}]}});
        assert_eq!(without_owner(&pod, "u-1"), vec![json!({"uid": "u-2"})]);
    }
}
