//! RFC 6902 JSON patch, delegated to the `json-patch` crate.

use serde_json::Value;

use super::Error;

/// Applies an RFC 6902 patch (a list of operations) to a copy of `target`.
///
/// The operations are all-or-nothing: a failed `test` or a bad path returns an error and the
/// caller's object is left as it was.
pub fn json_patch(target: &Value, patch: &Value) -> Result<Value, Error> {
    // Read from the borrowed value: no copy of the patch before it is parsed.
    let operations = <json_patch::Patch as serde::Deserialize>::deserialize(patch)
        .map_err(Error::InvalidJsonPatch)?;
    let mut patched = target.clone();
    json_patch::patch(&mut patched, &operations).map_err(Error::JsonPatch)?;
    Ok(patched)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn operations_are_applied_in_order() {
        let target = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"replicas": 1}});
        let patch = json!([
            {"op": "replace", "path": "/spec/replicas", "value": 3},
            {"op": "add", "path": "/metadata/labels/b", "value": "2"},
            {"op": "remove", "path": "/metadata/labels/a"},
        ]);
        let patched = json_patch(&target, &patch).unwrap();
        assert_eq!(
            patched,
            json!({"metadata": {"labels": {"b": "2"}}, "spec": {"replicas": 3}})
        );
    }

    #[test]
    fn a_failed_test_operation_is_an_error_and_changes_nothing() {
        let target = json!({"spec": {"replicas": 1}});
        let patch = json!([
            {"op": "replace", "path": "/spec/replicas", "value": 5},
            {"op": "test", "path": "/spec/replicas", "value": 1},
        ]);
        let err = json_patch(&target, &patch).unwrap_err();
        assert!(matches!(err, Error::JsonPatch(_)), "{err:?}");
        assert_eq!(target, json!({"spec": {"replicas": 1}}));
    }

    #[test]
    fn a_path_that_does_not_exist_is_an_error() {
        let target = json!({"spec": {}});
        let patch = json!([{"op": "remove", "path": "/spec/missing"}]);
        assert!(matches!(
            json_patch(&target, &patch),
            Err(Error::JsonPatch(_))
        ));
    }

    #[test]
    fn a_body_that_is_not_a_list_of_operations_is_rejected() {
        let target = json!({});
        let patch = json!({"op": "add"});
        assert!(matches!(
            json_patch(&target, &patch),
            Err(Error::InvalidJsonPatch(_))
        ));
    }
}
