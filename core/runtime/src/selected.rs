//! Watches mapped without a script call: a watched object concerns the primaries of its
//! namespace whose label selector matches it (a Service's pods, say).
//!
//! A pod change reaches every controller that watches pods, and a mapping function that
//! finds the services selecting it is a script call per change, most of them finding none.
//! Declared as `selected_by: "spec.selector"`, the host matches the selectors itself, against
//! the labels the object had before the change as well as those it has now, so a primary
//! whose selector the object just stopped matching hears of it too.

use serde_json::Value;

use crate::cache::{CacheEvent, Informer};
use crate::controller::ObjectKey;
use crate::projection;

/// The keys of the primaries (in `primaries`, of the event's namespace; of every namespace
/// for a cluster-scoped object) whose selector at `path` (dotted) matches the object before
/// or after the change. A primary whose selector is missing, empty or unreadable selects
/// nothing, as a Service without a selector has no endpoints. With `orphans`, an object that
/// has a controller selects nothing.
pub fn selecting(
    primaries: &Informer,
    path: &str,
    orphans: bool,
    event: &CacheEvent,
) -> Vec<ObjectKey> {
    let (obj, previous) = match event {
        CacheEvent::Applied(obj, previous) => (obj, previous.as_deref()),
        CacheEvent::Deleted(obj) => (obj, None),
    };
    if orphans && crate::cluster::controller_of(obj).is_some() {
        return Vec::new();
    }
    let namespace = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    primaries
        .list(namespace)
        .iter()
        .filter(|primary| {
            let Some(selector) = projection::at(primary, path).filter(|s| !is_empty(s)) else {
                return false;
            };
            let Ok(selector) = crate::selector::from_value(selector) else {
                return false;
            };
            selector.matches_object(obj) || previous.is_some_and(|p| selector.matches_object(p))
        })
        .map(|primary| ObjectKey::of(primary))
        .collect()
}

fn is_empty(selector: &Value) -> bool {
    match selector {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;

    fn service(name: &str, selector: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "default"}, "spec": {"selector": selector}})
    }

    fn pod(labels: Value) -> Arc<Value> {
        Arc::new(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "default", "labels": labels}}))
    }

    fn services() -> Informer {
        let informer = Informer::new(crate::KindRef::new("v1", "Service"));
        for svc in [
            service("web", json!({"app": "web"})),
            service("db", json!({"matchLabels": {"app": "db"}})),
            service("manual", Value::Null),
            service("empty", json!({})),
        ] {
            informer.apply(Arc::new(svc));
        }
        let elsewhere = json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web2", "namespace": "other"}, "spec": {"selector": {"app": "web"}}});
        informer.apply(Arc::new(elsewhere));
        informer
    }

    fn names(keys: Vec<ObjectKey>) -> Vec<String> {
        keys.into_iter().map(|k| k.name).collect()
    }

    #[test]
    fn an_object_maps_to_the_primaries_selecting_it_in_its_namespace() {
        let services = services();
        let added = CacheEvent::Applied(pod(json!({"app": "web"})), None);
        assert_eq!(
            names(selecting(&services, "spec.selector", false, &added)),
            ["web"]
        );
        let unlabelled = CacheEvent::Applied(pod(Value::Null), None);
        assert!(selecting(&services, "spec.selector", false, &unlabelled).is_empty());
    }

    #[test]
    fn a_primary_the_object_stopped_matching_hears_of_it() {
        let services = services();
        let moved =
            CacheEvent::Applied(pod(json!({"app": "db"})), Some(pod(json!({"app": "web"}))));
        assert_eq!(
            names(selecting(&services, "spec.selector", false, &moved)),
            ["db", "web"]
        );
        let gone = CacheEvent::Deleted(pod(json!({"app": "db"})));
        assert_eq!(
            names(selecting(&services, "spec.selector", false, &gone)),
            ["db"]
        );
    }

    #[test]
    fn only_orphans_are_mapped_when_asked() {
        let services = services();
        let orphan = CacheEvent::Applied(pod(json!({"app": "web"})), None);
        assert_eq!(
            names(selecting(&services, "spec.selector", true, &orphan)),
            ["web"]
        );
        let mut owned = (*pod(json!({"app": "web"}))).clone();
        owned["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1",
            "kind": "ReplicaSet", "name": "rs", "uid": "u", "controller": true}]);
        let owned = CacheEvent::Applied(Arc::new(owned), None);
        assert!(selecting(&services, "spec.selector", true, &owned).is_empty());
        assert_eq!(
            names(selecting(&services, "spec.selector", false, &owned)),
            ["web"]
        );
    }
}
