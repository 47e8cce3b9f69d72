//! The one place the server calls the API machinery of `skiff-api` (selectors, validation,
//! defaulting, patches, tables, OpenAPI), so handlers stay independent of its details.

use serde_json::Value;
use skiff_api::patch::{self, ApplyError};
use skiff_api::selector::{FieldSelector, LabelSelector};
use skiff_api::table::{self, IncludeObject};
use skiff_api::{Registry, ResourceInfo, Status, StatusCause, defaults, openapi, validation};

/// Label and field selectors of a list or watch request.
#[derive(Clone, Debug, Default)]
pub struct Selectors {
    labels: Option<LabelSelector>,
    fields: Option<FieldSelector>,
}

impl Selectors {
    /// Parses the `labelSelector` and `fieldSelector` query parameters; 400 when malformed.
    pub fn parse(label: Option<&str>, field: Option<&str>) -> Result<Self, Status> {
        let labels = label
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                LabelSelector::parse(s)
                    .map_err(|e| Status::bad_request(format!("unable to parse requirement: {e}")))
            })
            .transpose()?;
        let fields = field
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                FieldSelector::parse(s)
                    .map_err(|e| Status::bad_request(format!("invalid field selector: {e}")))
            })
            .transpose()?;
        Ok(Selectors { labels, fields })
    }

    /// The value the field selector pins `field` to, if it does.
    pub fn exact_field(&self, field: &str) -> Option<&str> {
        self.fields.as_ref()?.exact_value(field)
    }

    /// The fields the selectors read of an object.
    pub fn reads(&self) -> crate::partial::Paths {
        let mut paths = crate::partial::Paths::default();
        if self.labels.is_some() {
            paths.add("metadata.labels");
        }
        for r in self.fields.iter().flat_map(|f| f.requirements()) {
            paths.add(&r.field);
        }
        paths
    }

    /// Whether an object matches every requirement.
    pub fn matches(&self, obj: &Value) -> bool {
        self.labels.as_ref().is_none_or(|l| l.matches_object(obj))
            && self.fields.as_ref().is_none_or(|f| f.matches(obj))
    }
}

/// Field-level problems with an object (names, labels, built-in kinds).
pub fn validate(info: &ResourceInfo, obj: &Value) -> Vec<StatusCause> {
    validation::validate(info, obj)
}

/// Problems with a custom object against its CRD's `openAPIV3Schema`.
pub fn validate_against_schema(schema: &Value, obj: &Value) -> Vec<StatusCause> {
    validation::validate_against_schema(schema, obj)
}

/// Drops fields the schema does not declare, after filling in its defaults.
pub fn prune(schema: &Value, obj: &mut Value) {
    defaults::apply_schema_defaults(schema, obj);
    validation::prune(schema, obj);
}

/// Upstream defaulting for built-in kinds.
pub fn apply_defaults(info: &ResourceInfo, obj: &mut Value) {
    defaults::apply(info, obj);
}

/// The reason a patch could not be applied, as a 422 message.
pub type PatchError = String;

fn describe(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

/// The selector and pod labels a Job gets from its uid (unless it sets `manualSelector`).
pub fn job_selector(obj: &mut Value, uid: &str) {
    skiff_api::defaults::job_selector(obj, uid)
}

pub fn json_patch(target: &Value, patch: &Value) -> Result<Value, PatchError> {
    patch::json_patch(target, patch).map_err(|e| describe(&e))
}

pub fn merge_patch(target: &Value, patch: &Value) -> Value {
    patch::merge_patch(target, patch)
}

pub fn strategic_merge_patch(target: &Value, patch: &Value) -> Result<Value, PatchError> {
    patch::strategic_merge_patch(target, patch).map_err(|e| describe(&e))
}

/// A server-side apply that could not proceed: conflicts (409) or a bad configuration.
#[derive(Debug)]
pub enum ApplyFailure {
    Conflicts(String, Vec<StatusCause>),
    Invalid(String),
}

pub fn server_side_apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
) -> Result<Value, ApplyFailure> {
    patch::server_side_apply(live, applied, manager, force).map_err(|e| match e {
        ApplyError::Conflicts(c) => ApplyFailure::Conflicts(
            c.to_string(),
            c.0.iter()
                .map(|x| StatusCause {
                    reason: "FieldManagerConflict".into(),
                    message: x.message(),
                    field: x.path.clone(),
                })
                .collect(),
        ),
        other => ApplyFailure::Invalid(describe(&other)),
    })
}

/// Records an `Update` by `manager` in `managedFields` (of `status` only for status writes).
pub fn track_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    subresource: Option<&str>,
) {
    patch::track_update_subresource(old, new, manager, subresource);
}

/// A `meta.k8s.io/v1` `Table` of `objects` (rows and columns; the caller adds list metadata).
pub fn to_table(
    info: &ResourceInfo,
    printer_columns: Option<&[Value]>,
    objects: &[Value],
    include_object: &str,
) -> Value {
    let include = IncludeObject::from_query(include_object).unwrap_or_default();
    table::to_table(info, printer_columns, objects, include)
}

/// The OpenAPI v2 document (JSON).
pub fn openapi_v2(registry: &Registry, crds: &[Value]) -> Value {
    openapi::v2(registry, crds)
}

/// The OpenAPI v3 index: one entry per group-version.
pub fn openapi_v3_index(registry: &Registry) -> Value {
    openapi::v3_index(registry)
}

/// The OpenAPI v3 document of one group-version.
pub fn openapi_v3_group_version(
    registry: &Registry,
    crds: &[Value],
    group: &str,
    version: &str,
) -> Option<Value> {
    openapi::v3_group_version(registry, crds, group, version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selectors_support_every_operator() {
        let obj = json!({"metadata": {"labels": {"app": "web", "tier": "front"}}});
        let m = |s: &str| Selectors::parse(Some(s), None).unwrap().matches(&obj);
        assert!(m("app=web"));
        assert!(m("app==web,tier"));
        assert!(!m("app!=web"));
        assert!(m("app in (web, api)"));
        assert!(!m("app notin (web)"));
        assert!(m("!missing"));
        assert!(!m("missing"));
        assert!(Selectors::parse(Some("app in web"), None).is_err());
    }

    #[test]
    fn field_selectors_read_dotted_paths() {
        let obj = json!({"metadata": {"name": "a"}, "spec": {"nodeName": "n1"}});
        let m = |s: &str| Selectors::parse(None, Some(s)).unwrap().matches(&obj);
        assert!(m("metadata.name=a"));
        assert!(m("spec.nodeName!=n2"));
        assert!(!m("spec.nodeName="));
        assert!(m("status.phase="));
    }
}
