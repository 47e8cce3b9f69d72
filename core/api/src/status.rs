//! The `meta.k8s.io/v1` `Status` object every API error is reported with.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// One field-level problem inside a `Status` (`details.causes[]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCause {
    /// Machine-readable reason, e.g. `FieldValueInvalid`, `FieldValueRequired`.
    pub reason: String,
    pub message: String,
    /// JSON path of the field, e.g. `metadata.name` or `spec.containers[0].image`.
    pub field: String,
}

impl StatusCause {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        StatusCause {
            reason: "FieldValueInvalid".into(),
            message: message.into(),
            field: field.into(),
        }
    }

    pub fn required(field: impl Into<String>) -> Self {
        StatusCause {
            reason: "FieldValueRequired".into(),
            message: "Required value".into(),
            field: field.into(),
        }
    }
}

/// A failure as the API reports it: HTTP code, reason and message, and optional details.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub code: u16,
    /// `NotFound`, `AlreadyExists`, `Conflict`, `Invalid`, `BadRequest`, `Gone`, ...
    pub reason: String,
    pub message: String,
    /// Resource details: (group, kind or plural, name).
    pub details: Option<(String, String, String)>,
    pub causes: Vec<StatusCause>,
}

impl Status {
    pub fn new(code: u16, reason: &str, message: impl Into<String>) -> Self {
        Status {
            code,
            reason: reason.into(),
            message: message.into(),
            details: None,
            causes: Vec::new(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Status::new(400, "BadRequest", message)
    }

    pub fn unauthorized() -> Self {
        Status::new(401, "Unauthorized", "Unauthorized")
    }

    /// `pods "web" not found`, as upstream words it.
    pub fn not_found(group: &str, plural: &str, name: &str) -> Self {
        Status::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", qualified(group, plural)),
        )
        .with_details(group, plural, name)
    }

    pub fn already_exists(group: &str, plural: &str, name: &str) -> Self {
        Status::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", qualified(group, plural)),
        )
        .with_details(group, plural, name)
    }

    pub fn conflict(group: &str, plural: &str, name: &str, why: &str) -> Self {
        Status::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": {why}",
                qualified(group, plural)
            ),
        )
        .with_details(group, plural, name)
    }

    /// 422 with field causes: `Deployment.apps "x" is invalid: spec.replicas: Invalid value...`.
    pub fn invalid(group: &str, kind: &str, name: &str, causes: Vec<StatusCause>) -> Self {
        let what = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let list: Vec<String> = causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
        let mut s = Status::new(
            422,
            "Invalid",
            format!("{what} \"{name}\" is invalid: {}", list.join(", ")),
        )
        .with_details(group, kind, name);
        s.causes = causes;
        s
    }

    pub fn gone(message: impl Into<String>) -> Self {
        Status::new(410, "Expired", message)
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Status::new(405, "MethodNotAllowed", message)
    }

    pub fn too_large(message: impl Into<String>) -> Self {
        Status::new(413, "RequestEntityTooLarge", message)
    }

    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Status::new(415, "UnsupportedMediaType", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Status::new(500, "InternalError", message)
    }

    pub fn with_details(mut self, group: &str, kind: &str, name: &str) -> Self {
        self.details = Some((group.into(), kind.into(), name.into()));
        self
    }

    /// The JSON body sent on the wire.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if self.details.is_some() || !self.causes.is_empty() {
            let mut d = json!({});
            if let Some((group, kind, name)) = &self.details {
                if !name.is_empty() {
                    d["name"] = json!(name);
                }
                if !group.is_empty() {
                    d["group"] = json!(group);
                }
                d["kind"] = json!(kind);
            }
            if !self.causes.is_empty() {
                d["causes"] = serde_json::to_value(&self.causes).unwrap_or(Value::Null);
            }
            v["details"] = d;
        }
        v
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Status {}

fn qualified(group: &str, plural: &str) -> String {
    if group.is_empty() {
        plural.to_string()
    } else {
        format!("{plural}.{group}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_reads_like_upstream() {
        let s = Status::not_found("apps", "deployments", "web").to_json();
        assert_eq!(s["message"], "deployments.apps \"web\" not found");
        assert_eq!(s["code"], 404);
        assert_eq!(s["details"]["name"], "web");
    }

    #[test]
    fn invalid_lists_every_cause() {
        let s = Status::invalid(
            "",
            "Pod",
            "Bad_Name",
            vec![StatusCause::invalid(
                "metadata.name",
                "Invalid value: \"Bad_Name\"",
            )],
        );
        assert_eq!(s.code, 422);
        let j = s.to_json();
        assert_eq!(j["details"]["causes"][0]["field"], "metadata.name");
        assert!(
            j["message"]
                .as_str()
                .unwrap()
                .starts_with("Pod \"Bad_Name\" is invalid")
        );
    }
}
