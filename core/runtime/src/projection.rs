//! Projections: the part of an object a mapping function reads.
//!
//! A watched kind's change calls the controller's mapping function with the object; a pod
//! change reaches half a dozen controllers, and handing each the whole pod (spec, status,
//! every condition) costs more than the mapping itself. A watch that names its `fields`
//! gets only those, always with `apiVersion` and `kind` (as upstream's metadata-only
//! informers hand out `PartialObjectMetadata`).

use serde_json::{Map, Value};

/// Why a field list is refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A path with an empty segment (`""`, `"spec."`, `"a..b"`).
    #[error("field {0:?} is not a dotted path such as \"metadata\" or \"spec.nodeName\"")]
    Path(String),
}

/// Checks that every field is a dotted path of non-empty names.
pub fn check(fields: &[String]) -> Result<(), Error> {
    match fields.iter().find(|f| f.split('.').any(str::is_empty)) {
        Some(bad) => Err(Error::Path(bad.clone())),
        None => Ok(()),
    }
}

/// `obj` with only `apiVersion`, `kind` and the values at `fields` (dotted paths); absent
/// paths stay absent.
pub fn project<S: AsRef<str>>(obj: &Value, fields: &[S]) -> Value {
    Value::Object(project_into(obj, fields))
}

/// A map a projection is written into: JSON, or a script's own map, so a projection handed
/// to a script is not first copied as JSON.
pub trait Target: Default {
    /// Sets `name` to a copy of `value`.
    fn put(&mut self, name: &str, value: &Value);
    /// Removes and returns the map at `name` (empty if there is none).
    fn take_map(&mut self, name: &str) -> Self;
    /// Sets `name` to `map`.
    fn put_map(&mut self, name: &str, map: Self);
    fn is_empty(&self) -> bool;
}

impl Target for Map<String, Value> {
    fn put(&mut self, name: &str, value: &Value) {
        self.insert(name.to_string(), value.clone());
    }
    fn take_map(&mut self, name: &str) -> Self {
        match self.remove(name) {
            Some(Value::Object(inner)) => inner,
            _ => Map::new(),
        }
    }
    fn put_map(&mut self, name: &str, map: Self) {
        self.insert(name.to_string(), Value::Object(map));
    }
    fn is_empty(&self) -> bool {
        Map::is_empty(self)
    }
}

/// [`project`] into any [`Target`].
pub fn project_into<T: Target, S: AsRef<str>>(obj: &Value, fields: &[S]) -> T {
    let mut out = T::default();
    for top in ["apiVersion", "kind"] {
        if let Some(v) = obj.get(top) {
            out.put(top, v);
        }
    }
    for field in fields {
        copy_path(obj, &mut out, field.as_ref());
    }
    out
}

/// The value at a dotted path, if there is one.
/// The value at a dotted path, if there is one.
pub fn at<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(obj, |value, name| value.get(name))
}

/// Whether `a` and `b` hold the same values at every one of `fields` (dotted paths; a path
/// absent from both is the same).
pub fn same_at<S: AsRef<str>>(a: &Value, b: &Value, fields: &[S]) -> bool {
    fields
        .iter()
        .all(|f| at(a, f.as_ref()) == at(b, f.as_ref()))
}

fn copy_path<T: Target>(from: &Value, to: &mut T, path: &str) {
    let (head, rest) = match path.split_once('.') {
        Some((head, rest)) => (head, Some(rest)),
        None => (path, None),
    };
    let Some(value) = from.get(head) else { return };
    let Some(rest) = rest else {
        to.put(head, value);
        return;
    };
    if !value.is_object() {
        return;
    }
    let mut inner = to.take_map(head);
    copy_path(value, &mut inner, rest);
    if !inner.is_empty() {
        to.put_map(head, inner);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod() -> Value {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-1", "namespace": "default"},
            "spec": {"nodeName": "sim-3", "volumes": [{"name": "v"}], "containers": []},
            "status": {"phase": "Running"},
        })
    }

    #[test]
    fn objects_compare_at_the_given_paths_only() {
        let a = pod();
        let mut b = pod();
        b["status"]["phase"] = json!("Succeeded");
        b["metadata"]["resourceVersion"] = json!("7");
        assert!(same_at(
            &a,
            &b,
            &["spec.nodeName", "metadata.labels", "metadata.name"]
        ));
        assert!(!same_at(&a, &b, &["spec.nodeName", "status.phase"]));
        assert!(!same_at(&a, &b, &["metadata"]));
        b["spec"]["nodeName"] = json!(null);
        assert!(
            !same_at(&a, &b, &["spec.nodeName"]),
            "null differs from a value"
        );
        assert!(same_at(&a, &b, &["spec.nodeName.x"]), "absent in both");
    }

    #[test]
    fn only_the_named_fields_and_the_type_are_kept() {
        let projected = project(&pod(), &["metadata", "spec.nodeName"]);
        assert_eq!(
            projected,
            json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "web-1", "namespace": "default"},
                "spec": {"nodeName": "sim-3"},
            })
        );
    }

    #[test]
    fn paths_that_are_absent_or_cross_a_non_object_stay_absent() {
        let projected = project(&pod(), &["spec.priority", "status.phase.x", "nothing"]);
        assert_eq!(projected, json!({"apiVersion": "v1", "kind": "Pod"}));
    }

    #[test]
    fn paths_with_empty_names_are_refused() {
        assert!(check(&["metadata".into(), "spec.nodeName".into()]).is_ok());
        for bad in ["", "spec.", ".spec", "spec..x"] {
            let err = check(&[bad.to_string()]).unwrap_err();
            assert!(err.to_string().contains("dotted path"), "{err}");
        }
    }
}
