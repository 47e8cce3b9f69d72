//! `GET` of a collection: selectors, paging with continue tokens, tables.

use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use skiff_api::Status;
use skiff_store::{ListOptions, Revision};

use super::Ctx;
use crate::machinery::Selectors;
use crate::objects;

/// A continue token: the last key returned and the revision the list is read at.
pub fn encode_continue(key: &str, revision: Revision) -> String {
    URL_SAFE_NO_PAD.encode(json!({"k": key, "rv": revision}).to_string())
}

fn decode_continue(token: &str) -> Result<(String, Revision), Status> {
    let bad = || Status::bad_request("continue key is not valid: invalid continue token");
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let key = v["k"].as_str().ok_or_else(bad)?.to_string();
    let rv = v["rv"].as_i64().ok_or_else(bad)?;
    Ok((key, rv))
}

/// Lists the objects of the request's resource (and namespace) matching its selectors.
/// Returns the items, the revision read at and the continue token, if more remain.
pub async fn collect(ctx: &Ctx) -> Result<(Vec<Value>, Revision, Option<String>), Status> {
    let selectors = Selectors::parse(
        ctx.query.get("labelSelector"),
        ctx.query.get("fieldSelector"),
    )?;
    let limit = ctx
        .query
        .int("limit")
        .filter(|l| *l > 0)
        .map(|l| l as usize);
    let info = ctx.info().clone();
    let prefix = info.namespace_prefix(ctx.namespace());
    let mut start_after = None;
    let mut revision = None;
    let from_token = ctx.query.get("continue").is_some();
    if let Some(token) = ctx.query.get("continue") {
        let (key, rv) = decode_continue(token)?;
        if !key.starts_with(&prefix) {
            return Err(Status::bad_request(
                "continue key is not valid: wrong resource",
            ));
        }
        start_after = Some(key);
        revision = Some(rv);
    } else if ctx.query.get("resourceVersionMatch") == Some("Exact") {
        revision = ctx.query.int("resourceVersion");
    }
    let mut items = Vec::new();
    let mut next = None;
    loop {
        let page = ctx
            .state
            .store
            .list(
                &prefix,
                ListOptions {
                    start_after: start_after.clone(),
                    limit: limit.map(|l| (l - items.len()).max(1)),
                    revision,
                },
            )
            .await
            .map_err(|e| match e {
                skiff_store::Error::Compacted { .. } if from_token => Status::gone(
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
                ),
                e => objects::store_error(e, &info, ""),
            })?;
        revision = Some(page.revision);
        let count = page.items.len();
        for (i, kv) in page.items.into_iter().enumerate() {
            start_after = Some(kv.key.clone());
            let obj = objects::with_type(objects::decode(&kv)?, &info);
            if selectors.matches(&obj) {
                items.push(obj);
            }
            if let Some(l) = limit
                && items.len() >= l
            {
                if i + 1 < count || page.more {
                    next = Some(encode_continue(&kv.key, page.revision));
                }
                return Ok((items, page.revision, next));
            }
        }
        if !page.more || limit.is_none() {
            break;
        }
    }
    Ok((items, revision.unwrap_or(0), next))
}

pub async fn list(ctx: Ctx) -> Result<Response, Status> {
    let (mut items, revision, next) = collect(&ctx).await?;
    if ctx.lean {
        for item in &mut items {
            crate::response::drop_managed_fields(item);
        }
    }
    let mut meta = json!({"resourceVersion": revision.to_string()});
    if let Some(n) = next {
        meta["continue"] = json!(n);
    }
    let body = match &ctx.table {
        Some(include) => {
            let mut table = ctx.table_of(&items, include);
            table["metadata"] = meta;
            table
        }
        None => json!({
            "kind": ctx.served_info().list_kind(),
            "apiVersion": ctx.served_info().api_version(),
            "metadata": meta,
            "items": items.into_iter().map(|o| ctx.to_served(o)).collect::<Vec<_>>(),
        }),
    };
    Ok(crate::response::object(200, &body, ctx.format))
}
