//! The `runtime.Unknown` envelope around every Kubernetes protobuf body.

use prost::Message;

use super::{Error, MAGIC};

/// `k8s.io/apimachinery/pkg/runtime.TypeMeta` as it appears on the wire.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TypeMeta {
    #[prost(string, optional, tag = "1")]
    pub api_version: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub kind: Option<String>,
}

/// `k8s.io/apimachinery/pkg/runtime.Unknown`: the object's type and its encoded bytes.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Unknown {
    #[prost(message, optional, tag = "1")]
    pub type_meta: Option<TypeMeta>,
    #[prost(bytes = "vec", optional, tag = "2")]
    pub raw: Option<Vec<u8>>,
    #[prost(string, optional, tag = "3")]
    pub content_encoding: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub content_type: Option<String>,
}

impl Unknown {
    pub fn api_version(&self) -> &str {
        self.type_meta
            .as_ref()
            .and_then(|t| t.api_version.as_deref())
            .unwrap_or("")
    }

    pub fn kind(&self) -> &str {
        self.type_meta
            .as_ref()
            .and_then(|t| t.kind.as_deref())
            .unwrap_or("")
    }
}

/// Checks the prefix and reads the envelope; the envelope must name a kind and carry its
/// bytes unencoded (Kubernetes never sets a content encoding).
pub fn open(body: &[u8]) -> Result<Unknown, Error> {
    let rest = body.strip_prefix(MAGIC.as_slice()).ok_or(Error::NoMagic)?;
    let unknown = Unknown::decode(rest).map_err(Error::Envelope)?;
    if unknown.kind().is_empty() || unknown.api_version().is_empty() {
        return Err(Error::NoKind);
    }
    match unknown.content_encoding.as_deref() {
        None | Some("") => Ok(unknown),
        Some(other) => Err(Error::ContentEncoding(other.to_string())),
    }
}
