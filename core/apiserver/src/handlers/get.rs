//! `GET` of one object (or its `status`).

use axum::response::Response;
use skiff_api::Status;

use super::Ctx;
use crate::objects;

pub async fn get(ctx: Ctx) -> Result<Response, Status> {
    let (obj, _) = objects::get(&ctx.state, ctx.info(), ctx.namespace(), ctx.name()).await?;
    Ok(ctx.respond(200, &obj))
}
