//! RFC 7386 JSON merge patch, delegated to the `json-patch` crate.

use serde_json::Value;

/// Applies an RFC 7386 merge patch to a copy of `target`: objects merge recursively, `null`
/// deletes a field, every other value (lists included) replaces what was there.
pub fn merge_patch(target: &Value, patch: &Value) -> Value {
    let mut patched = target.clone();
    json_patch::merge(&mut patched, patch);
    patched
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn objects_merge_and_null_deletes() {
        let target = json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"x": 1}});
        let patch = json!({"metadata": {"labels": {"a": null, "c": "3"}}});
        assert_eq!(
            merge_patch(&target, &patch),
            json!({"metadata": {"labels": {"b": "2", "c": "3"}}, "spec": {"x": 1}})
        );
    }

    #[test]
    fn lists_are_replaced_whole() {
        let target = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        let patch = json!({"spec": {"containers": [{"name": "c"}]}});
        assert_eq!(
            merge_patch(&target, &patch),
            json!({"spec": {"containers": [{"name": "c"}]}})
        );
    }

    #[test]
    fn a_non_object_patch_replaces_the_target() {
        assert_eq!(merge_patch(&json!({"a": 1}), &json!([1])), json!([1]));
    }
}
