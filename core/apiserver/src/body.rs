//! Decoding request bodies: JSON or YAML objects, with the size limit.

use serde_json::Value;
use skiff_api::Status;

/// Largest request body accepted (1.5 MiB, the object size etcd accepts by default).
pub const MAX_BODY: usize = 1536 * 1024;

/// How much of a body past [`MAX_BODY`] is still read (and dropped) before the 413 goes out:
/// a client still sending when the answer comes may see a broken pipe instead of the answer.
const DRAIN: usize = 4 * MAX_BODY;

/// Reads the whole body, answering 413 past [`MAX_BODY`].
pub async fn read(body: axum::body::Body) -> Result<bytes::Bytes, Status> {
    use futures::StreamExt;
    let mut stream = body.into_data_stream();
    // Most bodies come in one piece, which is kept as it is.
    let mut first: Option<bytes::Bytes> = None;
    let mut rest = bytes::BytesMut::new();
    let mut seen = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| Status::bad_request(format!("cannot read the request body: {e}")))?;
        seen += chunk.len();
        if seen > DRAIN {
            break;
        }
        if seen > MAX_BODY {
            continue;
        }
        match first.take() {
            None if rest.is_empty() => first = Some(chunk),
            earlier => {
                if let Some(earlier) = earlier {
                    rest.extend_from_slice(&earlier);
                }
                rest.extend_from_slice(&chunk);
            }
        }
    }
    if seen > MAX_BODY {
        return Err(Status::too_large(format!(
            "the request body is larger than the limit of {MAX_BODY} bytes"
        )));
    }
    Ok(first.unwrap_or_else(|| rest.freeze()))
}

/// Whether a content type names YAML (`application/yaml`, `application/apply-patch+yaml`).
pub fn is_yaml(content_type: &str) -> bool {
    content_type.contains("yaml")
}

/// Parses a body as JSON, or YAML when the content type says so; 400 when malformed.
pub fn decode(bytes: &[u8], content_type: &str) -> Result<Value, Status> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Status::bad_request("the request body is empty"));
    }
    // Typed Go clients (kubectl create/run/expose/drain) send protobuf; the prefix is also
    // sniffed because some callers pass a fixed content type (DELETE bodies).
    if content_type.contains("protobuf") || skiff_api::protobuf::is_protobuf(bytes) {
        return skiff_api::protobuf::decode(bytes).map_err(|e| {
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                message = format!("{message}: {s}");
                source = s.source();
            }
            if e.is_unknown_kind() {
                Status::unsupported_media_type(message)
            } else {
                Status::bad_request(format!("error decoding protobuf: {message}"))
            }
        });
    }
    if content_type.contains("cbor") {
        return Err(Status::unsupported_media_type(format!(
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (not {content_type})"
        )));
    }
    if is_yaml(content_type) {
        let v: Value = serde_yaml::from_slice(bytes)
            .map_err(|e| Status::bad_request(format!("error decoding YAML: {e}")))?;
        Ok(v)
    } else {
        serde_json::from_slice(bytes).map_err(|e| {
            Status::bad_request(format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml: {e}"
            ))
        })
    }
}

/// Parses a body that must hold one object.
pub fn decode_object(bytes: &[u8], content_type: &str) -> Result<Value, Status> {
    let v = decode(bytes, content_type)?;
    if !v.is_object() {
        return Err(Status::bad_request(
            "the request body must be a JSON or YAML object",
        ));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunked(chunks: Vec<Vec<u8>>) -> axum::body::Body {
        let chunks = chunks
            .into_iter()
            .map(|c| Ok::<_, std::io::Error>(bytes::Bytes::from(c)));
        axum::body::Body::from_stream(futures::stream::iter(chunks))
    }

    #[tokio::test]
    async fn bodies_in_pieces_are_read_whole() {
        let one = read(axum::body::Body::from("{}")).await.unwrap();
        assert_eq!(&one[..], b"{}");
        let three = read(chunked(vec![b"ab".to_vec(), b"cd".to_vec(), b"e".to_vec()]))
            .await
            .unwrap();
        assert_eq!(&three[..], b"abcde");
        assert!(read(chunked(vec![])).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn bodies_past_the_limit_are_too_large_however_they_come() {
        let big = vec![b' '; MAX_BODY + 1];
        assert_eq!(
            read(axum::body::Body::from(big)).await.unwrap_err().code,
            413
        );
        let pieces = vec![vec![b' '; MAX_BODY / 2]; 3];
        assert_eq!(read(chunked(pieces)).await.unwrap_err().code, 413);
        let exact = vec![vec![b' '; MAX_BODY / 2]; 2];
        assert_eq!(read(chunked(exact)).await.unwrap().len(), MAX_BODY);
        // Past what is drained, reading stops: still 413.
        let endless = vec![vec![b' '; MAX_BODY]; 8];
        assert_eq!(read(chunked(endless)).await.unwrap_err().code, 413);
    }

    #[test]
    fn yaml_and_json_bodies_decode_to_the_same_object() {
        let j = decode_object(
            br#"{"kind":"Pod","metadata":{"name":"a"}}"#,
            "application/json",
        )
        .unwrap();
        let y = decode_object(b"kind: Pod\nmetadata:\n  name: a\n", "application/yaml").unwrap();
        assert_eq!(j, y);
    }

    #[test]
    fn malformed_bodies_are_bad_requests() {
        assert_eq!(
            decode_object(b"{nope", "application/json")
                .unwrap_err()
                .code,
            400
        );
        assert_eq!(
            decode_object(b"[1]", "application/json").unwrap_err().code,
            400
        );
        assert_eq!(
            decode_object(b"a: [", "application/yaml").unwrap_err().code,
            400
        );
    }
}
