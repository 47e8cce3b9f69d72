//! Server-side `kubectl get` tables: objects rendered as a `meta.k8s.io/v1` `Table`.
//!
//! `kubectl get` asks for `application/json;as=Table;v=v1;g=meta.k8s.io` and prints whatever
//! columns the server returns, so the columns and cell values here are what users see. They
//! follow upstream's printers kind by kind; `-o wide` columns carry priority 1 and the server
//! always fills them (the client hides them). Custom resources use their CRD's
//! `additionalPrinterColumns`; any other resource falls back to NAME and CREATED AT.

mod age;
mod cells;
mod cluster;
mod column;
mod custom;
mod network;
mod pod;
mod storage;
mod workloads;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::registry::ResourceInfo;

pub use age::human_duration;
pub use column::Column;

/// What each row's `object` holds: the `includeObject` query parameter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IncludeObject {
    /// No object at all.
    None,
    /// A `PartialObjectMetadata` with the object's metadata only (the upstream default).
    #[default]
    Metadata,
    /// The whole object.
    Object,
}

impl IncludeObject {
    /// Parses the `includeObject` query parameter (`None`, `Metadata`, `Object`).
    pub fn from_query(value: &str) -> Option<Self> {
        match value {
            "None" => Some(IncludeObject::None),
            "Metadata" => Some(IncludeObject::Metadata),
            "Object" => Some(IncludeObject::Object),
            _ => None,
        }
    }
}

/// Computes the cells of one row, given the object and the time "now" (for ages).
type RowFn = fn(&Value, DateTime<Utc>) -> Vec<Value>;

/// A row function that may capture state (the columns of a CRD).
type BoxedRowFn = Box<dyn Fn(&Value, DateTime<Utc>) -> Vec<Value>>;

/// The columns of one kind and how to fill a row; `conditions` optionally adds row conditions.
pub(crate) struct Printer {
    pub columns: Vec<Column>,
    pub row: BoxedRowFn,
    pub conditions: Option<fn(&Value) -> Option<Value>>,
}

impl Printer {
    pub(crate) fn new(columns: Vec<Column>, row: RowFn) -> Self {
        Printer {
            columns,
            row: Box::new(row),
            conditions: None,
        }
    }
}

/// Renders `objects` of one resource as a `Table` (rows only; the caller adds list metadata).
///
/// `printer_columns` are the `additionalPrinterColumns` of a custom resource's CRD version;
/// built-in kinds ignore them and use their upstream printer.
pub fn to_table(
    info: &ResourceInfo,
    printer_columns: Option<&[Value]>,
    objects: &[Value],
    include_object: IncludeObject,
) -> Value {
    to_table_at(info, printer_columns, objects, include_object, Utc::now())
}

/// [`to_table`] with an explicit "now", so that ages are reproducible in tests.
pub fn to_table_at(
    info: &ResourceInfo,
    printer_columns: Option<&[Value]>,
    objects: &[Value],
    include_object: IncludeObject,
    now: DateTime<Utc>,
) -> Value {
    let printer = printer_for(info, printer_columns);
    let rows: Vec<Value> = objects
        .iter()
        .map(|obj| {
            let mut row = Map::new();
            row.insert("cells".into(), Value::Array((printer.row)(obj, now)));
            if let Some(conditions) = printer.conditions.and_then(|f| f(obj)) {
                row.insert("conditions".into(), conditions);
            }
            if let Some(object) = row_object(obj, include_object) {
                row.insert("object".into(), object);
            }
            Value::Object(row)
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {},
        "columnDefinitions": printer.columns.iter().map(Column::to_json).collect::<Vec<_>>(),
        "rows": rows,
    })
}

fn printer_for(info: &ResourceInfo, printer_columns: Option<&[Value]>) -> Printer {
    let builtin = match info.group.as_str() {
        "" => pod::printer(&info.kind)
            .or_else(|| cluster::printer(&info.kind))
            .or_else(|| network::printer(&info.group, &info.kind))
            .or_else(|| storage::printer(&info.group, &info.kind))
            .or_else(|| workloads::printer(&info.group, &info.kind)),
        "apps" | "batch" | "autoscaling" | "policy" => workloads::printer(&info.group, &info.kind),
        "networking.k8s.io" | "discovery.k8s.io" => network::printer(&info.group, &info.kind),
        "storage.k8s.io" => storage::printer(&info.group, &info.kind),
        "coordination.k8s.io" | "rbac.authorization.k8s.io" | "scheduling.k8s.io" => {
            cluster::printer_grouped(&info.group, &info.kind)
        }
        _ => None,
    };
    match (builtin, printer_columns) {
        (Some(p), _) => p,
        (None, Some(cols)) => custom::printer(cols),
        (None, None) => custom::default_printer(),
    }
}

/// The `object` of a row, as `includeObject` asks.
fn row_object(obj: &Value, include: IncludeObject) -> Option<Value> {
    match include {
        IncludeObject::None => None,
        IncludeObject::Object => Some(obj.clone()),
        IncludeObject::Metadata => Some(json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
        })),
    }
}

#[cfg(test)]
mod tests;
