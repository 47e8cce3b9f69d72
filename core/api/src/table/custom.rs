//! Tables of custom resources from their CRD's `additionalPrinterColumns`, and the default
//! NAME / CREATED AT table of kinds without a printer.

use chrono::{DateTime, SecondsFormat, Utc};
use jsonpath_rust::JsonPath;
use serde_json::Value;

use super::Printer;
use super::age::{human_duration, parse_time};
use super::cells::{name, s, text};
use super::column::Column;

/// The printer of kinds without one: upstream's default table convertor.
pub(super) fn default_printer() -> Printer {
    Printer::new(
        vec![
            Column::name(),
            Column::new(
                "Created At",
                "Time the server recorded the object's creationTimestamp.",
            )
            .type_("date"),
        ],
        |obj, _| {
            let created = s(obj, "/metadata/creationTimestamp");
            let created = parse_time(created)
                .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
                .unwrap_or_default();
            vec![name(obj), text(created)]
        },
    )
}

/// One `additionalPrinterColumns` entry, ready to evaluate.
struct PrinterColumn {
    type_: String,
    json_path: String,
}

/// Converts a CRD column path (`.spec.replicas`, `.status.conditions[0].type`) into the RFC
/// 9535 form jsonpath-rust evaluates (`$.spec.replicas`). Kubernetes paths may also be wrapped
/// in braces (`{.spec.replicas}`).
fn to_query(json_path: &str) -> String {
    let path = json_path.trim();
    let path = path
        .strip_prefix('{')
        .and_then(|p| p.strip_suffix('}'))
        .unwrap_or(path);
    if path.starts_with('$') {
        path.to_string()
    } else if path.starts_with('.') || path.starts_with('[') {
        format!("${path}")
    } else {
        format!("$.{path}")
    }
}

/// A table for custom resources: NAME, the CRD's columns, then AGE unless a column already
/// shows the creation time (a CRD without columns gets NAME and AGE, as upstream defaults).
pub(super) fn printer(columns: &[Value]) -> Printer {
    let mut defs = vec![Column::name()];
    let mut evals = Vec::new();
    for col in columns {
        let json_path = s(col, "/jsonPath").to_string();
        let description = match s(col, "/description") {
            "" => format!("Custom resource definition column (in JSONPath format): {json_path}"),
            d => d.to_string(),
        };
        let type_ = s(col, "/type").to_string();
        defs.push(
            Column::new(s(col, "/name"), &description)
                .type_(&type_)
                .format(s(col, "/format"))
                .priority(col.get("priority").and_then(Value::as_i64).unwrap_or(0)),
        );
        evals.push(PrinterColumn { type_, json_path });
    }
    let shows_creation = evals
        .iter()
        .any(|c| to_query(&c.json_path) == "$.metadata.creationTimestamp");
    if !shows_creation {
        defs.push(Column::age().type_("date"));
        evals.push(PrinterColumn {
            type_: "date".to_string(),
            json_path: ".metadata.creationTimestamp".to_string(),
        });
    }
    Printer {
        columns: defs,
        row: Box::new(move |obj, now| {
            let mut cells = vec![name(obj)];
            cells.extend(evals.iter().map(|c| cell(obj, c, now)));
            cells
        }),
        conditions: None,
    }
}

/// Evaluates one column on one object like upstream's CRD table convertor: the first match
/// only; strings as text, other JSON as compact JSON in string columns; dates as ages;
/// `null` when the path finds nothing or the value does not fit the column type.
fn cell(obj: &Value, col: &PrinterColumn, now: DateTime<Utc>) -> Value {
    let found = obj
        .query(&to_query(&col.json_path))
        .ok()
        .and_then(|results| results.into_iter().next());
    let Some(value) = found.filter(|v| !v.is_null()) else {
        return Value::Null;
    };
    match col.type_.as_str() {
        "string" => match value {
            Value::String(s) => text(s.clone()),
            other => text(other.to_string()),
        },
        "integer" => match value {
            Value::Number(n) => n
                .as_i64()
                .or_else(|| n.as_f64().map(|f| f as i64))
                .map_or(Value::Null, Value::from),
            _ => Value::Null,
        },
        "number" => match value {
            Value::Number(n) => n.as_f64().map_or(Value::Null, Value::from),
            _ => Value::Null,
        },
        "boolean" => match value {
            Value::Bool(b) => Value::Bool(*b),
            _ => Value::Null,
        },
        "date" => match value {
            Value::String(t) => match parse_time(t) {
                Some(t) => text(human_duration(now - t)),
                None => text("<invalid>"),
            },
            _ => Value::Null,
        },
        _ => Value::Null,
    }
}
