//! `DELETE` of an object or a collection: preconditions, finalizers, propagation policy,
//! graceful pod deletion, namespaces that terminate.

use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use serde_json::{Value, json};
use skiff_api::{Status, meta};
use skiff_store::Revision;

use super::Ctx;
use super::update::store_write;
use crate::{body, crd, namespaces, objects};

/// `DeleteOptions` from the body and the query.
#[derive(Clone, Debug, Default)]
pub struct DeleteOptions {
    pub grace: Option<i64>,
    pub propagation: Option<String>,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
}

impl DeleteOptions {
    pub async fn read(ctx: &Ctx, body: Body) -> Result<Self, Status> {
        let bytes = body::read(body).await?;
        let mut o = DeleteOptions::default();
        if !bytes.iter().all(u8::is_ascii_whitespace) {
            let v = body::decode_object(&bytes, "application/json")?;
            o.grace = v["gracePeriodSeconds"].as_i64();
            o.propagation = v["propagationPolicy"].as_str().map(str::to_string);
            if v["orphanDependents"] == json!(true) {
                o.propagation = Some("Orphan".into());
            }
            o.uid = v
                .pointer("/preconditions/uid")
                .and_then(Value::as_str)
                .map(str::to_string);
            o.resource_version = v
                .pointer("/preconditions/resourceVersion")
                .and_then(Value::as_str)
                .map(str::to_string);
        }
        if let Some(g) = ctx.query.int("gracePeriodSeconds") {
            o.grace = Some(g);
        }
        if let Some(p) = ctx.query.get("propagationPolicy") {
            o.propagation = Some(p.to_string());
        }
        if ctx.query.flag("orphanDependents") {
            o.propagation = Some("Orphan".into());
        }
        Ok(o)
    }
}

pub async fn delete(ctx: Ctx, body: Body) -> Result<Response, Status> {
    let opts = DeleteOptions::read(&ctx, body).await?;
    let (obj, rev) = objects::get(&ctx.state, ctx.info(), ctx.namespace(), ctx.name()).await?;
    let out = delete_object(&ctx, obj, rev, &opts).await?;
    Ok(ctx.respond(200, &out))
}

pub async fn delete_collection(ctx: Ctx, body: Body) -> Result<Response, Status> {
    let opts = DeleteOptions::read(&ctx, body).await?;
    let (items, _, _) = super::list::collect(&ctx).await?;
    let mut deleted = Vec::new();
    for obj in items {
        let name = meta::name(&obj).unwrap_or("").to_string();
        let ns = meta::namespace(&obj).map(str::to_string);
        let mut target = ctx.target.clone();
        target.name = Some(name.clone());
        target.namespace = ns.clone();
        let one = Ctx {
            target,
            ..ctx.clone()
        };
        let rev = meta::resource_version(&obj)
            .and_then(|r| r.parse().ok())
            .unwrap_or(0);
        match delete_object(&one, Arc::new(obj), rev, &opts).await {
            Ok(v) => deleted.push(ctx.to_served(Arc::unwrap_or_clone(v))),
            Err(s) if s.code == 404 || s.code == 409 => {}
            Err(s) => return Err(s),
        }
    }
    let body = json!({
        "kind": ctx.served_info().list_kind(),
        "apiVersion": ctx.served_info().api_version(),
        "metadata": {},
        "items": deleted,
    });
    Ok(crate::response::object(200, &body, ctx.format))
}

fn precondition_failed(ctx: &Ctx, what: &str, want: &str, have: &str) -> Status {
    Status::conflict(
        &ctx.info().group,
        &ctx.info().plural,
        ctx.name(),
        &format!(
            "Precondition failed: {what} in precondition: {want}, {what} in object meta: {have}"
        ),
    )
}

/// Deletes `obj` (read at `rev`) or, when finalizers or a grace period hold it, marks it
/// for deletion. Returns the object as it now is (or was, when gone).
/// Deletes (or marks for deletion) an object. Writers racing with the delete (a controller
/// updating status while finalizers are added) make the store write conflict; like upstream,
/// the delete is then retried on the current object unless the caller pinned a
/// resourceVersion.
pub async fn delete_object(
    ctx: &Ctx,
    mut obj: Arc<Value>,
    mut rev: Revision,
    opts: &DeleteOptions,
) -> Result<Arc<Value>, Status> {
    let mut attempts = 0;
    loop {
        match delete_once(ctx, obj, rev, opts).await {
            Err(status)
                if status.code == 409
                    && status.reason == "Conflict"
                    && opts.resource_version.is_none()
                    && attempts < 5 =>
            {
                attempts += 1;
                (obj, rev) =
                    objects::get(&ctx.state, ctx.info(), ctx.namespace(), ctx.name()).await?;
            }
            other => return other,
        }
    }
}

async fn delete_once(
    ctx: &Ctx,
    obj: Arc<Value>,
    rev: Revision,
    opts: &DeleteOptions,
) -> Result<Arc<Value>, Status> {
    if let Some(uid) = &opts.uid
        && meta::uid(&obj) != Some(uid.as_str())
    {
        return Err(precondition_failed(
            ctx,
            "UID",
            uid,
            meta::uid(&obj).unwrap_or(""),
        ));
    }
    if let Some(want) = &opts.resource_version
        && *want != rev.to_string()
    {
        return Err(precondition_failed(
            ctx,
            "ResourceVersion",
            want,
            &rev.to_string(),
        ));
    }
    let info = ctx.info().clone();
    let mut new = (*obj).clone();
    let mut finalizers = meta::finalizers(&obj);
    let add = |f: &str, finalizers: &mut Vec<String>| {
        if !finalizers.iter().any(|x| x == f) {
            finalizers.push(f.to_string());
        }
    };
    match opts.propagation.as_deref() {
        Some("Foreground") => add("foregroundDeletion", &mut finalizers),
        Some("Orphan") => add("orphan", &mut finalizers),
        Some("Background") | None => {}
        Some(other) => {
            return Err(Status::invalid(
                "",
                "DeleteOptions",
                "",
                vec![skiff_api::StatusCause::invalid(
                    "propagationPolicy",
                    format!(
                        "Unsupported value: {other:?}: supported values: \"Foreground\", \"Background\", \"Orphan\""
                    ),
                )],
            ));
        }
    }
    // Only objects that are not deleted at once get the propagation finalizers.
    let is_namespace = info.group.is_empty() && info.plural == "namespaces";
    let is_pod = info.group.is_empty() && info.plural == "pods";
    let now = chrono::Utc::now();

    if is_namespace {
        meta::set_finalizers(&mut new, &finalizers);
        if !meta::is_deleting(&new) {
            meta::set(&mut new, "deletionTimestamp", meta::timestamp(now));
            meta::set(&mut new, "deletionGracePeriodSeconds", 0);
        }
        new["status"]["phase"] = json!("Terminating");
        if namespaces::can_be_removed(&new) {
            return remove(ctx, new, Some(rev)).await;
        }
        return store_write(ctx, &obj, new, rev).await;
    }

    if is_pod
        && new
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty())
    {
        let grace = opts
            .grace
            .or_else(|| {
                new.pointer("/spec/terminationGracePeriodSeconds")
                    .and_then(Value::as_i64)
            })
            .unwrap_or(30)
            .max(0);
        if grace > 0 {
            let current = new
                .pointer("/metadata/deletionGracePeriodSeconds")
                .and_then(Value::as_i64);
            if meta::is_deleting(&new) && current.is_some_and(|c| c <= grace) {
                return Ok(obj);
            }
            meta::set_finalizers(&mut new, &finalizers);
            meta::set(
                &mut new,
                "deletionTimestamp",
                meta::timestamp(now + chrono::Duration::seconds(grace)),
            );
            meta::set(&mut new, "deletionGracePeriodSeconds", grace);
            return store_write(ctx, &obj, new, rev).await;
        }
    }

    if !finalizers.is_empty() {
        meta::set_finalizers(&mut new, &finalizers);
        if !meta::is_deleting(&new) {
            meta::set(&mut new, "deletionTimestamp", meta::timestamp(now));
            meta::set(&mut new, "deletionGracePeriodSeconds", 0);
        }
        return store_write(ctx, &obj, new, rev).await;
    }
    remove(ctx, new, Some(rev)).await
}

/// Removes an object from the store (only if still at `expected`); a CRD takes its objects
/// and its served resources with it.
pub async fn remove(
    ctx: &Ctx,
    obj: Value,
    expected: Option<Revision>,
) -> Result<Arc<Value>, Status> {
    if ctx.dry_run {
        return Ok(Arc::new(obj));
    }
    let info = ctx.info();
    let key = info.key(ctx.namespace(), ctx.name());
    let kv = ctx
        .state
        .store
        .delete(&key, expected)
        .await
        .map_err(|e| objects::store_error(e, info, ctx.name()))?;
    let gone = objects::with_type(objects::decode(&kv)?, info);
    if crd::is_crd(info) {
        crd::delete_objects(&ctx.state, &gone)
            .await
            .map_err(|e| objects::store_error(e, info, ctx.name()))?;
        crd::unregister(&ctx.state, &gone);
    }
    Ok(Arc::new(gone))
}
