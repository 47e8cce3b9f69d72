//! Entries of `metadata.managedFields`: who owns which fields, through which operation.

use chrono::{SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use super::fieldset::{self, FieldSet};

/// Why `metadata.managedFields` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `managedFields` is a list of objects.
    #[error("metadata.managedFields must be a list of objects")]
    NotAList,
    /// An entry lacks a field every entry has.
    #[error("managedFields entry has no valid {0}")]
    MissingField(&'static str),
    /// An operation other than `Apply` or `Update`.
    #[error("unknown managedFields operation {0:?}")]
    UnknownOperation(String),
    /// The `fieldsV1` tree is malformed.
    #[error("invalid fieldsV1 of manager {manager:?}")]
    Fields {
        /// Manager of the entry.
        manager: String,
        /// What is wrong with the tree.
        #[source]
        source: fieldset::Error,
    },
}

/// How a manager came to own its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Server-side apply.
    Apply,
    /// Any other write (create, update, patch).
    Update,
}

impl Operation {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// One entry of `metadata.managedFields`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The field manager, e.g. `kubectl` or `kube-controller-manager`.
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: Operation,
    /// The apiVersion the manager wrote through.
    pub api_version: String,
    /// When the set last changed (RFC 3339).
    pub time: Option<String>,
    /// The subresource written (`status`, `scale`), if any.
    pub subresource: Option<String>,
    /// The owned fields.
    pub fields: FieldSet,
}

impl Entry {
    /// A new entry stamped with the current time.
    pub fn new(
        manager: &str,
        operation: Operation,
        api_version: &str,
        subresource: Option<&str>,
        fields: FieldSet,
    ) -> Entry {
        Entry {
            manager: manager.to_owned(),
            operation,
            api_version: api_version.to_owned(),
            time: Some(now()),
            subresource: subresource.map(str::to_owned),
            fields,
        }
    }

    /// Whether this entry belongs to the writer identified by the arguments. Apply entries are
    /// one per manager; Update entries one per manager and apiVersion, as upstream.
    pub fn is(
        &self,
        manager: &str,
        operation: Operation,
        api_version: &str,
        subresource: Option<&str>,
    ) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.subresource.as_deref() == subresource
            && (operation == Operation::Apply || self.api_version == api_version)
    }

    fn from_value(value: Value) -> Result<Entry, Error> {
        let Value::Object(mut map) = value else {
            return Err(Error::MissingField("operation"));
        };
        let mut text = |key: &str| match map.remove(key) {
            Some(Value::String(text)) => Some(text),
            _ => None,
        };
        let manager = text("manager").unwrap_or_default();
        let operation = match text("operation").as_deref() {
            Some("Apply") => Operation::Apply,
            Some("Update") => Operation::Update,
            Some(other) => return Err(Error::UnknownOperation(other.to_owned())),
            None => return Err(Error::MissingField("operation")),
        };
        let api_version = text("apiVersion").ok_or(Error::MissingField("apiVersion"))?;
        let time = text("time");
        let subresource = text("subresource").filter(|s| !s.is_empty());
        let fields = match map.remove("fieldsV1") {
            Some(v) => FieldSet::from_fields_v1_owned(v).map_err(|source| Error::Fields {
                manager: manager.clone(),
                source,
            })?,
            None => FieldSet::new(),
        };
        Ok(Entry {
            manager,
            operation,
            api_version,
            time,
            subresource,
            fields,
        })
    }

    /// The wire form of the entry.
    pub fn to_value(&self) -> Value {
        self.clone().into_value()
    }

    /// The wire form of the entry, without copying its fields.
    pub fn into_value(self) -> Value {
        let mut map = Map::new();
        map.insert("manager".into(), Value::String(self.manager));
        map.insert("operation".into(), json!(self.operation.as_str()));
        map.insert("apiVersion".into(), Value::String(self.api_version));
        if let Some(time) = self.time {
            map.insert("time".into(), Value::String(time));
        }
        map.insert("fieldsType".into(), json!("FieldsV1"));
        map.insert("fieldsV1".into(), self.fields.into_fields_v1());
        if let Some(subresource) = self.subresource {
            map.insert("subresource".into(), Value::String(subresource));
        }
        Value::Object(map)
    }
}

/// The current time as managedFields records it (RFC 3339, whole seconds, UTC).
pub fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The entries of `object`'s `metadata.managedFields` (none when it has none).
pub fn read(object: &Value) -> Result<Vec<Entry>, Error> {
    match object.pointer("/metadata/managedFields") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(entries)) => entries.iter().cloned().map(Entry::from_value).collect(),
        Some(_) => Err(Error::NotAList),
    }
}

/// Takes `object`'s `metadata.managedFields` out of it as entries: [`read`] without copying
/// them, for a caller that writes them back.
pub fn take(object: &mut Value) -> Result<Vec<Entry>, Error> {
    let taken = object
        .pointer_mut("/metadata")
        .and_then(Value::as_object_mut)
        .and_then(|metadata| metadata.remove("managedFields"));
    match taken {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(entries)) => entries.into_iter().map(Entry::from_value).collect(),
        Some(_) => Err(Error::NotAList),
    }
}

/// Replaces `object`'s `metadata.managedFields` with `entries`, dropping the ones that own
/// nothing; the field is removed when no entry is left.
pub fn write(object: &mut Value, entries: Vec<Entry>) {
    let Some(root) = object.as_object_mut() else {
        return;
    };
    let metadata = root
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(metadata) = metadata.as_object_mut() else {
        return;
    };
    let list: Vec<Value> = entries
        .into_iter()
        .filter(|e| !e.fields.is_empty())
        .map(Entry::into_value)
        .collect();
    if list.is_empty() {
        metadata.remove("managedFields");
    } else {
        metadata.insert("managedFields".into(), Value::Array(list));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_through_the_wire_form() {
        let object = json!({"metadata": {"managedFields": [{
            "manager": "kubectl",
            "operation": "Apply",
            "apiVersion": "apps/v1",
            "time": "2024-01-02T03:04:05Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:spec": {"f:replicas": {}}},
        }]}});
        let entries = read(&object).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].operation, Operation::Apply);
        let mut copy = json!({"metadata": {}});
        write(&mut copy, entries);
        assert_eq!(copy, object);
    }

    #[test]
    fn an_unknown_operation_is_rejected() {
        let object = json!({"metadata": {"managedFields": [
            {"manager": "x", "operation": "Patch", "apiVersion": "v1"},
        ]}});
        assert!(matches!(read(&object), Err(Error::UnknownOperation(op)) if op == "Patch"));
    }

    #[test]
    fn entries_that_own_nothing_are_not_written() {
        let mut object = json!({"metadata": {"managedFields": []}});
        let empty = Entry::new("x", Operation::Update, "v1", None, FieldSet::new());
        write(&mut object, vec![empty]);
        assert_eq!(object, json!({"metadata": {}}));
    }

    #[test]
    fn the_time_is_rfc3339_in_whole_seconds() {
        let time = now();
        assert!(
            chrono::DateTime::parse_from_rfc3339(&time).is_ok(),
            "{time}"
        );
        assert!(time.ends_with('Z') && !time.contains('.'), "{time}");
    }
}
