//! `PATCH` of an object or its `status`: JSON patch, merge patch, strategic merge patch and
//! server-side apply, retried on write conflicts unless the patch pins a resourceVersion.

use axum::body::Body;
use axum::response::Response;
use serde_json::Value;
use skiff_api::{Status, StatusCause, meta};

use super::Ctx;
use super::create::commit_create;
use super::update::{Part, commit_update, conflict};
use crate::machinery::{self, ApplyFailure};
use crate::{body, objects};

/// The four patch media types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    Strategic,
    Apply,
}

const ACCEPTED: &str =
    "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml";

impl PatchType {
    /// The patch type of a content type; 415 for anything else, and for strategic merge
    /// patches of custom resources (they have no patch strategy), as upstream.
    pub fn of(content_type: &str, custom: bool) -> Result<PatchType, Status> {
        let base = content_type.split(';').next().unwrap_or("").trim();
        let t = match base {
            "application/json-patch+json" => PatchType::Json,
            "application/merge-patch+json" => PatchType::Merge,
            "application/strategic-merge-patch+json" if !custom => PatchType::Strategic,
            "application/apply-patch+yaml" => PatchType::Apply,
            _ => {
                return Err(Status::unsupported_media_type(format!(
                    "the body of the request was in an unknown format - accepted media types include: {ACCEPTED}{}",
                    if custom {
                        ""
                    } else {
                        ", application/strategic-merge-patch+json"
                    }
                )));
            }
        };
        Ok(t)
    }
}

/// Applies a patch of any type but apply to a document.
pub fn apply_patch(kind: PatchType, target: &Value, patch: &Value) -> Result<Value, Status> {
    let failed = |e: String| {
        Status::new(
            422,
            "Invalid",
            format!("the patch could not be applied: {e}"),
        )
    };
    match kind {
        PatchType::Json => machinery::json_patch(target, patch).map_err(failed),
        PatchType::Merge => Ok(machinery::merge_patch(target, patch)),
        PatchType::Strategic => machinery::strategic_merge_patch(target, patch).map_err(failed),
        PatchType::Apply => Ok(machinery::merge_patch(target, patch)),
    }
}

/// Parses a patch body: JSON, or YAML for apply; a JSON patch must be a list.
pub fn read_patch(kind: PatchType, bytes: &[u8]) -> Result<Value, Status> {
    let v = body::decode(
        bytes,
        if kind == PatchType::Apply {
            "yaml"
        } else {
            "json"
        },
    )?;
    match (kind, &v) {
        (PatchType::Json, Value::Array(_)) => Ok(v),
        (PatchType::Json, _) => Err(Status::bad_request(
            "the body of a json patch must be a list of operations",
        )),
        (_, Value::Object(_)) => Ok(v),
        _ => Err(Status::bad_request(
            "the body of the patch must be an object",
        )),
    }
}

fn apply_failure(ctx: &Ctx, f: ApplyFailure) -> Status {
    match f {
        ApplyFailure::Conflicts(message, causes) => {
            let mut s = Status::new(409, "Conflict", message).with_details(
                &ctx.info().group,
                &ctx.info().plural,
                ctx.name(),
            );
            s.causes = causes;
            s
        }
        ApplyFailure::Invalid(message) => Status::new(422, "Invalid", message).with_details(
            &ctx.info().group,
            &ctx.info().kind,
            ctx.name(),
        ),
    }
}

pub async fn patch(mut ctx: Ctx, body: Body, content_type: &str) -> Result<Response, Status> {
    let kind = PatchType::of(content_type, ctx.custom().is_some())?;
    let bytes = body::read(body).await?;
    let patch = read_patch(kind, &bytes)?;
    let part = Part::of(ctx.target.subresource.as_deref());
    let force = ctx.query.flag("force");
    if kind == PatchType::Apply {
        if ctx.query.get("fieldManager").is_none() {
            return Err(Status::invalid(
                &ctx.info().group,
                &ctx.info().kind,
                ctx.name(),
                vec![StatusCause::required("fieldManager")],
            ));
        }
        ctx.applying = true;
    }
    let pinned = patch
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let current = objects::get(&ctx.state, ctx.info(), ctx.namespace(), ctx.name()).await;
        let (old, rev) = match current {
            Ok(c) => c,
            Err(s) if s.code == 404 && kind == PatchType::Apply && part == Part::Main => {
                let mut applied = patch.clone();
                if meta::name(&applied).is_none() {
                    meta::set(&mut applied, "name", ctx.name());
                }
                let obj = machinery::server_side_apply(None, &applied, &ctx.manager, force)
                    .map_err(|f| apply_failure(&ctx, f))?;
                let obj = ctx.to_storage(obj)?;
                let created = commit_create(&ctx, obj).await?;
                return Ok(ctx.respond(201, &created));
            }
            Err(s) => return Err(s),
        };
        if let Some(rv) = &pinned
            && *rv != rev.to_string()
        {
            return Err(conflict(&ctx));
        }
        // A patch is written against the version the client addressed.
        let served = match &ctx.served {
            Some(_) => std::borrow::Cow::Owned(ctx.to_served((*old).clone())),
            None => std::borrow::Cow::Borrowed(&*old),
        };
        let new = match kind {
            PatchType::Apply => {
                machinery::server_side_apply(Some(&served), &patch, &ctx.manager, force)
                    .map_err(|f| apply_failure(&ctx, f))?
            }
            other => apply_patch(other, &served, &patch)?,
        };
        drop(served);
        if !new.is_object() {
            return Err(Status::new(
                422,
                "Invalid",
                "the patch must leave an object",
            ));
        }
        let new = ctx.to_storage(new)?;
        match commit_update(&ctx, old, rev, new, part).await {
            Err(s)
                if s.code == 409 && s.reason == "Conflict" && pinned.is_none() && attempt < 5 =>
            {
                continue;
            }
            Ok(v) => return Ok(ctx.respond(200, &v)),
            Err(s) => return Err(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategic_merge_patches_of_custom_resources_are_unsupported() {
        let ct = "application/strategic-merge-patch+json";
        assert_eq!(PatchType::of(ct, true).unwrap_err().code, 415);
        assert_eq!(PatchType::of(ct, false).unwrap(), PatchType::Strategic);
        assert_eq!(PatchType::of("text/plain", false).unwrap_err().code, 415);
        assert_eq!(
            PatchType::of("application/apply-patch+yaml; charset=utf-8", true).unwrap(),
            PatchType::Apply
        );
    }
}
