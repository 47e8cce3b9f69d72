//! Watches: replay from the revision log, then live events from the writer's broadcast.
//!
//! The receiver subscribes before the log is read, so nothing committed in between is missed;
//! events already replayed are skipped by revision. A watcher that lags behind the broadcast
//! goes back to the log, and ends with [`Error::Compacted`] if that history is gone.

use std::collections::VecDeque;
use std::sync::Arc;

use futures::StreamExt;
use redb::{Database, ReadableDatabase};
use tokio::sync::broadcast::{self, error::RecvError};

use super::tables::{COMPACTED, LOG, LogEntry, META, db_error, read_meta};
use crate::{Error, Revision, WatchEvent, WatchStream};

/// Log entries read per catch-up step, so a long replay streams instead of loading at once.
const CATCH_UP_CHUNK: usize = 1024;

struct State {
    db: Arc<Database>,
    live: broadcast::Receiver<Arc<[WatchEvent]>>,
    prefix: String,
    /// Every change up to here has been queued or filtered out.
    position: Revision,
    pending: VecDeque<WatchEvent>,
    catching_up: bool,
    done: bool,
}

/// Streams changes under `prefix` after revision `after`; `live` must be subscribed already.
pub(super) fn stream(
    db: Arc<Database>,
    live: broadcast::Receiver<Arc<[WatchEvent]>>,
    prefix: String,
    after: Revision,
) -> WatchStream {
    let state = State {
        db,
        live,
        prefix,
        position: after,
        pending: VecDeque::new(),
        catching_up: true,
        done: false,
    };
    futures::stream::unfold(state, next).boxed()
}

async fn next(mut state: State) -> Option<(Result<WatchEvent, Error>, State)> {
    loop {
        if state.done {
            return None;
        }
        if let Some(event) = state.pending.pop_front() {
            return Some((Ok(event), state));
        }
        if state.catching_up {
            let db = state.db.clone();
            let prefix = state.prefix.clone();
            let from = state.position;
            let read = tokio::task::spawn_blocking(move || read_log(&db, &prefix, from)).await;
            match read.unwrap_or_else(|e| {
                Err(Error::Backend {
                    message: format!("watch log reader failed: {e}"),
                    source: Some(Box::new(e)),
                })
            }) {
                Ok(chunk) => {
                    state.pending.extend(chunk.events);
                    state.position = state.position.max(chunk.scanned_to);
                    state.catching_up = !chunk.at_end;
                }
                Err(e) => {
                    state.done = true;
                    return Some((Err(e), state));
                }
            }
            continue;
        }
        match state.live.recv().await {
            Ok(batch) => {
                for event in batch.iter() {
                    if event.kv.mod_revision <= state.position {
                        continue;
                    }
                    state.position = event.kv.mod_revision;
                    if event.kv.key.starts_with(&state.prefix) {
                        state.pending.push_back(event.clone());
                    }
                }
            }
            Err(RecvError::Lagged(_)) => state.catching_up = true,
            Err(RecvError::Closed) => return None,
        }
    }
}

struct Chunk {
    events: Vec<WatchEvent>,
    scanned_to: Revision,
    at_end: bool,
}

/// Reads up to [`CATCH_UP_CHUNK`] log entries after `from`, keeping those under `prefix`.
fn read_log(db: &Database, prefix: &str, from: Revision) -> Result<Chunk, Error> {
    let txn = db.begin_read().map_err(db_error)?;
    check_not_compacted(&txn, from)?;
    let log = txn.open_table(LOG).map_err(db_error)?;
    let mut chunk = Chunk {
        events: Vec::new(),
        scanned_to: from,
        at_end: true,
    };
    for (n, row) in log.range((from + 1)..).map_err(db_error)?.enumerate() {
        if n == CATCH_UP_CHUNK {
            chunk.at_end = false;
            break;
        }
        let (rev, value) = row.map_err(db_error)?;
        chunk.scanned_to = rev.value();
        if value.value().0.starts_with(prefix) {
            chunk
                .events
                .push(LogEntry::from_row(rev.value(), value.value()).into_event());
        }
    }
    Ok(chunk)
}

/// [`Error::Compacted`] if changes after `after` are no longer all in the log.
pub(super) fn check_not_compacted(
    txn: &redb::ReadTransaction,
    after: Revision,
) -> Result<(), Error> {
    let meta = txn.open_table(META).map_err(db_error)?;
    let compacted = read_meta(&meta, COMPACTED)?;
    if after < compacted {
        return Err(Error::Compacted {
            requested: after,
            oldest: compacted,
        });
    }
    Ok(())
}
