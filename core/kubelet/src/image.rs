//! Container images: names, tarball import, registry pull, the containerd image store and a
//! builder for small test images.
//!
//! Every path ends in the same place: an [`ImageContent`] (manifest, config and layer blobs)
//! that a runtime stores under the image's normalized name and unpacks so containers can
//! start from it.

pub mod archive;
pub mod registry;
pub mod store;
pub mod testimage;

use std::collections::HashMap;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::runtime::{self, ContainerRuntime};

/// Media type of an OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of an OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Media type of an OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Media type of an uncompressed OCI layer.
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// Media type of a Docker schema 2 manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Media type of a Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// What can go wrong with images.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid image reference {reference:?}")]
    Reference {
        reference: String,
        #[source]
        source: oci_client::ParseError,
    },
    #[error("failed to read image archive {path}")]
    ArchiveIo {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid image archive: {0}")]
    Archive(String),
    #[error("invalid json in {what}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("registry request for {reference} failed")]
    Registry {
        reference: String,
        #[source]
        source: oci_client::errors::OciDistributionError,
    },
    #[error("containerd {call} failed")]
    Containerd {
        call: &'static str,
        #[source]
        source: tonic::Status,
    },
    #[error("image {0} not found")]
    NotFound(String),
    #[error("io error")]
    Io(#[source] std::io::Error),
}

/// One blob of an image.
#[derive(Debug, Clone)]
pub struct Blob {
    pub media_type: String,
    /// `sha256:<hex>` of `data`.
    pub digest: String,
    pub data: Vec<u8>,
}

impl Blob {
    /// A blob whose digest is computed from its bytes.
    pub fn new(media_type: impl Into<String>, data: Vec<u8>) -> Self {
        Blob {
            media_type: media_type.into(),
            digest: sha256_digest(&data),
            data,
        }
    }
}

/// A whole single-platform image, held in memory (test and pod images are small).
#[derive(Debug, Clone)]
pub struct ImageContent {
    /// Normalized name (`docker.io/library/busybox:latest`).
    pub name: String,
    /// The image manifest (OCI or Docker schema 2).
    pub manifest: Blob,
    pub config: Blob,
    /// In manifest order.
    pub layers: Vec<Blob>,
}

/// `sha256:<hex>` of some bytes.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// Normalizes an image name the way Kubernetes does:
/// `busybox` → `docker.io/library/busybox:latest`, `localhost:5000/x` → `localhost:5000/x:latest`.
pub fn normalize(name: &str) -> Result<String, Error> {
    /// Names normalized before: parsing a reference runs a regular expression, and a node
    /// asks for the same few images for every container it starts. Emptied past 1,024.
    static SEEN: std::sync::LazyLock<std::sync::Mutex<HashMap<String, String>>> =
        std::sync::LazyLock::new(Default::default);
    if let Some(known) = SEEN.lock().ok().and_then(|seen| seen.get(name).cloned()) {
        return Ok(known);
    }
    let reference: oci_client::Reference = name.parse().map_err(|source| Error::Reference {
        reference: name.to_string(),
        source,
    })?;
    let whole = reference.whole();
    if let Ok(mut seen) = SEEN.lock() {
        if seen.len() >= 1024 {
            seen.clear();
        }
        seen.insert(name.to_string(), whole.clone());
    }
    Ok(whole)
}

/// Imports an OCI image layout tarball or a `docker save` tarball into a runtime; returns the
/// normalized names stored.
pub async fn import(
    runtime: &dyn ContainerRuntime,
    file: &Path,
) -> Result<Vec<String>, runtime::Error> {
    runtime.import_image(file).await
}

/// The layer digests of an image config (`rootfs.diff_ids`) folded into snapshot chain ids,
/// as the OCI image spec defines them.
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut chain: Vec<String> = Vec::with_capacity(diff_ids.len());
    for diff in diff_ids {
        let next = match chain.last() {
            None => diff.clone(),
            Some(parent) => sha256_digest(format!("{parent} {diff}").as_bytes()),
        };
        chain.push(next);
    }
    chain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_normalize_like_kubernetes() {
        assert_eq!(
            normalize("busybox").unwrap(),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            normalize("nginx:1.25").unwrap(),
            "docker.io/library/nginx:1.25"
        );
        assert_eq!(normalize("me/app").unwrap(), "docker.io/me/app:latest");
        assert_eq!(
            normalize("localhost:5000/app").unwrap(),
            "localhost:5000/app:latest"
        );
        assert_eq!(
            normalize("registry.k8s.io/pause:3.9").unwrap(),
            "registry.k8s.io/pause:3.9"
        );
        // Asked again (answered from the names seen before): the same.
        for _ in 0..2 {
            assert_eq!(
                normalize("busybox").unwrap(),
                "docker.io/library/busybox:latest"
            );
            assert!(normalize("UPPER/Case").is_err());
        }
    }

    #[test]
    fn invalid_names_are_rejected() {
        assert!(normalize("UPPER/Case").is_err());
    }

    #[test]
    fn chain_ids_fold_each_layer_onto_its_parent() {
        let ids = chain_ids(&["sha256:a".into(), "sha256:b".into()]);
        assert_eq!(ids[0], "sha256:a");
        assert_eq!(ids[1], sha256_digest(b"sha256:a sha256:b"));
    }
}
