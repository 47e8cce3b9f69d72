//! The object store behind the API server: one trait, with embedded and etcd backends.
//!
//! The store knows nothing of Kubernetes objects: it holds opaque values under string keys
//! (`/registry/<group>/<plural>/<namespace>/<name>`) and gives every write a revision from one
//! global, monotonically increasing counter. The API server uses that revision as the
//! object's `resourceVersion`.

pub mod embedded;
mod error;
pub mod etcd;
mod spec;
#[cfg(feature = "testing")]
pub mod testing;

pub use embedded::{EmbeddedConfig, EmbeddedStore};
pub use error::{Error, Result};
pub use etcd::EtcdStore;
pub use spec::{OpenError, StoreSpec};

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::BoxStream;

/// A global store revision. Revisions start at 1; 0 means "none / latest" where noted.
pub type Revision = i64;

/// One stored key with its value and revisions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Vec<u8>,
    /// Revision of the write that created this key (kept across updates).
    pub create_revision: Revision,
    /// Revision of the last write to this key; the object's `resourceVersion`.
    pub mod_revision: Revision,
}

/// A page request for [`Store::list`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// Return only keys strictly greater than this one (continue token support).
    pub start_after: Option<String>,
    /// At most this many items; `None` for all.
    pub limit: Option<usize>,
    /// Read the state as of this revision (for consistent paging); `None` for the latest.
    /// A compacted revision answers [`Error::Compacted`].
    pub revision: Option<Revision>,
}

/// One page of a list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListResult {
    pub items: Vec<KeyValue>,
    /// The revision the page was read at (the store's current revision when `revision` was
    /// `None`); list responses report it as the list's `resourceVersion`.
    pub revision: Revision,
    /// Whether more keys follow the last item.
    pub more: bool,
}

/// What happened to a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// Created (`prev` is `None`) or updated (`prev` is the old value).
    Put,
    /// Deleted: `kv` holds the last value, with `mod_revision` set to the deletion's revision.
    Delete,
}

/// One change delivered by [`Store::watch`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchEvent {
    pub kind: EventKind,
    pub kv: KeyValue,
    pub prev: Option<KeyValue>,
}

/// A stream of changes, in revision order. It ends with `Err(Error::Compacted)` if the watcher
/// fell behind a compaction, and may end with other errors if the backend fails.
pub type WatchStream = BoxStream<'static, Result<WatchEvent>>;

/// A key/value store with global revisions, optimistic concurrency and watches.
///
/// Every backend must pass the conformance suite in `tests/conformance.rs`.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Reads one key.
    async fn get(&self, key: &str) -> Result<Option<KeyValue>>;

    /// Lists keys under `prefix`, in key order.
    async fn list(&self, prefix: &str, opts: ListOptions) -> Result<ListResult>;

    /// Creates a key; [`Error::AlreadyExists`] if it exists.
    async fn create(&self, key: &str, value: Vec<u8>) -> Result<KeyValue>;

    /// Replaces a key's value if its `mod_revision` still equals `expected`;
    /// [`Error::Conflict`] (with the current value) if not, [`Error::NotFound`] if absent.
    async fn update(&self, key: &str, value: Vec<u8>, expected: Revision) -> Result<KeyValue>;

    /// Deletes a key, only if its `mod_revision` equals `expected` when one is given.
    /// Returns the deleted value with `mod_revision` set to the deletion's revision.
    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue>;

    /// Streams every change under `prefix` with a revision strictly greater than `after`.
    /// [`Error::Compacted`] if `after` is older than the oldest retained revision.
    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream>;

    /// The current (latest) revision.
    async fn current_revision(&self) -> Result<Revision>;

    /// Drops history up to `revision`: watches and lists at older revisions answer
    /// [`Error::Compacted`].
    async fn compact(&self, revision: Revision) -> Result<()>;
}

/// Opens the store a spec names: `"embedded"` (the file `data_dir/store.redb`, default
/// settings) or `"etcd://host:port[,host:port...]"`.
pub async fn open(spec: &str, data_dir: &Path) -> Result<Arc<dyn Store>, OpenError> {
    match spec.parse::<StoreSpec>()? {
        StoreSpec::Embedded => {
            let config = EmbeddedConfig::new(data_dir.join("store.redb"));
            let store = tokio::task::spawn_blocking(move || EmbeddedStore::open(config))
                .await
                .map_err(|e| {
                    OpenError::Open(Error::Backend {
                        message: format!("opening the embedded store failed: {e}"),
                        source: Some(Box::new(e)),
                    })
                })?
                .map_err(OpenError::Open)?;
            Ok(Arc::new(store))
        }
        StoreSpec::Etcd { endpoints } => {
            let store = EtcdStore::connect(&endpoints)
                .await
                .map_err(OpenError::Open)?;
            Ok(Arc::new(store))
        }
    }
}
