//! Pulling images from (and, for tests and `skiff image push`, pushing them to) an OCI
//! distribution registry, with the `oci-client` crate.
//!
//! Registries on `localhost` or a loopback address are spoken to over plain HTTP, like the
//! usual runtimes do; every other registry over HTTPS.

use std::net::IpAddr;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde_json::Value;

use super::archive::host_architecture;
use super::{
    Blob, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, Error, ImageContent, OCI_CONFIG, OCI_INDEX,
    OCI_LAYER_TAR, OCI_MANIFEST, normalize,
};

/// Whether a registry host (with optional port) is spoken to over plain HTTP.
pub fn is_plain_http(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => registry.split(':').next().unwrap_or(registry),
    };
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn parse(name: &str) -> Result<Reference, Error> {
    normalize(name)?.parse().map_err(|source| Error::Reference {
        reference: name.to_string(),
        source,
    })
}

fn client(reference: &Reference) -> Client {
    // The registry client's TLS stack takes the process-wide rustls provider; skiff uses ring
    // everywhere. Installing fails harmlessly when a provider is already in place.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let protocol = if is_plain_http(reference.resolve_registry()) {
        ClientProtocol::Http
    } else {
        ClientProtocol::Https
    };
    Client::new(ClientConfig {
        protocol,
        ..Default::default()
    })
}

fn registry_error(
    reference: &Reference,
) -> impl Fn(oci_client::errors::OciDistributionError) -> Error + '_ {
    move |source| Error::Registry {
        reference: reference.whole(),
        source,
    }
}

/// Pulls an image (for this machine's platform) into memory, keeping the registry's manifest
/// bytes so the stored digest is the registry's.
pub async fn pull(name: &str) -> Result<ImageContent, Error> {
    let reference = parse(name)?;
    let client = client(&reference);
    let auth = RegistryAuth::Anonymous;
    let accepted = [
        OCI_MANIFEST,
        DOCKER_MANIFEST,
        OCI_INDEX,
        DOCKER_MANIFEST_LIST,
    ];
    let (mut data, mut digest) = client
        .pull_manifest_raw(&reference, &auth, &accepted)
        .await
        .map_err(registry_error(&reference))?;
    let mut manifest: Value = json(&data, "manifest")?;
    if manifest.get("manifests").is_some() {
        let manifests = manifest["manifests"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let chosen = manifests
            .iter()
            .find(|m| {
                m["platform"]["os"] == "linux"
                    && m["platform"]["architecture"] == host_architecture()
            })
            .ok_or_else(|| {
                Error::Archive(format!("{name} has no linux/{} image", host_architecture()))
            })?;
        let by_digest = Reference::with_digest(
            reference.registry().to_string(),
            reference.repository().to_string(),
            chosen["digest"].as_str().unwrap_or_default().to_string(),
        );
        (data, digest) = client
            .pull_manifest_raw(&by_digest, &auth, &accepted)
            .await
            .map_err(registry_error(&reference))?;
        manifest = json(&data, "manifest")?;
    }
    let media_type = manifest["mediaType"]
        .as_str()
        .unwrap_or(OCI_MANIFEST)
        .to_string();
    let config = fetch(&client, &reference, &manifest["config"], OCI_CONFIG).await?;
    let mut layers = Vec::new();
    for layer in manifest["layers"].as_array().into_iter().flatten() {
        layers.push(fetch(&client, &reference, layer, OCI_LAYER_TAR).await?);
    }
    Ok(ImageContent {
        name: reference.whole(),
        manifest: Blob {
            media_type,
            digest,
            data: data.to_vec(),
        },
        config,
        layers,
    })
}

async fn fetch(
    client: &Client,
    reference: &Reference,
    desc: &Value,
    default_type: &str,
) -> Result<Blob, Error> {
    let digest = desc["digest"].as_str().unwrap_or_default().to_string();
    let mut data = Vec::new();
    client
        .pull_blob(reference, digest.as_str(), &mut data)
        .await
        .map_err(registry_error(reference))?;
    Ok(Blob {
        media_type: desc["mediaType"]
            .as_str()
            .unwrap_or(default_type)
            .to_string(),
        digest,
        data,
    })
}

/// Pushes an image's blobs and manifest to `name` (its registry, repository and tag).
pub async fn push(image: &ImageContent, name: &str) -> Result<String, Error> {
    let reference = parse(name)?;
    let client = client(&reference);
    client
        .store_auth_if_needed(reference.resolve_registry(), &RegistryAuth::Anonymous)
        .await;
    for blob in image.layers.iter().chain([&image.config]) {
        client
            .push_blob(&reference, blob.data.clone(), &blob.digest)
            .await
            .map_err(registry_error(&reference))?;
    }
    let content_type = image
        .manifest
        .media_type
        .parse()
        .map_err(|_| Error::Archive(format!("bad media type {}", image.manifest.media_type)))?;
    client
        .push_manifest_raw(&reference, image.manifest.data.clone(), content_type)
        .await
        .map_err(registry_error(&reference))
}

fn json(data: &[u8], what: &str) -> Result<Value, Error> {
    serde_json::from_slice(data).map_err(|source| Error::Json {
        what: what.to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries_use_plain_http() {
        assert!(is_plain_http("localhost:5000"));
        assert!(is_plain_http("127.0.0.1:41234"));
        assert!(is_plain_http("[::1]:5000"));
        assert!(is_plain_http("localhost"));
        assert!(!is_plain_http("docker.io"));
        assert!(!is_plain_http("registry.example:5000"));
    }
}
