//! `PUT` of an object, its `status` or (namespaces) `finalize`; and the update path shared by
//! patch, scale and binding.

use axum::body::Body;
use std::sync::Arc;

use axum::response::Response;
use serde_json::Value;
use skiff_api::{Status, meta};
use skiff_store::Revision;

use super::Ctx;
use super::create::{admit, check_type};
use super::delete::remove;
use crate::{body, crd, machinery, namespaces, objects};

/// Which part of an object an update may change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// Everything but `status` (for kinds with a status subresource).
    Main,
    /// Only `status`.
    Status,
    /// Only `spec.finalizers` (namespaces).
    Finalize,
}

impl Part {
    pub fn of(subresource: Option<&str>) -> Part {
        match subresource {
            Some("status") => Part::Status,
            Some("finalize") => Part::Finalize,
            _ => Part::Main,
        }
    }
}

pub async fn put(ctx: Ctx, body: Body, content_type: &str) -> Result<Response, Status> {
    let bytes = body::read(body).await?;
    let obj = ctx.to_storage(body::decode_object(&bytes, content_type)?)?;
    check_type(ctx.info(), &obj)?;
    if let Some(name) = meta::name(&obj)
        && name != ctx.name()
    {
        return Err(Status::bad_request(format!(
            "the name of the object ({name}) does not match the name on the URL ({})",
            ctx.name()
        )));
    }
    let (old, rev) = objects::get(&ctx.state, ctx.info(), ctx.namespace(), ctx.name()).await?;
    if let Some(rv) = meta::resource_version(&obj)
        && rv != rev.to_string()
    {
        return Err(conflict(&ctx));
    }
    let updated = commit_update(
        &ctx,
        old,
        rev,
        obj,
        Part::of(ctx.target.subresource.as_deref()),
    )
    .await?;
    Ok(ctx.respond(200, &updated))
}

pub fn conflict(ctx: &Ctx) -> Status {
    Status::conflict(
        &ctx.info().group,
        &ctx.info().plural,
        ctx.name(),
        "the object has been modified; please apply your changes to the latest version and try again",
    )
}

/// Whether a write would change nothing but what changes on every write.
fn unchanged(new: &Value, old: &Value) -> bool {
    meta::same_except(new, old, &[], &["resourceVersion", "managedFields"])
}

const IMMUTABLE: [&str; 6] = [
    "name",
    "namespace",
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// Replaces `old` (read at `old_rev`) by `new`, keeping what the caller may not change.
/// A write that changes nothing is not stored; an object being deleted whose last
/// finalizer goes is deleted.
pub async fn commit_update(
    ctx: &Ctx,
    old: Arc<Value>,
    old_rev: Revision,
    new: Value,
    part: Part,
) -> Result<Arc<Value>, Status> {
    let info = ctx.info().clone();
    let mut new = objects::with_type(new, &info);
    match part {
        Part::Status => {
            // Everything but the status is the stored object's. What the caller sent back
            // unchanged (all of it, for a status patch) is compared, not copied again.
            if let (Value::Object(n), Value::Object(o)) = (&mut new, old.as_ref()) {
                n.retain(|k, _| k == "status" || o.contains_key(k));
                for (k, v) in o.iter().filter(|(k, _)| *k != "status") {
                    if n.get(k) != Some(v) {
                        n.insert(k.clone(), v.clone());
                    }
                }
            } else {
                let mut merged = (*old).clone();
                set_or_remove(&mut merged, "status", new.get("status").cloned());
                new = merged;
            }
        }
        Part::Finalize => {
            let mut merged = (*old).clone();
            let finalizers = new.pointer("/spec/finalizers").cloned();
            if let Some(spec) = merged.get_mut("spec").and_then(Value::as_object_mut) {
                match finalizers {
                    Some(f) => spec.insert("finalizers".into(), f),
                    None => spec.remove("finalizers"),
                };
            }
            new = merged;
        }
        Part::Main => {
            if info.has_subresource("status") {
                set_or_remove(&mut new, "status", old.get("status").cloned());
            }
            if info.group.is_empty() && info.plural == "namespaces" {
                // As upstream, a namespace's finalizers change only through `finalize`.
                let finalizers = old.pointer("/spec/finalizers").cloned();
                match (
                    new.get_mut("spec").and_then(Value::as_object_mut),
                    finalizers,
                ) {
                    (Some(spec), Some(f)) => {
                        spec.insert("finalizers".into(), f);
                    }
                    (Some(spec), None) => {
                        spec.remove("finalizers");
                    }
                    (None, Some(f)) => new["spec"] = serde_json::json!({"finalizers": f}),
                    (None, None) => {}
                }
            }
        }
    }
    for f in IMMUTABLE {
        match old.get("metadata").and_then(|m| m.get(f)).cloned() {
            Some(v) => meta::set(&mut new, f, v),
            None => meta::remove(&mut new, f),
        }
    }
    let had_generation = old.pointer("/metadata/generation").is_some();
    if had_generation || ctx.custom().is_some() || new.get("spec").is_some() {
        let mut generation = meta::generation(&old).max(1);
        if had_generation && !meta::same_spec(&old, &new) {
            generation += 1;
        }
        meta::set(&mut new, "generation", generation);
    }
    if part == Part::Status && ctx.custom().is_none() {
        // A built-in kind's status write changes nothing but the status, which no rule of
        // its kind checks: the rest is the stored object's, valid when it was written.
        machinery::apply_defaults(&info, &mut new);
    } else {
        admit(ctx, &mut new)?;
    }
    let _allocation = crate::services::allocate(ctx, Some(&*old), &mut new).await?;
    if crd::is_crd(&info) {
        crd::prepare(&mut new)?;
    }
    if unchanged(&new, &old) {
        return Ok(old);
    }
    if !ctx.applying {
        machinery::track_update(
            Some(&*old),
            &mut new,
            &ctx.manager,
            (part == Part::Status).then_some("status"),
        );
    }
    let removable = if info.group.is_empty() && info.plural == "namespaces" {
        namespaces::can_be_removed(&new)
    } else {
        meta::is_deleting(&new) && meta::finalizers(&new).is_empty()
    };
    if removable {
        return remove(ctx, new, Some(old_rev)).await;
    }
    if ctx.dry_run {
        return Ok(Arc::new(new));
    }
    let key = info.key(ctx.namespace(), ctx.name());
    let kv = ctx
        .state
        .store
        .update(&key, objects::encode(&new), old_rev)
        .await
        .map_err(|e| objects::store_error(e, &info, ctx.name()))?;
    // What was stored is `new` (without its resourceVersion): no need to decode it again.
    meta::set_resource_version(&mut new, kv.mod_revision);
    if crd::is_crd(&info) {
        crd::register(&ctx.state, &new);
    }
    Ok(objects::written(&ctx.state, &key, kv.mod_revision, new))
}

fn set_or_remove(obj: &mut Value, field: &str, value: Option<Value>) {
    if let Some(m) = obj.as_object_mut() {
        match value {
            Some(v) => m.insert(field.into(), v),
            None => m.remove(field),
        };
    }
}

/// Stores `new` over `old` (read at `rev`) as it is, without admission: for changes the
/// server itself makes (deletion marks, bindings). Nothing is written when nothing changed.
pub async fn store_write(
    ctx: &Ctx,
    old: &Value,
    new: Value,
    rev: Revision,
) -> Result<Arc<Value>, Status> {
    if *old == new || ctx.dry_run {
        return Ok(Arc::new(new));
    }
    let info = ctx.info();
    let key = info.key(ctx.namespace(), ctx.name());
    let kv = ctx
        .state
        .store
        .update(&key, objects::encode(&new), rev)
        .await
        .map_err(|e| objects::store_error(e, info, ctx.name()))?;
    let mut new = objects::with_type(new, info);
    meta::set_resource_version(&mut new, kv.mod_revision);
    Ok(objects::written(&ctx.state, &key, kv.mod_revision, new))
}
