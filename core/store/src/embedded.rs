//! The embedded backend: one redb file, a group-committing writer thread, log-backed watches.
//!
//! The default store on a single machine. Every acknowledged write has been committed with an
//! fsync, so it survives `kill -9` and power loss; reads are redb read transactions, which never
//! wait for the writer.

mod config;
mod list;
mod tables;
mod watch;
mod writer;

pub use config::{AutoCompaction, EmbeddedConfig};

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::thread::JoinHandle;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::{Error, KeyValue, ListOptions, ListResult, Result, Revision, Store, WatchStream};
use tables::{COMPACTED, INITIAL_REVISION, KV, LOG, META, REVISION, db_error, read_kv, read_meta};
use writer::{Published, Request, WriteOp, Writer};

/// A durable store in one local file.
pub struct EmbeddedStore {
    db: Arc<Database>,
    requests: Option<mpsc::Sender<Request>>,
    events: broadcast::Sender<Arc<[crate::WatchEvent]>>,
    published: Arc<Published>,
    writer: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("revision", &self.published.revision.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl EmbeddedStore {
    /// Opens (or creates) the database at `config.path` and starts the writer thread.
    ///
    /// This does blocking file I/O: call it before serving, or from `spawn_blocking`.
    pub fn open(config: EmbeddedConfig) -> Result<Self> {
        if let Some(dir) = config.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::Backend {
                message: format!("cannot create {}: {e}", dir.display()),
                source: Some(Box::new(e)),
            })?;
        }
        let db = Database::builder()
            .set_cache_size(config.cache_size)
            .create(&config.path)
            .map_err(db_error)?;
        let (revision, compacted) = initialize(&db)?;
        let db = Arc::new(db);
        let published = Arc::new(Published {
            revision: AtomicI64::new(revision),
            compacted: AtomicI64::new(compacted),
            commits: Default::default(),
        });
        let (requests_tx, requests_rx) = mpsc::channel(config.queue_depth.max(1));
        let (events, _) = broadcast::channel(config.watch_buffer.max(1));
        let writer = Writer {
            db: db.clone(),
            requests: requests_rx,
            events: events.clone(),
            published: published.clone(),
            config,
        };
        let writer = std::thread::Builder::new()
            .name("skiff-store-writer".into())
            .spawn(move || writer.run())
            .map_err(|e| Error::Backend {
                message: format!("cannot start the store writer: {e}"),
                source: Some(Box::new(e)),
            })?;
        Ok(Self {
            db,
            requests: Some(requests_tx),
            events,
            published,
            writer: Some(writer),
        })
    }

    /// Durable transactions committed since [`open`](Self::open): with group commit, far
    /// fewer than the writes when many writers are busy at once.
    pub fn commits(&self) -> u64 {
        self.published.commits.load(Ordering::Relaxed)
    }

    async fn write(&self, op: WriteOp) -> Result<KeyValue> {
        let (reply, answer) = oneshot::channel();
        self.send(Request::Write { op, reply }).await?;
        answer.await.map_err(|_| writer_gone())?
    }

    async fn send(&self, request: Request) -> Result<()> {
        let requests = self.requests.as_ref().ok_or_else(writer_gone)?;
        requests.send(request).await.map_err(|_| writer_gone())
    }

    /// Runs a blocking read off the async threads.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Database) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(|e| Error::Backend {
                message: format!("store reader failed: {e}"),
                source: Some(Box::new(e)),
            })?
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        // Closing the queue ends the writer after its last batch; joining it releases the file.
        self.requests = None;
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

fn writer_gone() -> Error {
    Error::Backend {
        message: "the store writer has stopped".into(),
        source: None,
    }
}

/// Creates the tables of a new file; returns the current and compacted revisions.
fn initialize(db: &Database) -> Result<(Revision, Revision)> {
    let txn = db.begin_write().map_err(db_error)?;
    let counters = {
        txn.open_table(KV).map_err(db_error)?;
        txn.open_table(LOG).map_err(db_error)?;
        let mut meta = txn.open_table(META).map_err(db_error)?;
        let mut revision = read_meta(&meta, REVISION)?;
        if revision == 0 {
            revision = INITIAL_REVISION;
            meta.insert(REVISION, revision).map_err(db_error)?;
        }
        (revision, read_meta(&meta, COMPACTED)?)
    };
    txn.commit().map_err(db_error)?;
    Ok(counters)
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        // A point read hits redb's page cache and takes microseconds: not worth a thread hop.
        let txn = self.db.begin_read().map_err(db_error)?;
        let table = txn.open_table(KV).map_err(db_error)?;
        read_kv(&table, key)
    }

    async fn list(&self, prefix: &str, opts: ListOptions) -> Result<ListResult> {
        let prefix = prefix.to_owned();
        self.read(move |db| list::list(db, &prefix, &opts)).await
    }

    async fn create(&self, key: &str, value: Vec<u8>) -> Result<KeyValue> {
        self.write(WriteOp::Create {
            key: key.to_owned(),
            value,
        })
        .await
    }

    async fn update(&self, key: &str, value: Vec<u8>, expected: Revision) -> Result<KeyValue> {
        self.write(WriteOp::Update {
            key: key.to_owned(),
            value,
            expected,
        })
        .await
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue> {
        self.write(WriteOp::Delete {
            key: key.to_owned(),
            expected,
        })
        .await
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream> {
        // Subscribe first: whatever commits from now on is either in the log read below or
        // in the broadcast.
        let live = self.events.subscribe();
        let txn = self.db.begin_read().map_err(db_error)?;
        watch::check_not_compacted(&txn, after)?;
        Ok(watch::stream(
            self.db.clone(),
            live,
            prefix.to_owned(),
            after,
        ))
    }

    async fn current_revision(&self) -> Result<Revision> {
        Ok(self.published.revision.load(Ordering::Acquire))
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.send(Request::Compact { revision, reply }).await?;
        answer.await.map_err(|_| writer_gone())?
    }
}
