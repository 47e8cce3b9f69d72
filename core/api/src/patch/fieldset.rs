//! Sets of field paths in the `FieldsV1` form of `metadata.managedFields`.
//!
//! Written by hand (no Rust crate reads this format). A path is a list of elements encoded as
//! upstream does: `f:<field>` for a field, `k:{"name":"web"}` for the item of a list merged by
//! key, `v:<json>` for the item of a set of scalars and `i:<n>` for a list index. A set is a tree
//! of such elements; a node is a *member* when the field (or item) itself is owned: leaves always
//! are, and an owned list item is marked with a `.` child next to its own fields.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::strategy::TypeRef;

/// One element of a path, encoded as in `FieldsV1` (`f:spec`, `k:{"name":"web"}`, ...).
pub type Element = String;

/// Why a `FieldsV1` document could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Every node of a `FieldsV1` tree is a JSON object.
    #[error("fieldsV1 node at {0:?} is not an object")]
    NotAnObject(String),
    /// A key that is neither `.` nor a `f:`, `k:`, `v:` or `i:` element.
    #[error("unknown fieldsV1 path element {0:?}")]
    UnknownElement(String),
}

/// The path element of field `name`.
pub fn field(name: &str) -> Element {
    format!("f:{name}")
}

/// The path element of the item of a keyed list whose `key` field is `value`.
pub fn key(key: &str, value: &Value) -> Element {
    let mut fields = Map::new();
    fields.insert(key.to_owned(), value.clone());
    format!("k:{}", Value::Object(fields))
}

/// The path element of the item `value` of a set of scalars.
pub fn value(value: &Value) -> Element {
    format!("v:{value}")
}

/// A set of owned fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet {
    member: bool,
    children: BTreeMap<Element, FieldSet>,
}

impl FieldSet {
    /// An empty set.
    pub fn new() -> FieldSet {
        FieldSet::default()
    }

    /// Reads a `fieldsV1` value.
    pub fn from_fields_v1(fields: &Value) -> Result<FieldSet, Error> {
        Self::read(fields, "")
    }

    fn read(node: &Value, at: &str) -> Result<FieldSet, Error> {
        let Value::Object(map) = node else {
            return Err(Error::NotAnObject(at.to_owned()));
        };
        let mut set = FieldSet {
            member: map.is_empty(),
            children: BTreeMap::new(),
        };
        for (element, child) in map {
            if element == "." {
                set.member = true;
                continue;
            }
            if !["f:", "k:", "v:", "i:"]
                .iter()
                .any(|p| element.starts_with(p))
            {
                return Err(Error::UnknownElement(element.clone()));
            }
            let child = Self::read(child, &format!("{at}/{element}"))?;
            set.children.insert(element.clone(), child);
        }
        Ok(set)
    }

    /// The `fieldsV1` value of this set.
    pub fn to_fields_v1(&self) -> Value {
        let mut map = Map::with_capacity(self.children.len() + usize::from(self.member));
        if self.member && !self.children.is_empty() {
            map.insert(".".to_owned(), json!({}));
        }
        for (element, child) in &self.children {
            map.insert(element.clone(), child.to_fields_v1());
        }
        Value::Object(map)
    }

    /// Every field of `object`, typed by `ty`: leaves, keyed list items and set items.
    pub fn of_value(object: &Value, ty: &TypeRef) -> FieldSet {
        let mut set = FieldSet::new();
        if let Value::Object(map) = object {
            set.walk_map(map, ty);
        }
        set
    }

    /// The fields of `object` under the top-level names `top` keeps, with only the keys of
    /// `metadata` that `metadata` keeps (a `metadata` left empty is no field): the set of a
    /// trimmed copy of the object, without making the copy.
    pub fn of_value_where(
        object: &Value,
        ty: &TypeRef,
        top: impl Fn(&str) -> bool,
        metadata: impl Fn(&str) -> bool,
    ) -> FieldSet {
        let mut set = FieldSet::new();
        let Value::Object(map) = object else {
            return set;
        };
        for (name, child) in map.iter().filter(|(name, _)| top(name)) {
            let child_ty = ty.field(name);
            match child {
                Value::Object(fields) if name == "metadata" && !child_ty.is_atomic() => {
                    let mut node = FieldSet::new();
                    for (key, value) in fields.iter().filter(|(key, _)| metadata(key)) {
                        node.children.entry(field(key)).or_default().walk_value(
                            value,
                            &child_ty.field(key),
                            &child_ty,
                            key,
                        );
                    }
                    if !node.children.is_empty() {
                        set.children.insert(field(name), node);
                    }
                }
                _ => set
                    .children
                    .entry(field(name))
                    .or_default()
                    .walk_value(child, &child_ty, ty, name),
            }
        }
        set
    }

    fn walk_map(&mut self, map: &Map<String, Value>, ty: &TypeRef) {
        for (name, child) in map {
            let node = self.children.entry(field(name)).or_default();
            node.walk_value(child, &ty.field(name), ty, name);
        }
    }

    fn walk_value(&mut self, v: &Value, ty: &TypeRef, parent: &TypeRef, name: &str) {
        match v {
            Value::Object(map) if !map.is_empty() && !ty.is_atomic() => self.walk_map(map, ty),
            Value::Array(items) if !items.is_empty() => {
                let strategy = parent.strategy(name).filter(|s| s.strategy.merges());
                match strategy.map(|s| s.merge_key) {
                    Some(Some(merge_key)) if items.iter().all(|i| i.get(merge_key).is_some()) => {
                        for item in items {
                            let element = key(merge_key, &item[merge_key]);
                            let node = self.children.entry(element).or_default();
                            node.member = true;
                            if let Value::Object(fields) = item {
                                node.walk_map(fields, ty);
                            }
                        }
                    }
                    Some(None) => {
                        for item in items {
                            self.children.entry(value(item)).or_default().member = true;
                        }
                    }
                    _ => self.member = true,
                }
            }
            _ => self.member = true,
        }
    }

    /// Whether the set owns nothing.
    pub fn is_empty(&self) -> bool {
        !self.member && self.children.values().all(FieldSet::is_empty)
    }

    /// Every member path, each with whether it is a leaf (has no owned fields below it).
    pub fn members(&self) -> Vec<(Vec<Element>, bool)> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Vec<Element>, out: &mut Vec<(Vec<Element>, bool)>) {
        if self.member && !prefix.is_empty() {
            out.push((prefix.clone(), self.children.is_empty()));
        }
        for (element, child) in &self.children {
            prefix.push(element.clone());
            child.collect(prefix, out);
            prefix.pop();
        }
    }

    fn node(&self, path: &[Element]) -> Option<&FieldSet> {
        path.iter()
            .try_fold(self, |node, element| node.children.get(element))
    }

    /// Whether `path` is a member.
    pub fn contains(&self, path: &[Element]) -> bool {
        self.node(path).is_some_and(|n| n.member)
    }

    /// Whether `path` or anything below it is a member.
    pub fn contains_under(&self, path: &[Element]) -> bool {
        self.node(path).is_some_and(|n| !n.is_empty())
    }

    /// Makes `path` a member.
    pub fn insert(&mut self, path: &[Element]) {
        let node = path.iter().fold(self, |node, element| {
            node.children.entry(element.clone()).or_default()
        });
        node.member = true;
    }

    /// Removes `path` as a member, keeping what is owned below it.
    pub fn remove(&mut self, path: &[Element]) {
        self.prune(path, false);
    }

    /// Removes `path` and everything below it.
    pub fn remove_subtree(&mut self, path: &[Element]) {
        self.prune(path, true);
    }

    fn prune(&mut self, path: &[Element], subtree: bool) {
        match path.split_first() {
            None => {
                self.member = false;
                if subtree {
                    self.children.clear();
                }
            }
            Some((first, rest)) => {
                if let Some(child) = self.children.get_mut(first) {
                    child.prune(rest, subtree);
                    if child.is_empty() {
                        self.children.remove(first);
                    }
                }
            }
        }
    }

    /// Adds every member of `other`.
    pub fn union(&mut self, other: &FieldSet) {
        self.member |= other.member;
        for (element, child) in &other.children {
            self.children
                .entry(element.clone())
                .or_default()
                .union(child);
        }
    }
}

/// The value at `path` inside `object`, if there is one.
pub fn resolve<'a>(object: &'a Value, path: &[Element]) -> Option<&'a Value> {
    path.iter().try_fold(object, |current, element| {
        let index = find(current, element)?;
        match (current, index) {
            (Value::Object(map), Position::Field(name)) => map.get(name),
            (Value::Array(items), Position::Item(at)) => items.get(at),
            _ => None,
        }
    })
}

/// Removes the value at `path` from `object`; false when there was none.
pub fn remove_at(object: &mut Value, path: &[Element]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut current = object;
    for element in parents {
        let next = match find(current, element) {
            Some(Position::Field(name)) => current.get_mut(name),
            Some(Position::Item(at)) => current.get_mut(at),
            None => None,
        };
        match next {
            Some(next) => current = next,
            None => return false,
        }
    }
    match (find(current, last), current) {
        (Some(Position::Field(name)), Value::Object(map)) => map.remove(name).is_some(),
        (Some(Position::Item(at)), Value::Array(items)) => {
            items.remove(at);
            true
        }
        _ => false,
    }
}

enum Position<'e> {
    Field(&'e str),
    Item(usize),
}

/// Where `element` points inside `current`.
fn find<'e>(current: &Value, element: &'e str) -> Option<Position<'e>> {
    if let Some(name) = element.strip_prefix("f:") {
        return current.is_object().then_some(Position::Field(name));
    }
    let items = current.as_array()?;
    if let Some(keys) = element.strip_prefix("k:") {
        let Ok(Value::Object(keys)) = serde_json::from_str::<Value>(keys) else {
            return None;
        };
        return items
            .iter()
            .position(|item| keys.iter().all(|(k, v)| item.get(k) == Some(v)))
            .map(Position::Item);
    }
    if let Some(wanted) = element.strip_prefix("v:") {
        let wanted: Value = serde_json::from_str(wanted).ok()?;
        return items.iter().position(|i| *i == wanted).map(Position::Item);
    }
    let at: usize = element.strip_prefix("i:")?.parse().ok()?;
    (at < items.len()).then_some(Position::Item(at))
}

/// A path as upstream prints it in conflicts: `.spec.containers[name="web"].image`.
pub fn display(path: &[Element]) -> String {
    let mut out = String::new();
    for element in path {
        if let Some(name) = element.strip_prefix("f:") {
            out.push('.');
            out.push_str(name);
        } else if let Some(keys) = element.strip_prefix("k:") {
            let text = match serde_json::from_str::<Value>(keys) {
                Ok(Value::Object(keys)) => keys
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(","),
                _ => keys.to_owned(),
            };
            out.push_str(&format!("[{text}]"));
        } else if let Some(v) = element.strip_prefix("v:") {
            out.push_str(&format!("[={v}]"));
        } else if let Some(i) = element.strip_prefix("i:") {
            out.push_str(&format!("[{i}]"));
        } else {
            out.push_str(element);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(elements: &[&str]) -> Vec<Element> {
        elements.iter().map(|e| e.to_string()).collect()
    }

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"labels": {"app": "web"}, "finalizers": ["x"]},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"spec": {"containers": [
                    {"name": "web", "image": "nginx", "args": ["-g"]},
                ]}},
            },
        })
    }

    #[test]
    fn an_object_becomes_the_upstream_fields_v1_form() {
        let ty = TypeRef::of_object(&deployment());
        let mut object = deployment();
        object.as_object_mut().unwrap().remove("apiVersion");
        object.as_object_mut().unwrap().remove("kind");
        let set = FieldSet::of_value(&object, &ty);
        assert_eq!(
            set.to_fields_v1(),
            json!({
                "f:metadata": {"f:finalizers": {"v:\"x\"": {}}, "f:labels": {"f:app": {}}},
                "f:spec": {
                    "f:replicas": {},
                    "f:selector": {},
                    "f:template": {"f:spec": {"f:containers": {
                        "k:{\"name\":\"web\"}": {".": {}, "f:args": {}, "f:image": {}, "f:name": {}},
                    }}},
                },
            })
        );
    }

    #[test]
    fn fields_v1_round_trips() {
        let ty = TypeRef::of_object(&deployment());
        let set = FieldSet::of_value(&deployment(), &ty);
        let read = FieldSet::from_fields_v1(&set.to_fields_v1()).unwrap();
        assert_eq!(read, set);
    }

    #[test]
    fn a_malformed_fields_v1_is_rejected() {
        assert!(matches!(
            FieldSet::from_fields_v1(&json!({"x:spec": {}})),
            Err(Error::UnknownElement(_))
        ));
        assert!(matches!(
            FieldSet::from_fields_v1(&json!({"f:spec": 1})),
            Err(Error::NotAnObject(_))
        ));
    }

    #[test]
    fn paths_resolve_through_keyed_items_and_set_items() {
        let object = deployment();
        let image = path(&[
            "f:spec",
            "f:template",
            "f:spec",
            "f:containers",
            "k:{\"name\":\"web\"}",
            "f:image",
        ]);
        assert_eq!(resolve(&object, &image), Some(&json!("nginx")));
        let finalizer = path(&["f:metadata", "f:finalizers", "v:\"x\""]);
        assert_eq!(resolve(&object, &finalizer), Some(&json!("x")));
        let missing = path(&[
            "f:spec",
            "f:template",
            "f:spec",
            "f:containers",
            "k:{\"name\":\"db\"}",
        ]);
        assert_eq!(resolve(&object, &missing), None);
    }

    #[test]
    fn removing_a_path_removes_the_value() {
        let mut object = deployment();
        let item = path(&[
            "f:spec",
            "f:template",
            "f:spec",
            "f:containers",
            "k:{\"name\":\"web\"}",
        ]);
        assert!(remove_at(&mut object, &item));
        assert_eq!(object["spec"]["template"]["spec"]["containers"], json!([]));
        assert!(!remove_at(&mut object, &item));
    }

    #[test]
    fn removing_a_member_prunes_empty_branches_but_keeps_owned_children() {
        let mut set = FieldSet::new();
        let item = path(&["f:spec", "f:containers", "k:{\"name\":\"web\"}"]);
        let image = path(&["f:spec", "f:containers", "k:{\"name\":\"web\"}", "f:image"]);
        set.insert(&item);
        set.insert(&image);
        set.remove(&item);
        assert!(!set.contains(&item));
        assert!(set.contains(&image));
        set.remove(&image);
        assert!(set.is_empty());
        assert_eq!(set.to_fields_v1(), json!({}));
    }

    #[test]
    fn paths_display_like_upstream() {
        let p = path(&["f:spec", "f:containers", "k:{\"name\":\"web\"}", "f:image"]);
        assert_eq!(display(&p), ".spec.containers[name=\"web\"].image");
        let p = path(&["f:metadata", "f:finalizers", "v:\"x\""]);
        assert_eq!(display(&p), ".metadata.finalizers[=\"x\"]");
    }
}
