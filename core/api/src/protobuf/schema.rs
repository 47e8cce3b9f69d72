//! The generated field table: for each built-in message, its fields' tags, JSON names and
//! types. `schema.json` is written by `tools/protobuf-schema`; do not edit it by hand.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::Deserialize;

use super::Error;
use super::special::Special;

const TABLE: &str = include_str!("schema.json");

/// The module of `meta/v1`, whose kinds (DeleteOptions, Status, ...) every group version serves.
const META_V1: &str = "apimachinery.pkg.apis.meta.v1";

/// The type of a field's values.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldType {
    String,
    Bytes,
    Bool,
    Int32,
    Int64,
    Double,
    Message(String),
    /// A map with string keys (every Kubernetes map has them).
    Map(Box<FieldType>),
}

#[derive(Debug)]
pub struct Field {
    pub tag: u32,
    /// The JSON name; empty for a Go struct embedded inline, whose fields join the parent's.
    pub json: String,
    pub ty: FieldType,
    pub repeated: bool,
}

#[derive(Debug)]
pub struct Message {
    pub name: String,
    pub fields: Vec<Field>,
    by_tag: HashMap<u32, usize>,
    /// Whether the JSON form is not an object with the message's fields.
    pub special: Option<Special>,
}

impl Message {
    /// The position in `fields` of the field with this tag.
    pub fn field(&self, tag: u32) -> Option<usize> {
        self.by_tag.get(&tag).copied()
    }
}

#[derive(Debug)]
pub struct Schema {
    /// apiVersion -> module of its kinds.
    packages: HashMap<String, String>,
    messages: HashMap<String, Message>,
    /// Lowercased message name -> message name: k8s-pb spells some kinds differently
    /// (`ApiService` for `APIService`).
    lowercase: HashMap<String, String>,
}

impl Schema {
    pub fn message(&self, name: &str) -> Option<&Message> {
        self.messages.get(name)
    }

    /// The message of a top-level kind: from its group version, or a `meta/v1` kind.
    pub fn message_for(&self, api_version: &str, kind: &str) -> Option<&Message> {
        let in_module = |module: &str| {
            self.lowercase
                .get(&format!("{module}.{kind}").to_lowercase())
                .and_then(|n| self.messages.get(n))
        };
        self.packages
            .get(api_version)
            .and_then(|m| in_module(m))
            .or_else(|| in_module(META_V1))
    }
}

#[derive(Deserialize)]
struct Table {
    packages: HashMap<String, String>,
    wrappers: Vec<String>,
    messages: HashMap<String, Vec<(u32, String, String, bool)>>,
}

static SCHEMA: LazyLock<Result<Schema, String>> = LazyLock::new(|| load(TABLE));

/// The table, read once.
pub fn get() -> Result<&'static Schema, Error> {
    SCHEMA.as_ref().map_err(|e| Error::Schema(e.clone()))
}

fn load(text: &str) -> Result<Schema, String> {
    let table: Table = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let mut messages = HashMap::with_capacity(table.messages.len());
    for (name, raw_fields) in table.messages {
        let fields: Vec<Field> = raw_fields
            .into_iter()
            .map(|(tag, json, ty, repeated)| {
                Ok(Field {
                    tag,
                    json,
                    ty: parse_type(&ty)?,
                    repeated,
                })
            })
            .collect::<Result<_, String>>()?;
        let by_tag = fields.iter().enumerate().map(|(i, f)| (f.tag, i)).collect();
        let special = if table.wrappers.contains(&name) {
            Some(Special::ListWrapper)
        } else {
            Special::of(&name)
        };
        messages.insert(
            name.clone(),
            Message {
                name,
                fields,
                by_tag,
                special,
            },
        );
    }
    for m in messages.values() {
        for f in &m.fields {
            let mut ty = &f.ty;
            while let FieldType::Map(inner) = ty {
                ty = inner;
            }
            if let FieldType::Message(target) = ty
                && !messages.contains_key(target)
            {
                return Err(format!("{}.{} refers to unknown {target}", m.name, f.json));
            }
        }
    }
    let lowercase = messages
        .keys()
        .map(|n| (n.to_lowercase(), n.clone()))
        .collect();
    Ok(Schema {
        packages: table.packages,
        messages,
        lowercase,
    })
}

fn parse_type(ty: &str) -> Result<FieldType, String> {
    Ok(match ty {
        "string" => FieldType::String,
        "bytes" => FieldType::Bytes,
        "bool" => FieldType::Bool,
        "int32" => FieldType::Int32,
        "int64" => FieldType::Int64,
        "double" => FieldType::Double,
        _ => match ty.strip_prefix("map:") {
            Some(value) => FieldType::Map(Box::new(parse_type(value)?)),
            None if ty.contains('.') => FieldType::Message(ty.to_string()),
            None => return Err(format!("unknown field type {ty}")),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_table_loads_and_every_reference_resolves() {
        let schema = get().unwrap();
        assert!(schema.messages.len() > 1000);
    }

    #[test]
    fn kinds_are_found_by_group_version_and_meta_kinds_in_any_group() {
        let schema = get().unwrap();
        let name = |v, k| schema.message_for(v, k).map(|m| m.name.as_str());
        assert_eq!(
            name("apps/v1", "Deployment"),
            Some("api.apps.v1.Deployment")
        );
        assert_eq!(name("v1", "Secret"), Some("api.core.v1.Secret"));
        assert_eq!(
            name("policy/v1", "Eviction"),
            Some("api.policy.v1.Eviction")
        );
        assert_eq!(
            name("policy/v1", "DeleteOptions"),
            Some("apimachinery.pkg.apis.meta.v1.DeleteOptions")
        );
        assert_eq!(
            name("apiregistration.k8s.io/v1", "APIService"),
            Some("kube_aggregator.pkg.apis.apiregistration.v1.APIService")
        );
        assert_eq!(name("example.com/v1", "Widget"), None);
        assert_eq!(name("v1", "Deployment"), None);
    }

    #[test]
    fn json_names_keep_the_api_capitalisation_and_inline_structs_have_none() {
        let schema = get().unwrap();
        let json = |m: &str, tag: u32| {
            let m = schema.message(m).unwrap();
            m.fields[m.field(tag).unwrap()].json.clone()
        };
        assert_eq!(json("api.core.v1.ServiceSpec", 3), "clusterIP");
        assert_eq!(json("api.core.v1.NodeSpec", 7), "podCIDRs");
        let props = "apiextensions_apiserver.pkg.apis.apiextensions.v1.JsonSchemaProps";
        assert_eq!(json(props, 2), "$schema");
        assert_eq!(json(props, 3), "$ref");
        assert_eq!(json("api.core.v1.Volume", 2), "");
    }
}
