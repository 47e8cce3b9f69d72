//! Building HTTP responses: objects in JSON or YAML, and `Status` errors.

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use serde::ser::{Serialize, SerializeMap, Serializer};
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
pub fn object<T: Serialize + ?Sized>(code: u16, value: &T, format: Format) -> Response {
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

/// Drops `metadata.managedFields` from an object the caller owns, for a lean answer;
/// anything without a `metadata` object is left as it is.
pub fn drop_managed_fields(obj: &mut Value) {
    if let Some(metadata) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("managedFields");
    }
}

/// An object written without its `metadata.managedFields`, without copying it first.
pub struct WithoutManagedFields<'a>(pub &'a Value);

impl Serialize for WithoutManagedFields<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        /// A `metadata` map less one member.
        struct Metadata<'a>(&'a serde_json::Map<String, Value>);
        impl Serialize for Metadata<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let members = self.0.iter().filter(|(k, _)| *k != "managedFields");
                let mut map = serializer.serialize_map(None)?;
                for (k, v) in members {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
        let Value::Object(top) = self.0 else {
            return self.0.serialize(serializer);
        };
        let mut map = serializer.serialize_map(Some(top.len()))?;
        for (k, v) in top {
            match v {
                Value::Object(metadata) if k == "metadata" => {
                    map.serialize_entry(k, &Metadata(metadata))?
                }
                _ => map.serialize_entry(k, v)?,
            }
        }
        map.end()
    }
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

/// A successful write answered without its object, as the client preferred (RFC 7240).
pub fn minimal(code: u16) -> Response {
    let mut answer = Response::new(Body::empty());
    *answer.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    answer.headers_mut().insert(
        http::HeaderName::from_static("preference-applied"),
        http::HeaderValue::from_static("return=minimal"),
    );
    answer
}

/// A failure as a `Status` body with its HTTP code.
pub fn status(s: &Status) -> Response {
    object(s.code, &s.to_json(), Format::Json)
}

/// The `Status` upstream answers successful collection deletes and similar calls with.
pub fn success() -> Value {
    serde_json::json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"})
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_object_without_managed_fields_is_the_rest_of_it() {
        let obj = json!({"kind": "Pod", "metadata": {"name": "p", "managedFields": [{"manager": "m"}],
            "labels": {"a": "b"}}, "spec": {"metadata": {"managedFields": 1}}});
        let written: Value =
            serde_json::from_slice(&serde_json::to_vec(&WithoutManagedFields(&obj)).unwrap())
                .unwrap();
        assert_eq!(
            written,
            json!({"kind": "Pod", "metadata": {"name": "p", "labels": {"a": "b"}},
                   "spec": {"metadata": {"managedFields": 1}}})
        );
        let mut owned = obj.clone();
        drop_managed_fields(&mut owned);
        assert_eq!(owned, written);
        for other in [
            json!([1, 2]),
            json!({"metadata": 3}),
            json!("x"),
            json!({"a": 1}),
        ] {
            assert_eq!(
                serde_json::to_value(WithoutManagedFields(&other)).unwrap(),
                other
            );
            let mut owned = other.clone();
            drop_managed_fields(&mut owned);
            assert_eq!(owned, other);
        }
    }
}
