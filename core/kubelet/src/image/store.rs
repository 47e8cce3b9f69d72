//! The containerd image store: writes image blobs to the content store, records the image, and
//! unpacks its layers into the snapshotter so containers can start from it.

use std::collections::HashMap;

use containerd_client::services::v1::Info as ContentInfo;
use containerd_client::services::v1::snapshots::{
    CommitSnapshotRequest, PrepareSnapshotRequest, RemoveSnapshotRequest, StatSnapshotRequest,
    snapshots_client::SnapshotsClient,
};
use containerd_client::services::v1::{
    ApplyRequest, CreateImageRequest, CreateRequest as CreateLeaseRequest,
    DeleteRequest as DeleteLeaseRequest, GetImageRequest, Image, InfoRequest, ListImagesRequest,
    ReadContentRequest, UpdateImageRequest, UpdateRequest as UpdateContentRequest, WriteAction,
    WriteContentRequest, content_client::ContentClient, diff_client::DiffClient,
    images_client::ImagesClient, leases_client::LeasesClient,
};
use containerd_client::tonic::transport::Channel;
use containerd_client::tonic::{Code, Request};
use containerd_client::types::Descriptor;
use futures::StreamExt;
use oci_spec::image::ImageConfiguration;
use serde_json::Value;

use super::archive::{host_architecture, is_manifest};
use super::{Blob, DOCKER_MANIFEST_LIST, Error, ImageContent, OCI_INDEX, chain_ids};

/// The snapshotter images are unpacked into.
pub const SNAPSHOTTER: &str = "overlayfs";

/// A gRPC request carrying the containerd namespace and, while importing, the lease that keeps
/// half-written content from the garbage collector.
pub(crate) fn request<T>(namespace: &str, lease: Option<&str>, message: T) -> Request<T> {
    let mut request = Request::new(message);
    let metadata = request.metadata_mut();
    if let Ok(value) = namespace.parse() {
        metadata.insert("containerd-namespace", value);
    }
    if let Some(lease) = lease.and_then(|l| l.parse().ok()) {
        metadata.insert("containerd-lease", lease);
    }
    request
}

fn call(call: &'static str) -> impl FnOnce(tonic::Status) -> Error {
    move |source| Error::Containerd { call, source }
}

/// What a runtime needs of a stored image to create a container from it.
#[derive(Debug, Clone)]
pub struct StoredImage {
    pub name: String,
    /// Digest of the manifest (the image id shown in pod status).
    pub digest: String,
    pub config: ImageConfiguration,
    /// Snapshot chain id of the top layer: the parent of a container's snapshot.
    pub top_layer: Option<String>,
}

/// Images of one containerd namespace.
#[derive(Debug, Clone)]
pub struct ImageStore {
    channel: Channel,
    namespace: String,
}

impl ImageStore {
    pub fn new(channel: Channel, namespace: impl Into<String>) -> Self {
        ImageStore {
            channel,
            namespace: namespace.into(),
        }
    }

    fn req<T>(&self, lease: Option<&str>, message: T) -> Request<T> {
        request(&self.namespace, lease, message)
    }

    /// Stores and unpacks an image, replacing any image of the same name.
    pub async fn store(&self, image: &ImageContent) -> Result<(), Error> {
        let lease = format!("skiff-import-{}", uuid_like());
        let mut leases = LeasesClient::new(self.channel.clone());
        let expire = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
        leases
            .create(self.req(
                None,
                CreateLeaseRequest {
                    id: lease.clone(),
                    labels: HashMap::from([("containerd.io/gc.expire".to_string(), expire)]),
                },
            ))
            .await
            .map_err(call("leases.create"))?;
        let result = self.store_leased(image, &lease).await;
        let _ = leases
            .delete(self.req(
                None,
                DeleteLeaseRequest {
                    id: lease,
                    sync: false,
                },
            ))
            .await;
        result
    }

    async fn store_leased(&self, image: &ImageContent, lease: &str) -> Result<(), Error> {
        for layer in &image.layers {
            let labels = HashMap::new();
            self.write_blob(layer, labels, lease).await?;
        }
        let config: ImageConfiguration = parse(&image.config.data, "image config")?;
        let chains = chain_ids(config.rootfs().diff_ids());
        self.unpack(&image.layers, &chains, lease).await?;

        let mut config_labels = HashMap::new();
        if let Some(top) = chains.last() {
            config_labels.insert(
                format!("containerd.io/gc.ref.snapshot.{SNAPSHOTTER}"),
                top.clone(),
            );
        }
        self.write_blob(&image.config, config_labels, lease).await?;

        let mut manifest_labels = HashMap::from([(
            "containerd.io/gc.ref.content.config".to_string(),
            image.config.digest.clone(),
        )]);
        for (i, layer) in image.layers.iter().enumerate() {
            manifest_labels.insert(
                format!("containerd.io/gc.ref.content.l.{i}"),
                layer.digest.clone(),
            );
        }
        self.write_blob(&image.manifest, manifest_labels, lease)
            .await?;

        let record = Image {
            name: image.name.clone(),
            labels: HashMap::new(),
            target: Some(descriptor(&image.manifest)),
            created_at: None,
            updated_at: None,
        };
        let mut images = ImagesClient::new(self.channel.clone());
        let created = images
            .create(self.req(
                Some(lease),
                CreateImageRequest {
                    image: Some(record.clone()),
                    source_date_epoch: None,
                },
            ))
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(status) if status.code() == Code::AlreadyExists => images
                .update(self.req(
                    Some(lease),
                    UpdateImageRequest {
                        image: Some(record),
                        update_mask: None,
                        source_date_epoch: None,
                    },
                ))
                .await
                .map(|_| ())
                .map_err(call("images.update")),
            Err(status) => Err(call("images.create")(status)),
        }
    }

    /// Writes a blob unless present; sets its garbage-collection labels either way.
    async fn write_blob(
        &self,
        blob: &Blob,
        labels: HashMap<String, String>,
        lease: &str,
    ) -> Result<(), Error> {
        let mut content = ContentClient::new(self.channel.clone());
        let present = content
            .info(self.req(
                Some(lease),
                InfoRequest {
                    digest: blob.digest.clone(),
                },
            ))
            .await
            .is_ok();
        if !present {
            let message = WriteContentRequest {
                action: WriteAction::Commit as i32,
                r#ref: format!("skiff-{}", blob.digest),
                total: blob.data.len() as i64,
                expected: blob.digest.clone(),
                offset: 0,
                data: blob.data.clone(),
                labels: labels.clone(),
            };
            let outbound = futures::stream::iter([message]);
            let written = content.write(self.req(Some(lease), outbound)).await;
            match written {
                Ok(response) => {
                    let mut stream = response.into_inner();
                    while let Some(item) = stream.next().await {
                        match item {
                            Ok(_) => {}
                            Err(status) if status.code() == Code::AlreadyExists => break,
                            Err(status) => return Err(call("content.write")(status)),
                        }
                    }
                    return Ok(());
                }
                Err(status) if status.code() == Code::AlreadyExists => {}
                Err(status) => return Err(call("content.write")(status)),
            }
        }
        if labels.is_empty() {
            return Ok(());
        }
        let fields = labels.keys().map(|k| format!("labels.{k}")).collect();
        content
            .update(self.req(
                Some(lease),
                UpdateContentRequest {
                    info: Some(ContentInfo {
                        digest: blob.digest.clone(),
                        size: blob.data.len() as i64,
                        created_at: None,
                        updated_at: None,
                        labels,
                    }),
                    update_mask: Some(prost_types::FieldMask { paths: fields }),
                },
            ))
            .await
            .map_err(call("content.update"))?;
        Ok(())
    }

    /// Applies each layer onto its parent snapshot and commits it under its chain id, skipping
    /// layers already unpacked.
    async fn unpack(&self, layers: &[Blob], chains: &[String], lease: &str) -> Result<(), Error> {
        if layers.len() != chains.len() {
            return Err(Error::Archive(format!(
                "{} layers but {} diff ids in the config",
                layers.len(),
                chains.len()
            )));
        }
        let mut snapshots = SnapshotsClient::new(self.channel.clone());
        let mut diff = DiffClient::new(self.channel.clone());
        for (i, (layer, chain)) in layers.iter().zip(chains).enumerate() {
            let exists = snapshots
                .stat(self.req(
                    Some(lease),
                    StatSnapshotRequest {
                        snapshotter: SNAPSHOTTER.into(),
                        key: chain.clone(),
                    },
                ))
                .await
                .is_ok();
            if exists {
                continue;
            }
            let key = format!("extract-{}-{chain}", uuid_like());
            let parent = if i == 0 {
                String::new()
            } else {
                chains[i - 1].clone()
            };
            let mounts = snapshots
                .prepare(self.req(
                    Some(lease),
                    PrepareSnapshotRequest {
                        snapshotter: SNAPSHOTTER.into(),
                        key: key.clone(),
                        parent,
                        labels: HashMap::new(),
                    },
                ))
                .await
                .map_err(call("snapshots.prepare"))?
                .into_inner()
                .mounts;
            let applied = diff
                .apply(self.req(
                    Some(lease),
                    ApplyRequest {
                        diff: Some(descriptor(layer)),
                        mounts,
                        payloads: HashMap::new(),
                        sync_fs: false,
                    },
                ))
                .await;
            let committed = match applied {
                Ok(_) => snapshots
                    .commit(self.req(
                        Some(lease),
                        CommitSnapshotRequest {
                            snapshotter: SNAPSHOTTER.into(),
                            name: chain.clone(),
                            key: key.clone(),
                            labels: HashMap::new(),
                        },
                    ))
                    .await
                    .map(|_| ())
                    .or_else(|status| {
                        if status.code() == Code::AlreadyExists {
                            Ok(())
                        } else {
                            Err(call("snapshots.commit")(status))
                        }
                    }),
                Err(status) => Err(call("diff.apply")(status)),
            };
            if committed.is_err() {
                let _ = snapshots
                    .remove(self.req(
                        Some(lease),
                        RemoveSnapshotRequest {
                            snapshotter: SNAPSHOTTER.into(),
                            key,
                        },
                    ))
                    .await;
            }
            committed?;
        }
        Ok(())
    }

    /// Whether an image of this (normalized) name is stored.
    pub async fn exists(&self, name: &str) -> Result<bool, Error> {
        let mut images = ImagesClient::new(self.channel.clone());
        match images
            .get(self.req(None, GetImageRequest { name: name.into() }))
            .await
        {
            Ok(_) => Ok(true),
            Err(status) if status.code() == Code::NotFound => Ok(false),
            Err(status) => Err(call("images.get")(status)),
        }
    }

    /// Names of all stored images.
    pub async fn list(&self) -> Result<Vec<String>, Error> {
        let mut images = ImagesClient::new(self.channel.clone());
        let listed = images
            .list(self.req(None, ListImagesRequest { filters: vec![] }))
            .await
            .map_err(call("images.list"))?;
        Ok(listed
            .into_inner()
            .images
            .into_iter()
            .map(|i| i.name)
            .collect())
    }

    /// Reads a stored image's config and top layer.
    pub async fn get(&self, name: &str) -> Result<StoredImage, Error> {
        let mut images = ImagesClient::new(self.channel.clone());
        let image = match images
            .get(self.req(None, GetImageRequest { name: name.into() }))
            .await
        {
            Ok(response) => response.into_inner().image,
            Err(status) if status.code() == Code::NotFound => None,
            Err(status) => return Err(call("images.get")(status)),
        };
        let target = image
            .and_then(|i| i.target)
            .ok_or_else(|| Error::NotFound(name.to_string()))?;
        let (digest, manifest) = self.manifest(&target.media_type, &target.digest).await?;
        let config_digest = manifest["config"]["digest"].as_str().unwrap_or_default();
        let config: ImageConfiguration = parse(&self.read(config_digest).await?, "image config")?;
        let top_layer = chain_ids(config.rootfs().diff_ids()).last().cloned();
        Ok(StoredImage {
            name: name.to_string(),
            digest,
            config,
            top_layer,
        })
    }

    /// The platform manifest an image record points at (through an index if need be).
    async fn manifest(&self, media_type: &str, digest: &str) -> Result<(String, Value), Error> {
        let mut media_type = media_type.to_string();
        let mut digest = digest.to_string();
        for _ in 0..4 {
            let value: Value = parse(&self.read(&digest).await?, "manifest")?;
            let kind = value["mediaType"]
                .as_str()
                .unwrap_or(&media_type)
                .to_string();
            if is_manifest(&kind) || value.get("config").is_some() {
                return Ok((digest, value));
            }
            if kind != OCI_INDEX && kind != DOCKER_MANIFEST_LIST && value.get("manifests").is_none()
            {
                break;
            }
            let manifests = value["manifests"].as_array().cloned().unwrap_or_default();
            let chosen = manifests
                .iter()
                .find(|m| m["platform"]["architecture"] == host_architecture())
                .or_else(|| manifests.first())
                .ok_or_else(|| Error::Archive("empty image index".into()))?;
            media_type = chosen["mediaType"].as_str().unwrap_or_default().to_string();
            digest = chosen["digest"].as_str().unwrap_or_default().to_string();
        }
        Err(Error::Archive(format!("no manifest for {digest}")))
    }

    /// Reads a whole blob from the content store.
    async fn read(&self, digest: &str) -> Result<Vec<u8>, Error> {
        let mut content = ContentClient::new(self.channel.clone());
        let mut stream = content
            .read(self.req(
                None,
                ReadContentRequest {
                    digest: digest.into(),
                    offset: 0,
                    size: 0,
                },
            ))
            .await
            .map_err(call("content.read"))?
            .into_inner();
        let mut data = Vec::new();
        while let Some(chunk) = stream.next().await {
            data.extend(chunk.map_err(call("content.read"))?.data);
        }
        Ok(data)
    }
}

fn descriptor(blob: &Blob) -> Descriptor {
    Descriptor {
        media_type: blob.media_type.clone(),
        digest: blob.digest.clone(),
        size: blob.data.len() as i64,
        annotations: HashMap::new(),
    }
}

fn parse<T: for<'a> serde::Deserialize<'a>>(data: &[u8], what: &str) -> Result<T, Error> {
    serde_json::from_slice(data).map_err(|source| Error::Json {
        what: what.to_string(),
        source,
    })
}

/// A unique-enough suffix for lease and extraction keys.
fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{nanos}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}
