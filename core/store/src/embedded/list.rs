//! Lists at the latest or an older revision: the current table, with later changes undone.
//!
//! Only the current state is kept per key; the state at an older revision R is the current
//! state with every change after R undone, using the previous values the revision log keeps.
//! Consistent paging reads at a revision a few seconds old, so the undo set stays small.

use std::collections::BTreeMap;
use std::iter::Peekable;
use std::ops::Bound;

use redb::{Database, ReadableDatabase};

use super::tables::{COMPACTED, KV, LOG, LogEntry, META, REVISION, db_error, read_meta};
use crate::{Error, KeyValue, ListOptions, ListResult};

/// Reads one page under `prefix` as `opts` asks.
pub(super) fn list(db: &Database, prefix: &str, opts: &ListOptions) -> Result<ListResult, Error> {
    let txn = db.begin_read().map_err(db_error)?;
    let meta = txn.open_table(META).map_err(db_error)?;
    let current = read_meta(&meta, REVISION)?;
    let compacted = read_meta(&meta, COMPACTED)?;
    let at = match opts.revision {
        None | Some(0) => current,
        Some(r) if r < compacted => {
            return Err(Error::Compacted {
                requested: r,
                oldest: compacted,
            });
        }
        Some(r) if r > current => {
            return Err(Error::Backend {
                message: format!("revision {r} is in the future (current is {current})"),
                source: None,
            });
        }
        Some(r) => r,
    };
    let lower = match &opts.start_after {
        Some(after) if after.as_str() >= prefix => Bound::Excluded(after.as_str()),
        _ => Bound::Included(prefix),
    };
    let in_page = |key: &str| {
        key.starts_with(prefix)
            && match lower {
                Bound::Excluded(after) => key > after,
                _ => true,
            }
    };

    // Keys changed after `at`, mapped to their state at `at` (`None`: absent then).
    let mut undo: BTreeMap<String, Option<KeyValue>> = BTreeMap::new();
    if at < current {
        let log = txn.open_table(LOG).map_err(db_error)?;
        for row in log.range((at + 1)..).map_err(db_error)? {
            let (rev, value) = row.map_err(db_error)?;
            let (key, ..) = value.value();
            if !in_page(key) || undo.contains_key(key) {
                continue;
            }
            let entry = LogEntry::from_row(rev.value(), value.value());
            undo.insert(entry.key.clone(), entry.prev_kv());
        }
    }

    let kv = txn.open_table(KV).map_err(db_error)?;
    let current_rows = kv
        .range::<&str>((lower, Bound::Unbounded))
        .map_err(db_error)?
        .map(|row| {
            row.map_err(db_error).map(|(k, v)| {
                let (create_revision, mod_revision, value) = v.value();
                KeyValue {
                    key: k.value().to_owned(),
                    value: value.to_vec(),
                    create_revision,
                    mod_revision,
                }
            })
        })
        .take_while(|row| row.as_ref().map_or(true, |kv| kv.key.starts_with(prefix)));

    let mut merged = Merge {
        current: current_rows.peekable(),
        undo: undo.into_iter().peekable(),
    };
    let limit = opts.limit.unwrap_or(usize::MAX);
    let mut items = Vec::new();
    let mut more = false;
    for item in merged.by_ref() {
        let item = item?;
        if items.len() == limit {
            more = true;
            break;
        }
        items.push(item);
    }
    Ok(ListResult {
        items,
        revision: at,
        more,
    })
}

/// Merges the current rows with the undo set, both in key order; the undo set wins.
struct Merge<
    C: Iterator<Item = Result<KeyValue, Error>>,
    U: Iterator<Item = (String, Option<KeyValue>)>,
> {
    current: Peekable<C>,
    undo: Peekable<U>,
}

impl<C, U> Iterator for Merge<C, U>
where
    C: Iterator<Item = Result<KeyValue, Error>>,
    U: Iterator<Item = (String, Option<KeyValue>)>,
{
    type Item = Result<KeyValue, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let current_key = match self.current.peek() {
                Some(Err(_)) => return self.current.next(),
                Some(Ok(kv)) => Some(kv.key.as_str()),
                None => None,
            };
            let undo_key = self.undo.peek().map(|(k, _)| k.as_str());
            match (current_key, undo_key) {
                (None, None) => return None,
                (Some(_), None) => return self.current.next(),
                (Some(c), Some(u)) if c < u => return self.current.next(),
                (Some(c), Some(u)) if c == u => {
                    self.current.next();
                    if let Some((_, Some(old))) = self.undo.next() {
                        return Some(Ok(old));
                    }
                }
                _ => {
                    if let Some((_, Some(old))) = self.undo.next() {
                        return Some(Ok(old));
                    }
                }
            }
        }
    }
}
