//! `POST` to a collection: create an object.

use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use serde_json::{Value, json};
use skiff_api::{ResourceInfo, Status, StatusCause, meta};

use super::Ctx;
use crate::{body, crd, machinery, namespaces, objects};

pub async fn create(ctx: Ctx, body: Body, content_type: &str) -> Result<Response, Status> {
    let bytes = body::read(body).await?;
    let obj = ctx.to_storage(body::decode_object(&bytes, content_type)?)?;
    let created = commit_create(&ctx, obj).await?;
    Ok(ctx.respond(201, &created))
}

/// Upstream's alphabet for `generateName` suffixes (no vowels, no look-alikes).
const SUFFIX: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn random_suffix() -> String {
    uuid::Uuid::new_v4()
        .as_bytes()
        .iter()
        .take(5)
        .map(|b| SUFFIX[*b as usize % SUFFIX.len()] as char)
        .collect()
}

/// 400 when the body names another kind or version than the URL.
pub fn check_type(info: &ResourceInfo, obj: &Value) -> Result<(), Status> {
    if let Some(av) = obj.get("apiVersion").and_then(Value::as_str)
        && av != info.api_version()
    {
        return Err(Status::bad_request(format!(
            "the API version in the data ({av}) does not match the expected API version ({})",
            info.api_version()
        )));
    }
    if let Some(kind) = obj.get("kind").and_then(Value::as_str)
        && kind != info.kind
    {
        return Err(Status::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            info.kind
        )));
    }
    Ok(())
}

/// What `status` a new object starts with: a kind with a status subresource has its status
/// set by controllers, not by its creator (nodes excepted, as upstream).
fn initial_status(info: &ResourceInfo, custom: bool, obj: &mut Value) {
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    if !info.has_subresource("status") || (info.group.is_empty() && info.plural == "nodes") {
        return;
    }
    if custom {
        map.remove("status");
        return;
    }
    let status = match (info.group.as_str(), info.plural.as_str()) {
        ("", "pods") => Some(json!({"phase": "Pending"})),
        ("", "persistentvolumeclaims" | "persistentvolumes") => Some(json!({"phase": "Pending"})),
        ("", "services") => Some(json!({"loadBalancer": {}})),
        ("", "namespaces") => return,
        ("apiextensions.k8s.io", _) => return,
        _ => None,
    };
    match status {
        Some(s) => {
            map.insert("status".into(), s);
        }
        None => {
            map.remove("status");
        }
    }
}

/// Checks an object against its resource: schema validation and pruning for custom
/// resources, defaulting and validation for built-in kinds. 422 with every cause.
pub fn admit(ctx: &Ctx, obj: &mut Value) -> Result<(), Status> {
    let info = ctx.info();
    let mut causes: Vec<StatusCause> = Vec::new();
    match ctx.custom() {
        Some(custom) => {
            if let Some(schema) = &custom.schema {
                let keep = (
                    obj.get("apiVersion").cloned(),
                    obj.get("kind").cloned(),
                    obj.get("metadata").cloned(),
                );
                machinery::prune(schema, obj);
                if let Some(m) = obj.as_object_mut() {
                    for (k, v) in [
                        ("apiVersion", keep.0),
                        ("kind", keep.1),
                        ("metadata", keep.2),
                    ] {
                        if let Some(v) = v {
                            m.insert(k.into(), v);
                        }
                    }
                }
                causes.extend(machinery::validate_against_schema(schema, obj));
            }
            causes.extend(machinery::validate(info, obj));
        }
        None => {
            machinery::apply_defaults(info, obj);
            causes.extend(machinery::validate(info, obj));
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(Status::invalid(
            &info.group,
            &info.kind,
            meta::name(obj).unwrap_or(""),
            causes,
        ))
    }
}

/// Creates an object: names, namespace rules, server-set metadata, admission, store write.
pub async fn commit_create(ctx: &Ctx, mut obj: Value) -> Result<Arc<Value>, Status> {
    let info = ctx.info().clone();
    check_type(&info, &obj)?;
    obj = objects::with_type(obj, &info);
    let namespace = ctx.namespace().map(str::to_string);
    match &namespace {
        Some(ns) => {
            if let Some(body_ns) = meta::namespace(&obj)
                && body_ns != ns
            {
                return Err(Status::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            meta::set(&mut obj, "namespace", ns.as_str());
        }
        None => meta::remove(&mut obj, "namespace"),
    }
    let generate = meta::generate_name(&obj).map(str::to_string);
    if meta::name(&obj).is_none() {
        match &generate {
            Some(prefix) => meta::set(&mut obj, "name", format!("{prefix}{}", random_suffix())),
            None => {
                return Err(Status::invalid(
                    &info.group,
                    &info.kind,
                    "",
                    vec![StatusCause {
                        reason: "FieldValueRequired".into(),
                        message: "Required value: name or generateName is required".into(),
                        field: "metadata.name".into(),
                    }],
                ));
            }
        }
    }
    let name = meta::name(&obj).unwrap_or("").to_string();
    if let Some(ns) = &namespace {
        namespaces::check_can_create(ctx.state.store.as_ref(), &info, ns, &name).await?;
    }
    for f in [
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
    ] {
        meta::remove(&mut obj, f);
    }
    let uid = uuid::Uuid::new_v4().to_string();
    meta::set(&mut obj, "uid", uid.as_str());
    meta::set(&mut obj, "creationTimestamp", meta::now());
    if info.group == "batch" && info.plural == "jobs" {
        // Jobs select their pods by the Job's own uid, which only exists from here on.
        machinery::job_selector(&mut obj, &uid);
    }
    let custom = ctx.custom().is_some();
    if custom || obj.get("spec").is_some() {
        meta::set(&mut obj, "generation", 1);
    }
    initial_status(&info, custom, &mut obj);
    if info.group.is_empty() && info.plural == "namespaces" {
        namespaces::prepare_create(&mut obj);
    }
    if info.group.is_empty() && info.plural == "persistentvolumeclaims" {
        crate::default_class::apply(ctx.state.store.as_ref(), &mut obj).await?;
    }
    admit(ctx, &mut obj)?;
    let _allocation = crate::services::allocate(ctx, None, &mut obj).await?;
    if crd::is_crd(&info) {
        crd::prepare(&mut obj)?;
    }
    if !ctx.applying {
        machinery::track_update(None, &mut obj, &ctx.manager, None);
    }
    if ctx.dry_run {
        return Ok(Arc::new(obj));
    }
    let mut attempt = 0;
    let kv = loop {
        let key = info.key(namespace.as_deref(), meta::name(&obj).unwrap_or(""));
        match ctx.state.store.create(&key, objects::encode(&obj)).await {
            Ok(kv) => break kv,
            Err(skiff_store::Error::AlreadyExists(_)) if generate.is_some() && attempt < 5 => {
                attempt += 1;
                let prefix = generate.as_deref().unwrap_or("");
                meta::set(&mut obj, "name", format!("{prefix}{}", random_suffix()));
            }
            Err(e) => {
                return Err(objects::store_error(
                    e,
                    &info,
                    meta::name(&obj).unwrap_or(""),
                ));
            }
        }
    };
    // What was stored is `obj` itself (without a resourceVersion): no need to decode it again.
    meta::set_resource_version(&mut obj, kv.mod_revision);
    if crd::is_crd(&info) {
        crd::register(&ctx.state, &obj);
    }
    Ok(objects::written(&ctx.state, &kv.key, kv.mod_revision, obj))
}
