//! Field paths and the upstream-worded field errors (`Invalid value: ...`, `Required value`).
//!
//! A `StatusCause` carries the path in `field` and the message without it, like upstream's
//! `field.Error`; the API server joins them as `path: message` in the Status message.

use std::fmt;

use serde_json::Value;

use crate::status::StatusCause;

/// A path to a field, printed like upstream: `spec.containers[0].resources.limits[cpu]`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Path(String);

impl Path {
    pub fn new(root: &str) -> Self {
        Path(root.to_string())
    }

    /// `a.b` (or `b` when this path is empty).
    pub fn child(&self, name: &str) -> Path {
        if self.0.is_empty() {
            Path(name.to_string())
        } else {
            Path(format!("{}.{name}", self.0))
        }
    }

    /// `a[3]`.
    pub fn index(&self, i: usize) -> Path {
        Path(format!("{}[{i}]", self.0))
    }

    /// `a[key]`, for map entries.
    pub fn key(&self, k: &str) -> Path {
        Path(format!("{}[{k}]", self.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Prints a value the way upstream's errors show it: strings quoted, numbers bare.
pub fn show(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

fn cause(reason: &str, path: &Path, message: String) -> StatusCause {
    StatusCause {
        reason: reason.into(),
        message,
        field: path.0.clone(),
    }
}

fn with_detail(head: String, detail: &str) -> String {
    if detail.is_empty() {
        head
    } else {
        format!("{head}: {detail}")
    }
}

/// `Invalid value: "x": detail`.
pub fn invalid(path: &Path, value: &Value, detail: &str) -> StatusCause {
    cause(
        "FieldValueInvalid",
        path,
        with_detail(format!("Invalid value: {}", show(value)), detail),
    )
}

/// `Invalid value: "x": detail` for a string value.
pub fn invalid_str(path: &Path, value: &str, detail: &str) -> StatusCause {
    invalid(path, &Value::String(value.to_string()), detail)
}

/// `Invalid value: "string": detail`, reported as a type error.
pub fn type_invalid(path: &Path, value: &Value, detail: &str) -> StatusCause {
    cause(
        "FieldValueTypeInvalid",
        path,
        with_detail(format!("Invalid value: {}", show(value)), detail),
    )
}

/// `Required value[: detail]`.
pub fn required(path: &Path, detail: &str) -> StatusCause {
    cause(
        "FieldValueRequired",
        path,
        with_detail("Required value".into(), detail),
    )
}

/// `Unsupported value: "x": supported values: "a", "b"`.
pub fn not_supported(path: &Path, value: &Value, supported: &[&str]) -> StatusCause {
    let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
    cause(
        "FieldValueNotSupported",
        path,
        format!(
            "Unsupported value: {}: supported values: {}",
            show(value),
            list.join(", ")
        ),
    )
}

/// `Duplicate value: "x"`.
pub fn duplicate(path: &Path, value: &Value) -> StatusCause {
    cause(
        "FieldValueDuplicate",
        path,
        format!("Duplicate value: {}", show(value)),
    )
}

/// `Not found: "x"`.
pub fn not_found(path: &Path, value: &Value) -> StatusCause {
    cause(
        "FieldValueNotFound",
        path,
        format!("Not found: {}", show(value)),
    )
}

/// `Forbidden: detail`.
pub fn forbidden(path: &Path, detail: &str) -> StatusCause {
    cause(
        "FieldValueForbidden",
        path,
        with_detail("Forbidden".into(), detail),
    )
}

/// `Too long: may not be more than N bytes`.
pub fn too_long(path: &Path, max_bytes: usize) -> StatusCause {
    cause(
        "FieldValueTooLong",
        path,
        format!("Too long: may not be more than {max_bytes} bytes"),
    )
}

/// `Too many: N: must have at most M items`.
pub fn too_many(path: &Path, actual: usize, max: usize) -> StatusCause {
    cause(
        "FieldValueTooMany",
        path,
        format!("Too many: {actual}: must have at most {max} items"),
    )
}

/// One `Invalid value` cause per problem a name check reported.
pub fn invalid_each(path: &Path, value: &str, problems: Vec<String>) -> Vec<StatusCause> {
    problems
        .into_iter()
        .map(|p| invalid_str(path, value, &p))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_print_like_upstream() {
        let p = Path::new("spec")
            .child("containers")
            .index(0)
            .child("resources")
            .child("limits")
            .key("cpu");
        assert_eq!(p.as_str(), "spec.containers[0].resources.limits[cpu]");
        assert_eq!(Path::default().child("spec").as_str(), "spec");
    }

    #[test]
    fn messages_quote_strings_and_not_numbers() {
        let p = Path::new("spec").child("replicas");
        assert_eq!(
            invalid(&p, &json!(-1), "must be greater than or equal to 0").message,
            "Invalid value: -1: must be greater than or equal to 0"
        );
        assert_eq!(invalid_str(&p, "x", "").message, "Invalid value: \"x\"");
        let c = not_supported(&p, &json!("Sometimes"), &["Always", "Never"]);
        assert_eq!(c.reason, "FieldValueNotSupported");
        assert_eq!(
            c.message,
            "Unsupported value: \"Sometimes\": supported values: \"Always\", \"Never\""
        );
        assert_eq!(required(&p, "").message, "Required value");
        assert_eq!(required(&p, "why").message, "Required value: why");
        assert_eq!(duplicate(&p, &json!("a")).message, "Duplicate value: \"a\"");
        assert_eq!(forbidden(&p, "no").message, "Forbidden: no");
    }
}
