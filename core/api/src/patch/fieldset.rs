//! Sets of field paths in the `FieldsV1` form of `metadata.managedFields`.
//!
//! Written by hand (no Rust crate reads this format). A path is a list of elements encoded as
//! upstream does: `f:<field>` for a field, `k:{"name":"web"}` for the item of a list merged by
//! key, `v:<json>` for the item of a set of scalars and `i:<n>` for a list index. A set is a tree
//! of such elements; a node is a *member* when the field (or item) itself is owned: leaves always
//! are, and an owned list item is marked with a `.` child next to its own fields.

use serde_json::{Map, Value};

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
    // Every field of every write passes here: `format!` would cost more than the copy.
    let mut element = String::with_capacity(name.len() + 2);
    element.push_str("f:");
    element.push_str(name);
    element
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

/// A set of owned fields, kept in its `FieldsV1` form.
///
/// Each node is a JSON object whose keys are path elements: `{}` is an owned leaf, and a node
/// with children is owned when it also has a `.` key. Keeping the wire form (always
/// normalized: `.` only beside children, no node that owns nothing) makes reading and writing
/// `managedFields` a move rather than a conversion, which every write of every object pays for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet {
    /// Whether the root itself is owned (only a `fieldsV1` of `{}` says so).
    member: bool,
    /// The children of the root.
    tree: Map<String, Value>,
}

/// The `.` key marking an owned node that has children.
const SELF: &str = ".";

fn is_member(node: &Map<String, Value>) -> bool {
    node.is_empty() || node.contains_key(SELF)
}

fn has_children(node: &Map<String, Value>) -> bool {
    node.len() > usize::from(node.contains_key(SELF))
}

/// Gives `node` the membership `member`, in the normalized form.
fn set_member(node: &mut Map<String, Value>, member: bool) {
    if member && has_children(node) {
        if !node.contains_key(SELF) {
            node.insert(SELF.to_owned(), Value::Object(Map::new()));
        }
    } else {
        node.remove(SELF);
    }
}

fn object_mut(value: &mut Value) -> &mut Map<String, Value> {
    if !value.is_object() {
        *value = Value::Object(Map::new());
    }
    match value {
        Value::Object(map) => map,
        _ => unreachable!("made an object above"),
    }
}

impl FieldSet {
    /// An empty set.
    pub fn new() -> FieldSet {
        FieldSet::default()
    }

    /// Reads a `fieldsV1` value.
    pub fn from_fields_v1(fields: &Value) -> Result<FieldSet, Error> {
        Self::from_fields_v1_owned(fields.clone())
    }

    /// Reads a `fieldsV1` value, taking it over.
    pub fn from_fields_v1_owned(fields: Value) -> Result<FieldSet, Error> {
        let Value::Object(mut tree) = fields else {
            return Err(Error::NotAnObject(String::new()));
        };
        let member = tree.is_empty() || tree.remove(SELF).is_some();
        let mut at = String::new();
        Self::check(&mut tree, &mut at)?;
        Ok(FieldSet { member, tree })
    }

    /// Checks the children of a node and normalizes them (a lone `.` is an owned leaf).
    fn check(node: &mut Map<String, Value>, at: &mut String) -> Result<(), Error> {
        for (element, child) in node.iter_mut() {
            if element == SELF {
                *child = Value::Object(Map::new());
                continue;
            }
            if !["f:", "k:", "v:", "i:"]
                .iter()
                .any(|p| element.starts_with(p))
            {
                return Err(Error::UnknownElement(element.clone()));
            }
            let len = at.len();
            at.push('/');
            at.push_str(element);
            let Value::Object(map) = child else {
                return Err(Error::NotAnObject(at.clone()));
            };
            Self::check(map, at)?;
            if map.len() == 1 && map.contains_key(SELF) {
                map.clear();
            }
            at.truncate(len);
        }
        Ok(())
    }

    /// The `fieldsV1` value of this set.
    pub fn to_fields_v1(&self) -> Value {
        self.clone().into_fields_v1()
    }

    /// The `fieldsV1` value of this set, without copying it.
    pub fn into_fields_v1(self) -> Value {
        let mut tree = self.tree;
        if self.member && !tree.is_empty() {
            tree.insert(SELF.to_owned(), Value::Object(Map::new()));
        }
        Value::Object(tree)
    }

    /// Every field of `object`, typed by `ty`: leaves, keyed list items and set items.
    pub fn of_value(object: &Value, ty: &TypeRef) -> FieldSet {
        let mut set = FieldSet::new();
        if let Value::Object(map) = object {
            set.tree = node_of_map(map, ty);
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
        for_each_root(object, ty, top, metadata, |root| {
            let node = Value::Object(node_of_value(
                root.value,
                &root.ty,
                &root.parent,
                root.field(),
            ));
            match root.key {
                None => {
                    set.tree.insert(field(root.name), node);
                }
                Some(key) => {
                    let parent = set
                        .tree
                        .entry(field(root.name))
                        .or_insert_with(|| Value::Object(Map::new()));
                    object_mut(parent).insert(field(key), node);
                }
            }
        });
        set
    }

    /// Whether the set owns nothing.
    pub fn is_empty(&self) -> bool {
        !self.member && self.tree.is_empty()
    }

    /// Every member path, each with whether it is a leaf (has no owned fields below it).
    pub fn members(&self) -> Vec<(Vec<Element>, bool)> {
        let mut out = Vec::new();
        collect(&self.tree, &mut Vec::new(), &mut out);
        out
    }

    fn node(&self, path: &[Element]) -> Option<&Map<String, Value>> {
        path.iter().try_fold(&self.tree, |node, element| {
            node.get(element).and_then(Value::as_object)
        })
    }

    /// Whether `path` is a member.
    pub fn contains(&self, path: &[Element]) -> bool {
        if path.is_empty() {
            return self.member;
        }
        self.node(path).is_some_and(is_member)
    }

    /// Whether `path` or anything below it is a member.
    pub fn contains_under(&self, path: &[Element]) -> bool {
        if path.is_empty() {
            return !self.is_empty();
        }
        // Every node of a normalized set owns something.
        self.node(path).is_some()
    }

    /// Makes `path` a member.
    pub fn insert(&mut self, path: &[Element]) {
        let Some((last, parents)) = path.split_last() else {
            self.member = true;
            return;
        };
        let mut node = &mut self.tree;
        for element in parents {
            let existed = node.contains_key(element.as_str());
            let child = object_mut(
                node.entry(element.as_str())
                    .or_insert_with(|| Value::Object(Map::new())),
            );
            // An owned leaf that gets a child stays owned.
            if existed && child.is_empty() {
                child.insert(SELF.to_owned(), Value::Object(Map::new()));
            }
            node = child;
        }
        let target = object_mut(
            node.entry(last.as_str())
                .or_insert_with(|| Value::Object(Map::new())),
        );
        set_member(target, true);
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
        if path.is_empty() {
            self.member = false;
            if subtree {
                self.tree.clear();
            }
            return;
        }
        prune(&mut self.tree, path, subtree);
    }

    /// Adds every member of `other`.
    pub fn union(&mut self, other: &FieldSet) {
        self.member |= other.member;
        union_children(&mut self.tree, &other.tree);
    }
}

/// What a value is to a field set, by its type: the one decision behind both building a set
/// ([`node_of_value`]) and visiting its members ([`visit_value`]).
enum Shape<'a> {
    /// A map whose fields are members of their own.
    Fields(&'a Map<String, Value>),
    /// A list merged by this key: each item is a member, with fields of its own.
    Keyed(&'a str, &'a [Value]),
    /// A set of scalars: each item is a member.
    Set(&'a [Value]),
    /// Owned whole: a scalar, an empty or atomic value, a list replaced whole.
    Leaf,
}

fn shape<'a>(v: &'a Value, ty: &TypeRef, parent: &TypeRef, name: &str) -> Shape<'a> {
    match v {
        Value::Object(map) if !map.is_empty() && !ty.is_atomic() => Shape::Fields(map),
        Value::Array(items) if !items.is_empty() => {
            let strategy = parent.strategy(name).filter(|s| s.strategy.merges());
            match strategy.map(|s| s.merge_key) {
                Some(Some(merge_key)) if items.iter().all(|i| i.get(merge_key).is_some()) => {
                    Shape::Keyed(merge_key, items)
                }
                Some(None) => Shape::Set(items),
                _ => Shape::Leaf,
            }
        }
        _ => Shape::Leaf,
    }
}

/// A value directly under the root that a set may record: a field the `top` filter keeps, or
/// a key of `metadata` the `metadata` filter keeps (a `metadata` left empty is no field).
struct Root<'a> {
    name: &'a str,
    /// The key of `metadata`, for a root inside it.
    key: Option<&'a str>,
    value: &'a Value,
    ty: TypeRef,
    parent: TypeRef,
}

impl<'a> Root<'a> {
    /// The name of the field the value is in.
    fn field(&self) -> &'a str {
        self.key.unwrap_or(self.name)
    }
}

fn for_each_root<'a>(
    object: &'a Value,
    ty: &TypeRef,
    top: impl Fn(&str) -> bool,
    metadata: impl Fn(&str) -> bool,
    mut each: impl FnMut(Root<'a>),
) {
    let Value::Object(map) = object else {
        return;
    };
    for (name, child) in map.iter().filter(|(name, _)| top(name)) {
        let child_ty = ty.field(name);
        match child {
            Value::Object(fields) if name == "metadata" && !child_ty.is_atomic() => {
                for (key, value) in fields.iter().filter(|(key, _)| metadata(key)) {
                    each(Root {
                        name,
                        key: Some(key),
                        value,
                        ty: child_ty.field(key),
                        parent: child_ty,
                    });
                }
            }
            _ => each(Root {
                name,
                key: None,
                value: child,
                ty: child_ty,
                parent: *ty,
            }),
        }
    }
}

/// The node of a non-root value, as [`FieldSet::of_value`] records it.
fn node_of_value(v: &Value, ty: &TypeRef, parent: &TypeRef, name: &str) -> Map<String, Value> {
    let mut node = Map::new();
    match shape(v, ty, parent, name) {
        Shape::Fields(map) => return node_of_map(map, ty),
        Shape::Keyed(merge_key, items) => {
            for item in items {
                let mut owned = match item {
                    Value::Object(fields) => node_of_map(fields, ty),
                    _ => Map::new(),
                };
                set_member(&mut owned, true);
                match node.entry(key(merge_key, &item[merge_key])) {
                    serde_json::map::Entry::Vacant(slot) => {
                        slot.insert(Value::Object(owned));
                    }
                    serde_json::map::Entry::Occupied(mut slot) => {
                        union_node(object_mut(slot.get_mut()), &owned);
                    }
                }
            }
        }
        Shape::Set(items) => {
            for item in items {
                node.insert(value(item), Value::Object(Map::new()));
            }
        }
        Shape::Leaf => {}
    }
    node
}

fn node_of_map(map: &Map<String, Value>, ty: &TypeRef) -> Map<String, Value> {
    map.iter()
        .map(|(name, child)| {
            let node = node_of_value(child, &ty.field(name), ty, name);
            (field(name), Value::Object(node))
        })
        .collect()
}

fn collect(
    node: &Map<String, Value>,
    prefix: &mut Vec<Element>,
    out: &mut Vec<(Vec<Element>, bool)>,
) {
    for (element, child) in node {
        let Some(child) = child.as_object().filter(|_| element != SELF) else {
            continue;
        };
        prefix.push(element.clone());
        if is_member(child) {
            out.push((prefix.clone(), !has_children(child)));
        }
        collect(child, prefix, out);
        prefix.pop();
    }
}

/// Removes `path` below `node`; true when something was removed.
fn prune(node: &mut Map<String, Value>, path: &[Element], subtree: bool) -> bool {
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let Some(child) = node.get_mut(first.as_str()).and_then(Value::as_object_mut) else {
        return false;
    };
    if rest.is_empty() {
        if subtree || !has_children(child) {
            node.remove(first.as_str());
        } else {
            child.remove(SELF);
        }
        return true;
    }
    if !prune(child, rest, subtree) {
        return false;
    }
    // A node that lost its last child: gone if it was not owned, an owned leaf if it was.
    if child.is_empty() {
        node.remove(first.as_str());
    } else if child.len() == 1 && child.contains_key(SELF) {
        child.clear();
    }
    true
}

fn union_children(mine: &mut Map<String, Value>, theirs: &Map<String, Value>) {
    for (element, child) in theirs {
        if element == SELF {
            continue;
        }
        let Value::Object(child) = child else {
            continue;
        };
        match mine.entry(element.as_str()) {
            serde_json::map::Entry::Vacant(slot) => {
                slot.insert(Value::Object(child.clone()));
            }
            serde_json::map::Entry::Occupied(mut slot) => {
                union_node(object_mut(slot.get_mut()), child)
            }
        }
    }
}

fn union_node(mine: &mut Map<String, Value>, theirs: &Map<String, Value>) {
    let member = is_member(mine) || is_member(theirs);
    union_children(mine, theirs);
    set_member(mine, member);
}

/// One step of the path of a member met by [`visit_members_where`]: the element it stands
/// for is only spelled out when asked, as most members of a write are compared and left.
#[derive(Debug, Clone, Copy)]
pub enum Step<'a> {
    /// A field.
    Field(&'a str),
    /// The item of a list merged by `key` whose key field is the value.
    Key(&'a str, &'a Value),
    /// The item of a set of scalars.
    Item(&'a Value),
}

impl Step<'_> {
    /// The path element.
    pub fn element(&self) -> Element {
        match *self {
            Step::Field(name) => field(name),
            Step::Key(merge_key, id) => key(merge_key, id),
            Step::Item(item) => value(item),
        }
    }
}

/// One member met by [`visit_members_where`].
pub struct Member<'a, 'p> {
    /// Where it is.
    pub steps: &'p [Step<'a>],
    /// Its value in the walked object.
    pub value: &'a Value,
    /// The value at the same path in the other object, found as [`resolve`] finds it.
    pub counterpart: Option<&'a Value>,
    /// Whether it is a leaf (no member below it).
    pub leaf: bool,
}

impl Member<'_, '_> {
    /// Its path.
    pub fn path(&self) -> Vec<Element> {
        self.steps.iter().map(Step::element).collect()
    }
}

/// Visits each member of `object` that [`FieldSet::of_value_where`] would record, beside the
/// value at the same path in `other`: comparing two versions of an object this way builds
/// neither set, and finds counterparts without parsing path elements back.
///
/// The visitor returns whether to go below a member that has members of its own. Of list
/// items that share a key, only the first is visited, as `resolve` only ever finds that one.
pub fn visit_members_where<'a>(
    object: &'a Value,
    other: Option<&'a Value>,
    ty: &TypeRef,
    top: impl Fn(&str) -> bool,
    metadata: impl Fn(&str) -> bool,
    visit: &mut impl FnMut(Member<'a, '_>) -> bool,
) {
    let mut path = Vec::new();
    for_each_root(object, ty, top, metadata, |root| {
        let mut counterpart = other.and_then(|o| o.get(root.name));
        path.push(Step::Field(root.name));
        if let Some(key) = root.key {
            counterpart = counterpart.and_then(|c| c.get(key));
            path.push(Step::Field(key));
        }
        visit_value(
            root.value,
            counterpart,
            &root.ty,
            &root.parent,
            root.field(),
            &mut path,
            visit,
        );
        path.clear();
    });
}

/// [`FieldSet::of_value`]'s walk as a visit: the same members, in the same order.
fn visit_value<'a>(
    v: &'a Value,
    other: Option<&'a Value>,
    ty: &TypeRef,
    parent: &TypeRef,
    name: &str,
    path: &mut Vec<Step<'a>>,
    visit: &mut impl FnMut(Member<'a, '_>) -> bool,
) {
    let theirs = other.and_then(Value::as_array);
    match shape(v, ty, parent, name) {
        Shape::Fields(map) => visit_fields(map, other, ty, path, visit),
        Shape::Keyed(merge_key, items) => {
            for (at, item) in items.iter().enumerate() {
                let id = &item[merge_key];
                if items[..at].iter().any(|i| i.get(merge_key) == Some(id)) {
                    continue;
                }
                let counterpart =
                    theirs.and_then(|t| t.iter().find(|i| i.get(merge_key) == Some(id)));
                path.push(Step::Key(merge_key, id));
                let below = visit(Member {
                    steps: path,
                    value: item,
                    counterpart,
                    leaf: false,
                });
                if below && let Value::Object(fields) = item {
                    visit_fields(fields, counterpart, ty, path, visit);
                }
                path.pop();
            }
        }
        Shape::Set(items) => {
            for (at, item) in items.iter().enumerate() {
                if items[..at].contains(item) {
                    continue;
                }
                path.push(Step::Item(item));
                visit(Member {
                    steps: path,
                    value: item,
                    counterpart: theirs.and_then(|t| t.iter().find(|i| *i == item)),
                    leaf: true,
                });
                path.pop();
            }
        }
        Shape::Leaf => {
            visit(Member {
                steps: path,
                value: v,
                counterpart: other,
                leaf: true,
            });
        }
    }
}

fn visit_fields<'a>(
    map: &'a Map<String, Value>,
    other: Option<&'a Value>,
    ty: &TypeRef,
    path: &mut Vec<Step<'a>>,
    visit: &mut impl FnMut(Member<'a, '_>) -> bool,
) {
    let theirs = other.and_then(Value::as_object);
    for (key, child) in map {
        path.push(Step::Field(key));
        let counterpart = theirs.and_then(|o| o.get(key));
        visit_value(child, counterpart, &ty.field(key), ty, key, path, visit);
        path.pop();
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
    use serde_json::json;

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
    fn the_wire_form_stays_normalized_through_every_change() {
        let mut set = FieldSet::from_fields_v1(&json!({"f:spec": {"f:a": {".": {}}}})).unwrap();
        assert_eq!(set.to_fields_v1(), json!({"f:spec": {"f:a": {}}}));
        let (a, b) = (path(&["f:spec", "f:a"]), path(&["f:spec", "f:a", "f:b"]));
        set.insert(&b);
        assert!(
            set.contains(&a),
            "an owned leaf that gets a child stays owned"
        );
        assert_eq!(
            set.to_fields_v1(),
            json!({"f:spec": {"f:a": {".": {}, "f:b": {}}}})
        );
        let mut other = FieldSet::new();
        other.insert(&path(&["f:spec", "f:c"]));
        set.union(&other);
        set.remove(&b);
        assert_eq!(
            set.to_fields_v1(),
            json!({"f:spec": {"f:a": {}, "f:c": {}}})
        );
        assert!(!set.contains(&path(&["f:spec"])));
        assert!(set.contains_under(&path(&["f:spec"])));
        set.remove(&path(&["f:spec", "f:missing", "f:x"]));
        assert!(
            set.contains(&a),
            "removing what is not there changes nothing"
        );
        set.remove_subtree(&path(&["f:spec"]));
        assert!(set.is_empty());
    }

    #[test]
    fn paths_display_like_upstream() {
        let p = path(&["f:spec", "f:containers", "k:{\"name\":\"web\"}", "f:image"]);
        assert_eq!(display(&p), ".spec.containers[name=\"web\"].image");
        let p = path(&["f:metadata", "f:finalizers", "v:\"x\""]);
        assert_eq!(display(&p), ".metadata.finalizers[=\"x\"]");
    }
}
