//! `/openapi/v2` and `/openapi/v3[/...]`: the documents `kubectl explain`, `apply` and
//! field validation read, built from the registry and the stored CRDs.

use serde_json::Value;
use skiff_api::Status;
use skiff_store::ListOptions;

use crate::request::Route;
use crate::response::{self, Format};
use crate::state::ApiState;
use crate::{machinery, objects};

async fn crds(state: &ApiState) -> Vec<Value> {
    let prefix = "/registry/apiextensions.k8s.io/customresourcedefinitions/";
    match state.store.list(prefix, ListOptions::default()).await {
        Ok(page) => page
            .items
            .iter()
            .filter_map(|kv| objects::decode(kv).ok())
            .collect(),
        Err(_) => Vec::new(),
    }
}

pub async fn serve(
    state: &ApiState,
    route: &Route,
    _query: Option<&str>,
) -> Result<axum::response::Response, Status> {
    let crds = crds(state).await;
    let registry = state.registry().clone();
    let doc = match route {
        Route::OpenApiV2 => machinery::openapi_v2(&registry, &crds),
        Route::OpenApiV3Index => machinery::openapi_v3_index(&registry),
        Route::OpenApiV3 { group, version } => {
            machinery::openapi_v3_group_version(&registry, &crds, group, version)
                .ok_or_else(crate::handlers::not_found)?
        }
        _ => return Err(crate::handlers::not_found()),
    };
    Ok(response::object(200, &doc, Format::Json))
}
