//! Settings of the embedded store, with documented defaults.

use std::path::PathBuf;
use std::time::Duration;

/// How the embedded store opens its file and tunes its writer, watches and history.
#[derive(Clone, Debug)]
pub struct EmbeddedConfig {
    /// The database file; created if missing.
    pub path: PathBuf,
    /// Most writes committed in one transaction. Default 1024: a batch that large is still
    /// one fsync, and a cap keeps one commit from holding early writers back for long.
    pub max_batch: usize,
    /// How long the writer waits for more writes when fewer are queued than the last batch
    /// held (concurrent writers whose next writes are on their way). Default 200 µs; zero
    /// commits at once. One fsync then serves the stragglers too: PostgreSQL's
    /// `commit_delay`, applied only when the last batch showed concurrency.
    pub gather: Duration,
    /// Most writes waiting for the writer before callers are made to wait. Default 8192.
    pub queue_depth: usize,
    /// Committed batches buffered for live watchers. Default 1024. A watcher that falls further
    /// behind catches up from the revision log instead, so this only trades memory for reads.
    pub watch_buffer: usize,
    /// redb page cache, in bytes. Default 64 MiB.
    pub cache_size: usize,
    /// Automatic compaction of the revision log. Default: keep the last 5 minutes, the
    /// kube-apiserver's own compaction interval, so watches resumed within that window work.
    pub auto_compaction: AutoCompaction,
    /// How often automatic compaction runs (at most once per interval, after a write).
    /// Default 1 minute.
    pub compaction_interval: Duration,
}

/// Which history automatic compaction keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutoCompaction {
    /// Keep everything until [`crate::Store::compact`] is called.
    Disabled,
    /// Keep the last N revisions.
    KeepRevisions(u64),
    /// Keep the revisions written during the last period. Write times are not stored, so
    /// after a restart the window counts from the restart (more is kept, never less).
    KeepFor(Duration),
}

impl EmbeddedConfig {
    /// The defaults for a database file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            max_batch: 1024,
            gather: Duration::from_micros(200),
            queue_depth: 8192,
            watch_buffer: 1024,
            cache_size: 64 * 1024 * 1024,
            auto_compaction: AutoCompaction::KeepFor(Duration::from_secs(5 * 60)),
            compaction_interval: Duration::from_secs(60),
        }
    }
}
