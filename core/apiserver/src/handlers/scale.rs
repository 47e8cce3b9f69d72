//! The `scale` subresource: an `autoscaling/v1` `Scale` view of an object's replicas.

use axum::body::Body;
use axum::response::Response;
use http::Method;
use serde_json::{Value, json};
use skiff_api::{Status, meta};

use super::Ctx;
use super::patch::{PatchType, apply_patch, read_patch};
use super::update::{Part, commit_update, conflict};
use crate::{body, objects};

/// JSON pointers to the replica counts and the selector of an object.
struct Paths {
    spec: String,
    status: String,
    /// Where the label selector is (a `LabelSelector` object or a string / map).
    selector: Option<String>,
}

fn pointer(path: &str) -> String {
    path.trim_start_matches('.')
        .split('.')
        .fold(String::new(), |mut p, seg| {
            p.push('/');
            p.push_str(seg);
            p
        })
}

fn paths(ctx: &Ctx) -> Paths {
    if let Some(scale) = ctx.custom().and_then(|c| c.scale.clone()) {
        return Paths {
            spec: pointer(
                scale["specReplicasPath"]
                    .as_str()
                    .unwrap_or(".spec.replicas"),
            ),
            status: pointer(
                scale["statusReplicasPath"]
                    .as_str()
                    .unwrap_or(".status.replicas"),
            ),
            selector: scale["labelSelectorPath"].as_str().map(pointer),
        };
    }
    Paths {
        spec: "/spec/replicas".into(),
        status: "/status/replicas".into(),
        selector: Some("/spec/selector".into()),
    }
}

/// A label selector (`LabelSelector` object, plain map, or string) in its string form.
fn selector_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(m) if m.contains_key("matchLabels") || m.contains_key("matchExpressions") => {
            let mut parts: Vec<String> = m
                .get("matchLabels")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect();
            for e in m
                .get("matchExpressions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let key = e["key"].as_str().unwrap_or("");
                let values: Vec<&str> = e["values"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                parts.push(match e["operator"].as_str().unwrap_or("") {
                    "In" => format!("{key} in ({})", values.join(",")),
                    "NotIn" => format!("{key} notin ({})", values.join(",")),
                    "Exists" => key.to_string(),
                    _ => format!("!{key}"),
                });
            }
            parts.join(",")
        }
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
            .collect::<Vec<_>>()
            .join(","),
        _ => String::new(),
    }
}

fn scale_of(obj: &Value, paths: &Paths) -> Value {
    let m = &obj["metadata"];
    let mut status =
        json!({"replicas": obj.pointer(&paths.status).and_then(Value::as_i64).unwrap_or(0)});
    if let Some(sel) = paths.selector.as_deref().and_then(|p| obj.pointer(p)) {
        status["selector"] = json!(selector_string(sel));
    }
    let mut metadata = json!({});
    for f in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = m.get(f) {
            metadata[f] = v.clone();
        }
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": {"replicas": obj.pointer(&paths.spec).and_then(Value::as_i64).unwrap_or(0)},
        "status": status,
    })
}

fn set_pointer(obj: &mut Value, pointer: &str, value: Value) {
    let mut cur = obj;
    let segs: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    for (i, seg) in segs.iter().enumerate() {
        if !cur.is_object() {
            *cur = json!({});
        }
        let map = cur.as_object_mut().expect("object just ensured");
        if i + 1 == segs.len() {
            map.insert(seg.to_string(), value);
            return;
        }
        cur = map.entry(seg.to_string()).or_insert_with(|| json!({}));
    }
}

pub async fn scale(
    ctx: Ctx,
    method: Method,
    body: Body,
    content_type: &str,
) -> Result<Response, Status> {
    let paths = paths(&ctx);
    let bytes = body::read(body).await?;
    let read_method = method;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (obj, rev) = objects::get(&ctx.state, ctx.info(), ctx.namespace(), ctx.name()).await?;
        let current = scale_of(&obj, &paths);
        let wanted = match read_method {
            Method::GET => return Ok(crate::response::object(200, &current, ctx.format)),
            Method::PUT => {
                let s = body::decode_object(&bytes, content_type)?;
                if let Some(rv) = meta::resource_version(&s)
                    && rv != rev.to_string()
                {
                    return Err(conflict(&ctx));
                }
                s
            }
            _ => {
                let kind = PatchType::of(content_type, false)?;
                let p = read_patch(kind, &bytes)?;
                apply_patch(kind, &current, &p)?
            }
        };
        let Some(replicas) = wanted.pointer("/spec/replicas").and_then(Value::as_i64) else {
            return Err(Status::invalid(
                "autoscaling",
                "Scale",
                ctx.name(),
                vec![skiff_api::StatusCause::required("spec.replicas")],
            ));
        };
        if replicas < 0 {
            return Err(Status::invalid(
                "autoscaling",
                "Scale",
                ctx.name(),
                vec![skiff_api::StatusCause::invalid(
                    "spec.replicas",
                    format!("Invalid value: {replicas}: must be greater than or equal to 0"),
                )],
            ));
        }
        let mut new = (*obj).clone();
        set_pointer(&mut new, &paths.spec, json!(replicas));
        match commit_update(&ctx, obj, rev, new, Part::Main).await {
            Err(s) if s.code == 409 && attempt < 5 && read_method == Method::PATCH => continue,
            Err(s) => return Err(s),
            Ok(updated) => {
                return Ok(crate::response::object(
                    200,
                    &scale_of(&updated, &paths),
                    ctx.format,
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_are_rendered_as_strings() {
        let s = json!({"matchLabels": {"app": "web"}, "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["a", "b"]},
            {"key": "x", "operator": "DoesNotExist"}]});
        assert_eq!(selector_string(&s), "app=web,tier in (a,b),!x");
        assert_eq!(selector_string(&json!({"app": "rc"})), "app=rc");
    }

    #[test]
    fn replicas_are_set_at_custom_paths() {
        let mut obj = json!({"spec": {}});
        set_pointer(&mut obj, &pointer(".spec.size.count"), json!(3));
        assert_eq!(obj["spec"]["size"]["count"], 3);
    }
}
