//! Building HTTP responses: objects in JSON or YAML, and `Status` errors.

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use serde_json::Value;
use skiff_api::Status;

/// The media type the client asked the answer in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
}

impl Format {
    /// Picks YAML only when the client prefers it over JSON.
    pub fn from_accept(accept: &str) -> Format {
        let yaml = accept.find("application/yaml");
        let json = accept.find("application/json");
        match (yaml, json) {
            (Some(y), Some(j)) if y < j => Format::Yaml,
            (Some(_), None) => Format::Yaml,
            _ => Format::Json,
        }
    }
}

/// An object (or list, table, status) with an HTTP code.
pub fn object(code: u16, value: &Value, format: Format) -> Response {
    let (body, ctype) = match format {
        Format::Json => (
            serde_json::to_vec(value).unwrap_or_default(),
            "application/json",
        ),
        Format::Yaml => (
            serde_yaml::to_string(value)
                .unwrap_or_default()
                .into_bytes(),
            "application/yaml",
        ),
    };
    with_type(code, body, ctype)
}

/// Raw bytes with a content type.
pub fn with_type(code: u16, body: Vec<u8>, content_type: &str) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

/// A failure as a `Status` body with its HTTP code.
pub fn status(s: &Status) -> Response {
    object(s.code, &s.to_json(), Format::Json)
}

/// The `Status` upstream answers successful collection deletes and similar calls with.
pub fn success() -> Value {
    serde_json::json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"})
}
