//! `pods/binding` (the scheduler assigns a node) and `pods/eviction`.

use axum::body::Body;
use axum::response::Response;
use serde_json::{Value, json};
use skiff_api::{Status, meta};

use super::Ctx;
use super::delete::{DeleteOptions, delete_object};
use super::update::store_write;
use crate::{body, objects, response};

pub async fn bind(ctx: Ctx, body: Body, content_type: &str) -> Result<Response, Status> {
    let bytes = body::read(body).await?;
    let binding = body::decode_object(&bytes, content_type)?;
    let node = binding
        .pointer("/target/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            Status::invalid(
                "",
                "Binding",
                ctx.name(),
                vec![skiff_api::StatusCause::required("target.name")],
            )
        })?
        .to_string();
    let (pod, rev) = objects::get(&ctx.state, ctx.info(), ctx.namespace(), ctx.name()).await?;
    let refuse = |why: String| Status::conflict("", "pods/binding", ctx.name(), &why);
    if meta::is_deleting(&pod) {
        return Err(refuse(
            "pod is being deleted, cannot be assigned to a host".into(),
        ));
    }
    if let Some(current) = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    {
        return Err(refuse(format!(
            "pod {} is already assigned to node {current:?}",
            ctx.name()
        )));
    }
    if let Some(uid) = binding.pointer("/metadata/uid").and_then(Value::as_str)
        && meta::uid(&pod) != Some(uid)
    {
        return Err(refuse(
            "the UID in the binding does not match the pod".into(),
        ));
    }
    let mut bound = (*pod).clone();
    bound["spec"]["nodeName"] = json!(node);
    if !bound["status"].is_object() {
        bound["status"] = json!({});
    }
    let conditions = bound["status"]
        .as_object_mut()
        .expect("status is an object")
        .entry("conditions")
        .or_insert_with(|| json!([]));
    if let Some(list) = conditions.as_array_mut() {
        list.retain(|c| c["type"] != "PodScheduled");
        list.push(
            json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null,
            "lastTransitionTime": meta::now()}),
        );
    }
    store_write(&ctx, &pod, bound, rev).await?;
    Ok(response::object(201, &response::success(), ctx.format))
}

pub async fn evict(ctx: Ctx, body: Body, content_type: &str) -> Result<Response, Status> {
    let bytes = body::read(body).await?;
    let eviction = if bytes.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        body::decode_object(&bytes, content_type)?
    };
    let (pod, rev) = objects::get(&ctx.state, ctx.info(), ctx.namespace(), ctx.name()).await?;
    crate::disruption::check_eviction(&ctx.state, &pod).await?;
    let d = &eviction["deleteOptions"];
    let opts = DeleteOptions {
        grace: d["gracePeriodSeconds"].as_i64(),
        propagation: d["propagationPolicy"].as_str().map(str::to_string),
        uid: d
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(str::to_string),
        resource_version: d
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string),
    };
    delete_object(&ctx, pod, rev, &opts).await?;
    Ok(response::object(201, &response::success(), ctx.format))
}
