//! The per-request context every verb handler receives.

use std::sync::Arc;

use axum::extract::Request;
use axum::response::Response;
use serde_json::Value;
use skiff_api::{ResourceInfo, Status, convert};

use crate::auth::User;
use crate::request::{Query, Target};
use crate::response::{self, Format};
use crate::state::{ApiState, CustomVersion};

/// What a handler needs to know about the request it serves.
#[derive(Clone)]
pub struct Ctx {
    pub state: Arc<ApiState>,
    pub target: Target,
    pub query: Query,
    #[allow(dead_code)]
    pub user: User,
    /// `fieldManager`, or the client name from the User-Agent, as upstream derives it.
    pub manager: String,
    pub format: Format,
    /// `includeObject` when the client asked for a `Table`.
    pub table: Option<String>,
    pub dry_run: bool,
    /// A server-side apply, which records field ownership itself.
    pub applying: bool,
    /// Objects are answered without `metadata.managedFields` (see [`crate::LocalService`]).
    pub lean: bool,
    /// A write whose client asked (`Prefer: return=minimal`, RFC 7240) for its outcome
    /// alone: a success is answered without the object.
    pub minimal: bool,
    /// The CRD details of the target, looked up once per request.
    pub custom: Option<Arc<CustomVersion>>,
    /// The version the client addressed, when it is served by conversion from the stored
    /// one (`target.info`): bodies are converted on the way in and out.
    pub served: Option<ResourceInfo>,
}

impl Ctx {
    pub fn new(
        state: Arc<ApiState>,
        mut target: Target,
        query: Query,
        user: User,
        req: &Request,
    ) -> Self {
        let accept = req
            .headers()
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let table = accept
            .split(',')
            .any(|a| a.contains("as=Table"))
            .then(|| query.get("includeObject").unwrap_or("Metadata").to_string());
        let agent = req
            .headers()
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("unknown");
        let manager = query
            .get("fieldManager")
            .map(str::to_string)
            .unwrap_or_else(|| {
                agent
                    .split('/')
                    .next()
                    .unwrap_or(agent)
                    .chars()
                    .take(128)
                    .collect()
            });
        let dry_run = query.get("dryRun").is_some();
        let minimal = !matches!(*req.method(), http::Method::GET | http::Method::HEAD)
            && req
                .headers()
                .get_all("prefer")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .any(|p| p.trim().eq_ignore_ascii_case("return=minimal"));
        let custom = state.custom(&target.info);
        let served = convert::storage_version(
            &target.info.group,
            &target.info.version,
            &target.info.plural,
        )
        .and_then(|v| {
            let stored = state
                .registry()
                .by_plural(&target.info.group, v, &target.info.plural)
                .cloned()?;
            Some(std::mem::replace(&mut target.info, stored))
        });
        Ctx {
            custom,
            served,
            format: Format::from_accept(accept),
            state,
            target,
            query,
            user,
            manager,
            table,
            dry_run,
            applying: false,
            lean: req.extensions().get::<crate::local::Lean>().is_some(),
            minimal,
        }
    }

    pub fn info(&self) -> &ResourceInfo {
        &self.target.info
    }

    pub fn namespace(&self) -> Option<&str> {
        if self.target.info.namespaced() {
            self.target.namespace.as_deref()
        } else {
            None
        }
    }

    pub fn name(&self) -> &str {
        self.target.name.as_deref().unwrap_or("")
    }

    pub fn custom(&self) -> Option<Arc<CustomVersion>> {
        self.custom.clone()
    }

    /// The resource version the client addressed (the stored one unless converted).
    pub fn served_info(&self) -> &ResourceInfo {
        self.served.as_ref().unwrap_or(&self.target.info)
    }

    /// A request body in the stored version: 400 when it names another version than the
    /// URL, converted when the URL's version is served by conversion.
    pub fn to_storage(&self, obj: Value) -> Result<Value, Status> {
        match &self.served {
            Some(served) => {
                super::create::check_type(served, &obj)?;
                Ok(convert::convert(obj, &self.target.info.api_version()))
            }
            None => Ok(obj),
        }
    }

    /// A stored object in the version the client addressed.
    pub fn to_served(&self, obj: Value) -> Value {
        match &self.served {
            Some(served) => convert::convert(obj, &served.api_version()),
            None => obj,
        }
    }

    /// One object in the requested form (plain or as a one-row `Table`).
    pub fn respond(&self, code: u16, obj: &Value) -> Response {
        if self.minimal {
            // Components that only check that their write landed (a kubelet's status, an
            // event) spare the server encoding an answer nobody reads.
            return response::minimal(code);
        }
        match &self.table {
            Some(include) if self.target.subresource.is_none() => {
                let table = self.table_of(std::slice::from_ref(obj), include);
                response::object(code, &table, self.format)
            }
            _ => {
                let served = self.served.as_ref().map(|_| self.to_served(obj.clone()));
                let obj = served.as_ref().unwrap_or(obj);
                if self.lean {
                    response::object(code, &response::WithoutManagedFields(obj), self.format)
                } else {
                    response::object(code, obj, self.format)
                }
            }
        }
    }

    pub fn table_of(&self, objects: &[Value], include: &str) -> Value {
        let custom = self.custom();
        let columns = custom
            .as_ref()
            .filter(|c| !c.printer_columns.is_empty())
            .map(|c| c.printer_columns.as_slice());
        let mut table = crate::machinery::to_table(self.info(), columns, objects, include);
        if let Some(served) = &self.served {
            served_rows(&mut table, &served.api_version());
        }
        table
    }
}

/// Converts the objects a `Table` embeds (`includeObject=Object`) to the served version; the
/// cells were printed from the stored form.
pub fn served_rows(table: &mut Value, api_version: &str) {
    let rows = table.get_mut("rows").and_then(Value::as_array_mut);
    for row in rows.into_iter().flatten() {
        if let Some(obj) = row.get_mut("object")
            && obj
                .get("kind")
                .is_some_and(|k| k != "PartialObjectMetadata")
        {
            *obj = convert::convert(obj.take(), api_version);
        }
    }
}
