//! Request dispatch: authentication, routing, and one module per verb.

mod binding;
mod context;
mod create;
mod delete;
mod get;
mod list;
mod patch;
mod scale;
mod update;
mod watch;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;
use http::Method;
use skiff_api::Status;

use crate::auth::PeerIdentity;
use crate::discovery;
use crate::request::{Query, Route, Target, route};
use crate::response::{self, Format};
use crate::state::ApiState;
use crate::streaming::StreamRequest;

pub use context::Ctx;

/// The single entry point of every request.
pub async fn dispatch(State(state): State<Arc<ApiState>>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let route = route(&path, &state.registry());
    if matches!(route, Route::Health) {
        return response::with_type(200, b"ok".to_vec(), "text/plain; charset=utf-8");
    }
    let user = state
        .auth
        .authenticate(req.extensions().get::<PeerIdentity>(), req.headers());
    let Some(user) = user else {
        return response::status(&Status::unauthorized());
    };
    let accept = header(&req, http::header::ACCEPT);
    let format = Format::from_accept(&accept);
    let result = match route {
        Route::Health => Ok(response::with_type(200, b"ok".to_vec(), "text/plain")),
        Route::Version => Ok(response::object(200, &discovery::version(), Format::Json)),
        Route::CoreVersions if discovery::wants_aggregated(&accept) => Ok(aggregated(&state, true)),
        Route::Groups if discovery::wants_aggregated(&accept) => Ok(aggregated(&state, false)),
        Route::CoreVersions => Ok(response::object(
            200,
            &discovery::core_versions(
                &state
                    .server_address
                    .read()
                    .map(|s| s.clone())
                    .unwrap_or_default(),
            ),
            format,
        )),
        Route::Groups => Ok(response::object(
            200,
            &discovery::group_list(&state.registry()),
            format,
        )),
        Route::Group(g) => discovery::group(&state.registry(), &g)
            .map(|v| response::object(200, &v, format))
            .ok_or_else(not_found),
        Route::Resources { group, version } => {
            discovery::resource_list(&state.registry(), &group, &version)
                .map(|v| response::object(200, &v, format))
                .ok_or_else(not_found)
        }
        Route::OpenApiV2 | Route::OpenApiV3Index | Route::OpenApiV3 { .. } => {
            crate::openapi::serve(&state, &route, req.uri().query()).await
        }
        Route::Object(target) => {
            if req.method() == Method::GET
                || req.method() == Method::POST
                || req.method() == Method::PUT
                || req.method() == Method::PATCH
                || req.method() == Method::DELETE
            {
                object(state.clone(), *target, user, req).await
            } else {
                Err(Status::method_not_allowed(format!(
                    "the server does not allow this method on the requested resource: {}",
                    req.method()
                )))
            }
        }
        Route::NotFound => Err(not_found()),
    };
    result.unwrap_or_else(|s| response::status(&s))
}

fn aggregated(state: &ApiState, core: bool) -> Response {
    let doc = discovery::aggregated(&state.registry(), core);
    response::with_type(
        200,
        serde_json::to_vec(&doc).unwrap_or_default(),
        discovery::AGGREGATED,
    )
}

pub fn not_found() -> Status {
    Status::new(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )
}

fn header(req: &Request, name: http::header::HeaderName) -> String {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

fn method_not_allowed(method: &Method) -> Status {
    Status::method_not_allowed(format!(
        "the server does not allow this method on the requested resource: {method}"
    ))
}

/// Routes a request on a resource, an object or a subresource to its verb.
async fn object(
    state: Arc<ApiState>,
    target: Target,
    user: crate::auth::User,
    req: Request,
) -> Result<Response, Status> {
    let method = req.method().clone();
    let sub = target.subresource.clone();
    if let Some(s) = &sub
        && !target.info.has_subresource(s)
    {
        return Err(not_found());
    }
    if let Some(s @ ("log" | "exec" | "attach" | "portforward")) = sub.as_deref() {
        let Some(handler) = state.streaming.clone() else {
            return Err(not_found());
        };
        let name = target.name.clone().unwrap_or_default();
        let (object, _) =
            crate::objects::get(&state, &target.info, target.namespace.as_deref(), &name).await?;
        return Ok(handler
            .handle(StreamRequest {
                namespace: target.namespace.clone().unwrap_or_default(),
                pod: name,
                subresource: s.to_string(),
                object: Arc::unwrap_or_clone(object),
                request: req,
            })
            .await);
    }
    let query = Query::parse(req.uri().query());
    let ctx = Ctx::new(state, target, query, user, &req);
    let content_type = header(&req, http::header::CONTENT_TYPE);
    let body = req.into_body();
    match (ctx.target.name.is_some(), sub.as_deref(), method) {
        (false, None, Method::GET) if ctx.target.watch || ctx.query.flag("watch") => {
            watch::watch(ctx).await
        }
        (false, None, Method::GET) => list::list(ctx).await,
        (false, None, Method::POST)
            if ctx.target.namespace.is_some() || !ctx.target.info.namespaced() =>
        {
            create::create(ctx, body, &content_type).await
        }
        (false, None, Method::DELETE) => delete::delete_collection(ctx, body).await,
        (true, None | Some("status"), Method::GET) if ctx.target.watch => watch::watch(ctx).await,
        (true, None | Some("status"), Method::GET) => get::get(ctx).await,
        (true, None | Some("status" | "finalize"), Method::PUT) => {
            update::put(ctx, body, &content_type).await
        }
        (true, None | Some("status"), Method::PATCH) => {
            patch::patch(ctx, body, &content_type).await
        }
        (true, None, Method::DELETE) => delete::delete(ctx, body).await,
        (true, Some("scale"), m @ (Method::GET | Method::PUT | Method::PATCH)) => {
            scale::scale(ctx, m, body, &content_type).await
        }
        (true, Some("binding"), Method::POST) => binding::bind(ctx, body, &content_type).await,
        (true, Some("eviction"), Method::POST) => binding::evict(ctx, body, &content_type).await,
        (_, _, m) => Err(method_not_allowed(&m)),
    }
}
