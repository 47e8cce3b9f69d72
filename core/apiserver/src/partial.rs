//! Reading chosen fields of a stored object without decoding the rest.
//!
//! A watcher's selectors read two or three fields of each change (a pod's labels, its
//! `spec.nodeName`), and the watch hub reads a pod's node for every change to route it. Decoding
//! the whole object into a `serde_json::Value` for that builds every map and string of a pod
//! only to drop them. Here the JSON is walked once and only the named members are built;
//! the rest is skipped by the parser. serde_json has no such projection of its own, so the
//! walk is written here, as a `DeserializeSeed` over the tree of wanted paths.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserializer;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// The fields a reader needs, as dotted paths (`metadata.labels`, `spec.nodeName`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Paths {
    /// The whole value.
    Whole,
    /// Only these members, each with what is needed of it.
    Members(BTreeMap<String, Paths>),
}

impl Default for Paths {
    fn default() -> Self {
        Paths::Members(BTreeMap::new())
    }
}

impl Paths {
    /// The paths named, each a dotted path from the object's root.
    pub fn of<'a>(dotted: impl IntoIterator<Item = &'a str>) -> Self {
        let mut paths = Paths::default();
        for path in dotted {
            paths.add(path);
        }
        paths
    }

    /// Adds a dotted path; a path under one already wanted whole adds nothing.
    pub fn add(&mut self, dotted: &str) {
        let mut node = self;
        for part in dotted.split('.') {
            let Paths::Members(members) = node else {
                return;
            };
            node = members.entry(part.to_string()).or_default();
        }
        *node = Paths::Whole;
    }

    /// Whether nothing is wanted.
    pub fn is_empty(&self) -> bool {
        matches!(self, Paths::Members(m) if m.is_empty())
    }
}

/// The members of `json` that `paths` names, at the places they hold in the object; what is
/// missing stays missing. Where a path goes through something that is not an object, the
/// value there reads as `null`: every path below it is missing either way.
pub fn pick(json: &[u8], paths: &Paths) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let value = Pick(paths).deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

struct Pick<'p>(&'p Paths);

impl<'de> DeserializeSeed<'de> for Pick<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        match self.0 {
            Paths::Whole => serde::Deserialize::deserialize(d),
            Paths::Members(members) => d.deserialize_any(PickMembers(members)),
        }
    }
}

struct PickMembers<'p>(&'p BTreeMap<String, Paths>);

/// A member name, looked up among the wanted ones without allocating for the others.
struct Key<'p>(&'p BTreeMap<String, Paths>);

impl<'de, 'p> DeserializeSeed<'de> for Key<'p> {
    type Value = Option<(&'p String, &'p Paths)>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, 'p> Visitor<'de> for Key<'p> {
    type Value = Option<(&'p String, &'p Paths)>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.0.get_key_value(key))
    }
}

impl<'de> Visitor<'de> for PickMembers<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key_seed(Key(self.0))? {
            match key {
                Some((name, wanted)) => {
                    let value = map.next_value_seed(Pick(wanted))?;
                    out.insert(name.clone(), value);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(out))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_str<E>(self, _: &str) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use skiff_api::selector::{FieldSelector, LabelSelector, field_value};

    use super::*;

    fn pod() -> Value {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-1", "namespace": "default",
                "labels": {"app": "web", "tier": "a\"b"}, "annotations": {"x": "y"}},
            "spec": {"nodeName": "sim-3", "containers": [{"name": "c", "image": "busybox"}],
                "priority": 7},
            "status": {"phase": "Running", "conditions": [{"type": "Ready"}]}
        })
    }

    #[test]
    fn only_the_named_members_are_kept_where_they_were() {
        let bytes = serde_json::to_vec(&pod()).unwrap();
        let picked = pick(
            &bytes,
            &Paths::of(["metadata.labels", "spec.nodeName", "spec.missing"]),
        )
        .unwrap();
        assert_eq!(
            picked,
            json!({"metadata": {"labels": {"app": "web", "tier": "a\"b"}},
                "spec": {"nodeName": "sim-3"}})
        );
        assert_eq!(pick(&bytes, &Paths::default()).unwrap(), json!({}));
    }

    #[test]
    fn a_path_under_one_wanted_whole_adds_nothing() {
        let bytes = serde_json::to_vec(&pod()).unwrap();
        for order in [
            ["metadata", "metadata.labels"],
            ["metadata.labels", "metadata"],
        ] {
            let picked = pick(&bytes, &Paths::of(order)).unwrap();
            assert_eq!(picked, json!({"metadata": pod()["metadata"]}));
        }
    }

    #[test]
    fn selectors_read_the_picked_fields_as_they_read_the_object() {
        let objects = [
            pod(),
            json!({"metadata": {"name": "n", "labels": "not a map"}, "spec": 3}),
            json!({"metadata": {"name": "n"}, "spec": {"nodeName": null}}),
            json!({"metadata": [1, 2], "spec": {"nodeName": {"deep": true}}}),
            json!({"spec": {"nodeName": 12, "priority": 1.5}, "status": {"phase": ""}}),
        ];
        let fields = [
            "spec.nodeName",
            "status.phase",
            "metadata.name",
            "spec.priority",
        ];
        let labels = ["app=web", "tier", "!app", "app in (web,db)"];
        for obj in &objects {
            let bytes = serde_json::to_vec(obj).unwrap();
            let mut dotted: Vec<&str> = fields.to_vec();
            dotted.push("metadata.labels");
            let picked = pick(&bytes, &Paths::of(dotted)).unwrap();
            for f in fields {
                assert_eq!(field_value(&picked, f), field_value(obj, f), "{f} of {obj}");
                for s in [format!("{f}=sim-3"), format!("{f}!=")] {
                    let sel = FieldSelector::parse(&s).unwrap();
                    assert_eq!(sel.matches(&picked), sel.matches(obj), "{s} on {obj}");
                }
            }
            for l in labels {
                let sel = LabelSelector::parse(l).unwrap();
                assert_eq!(
                    sel.matches_object(&picked),
                    sel.matches_object(obj),
                    "{l} on {obj}"
                );
            }
        }
    }

    #[test]
    fn broken_json_is_an_error() {
        let paths = Paths::of(["spec.nodeName"]);
        assert!(pick(b"{\"spec\": {\"nodeName\": ", &paths).is_err());
        assert!(pick(b"{\"spec\": {}} trailing", &paths).is_err());
    }
}
