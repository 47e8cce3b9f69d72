//! The Kubernetes strategic merge patch, for built-in kinds.
//!
//! Written by hand: no Rust crate implements it. It follows the upstream design document
//! (`strategic-merge-patch.md`): maps merge, `null` deletes, lists with a merge strategy merge by
//! their merge key (or as a set of scalars), other lists are replaced, and the `$patch`,
//! `$retainKeys`, `$setElementOrder/<list>` and `$deleteFromPrimitiveList/<list>` directives
//! steer the merge.

use serde_json::{Map, Value};

use super::Error;
use super::strategy::{ListStrategy, TypeRef};

const PATCH: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";

/// Applies a strategic merge patch to a copy of `target`.
///
/// The strategies come from the target's `apiVersion`/`kind` (see [`super::strategy`]); for a
/// kind that is not built in only `metadata` has strategies and every other list is replaced,
/// like a JSON merge patch that also understands the directives.
pub fn strategic_merge_patch(target: &Value, patch: &Value) -> Result<Value, Error> {
    let (Value::Object(target_map), Value::Object(patch_map)) = (target, patch) else {
        return Err(Error::NotAnObject);
    };
    let ty = TypeRef::of_object(target);
    let merged = merge_map(target_map.clone(), patch_map, &ty, Mode::Patch)?;
    Ok(Value::Object(merged.unwrap_or_default()))
}

/// Whether `$` keys are directives (a patch) or plain data (an applied configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Patch,
    Apply,
}

/// Merges `patch` into `original` using the strategies of `ty`; used by server-side apply with
/// [`Mode::Apply`], where the applied configuration carries no directives.
pub(crate) fn merge_typed(
    original: &Value,
    patch: &Value,
    ty: &TypeRef,
    mode: Mode,
) -> Result<Value, Error> {
    merge_value(Some(original.clone()), patch, ty, None, "", mode)
        .map(|merged| merged.unwrap_or(Value::Null))
}

/// Merges a patch map into an original map; `None` means the map itself is deleted.
fn merge_map(
    mut original: Map<String, Value>,
    patch: &Map<String, Value>,
    ty: &TypeRef,
    mode: Mode,
) -> Result<Option<Map<String, Value>>, Error> {
    if mode == Mode::Patch {
        match patch.get(PATCH) {
            None => {}
            Some(Value::String(d)) if d == "merge" => {}
            Some(Value::String(d)) if d == "delete" => return Ok(None),
            Some(Value::String(d)) if d == "replace" => {
                let mut rest = patch.clone();
                rest.remove(PATCH);
                return merge_map(Map::new(), &rest, ty, mode);
            }
            Some(other) => return Err(Error::UnknownDirective(directive_text(other))),
        }
        if let Some(retain) = patch.get(RETAIN_KEYS) {
            retain_keys(&mut original, patch, retain)?;
        }
        for (key, values) in patch {
            if let Some(list) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
                delete_from_primitive_list(&mut original, key, list, values)?;
            }
        }
    }
    // The order directives need each list as it was on the server, before the merge.
    let mut server_lists = Vec::new();
    if mode == Mode::Patch {
        for (key, order) in patch {
            if let Some(list) = key.strip_prefix(SET_ELEMENT_ORDER) {
                let Value::Array(order) = order else {
                    return Err(Error::InvalidDirective {
                        directive: key.clone(),
                        reason: "it must be a list",
                    });
                };
                let server = match original.get(list) {
                    Some(Value::Array(items)) => items.clone(),
                    _ => Vec::new(),
                };
                server_lists.push((list.to_owned(), order.clone(), server));
            }
        }
    }
    for (key, value) in patch {
        if mode == Mode::Patch && key.starts_with('$') {
            continue;
        }
        if value.is_null() {
            original.remove(key);
            continue;
        }
        let field = ty.field(key);
        let strategy = ty.strategy(key);
        let existing = original.get(key).cloned();
        match merge_value(existing, value, &field, strategy, key, mode)? {
            Some(merged) => {
                original.insert(key.clone(), merged);
            }
            None => {
                original.remove(key);
            }
        }
    }
    for (list, order, server) in server_lists {
        let merge_key = ty.strategy(&list).and_then(|s| s.merge_key);
        let patched: Vec<Value> = match patch.get(&list) {
            Some(Value::Array(items)) => items.clone(),
            _ => Vec::new(),
        };
        if let Some(Value::Array(items)) = original.get_mut(&list) {
            let merged = std::mem::take(items);
            *items = set_element_order(merged, &order, &server, &patched, merge_key);
        }
    }
    Ok(Some(original))
}

/// Merges one patch value into the value it replaces; `None` deletes the field.
fn merge_value(
    original: Option<Value>,
    patch: &Value,
    ty: &TypeRef,
    strategy: Option<ListStrategy>,
    field: &str,
    mode: Mode,
) -> Result<Option<Value>, Error> {
    match patch {
        Value::Object(patch_map) => {
            let base = match original {
                Some(Value::Object(map)) => map,
                _ => Map::new(),
            };
            Ok(merge_map(base, patch_map, ty, mode)?.map(Value::Object))
        }
        Value::Array(patch_items) => match strategy {
            Some(s) if s.strategy.merges() => {
                let base = match original {
                    Some(Value::Array(items)) => items,
                    _ => Vec::new(),
                };
                let merged = merge_list(base, patch_items, s.merge_key, ty, field, mode)?;
                Ok(Some(Value::Array(merged)))
            }
            _ => Ok(Some(patch.clone())),
        },
        scalar => Ok(Some(scalar.clone())),
    }
}

/// Merges a list with a merge strategy: by `merge_key` for objects, as a set for scalars.
fn merge_list(
    mut original: Vec<Value>,
    patch: &[Value],
    merge_key: Option<&'static str>,
    item_ty: &TypeRef,
    field: &str,
    mode: Mode,
) -> Result<Vec<Value>, Error> {
    if mode == Mode::Patch && patch.iter().any(|item| is_directive(item, "replace")) {
        original = Vec::new();
    }
    let Some(key) = merge_key else {
        for item in patch {
            if mode == Mode::Patch && item.get(PATCH).is_some() {
                continue;
            }
            if !original.contains(item) {
                original.push(item.clone());
            }
        }
        return Ok(original);
    };
    for item in patch {
        let Value::Object(item_map) = item else {
            return Err(Error::MissingMergeKey {
                list: field.to_owned(),
                key,
            });
        };
        if mode == Mode::Patch && is_directive(item, "replace") {
            continue;
        }
        let Some(id) = item_map.get(key) else {
            return Err(Error::MissingMergeKey {
                list: field.to_owned(),
                key,
            });
        };
        if mode == Mode::Patch && is_directive(item, "delete") {
            original.retain(|existing| existing.get(key) != Some(id));
            continue;
        }
        match original
            .iter()
            .position(|existing| existing.get(key) == Some(id))
        {
            Some(at) => {
                let Value::Object(existing) = original[at].take() else {
                    original[at] = item.clone();
                    continue;
                };
                match merge_map(existing, item_map, item_ty, mode)? {
                    Some(merged) => original[at] = Value::Object(merged),
                    None => {
                        original.remove(at);
                    }
                }
            }
            None => {
                if let Some(fresh) = merge_map(Map::new(), item_map, item_ty, mode)? {
                    original.push(Value::Object(fresh));
                }
            }
        }
    }
    Ok(original)
}

/// Whether `item` is an object carrying `$patch: <directive>`.
fn is_directive(item: &Value, directive: &str) -> bool {
    item.get(PATCH).and_then(Value::as_str) == Some(directive)
}

fn directive_text(value: &Value) -> String {
    value
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| value.to_string())
}

/// `$retainKeys`: the original keeps only the listed fields (the others of a union are cleared).
fn retain_keys(
    original: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    retain: &Value,
) -> Result<(), Error> {
    let invalid = || Error::InvalidDirective {
        directive: RETAIN_KEYS.to_owned(),
        reason: "it must be a list of field names",
    };
    let Value::Array(names) = retain else {
        return Err(invalid());
    };
    let names = names
        .iter()
        .map(|n| n.as_str().ok_or_else(invalid))
        .collect::<Result<Vec<_>, _>>()?;
    for key in patch.keys() {
        if !key.starts_with('$') && !names.contains(&key.as_str()) {
            return Err(Error::NotRetained(key.clone()));
        }
    }
    original.retain(|key, _| names.contains(&key.as_str()));
    Ok(())
}

/// `$deleteFromPrimitiveList/<list>`: removes the listed scalars from the original list.
fn delete_from_primitive_list(
    original: &mut Map<String, Value>,
    directive: &str,
    list: &str,
    values: &Value,
) -> Result<(), Error> {
    let Value::Array(values) = values else {
        return Err(Error::InvalidDirective {
            directive: directive.to_owned(),
            reason: "it must be a list",
        });
    };
    if let Some(Value::Array(items)) = original.get_mut(list) {
        items.retain(|item| !values.contains(item));
    }
    Ok(())
}

/// `$setElementOrder/<list>`: puts the items named by the patch in the patch's order, and keeps
/// the items only the server has at their place relative to the others.
fn set_element_order(
    merged: Vec<Value>,
    order: &[Value],
    server: &[Value],
    patched: &[Value],
    merge_key: Option<&str>,
) -> Vec<Value> {
    let identity = |item: &Value| -> Value {
        match merge_key {
            Some(key) => item.get(key).cloned().unwrap_or(Value::Null),
            None => item.clone(),
        }
    };
    let order: Vec<Value> = order.iter().map(identity).collect();
    let patched: Vec<Value> = patched.iter().map(identity).collect();
    let server: Vec<Value> = server.iter().map(identity).collect();
    let (mut from_patch, server_only): (Vec<Value>, Vec<Value>) =
        merged.into_iter().partition(|item| {
            let id = identity(item);
            order.contains(&id) || patched.contains(&id)
        });
    let rank = |item: &Value| {
        let id = identity(item);
        order.iter().position(|o| *o == id).unwrap_or(usize::MAX)
    };
    from_patch.sort_by_key(rank);
    let server_rank = |item: &Value| {
        let id = identity(item);
        server.iter().position(|s| *s == id)
    };
    // Interleave: a server-only item goes first when both are on the server and it came
    // first there; otherwise the patch's item goes first.
    let mut result = Vec::with_capacity(from_patch.len() + server_only.len());
    let mut left = server_only.into_iter().peekable();
    let mut right = from_patch.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => match (server_rank(l), server_rank(r)) {
                (Some(li), Some(ri)) => li < ri,
                _ => false,
            },
        };
        let next = if take_left { left.next() } else { right.next() };
        result.extend(next);
    }
    result
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deployment(containers: Value) -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"replicas": 1, "template": {"spec": {"containers": containers}}},
        })
    }

    fn containers(object: &Value) -> &Value {
        &object["spec"]["template"]["spec"]["containers"]
    }

    #[test]
    fn containers_merge_by_name() {
        let target = deployment(json!([
            {"name": "web", "image": "nginx:1", "ports": [{"containerPort": 80}]},
            {"name": "log", "image": "busybox"},
        ]));
        let patch = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "web", "image": "nginx:2"},
            {"name": "sidecar", "image": "envoy"},
        ]}}}});
        let patched = strategic_merge_patch(&target, &patch).unwrap();
        assert_eq!(
            containers(&patched),
            &json!([
                {"name": "web", "image": "nginx:2", "ports": [{"containerPort": 80}]},
                {"name": "log", "image": "busybox"},
                {"name": "sidecar", "image": "envoy"},
            ])
        );
    }

    #[test]
    fn container_ports_merge_by_container_port_and_env_by_name() {
        let target = deployment(json!([{
            "name": "web",
            "ports": [{"containerPort": 80, "name": "http"}],
            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
        }]));
        let patch = json!({"spec": {"template": {"spec": {"containers": [{
            "name": "web",
            "ports": [{"containerPort": 443, "name": "https"}],
            "env": [{"name": "B", "value": "3"}],
        }]}}}});
        let patched = strategic_merge_patch(&target, &patch).unwrap();
        assert_eq!(
            containers(&patched)[0]["ports"],
            json!([{"containerPort": 80, "name": "http"}, {"containerPort": 443, "name": "https"}])
        );
        assert_eq!(
            containers(&patched)[0]["env"],
            json!([{"name": "A", "value": "1"}, {"name": "B", "value": "3"}])
        );
    }

    #[test]
    fn service_ports_merge_by_port_not_container_port() {
        let target = json!({
            "apiVersion": "v1", "kind": "Service",
            "spec": {"ports": [{"port": 80, "targetPort": 8080}]},
        });
        let patch = json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}, {"port": 443}]}});
        let patched = strategic_merge_patch(&target, &patch).unwrap();
        assert_eq!(
            patched["spec"]["ports"],
            json!([{"port": 80, "targetPort": 9090}, {"port": 443}])
        );
    }

    #[test]
    fn lists_without_a_strategy_are_replaced() {
        let target = deployment(json!([{"name": "web", "args": ["a", "b"]}]));
        let patch = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "web", "args": ["c"]},
        ]}}}});
        let patched = strategic_merge_patch(&target, &patch).unwrap();
        assert_eq!(containers(&patched)[0]["args"], json!(["c"]));
    }

    #[test]
    fn custom_resources_replace_their_lists() {
        let target = json!({
            "apiVersion": "example.com/v1", "kind": "Widget",
            "spec": {"containers": [{"name": "a"}]},
        });
        let patch = json!({"spec": {"containers": [{"name": "b"}]}});
        let patched = strategic_merge_patch(&target, &patch).unwrap();
        assert_eq!(patched["spec"]["containers"], json!([{"name": "b"}]));
    }

    #[test]
    fn null_deletes_a_field() {
        let target = deployment(json!([{"name": "web"}]));
        let patch = json!({"metadata": {"labels": {"app": null}}, "spec": {"replicas": null}});
        let patched = strategic_merge_patch(&target, &patch).unwrap();
        assert_eq!(patched["metadata"]["labels"], json!({}));
        assert!(patched["spec"].get("replicas").is_none());
    }

    #[test]
    fn the_delete_directive_removes_a_list_item_by_key() {
        let target = deployment(json!([{"name": "web"}, {"name": "log"}]));
        let patch = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "log", "$patch": "delete"},
        ]}}}});
        let patched = strategic_merge_patch(&target, &patch).unwrap();
        assert_eq!(containers(&patched), &json!([{"name": "web"}]));
    }

    #[test]
    fn the_delete_directive_in_a_map_removes_the_map() {
        let target = json!({"apiVersion": "v1", "kind": "Pod", "spec": {"nodeSelector": {"a": "b"}, "x": 1}});
        let patch = json!({"spec": {"nodeSelector": {"$patch": "delete"}}});
        let patched = strategic_merge_patch(&target, &patch).unwrap();
        assert_eq!(patched["spec"], json!({"x": 1}));
    }

    #[test]
    fn the_replace_directive_replaces_a_map() {
        let target = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": {"a": "1", "b": "2"}}});
        let patch = json!({"metadata": {"labels": {"$patch": "replace", "c": "3"}}});
        let patched = strategic_merge_patch(&target, &patch).unwrap();
        assert_eq!(patched["metadata"]["labels"], json!({"c": "3"}));
    }

    #[test]
    fn the_replace_directive_replaces_a_merging_list() {
        let target = deployment(json!([{"name": "web", "image": "a"}, {"name": "log"}]));
        let patch = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "new", "image": "b"},
            {"$patch": "replace"},
        ]}}}});
        let patched = strategic_merge_patch(&target, &patch).unwrap();
        assert_eq!(
            containers(&patched),
            &json!([{"name": "new", "image": "b"}])
        );
    }

    #[test]
    fn an_unknown_directive_is_an_error() {
        let target = deployment(json!([]));
        let patch = json!({"metadata": {"$patch": "explode"}});
        assert!(matches!(
            strategic_merge_patch(&target, &patch),
            Err(Error::UnknownDirective(d)) if d == "explode"
        ));
    }

    #[test]
    fn set_element_order_orders_merged_items() {
        let target = deployment(json!([{"name": "a"}, {"name": "b"}, {"name": "c"}]));
        let patch = json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "c"}, {"name": "d"}, {"name": "a"}],
            "containers": [{"name": "d"}],
        }}}});
        let patched = strategic_merge_patch(&target, &patch).unwrap();
        // "b" is only on the server, where it came before "c": it stays in front of "c".
        let names: Vec<&str> = containers(&patched)
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["b", "c", "d", "a"]);
    }

    #[test]
    fn set_element_order_reorders_a_list_the_patch_does_not_touch() {
        let target = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"finalizers": ["x", "y", "z"]},
        });
        let patch = json!({"metadata": {"$setElementOrder/finalizers": ["z", "y", "x"]}});
        let patched = strategic_merge_patch(&target, &patch).unwrap();
        assert_eq!(patched["metadata"]["finalizers"], json!(["z", "y", "x"]));
    }

    #[test]
    fn finalizers_merge_as_a_set() {
        let target =
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"finalizers": ["a", "b"]}});
        let patch = json!({"metadata": {"finalizers": ["b", "c"]}});
        let patched = strategic_merge_patch(&target, &patch).unwrap();
        assert_eq!(patched["metadata"]["finalizers"], json!(["a", "b", "c"]));
    }

    #[test]
    fn delete_from_primitive_list_removes_the_values() {
        let target =
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"finalizers": ["a", "b", "c"]}});
        let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a", "c"]}});
        let patched = strategic_merge_patch(&target, &patch).unwrap();
        assert_eq!(patched["metadata"]["finalizers"], json!(["b"]));
    }

    #[test]
    fn retain_keys_clears_the_other_members_of_a_union() {
        let target = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}},
        });
        let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}});
        let patched = strategic_merge_patch(&target, &patch).unwrap();
        assert_eq!(patched["spec"]["strategy"], json!({"type": "Recreate"}));
    }

    #[test]
    fn retain_keys_applies_inside_volume_items() {
        let target = json!({
            "apiVersion": "v1", "kind": "Pod",
            "spec": {"volumes": [{"name": "data", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "c"}}]},
        });
        let patch = json!({"spec": {"volumes": [
            {"name": "data", "$retainKeys": ["name", "hostPath"], "hostPath": {"path": "/d"}},
        ]}});
        let patched = strategic_merge_patch(&target, &patch).unwrap();
        assert_eq!(
            patched["spec"]["volumes"],
            json!([{"name": "data", "hostPath": {"path": "/d"}}, {"name": "cfg", "configMap": {"name": "c"}}])
        );
    }

    #[test]
    fn a_field_missing_from_retain_keys_is_an_error() {
        let target =
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"strategy": {}}});
        let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}});
        assert!(matches!(
            strategic_merge_patch(&target, &patch),
            Err(Error::NotRetained(f)) if f == "rollingUpdate"
        ));
    }

    #[test]
    fn an_item_without_its_merge_key_is_an_error() {
        let target = deployment(json!([{"name": "web"}]));
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}});
        assert!(matches!(
            strategic_merge_patch(&target, &patch),
            Err(Error::MissingMergeKey { key: "name", .. })
        ));
    }

    #[test]
    fn owner_references_merge_by_uid_and_conditions_by_type() {
        let target = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"ownerReferences": [{"uid": "1", "name": "a"}]},
            "status": {"conditions": [{"type": "Ready", "status": "False"}]},
        });
        let patch = json!({
            "metadata": {"ownerReferences": [{"uid": "2", "name": "b"}]},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        });
        let patched = strategic_merge_patch(&target, &patch).unwrap();
        assert_eq!(
            patched["metadata"]["ownerReferences"],
            json!([{"uid": "1", "name": "a"}, {"uid": "2", "name": "b"}])
        );
        assert_eq!(
            patched["status"]["conditions"],
            json!([{"type": "Ready", "status": "True"}])
        );
    }

    #[test]
    fn new_nested_values_lose_their_directives_and_nulls() {
        let target = json!({"apiVersion": "v1", "kind": "Pod", "spec": {}});
        let patch = json!({"spec": {"containers": [
            {"name": "a", "env": [{"name": "X", "value": "1"}, {"name": "Y", "$patch": "delete"}], "image": null},
        ]}});
        let patched = strategic_merge_patch(&target, &patch).unwrap();
        assert_eq!(
            patched["spec"]["containers"],
            json!([{"name": "a", "env": [{"name": "X", "value": "1"}]}])
        );
    }

    #[test]
    fn the_target_is_not_modified() {
        let target = deployment(json!([{"name": "web"}]));
        let before = target.clone();
        strategic_merge_patch(&target, &json!({"spec": {"replicas": 9}})).unwrap();
        assert_eq!(target, before);
    }
}
