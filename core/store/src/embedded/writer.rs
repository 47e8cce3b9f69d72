//! The single writer: drains pending writes and commits each batch in one durable transaction.
//!
//! Group commit is what makes the embedded store fast under concurrency: every commit costs an
//! fsync, so the writer takes everything queued since the last commit and pays for it once.
//! Replies go out only after the commit returned, so an acknowledged write survives `kill -9`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redb::{Database, Durability, ReadableTable, WriteTransaction};
use tokio::sync::{broadcast, mpsc, oneshot};

use super::config::{AutoCompaction, EmbeddedConfig};
use super::tables::{COMPACTED, KV, LOG, LogEntry, META, REVISION, db_error, read_kv, read_meta};
use crate::{Error, EventKind, KeyValue, Revision, WatchEvent};

/// A write waiting for the writer.
pub(super) enum Request {
    Write {
        op: WriteOp,
        reply: oneshot::Sender<Result<KeyValue, Error>>,
    },
    Compact {
        revision: Revision,
        reply: oneshot::Sender<Result<(), Error>>,
    },
}

pub(super) enum WriteOp {
    Create {
        key: String,
        value: Vec<u8>,
    },
    Update {
        key: String,
        value: Vec<u8>,
        expected: Revision,
    },
    Delete {
        key: String,
        expected: Option<Revision>,
    },
}

/// Counters the store reads without a transaction; updated only after a commit.
#[derive(Debug)]
pub(super) struct Published {
    pub revision: AtomicI64,
    pub compacted: AtomicI64,
    /// Durable transactions committed since the store was opened (each one fsync).
    pub commits: AtomicU64,
}

pub(super) struct Writer {
    pub db: Arc<Database>,
    pub requests: mpsc::Receiver<Request>,
    pub events: broadcast::Sender<Arc<[WatchEvent]>>,
    pub published: Arc<Published>,
    pub config: EmbeddedConfig,
}

/// A reply to send once the batch is committed.
enum Reply {
    Write(
        oneshot::Sender<Result<KeyValue, Error>>,
        Result<KeyValue, Error>,
    ),
    Compact(oneshot::Sender<Result<(), Error>>, Result<(), Error>),
}

impl Writer {
    /// Runs until every sender is gone.
    pub fn run(mut self) {
        let mut history = History::default();
        let mut last_auto_compaction = Instant::now();
        let mut batch = Vec::with_capacity(self.config.max_batch);
        // Writes the last batch held: more than one means concurrent writers.
        let mut expected = 1;
        while let Some(first) = self.requests.blocking_recv() {
            batch.push(first);
            self.drain(&mut batch);
            if batch.len() < expected && !self.config.gather.is_zero() {
                std::thread::sleep(self.config.gather);
                self.drain(&mut batch);
            }
            expected = batch.len();
            let auto = if last_auto_compaction.elapsed() >= self.config.compaction_interval {
                last_auto_compaction = Instant::now();
                history.target(
                    self.config.auto_compaction,
                    self.published.revision.load(Ordering::Acquire),
                )
            } else {
                None
            };
            self.commit(batch.drain(..), auto);
            history.record(self.published.revision.load(Ordering::Acquire));
        }
    }

    /// Takes what is queued, up to the batch limit.
    fn drain(&mut self, batch: &mut Vec<Request>) {
        while batch.len() < self.config.max_batch {
            match self.requests.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
    }

    fn commit(&self, batch: impl Iterator<Item = Request>, auto_compact: Option<Revision>) {
        let mut replies = Vec::new();
        let mut log = Vec::new();
        let outcome = (|| -> Result<(Revision, Revision), Error> {
            let mut txn = self.db.begin_write().map_err(db_error)?;
            txn.set_durability(Durability::Immediate)
                .map_err(|e| Error::Backend {
                    message: format!("embedded database: {e}"),
                    source: Some(Box::new(e)),
                })?;
            let (revision, compacted) =
                self.apply(&txn, batch, auto_compact, &mut replies, &mut log)?;
            txn.commit().map_err(db_error)?;
            Ok((revision, compacted))
        })();
        match outcome {
            Ok((revision, compacted)) => {
                self.published.commits.fetch_add(1, Ordering::Relaxed);
                self.published.revision.store(revision, Ordering::Release);
                self.published.compacted.store(compacted, Ordering::Release);
                if !log.is_empty() && self.events.receiver_count() > 0 {
                    let events: Arc<[WatchEvent]> =
                        log.into_iter().map(LogEntry::into_event).collect();
                    // Fails only if the last watcher left meanwhile: nobody to tell.
                    let _ = self.events.send(events);
                }
                for reply in replies {
                    match reply {
                        Reply::Write(tx, result) => drop(tx.send(result)),
                        Reply::Compact(tx, result) => drop(tx.send(result)),
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "embedded store commit failed");
                // The transaction was rolled back: every write in it fails, none is visible.
                for reply in replies {
                    let failed = || Error::Backend {
                        message: format!("commit failed: {e}"),
                        source: None,
                    };
                    match reply {
                        Reply::Write(tx, Ok(_)) => drop(tx.send(Err(failed()))),
                        Reply::Write(tx, Err(own)) => drop(tx.send(Err(own))),
                        Reply::Compact(tx, _) => drop(tx.send(Err(failed()))),
                    }
                }
            }
        }
    }

    /// Applies a batch inside `txn`; returns the new revision and compacted revision.
    fn apply(
        &self,
        txn: &WriteTransaction,
        batch: impl Iterator<Item = Request>,
        auto_compact: Option<Revision>,
        replies: &mut Vec<Reply>,
        log: &mut Vec<LogEntry>,
    ) -> Result<(Revision, Revision), Error> {
        let mut kv = txn.open_table(KV).map_err(db_error)?;
        let mut log_table = txn.open_table(LOG).map_err(db_error)?;
        let mut meta = txn.open_table(META).map_err(db_error)?;
        let mut revision = read_meta(&meta, REVISION)?;
        let mut compacted = read_meta(&meta, COMPACTED)?;
        let mut compact_to = auto_compact.filter(|&r| r > compacted);

        for request in batch {
            match request {
                Request::Write { op, reply } => {
                    let result = match apply_write(&mut kv, op, revision + 1)? {
                        Ok(entry) => {
                            revision = entry.revision;
                            log_table
                                .insert(entry.revision, entry.row())
                                .map_err(db_error)?;
                            // For a delete this is the last value at the deletion's revision.
                            let kv = KeyValue {
                                key: entry.key.clone(),
                                value: entry.value.clone(),
                                create_revision: entry.create_revision,
                                mod_revision: entry.revision,
                            };
                            log.push(entry);
                            Ok(kv)
                        }
                        Err(refused) => Err(refused),
                    };
                    replies.push(Reply::Write(reply, result));
                }
                Request::Compact {
                    revision: target,
                    reply,
                } => {
                    let result = if target > revision {
                        Err(Error::Backend {
                            message: format!(
                                "cannot compact to revision {target}: the current revision is {revision}"
                            ),
                            source: None,
                        })
                    } else {
                        compact_to = compact_to.max(Some(target));
                        Ok(())
                    };
                    replies.push(Reply::Compact(reply, result));
                }
            }
        }

        if let Some(target) = compact_to.filter(|&r| r > compacted) {
            log_table
                .retain_in(..=target, |_, _| false)
                .map_err(db_error)?;
            compacted = target;
            meta.insert(COMPACTED, compacted).map_err(db_error)?;
        }
        meta.insert(REVISION, revision).map_err(db_error)?;
        Ok((revision, compacted))
    }
}

/// Applies one write at `revision`. The outer error is a database failure (the batch fails);
/// the inner one is a refusal of this write only (conflict, missing or existing key).
fn apply_write(
    kv: &mut redb::Table<&'static str, (i64, i64, &'static [u8])>,
    op: WriteOp,
    revision: Revision,
) -> Result<Result<LogEntry, Error>, Error> {
    let entry = match op {
        WriteOp::Create { key, value } => {
            if kv.get(key.as_str()).map_err(db_error)?.is_some() {
                return Ok(Err(Error::AlreadyExists(key)));
            }
            kv.insert(key.as_str(), (revision, revision, value.as_slice()))
                .map_err(db_error)?;
            LogEntry {
                revision,
                key,
                kind: EventKind::Put,
                create_revision: revision,
                value,
                prev: None,
            }
        }
        WriteOp::Update {
            key,
            value,
            expected,
        } => {
            let Some(current) = read_kv(kv, &key)? else {
                return Ok(Err(Error::NotFound(key)));
            };
            if current.mod_revision != expected {
                return Ok(Err(Error::Conflict {
                    key,
                    expected,
                    current: Some(Box::new(current)),
                }));
            }
            kv.insert(
                key.as_str(),
                (current.create_revision, revision, value.as_slice()),
            )
            .map_err(db_error)?;
            LogEntry {
                revision,
                key,
                kind: EventKind::Put,
                create_revision: current.create_revision,
                value,
                prev: Some((current.mod_revision, current.value)),
            }
        }
        WriteOp::Delete { key, expected } => {
            let Some(current) = read_kv(kv, &key)? else {
                return Ok(Err(Error::NotFound(key)));
            };
            if expected.is_some_and(|e| e != current.mod_revision) {
                return Ok(Err(Error::Conflict {
                    key,
                    expected: expected.unwrap_or_default(),
                    current: Some(Box::new(current)),
                }));
            }
            kv.remove(key.as_str()).map_err(db_error)?;
            LogEntry {
                revision,
                key,
                kind: EventKind::Delete,
                create_revision: current.create_revision,
                value: current.value.clone(),
                prev: Some((current.mod_revision, current.value)),
            }
        }
    };
    Ok(Ok(entry))
}

/// Samples of (time, revision) for time-based automatic compaction, one per second at most.
#[derive(Default)]
struct History {
    samples: VecDeque<(Instant, Revision)>,
}

impl History {
    fn record(&mut self, revision: Revision) {
        let now = Instant::now();
        match self.samples.back() {
            Some((at, rev))
                if *rev == revision || now.duration_since(*at) < Duration::from_secs(1) => {}
            _ => self.samples.push_back((now, revision)),
        }
    }

    /// The revision automatic compaction may drop history up to, if any.
    fn target(&mut self, policy: AutoCompaction, current: Revision) -> Option<Revision> {
        match policy {
            AutoCompaction::Disabled => None,
            AutoCompaction::KeepRevisions(n) => {
                let n = i64::try_from(n).unwrap_or(i64::MAX);
                Some(current.saturating_sub(n)).filter(|&r| r > 0)
            }
            AutoCompaction::KeepFor(window) => {
                let cutoff = Instant::now().checked_sub(window)?;
                // Keep only the newest sample at or before the cutoff, and those after it.
                while self.samples.len() > 1 && self.samples[1].0 <= cutoff {
                    self.samples.pop_front();
                }
                let (at, rev) = *self.samples.front()?;
                (at <= cutoff).then_some(rev)
            }
        }
    }
}
