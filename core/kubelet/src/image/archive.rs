//! Reading image tarballs: the OCI image layout (`oci-layout`, `index.json`, `blobs/`) and the
//! `docker save` format (`manifest.json` with `RepoTags`).

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::{
    Blob, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, Error, ImageContent, OCI_CONFIG, OCI_INDEX,
    OCI_LAYER_TAR, OCI_MANIFEST, normalize,
};

/// The containerd annotation holding an image's full name in an OCI layout.
const CONTAINERD_NAME: &str = "io.containerd.image.name";
/// The OCI annotation holding an image's reference (a full name or only a tag).
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Reads every named image in a tarball (OCI layout or `docker save`).
pub fn read(path: &Path) -> Result<Vec<ImageContent>, Error> {
    let io = |source| Error::ArchiveIo {
        path: path.display().to_string(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let files = entries(file).map_err(io)?;
    if files.contains_key("index.json") && names_in_index(&files)? {
        read_oci(&files)
    } else if files.contains_key("manifest.json") {
        read_docker(&files)
    } else if files.contains_key("index.json") {
        read_oci(&files)
    } else {
        Err(Error::Archive(
            "neither an OCI layout (index.json) nor a docker save archive (manifest.json)".into(),
        ))
    }
}

/// All regular files of a tar, by normalized path; symlinks resolved to their target's bytes.
fn entries(reader: impl Read) -> std::io::Result<HashMap<String, Vec<u8>>> {
    let mut archive = tar::Archive::new(reader);
    let mut files = HashMap::new();
    let mut links = Vec::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = clean(&entry.path()?.to_string_lossy());
        let kind = entry.header().entry_type();
        if kind.is_file() {
            let mut data = Vec::with_capacity(entry.size() as usize);
            entry.read_to_end(&mut data)?;
            files.insert(path, data);
        } else if (kind.is_symlink() || kind.is_hard_link())
            && let Some(target) = entry.link_name()?
        {
            let target = target.to_string_lossy().into_owned();
            let resolved = if kind.is_symlink() {
                let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                clean(&format!("{dir}/{target}"))
            } else {
                clean(&target)
            };
            links.push((path, resolved));
        }
    }
    for (path, target) in links {
        if let Some(data) = files.get(&target).cloned() {
            files.insert(path, data);
        }
    }
    Ok(files)
}

/// `./a/../b/c` → `b/c`.
fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

fn json<T: for<'a> Deserialize<'a>>(what: &str, data: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(data).map_err(|source| Error::Json {
        what: what.to_string(),
        source,
    })
}

fn file<'a>(files: &'a HashMap<String, Vec<u8>>, path: &str) -> Result<&'a Vec<u8>, Error> {
    files
        .get(&clean(path))
        .ok_or_else(|| Error::Archive(format!("missing {path}")))
}

fn blob<'a>(files: &'a HashMap<String, Vec<u8>>, digest: &str) -> Result<&'a Vec<u8>, Error> {
    let (alg, hex) = digest
        .split_once(':')
        .ok_or_else(|| Error::Archive(format!("bad digest {digest}")))?;
    file(files, &format!("blobs/{alg}/{hex}"))
}

fn annotation_name(desc: &Value) -> Option<String> {
    let annotations = &desc["annotations"];
    annotations[CONTAINERD_NAME]
        .as_str()
        .or_else(|| annotations[REF_NAME].as_str())
        .map(str::to_string)
}

/// Whether the OCI index names its images (newer `docker save` archives carry an index.json
/// without names beside their manifest.json).
fn names_in_index(files: &HashMap<String, Vec<u8>>) -> Result<bool, Error> {
    let index: Value = json("index.json", file(files, "index.json")?)?;
    Ok(index["manifests"]
        .as_array()
        .is_some_and(|m| m.iter().any(|d| annotation_name(d).is_some())))
}

fn read_oci(files: &HashMap<String, Vec<u8>>) -> Result<Vec<ImageContent>, Error> {
    let index: Value = json("index.json", file(files, "index.json")?)?;
    let mut images = Vec::new();
    for desc in index["manifests"].as_array().into_iter().flatten() {
        let Some(name) = annotation_name(desc) else {
            continue;
        };
        let name = normalize(&name)?;
        let digest = desc["digest"].as_str().unwrap_or_default();
        let media_type = desc["mediaType"].as_str().unwrap_or(OCI_MANIFEST);
        let manifest_blob = resolve_manifest(files, media_type, digest)?;
        images.push(from_manifest(name, manifest_blob, |d| {
            blob(files, d).cloned()
        })?);
    }
    if images.is_empty() {
        return Err(Error::Archive("the OCI index names no image".into()));
    }
    Ok(images)
}

/// Follows an index to the manifest for this machine's platform.
fn resolve_manifest(
    files: &HashMap<String, Vec<u8>>,
    media_type: &str,
    digest: &str,
) -> Result<Blob, Error> {
    let data = blob(files, digest)?.clone();
    if media_type != OCI_INDEX && media_type != DOCKER_MANIFEST_LIST {
        return Ok(Blob {
            media_type: media_type.to_string(),
            digest: digest.to_string(),
            data,
        });
    }
    let index: Value = json("image index", &data)?;
    let manifests = index["manifests"].as_array().cloned().unwrap_or_default();
    let chosen = manifests
        .iter()
        .find(|m| {
            m["platform"]["os"] == "linux" && m["platform"]["architecture"] == host_architecture()
        })
        .or_else(|| manifests.first())
        .ok_or_else(|| Error::Archive("empty image index".into()))?;
    resolve_manifest(
        files,
        chosen["mediaType"].as_str().unwrap_or(OCI_MANIFEST),
        chosen["digest"].as_str().unwrap_or_default(),
    )
}

/// The OCI name of this machine's architecture.
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// Builds an [`ImageContent`] from a manifest, fetching its config and layers with `get`.
pub fn from_manifest(
    name: String,
    manifest: Blob,
    mut get: impl FnMut(&str) -> Result<Vec<u8>, Error>,
) -> Result<ImageContent, Error> {
    let parsed: Value = json("image manifest", &manifest.data)?;
    let config_desc = &parsed["config"];
    let config = Blob {
        media_type: config_desc["mediaType"]
            .as_str()
            .unwrap_or(OCI_CONFIG)
            .to_string(),
        digest: config_desc["digest"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        data: get(config_desc["digest"].as_str().unwrap_or_default())?,
    };
    let mut layers = Vec::new();
    for layer in parsed["layers"].as_array().into_iter().flatten() {
        let digest = layer["digest"].as_str().unwrap_or_default();
        layers.push(Blob {
            media_type: layer["mediaType"]
                .as_str()
                .unwrap_or(OCI_LAYER_TAR)
                .to_string(),
            digest: digest.to_string(),
            data: get(digest)?,
        });
    }
    Ok(ImageContent {
        name,
        manifest,
        config,
        layers,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// `docker save`: layers are uncompressed tars; an OCI manifest is written for them.
fn read_docker(files: &HashMap<String, Vec<u8>>) -> Result<Vec<ImageContent>, Error> {
    let entries: Vec<DockerEntry> = json("manifest.json", file(files, "manifest.json")?)?;
    let mut images = Vec::new();
    for entry in entries {
        let config = Blob::new(OCI_CONFIG, file(files, &entry.config)?.clone());
        let layers = entry
            .layers
            .iter()
            .map(|l| Ok(Blob::new(OCI_LAYER_TAR, file(files, l)?.clone())))
            .collect::<Result<Vec<_>, Error>>()?;
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(&config),
            "layers": layers.iter().map(descriptor).collect::<Vec<_>>(),
        });
        let manifest = Blob::new(
            OCI_MANIFEST,
            serde_json::to_vec(&manifest).expect("json values serialize"),
        );
        for tag in entry.repo_tags.unwrap_or_default() {
            images.push(ImageContent {
                name: normalize(&tag)?,
                manifest: manifest.clone(),
                config: config.clone(),
                layers: layers.clone(),
            });
        }
    }
    if images.is_empty() {
        return Err(Error::Archive("the docker archive names no image".into()));
    }
    Ok(images)
}

/// The OCI descriptor of a blob.
pub fn descriptor(blob: &Blob) -> Value {
    serde_json::json!({
        "mediaType": blob.media_type,
        "digest": blob.digest,
        "size": blob.data.len(),
    })
}

/// Whether a media type is one of the manifest types a runtime can run.
pub fn is_manifest(media_type: &str) -> bool {
    media_type == OCI_MANIFEST || media_type == DOCKER_MANIFEST
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_cleaned_of_dots() {
        assert_eq!(clean("./blobs/sha256/../sha256/ab"), "blobs/sha256/ab");
        assert_eq!(clean("/manifest.json"), "manifest.json");
    }
}
