//! The annotation `skiff.io/replicaset-expectations` (`<epoch>|<created>|<deleted>`): the pods
//! the controller just created or deleted, so a reconcile running before the cache has seen
//! those writes does not act twice. The format is shared with the Rhai controller, so either
//! can take over a set the other managed.

use std::collections::BTreeMap;

use skiff_plugin_sdk::Value;

use crate::pods::is_deleting;

/// The annotation key.
pub const ANNOTATION: &str = "skiff.io/replicaset-expectations";

/// Why the annotation could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The epoch field is not an integer.
    #[error("invalid expectations stamp {0:?}")]
    Stamp(String, #[source] std::num::ParseIntError),
}

/// The annotation's value: `<stamp>|<created names>|<deleted names>` (names comma-separated;
/// `*` as the created names marks creates in flight).
pub fn format(stamp: i64, created: &[String], deleted: &[String]) -> String {
    format!("{stamp}|{}|{}", created.join(","), deleted.join(","))
}

/// The value marking creates in flight before any name is known.
pub fn creating(stamp: i64) -> String {
    format!("{stamp}|*|")
}

/// Whether the cache (`pods` by name) has not yet seen every write the annotation of `rs`
/// records. Expectations older than 30 s (10 s for creates in flight) are given up.
pub fn pending(rs: &Value, pods: &BTreeMap<&str, &Value>, now: f64) -> Result<bool, Error> {
    let Some(text) = rs["metadata"]["annotations"][ANNOTATION].as_str() else {
        return Ok(false);
    };
    let parts: Vec<&str> = text.split('|').collect();
    if parts.len() != 3 {
        return Ok(false);
    }
    let stamp: i64 = parts[0]
        .parse()
        .map_err(|e| Error::Stamp(parts[0].to_string(), e))?;
    let age = now - stamp as f64;
    if age > 30.0 {
        return Ok(false);
    }
    if parts[1] == "*" {
        return Ok(age < 10.0);
    }
    let unseen_create = parts[1]
        .split(',')
        .any(|name| !name.is_empty() && !pods.contains_key(name));
    let unseen_delete = parts[2]
        .split(',')
        .any(|name| !name.is_empty() && pods.get(name).is_some_and(|pod| !is_deleting(pod)));
    Ok(unseen_create || unseen_delete)
}

#[cfg(test)]
mod tests {
    use skiff_plugin_sdk::json;

    use super::*;

    fn rs(annotation: &str) -> Value {
        json!({"metadata": {"annotations": {ANNOTATION: annotation}}})
    }

    #[test]
    fn creates_are_pending_until_the_cache_shows_them() {
        let pod = json!({"metadata": {"name": "a"}});
        let mut pods = BTreeMap::new();
        let set = rs(&format(100, &["a".into(), "b".into()], &[]));
        assert!(pending(&set, &pods, 101.0).unwrap());
        pods.insert("a", &pod);
        pods.insert("b", &pod);
        assert!(!pending(&set, &pods, 101.0).unwrap());
    }

    #[test]
    fn deletes_are_pending_until_the_pod_is_deleting_or_gone() {
        let live = json!({"metadata": {"name": "a"}});
        let going = json!({"metadata": {"name": "a", "deletionTimestamp": "2024-01-01T00:00:00Z"}});
        let set = rs(&format(100, &[], &["a".into()]));
        assert!(pending(&set, &BTreeMap::from([("a", &live)]), 101.0).unwrap());
        assert!(!pending(&set, &BTreeMap::from([("a", &going)]), 101.0).unwrap());
        assert!(!pending(&set, &BTreeMap::new(), 101.0).unwrap());
    }

    #[test]
    fn old_expectations_are_given_up() {
        let set = rs(&creating(100));
        assert!(pending(&set, &BTreeMap::new(), 105.0).unwrap());
        assert!(!pending(&set, &BTreeMap::new(), 111.0).unwrap());
        let set = rs(&format(100, &["a".into()], &[]));
        assert!(!pending(&set, &BTreeMap::new(), 131.0).unwrap());
        assert!(pending(&rs("x|*|"), &BTreeMap::new(), 1.0).is_err());
    }
}
