//! The per-request context every verb handler receives.

use std::sync::Arc;

use axum::extract::Request;
use axum::response::Response;
use serde_json::Value;
use skiff_api::ResourceInfo;

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
    /// The CRD details of the target, looked up once per request.
    pub custom: Option<Arc<CustomVersion>>,
}

impl Ctx {
    pub fn new(
        state: Arc<ApiState>,
        target: Target,
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
        let custom = state.custom(&target.info);
        Ctx {
            custom,
            format: Format::from_accept(accept),
            state,
            target,
            query,
            user,
            manager,
            table,
            dry_run,
            applying: false,
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

    /// One object in the requested form (plain or as a one-row `Table`).
    pub fn respond(&self, code: u16, obj: &Value) -> Response {
        match &self.table {
            Some(include) if self.target.subresource.is_none() => {
                let table = self.table_of(std::slice::from_ref(obj), include);
                response::object(code, &table, self.format)
            }
            _ => response::object(code, obj, self.format),
        }
    }

    pub fn table_of(&self, objects: &[Value], include: &str) -> Value {
        let custom = self.custom();
        let columns = custom
            .as_ref()
            .filter(|c| !c.printer_columns.is_empty())
            .map(|c| c.printer_columns.as_slice());
        crate::machinery::to_table(self.info(), columns, objects, include)
    }
}
