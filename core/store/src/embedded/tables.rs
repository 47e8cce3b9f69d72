//! The redb tables of the embedded store and the conversions between their rows and store types.

use redb::{ReadableTable, TableDefinition};

use crate::{Error, EventKind, KeyValue, Revision, WatchEvent};

/// Current state: key → (create_revision, mod_revision, value).
pub(super) const KV: TableDefinition<&str, (i64, i64, &[u8])> = TableDefinition::new("kv");

/// Revision log: revision → (key, kind, create_revision, value, prev_mod_revision, prev_value).
///
/// `kind` is [`PUT`] or [`DELETE`]; `prev_mod_revision` is 0 when the key did not exist before
/// the change. For a delete, `value` is the last value. The previous value is stored beside the
/// new one so that a list at an older revision can undo later changes without a second lookup.
pub(super) const LOG: TableDefinition<i64, LogRow> = TableDefinition::new("log");

/// A row of [`LOG`], as redb hands it out.
pub(super) type LogRow = (&'static str, u8, i64, &'static [u8], i64, &'static [u8]);

/// Counters: [`REVISION`] and [`COMPACTED`].
pub(super) const META: TableDefinition<&str, i64> = TableDefinition::new("meta");

pub(super) const REVISION: &str = "revision";
pub(super) const COMPACTED: &str = "compacted";

pub(super) const PUT: u8 = 0;
pub(super) const DELETE: u8 = 1;

/// The revision of an empty store; the first write gets the next one (as in etcd).
pub(super) const INITIAL_REVISION: Revision = 1;

/// One row of the revision log, owned.
#[derive(Clone, Debug)]
pub(super) struct LogEntry {
    pub revision: Revision,
    pub key: String,
    pub kind: EventKind,
    pub create_revision: Revision,
    pub value: Vec<u8>,
    /// The key's state just before this change, if it existed.
    pub prev: Option<(Revision, Vec<u8>)>,
}

impl LogEntry {
    pub fn from_row(revision: Revision, row: (&str, u8, i64, &[u8], i64, &[u8])) -> Self {
        let (key, kind, create_revision, value, prev_mod, prev_value) = row;
        Self {
            revision,
            key: key.to_owned(),
            kind: if kind == DELETE {
                EventKind::Delete
            } else {
                EventKind::Put
            },
            create_revision,
            value: value.to_vec(),
            prev: (prev_mod != 0).then(|| (prev_mod, prev_value.to_vec())),
        }
    }

    pub fn row(&self) -> (&str, u8, i64, &[u8], i64, &[u8]) {
        let kind = match self.kind {
            EventKind::Put => PUT,
            EventKind::Delete => DELETE,
        };
        let (prev_mod, prev_value) = match &self.prev {
            Some((rev, value)) => (*rev, value.as_slice()),
            None => (0, &[][..]),
        };
        (
            &self.key,
            kind,
            self.create_revision,
            &self.value,
            prev_mod,
            prev_value,
        )
    }

    /// The key as it was just before this change (`None` if it did not exist).
    pub fn prev_kv(&self) -> Option<KeyValue> {
        self.prev.as_ref().map(|(rev, value)| KeyValue {
            key: self.key.clone(),
            value: value.clone(),
            create_revision: self.create_revision,
            mod_revision: *rev,
        })
    }

    pub fn into_event(self) -> WatchEvent {
        let prev = self.prev_kv();
        WatchEvent {
            kind: self.kind,
            kv: KeyValue {
                key: self.key,
                value: self.value,
                create_revision: self.create_revision,
                mod_revision: self.revision,
            },
            prev,
        }
    }
}

/// Reads one key from the current-state table.
pub(super) fn read_kv(
    table: &impl ReadableTable<&'static str, (i64, i64, &'static [u8])>,
    key: &str,
) -> Result<Option<KeyValue>, Error> {
    Ok(table.get(key).map_err(db_error)?.map(|guard| {
        let (create_revision, mod_revision, value) = guard.value();
        KeyValue {
            key: key.to_owned(),
            value: value.to_vec(),
            create_revision,
            mod_revision,
        }
    }))
}

/// Reads a counter from the meta table (0 if unset).
pub(super) fn read_meta(
    table: &impl ReadableTable<&'static str, i64>,
    name: &str,
) -> Result<i64, Error> {
    Ok(table
        .get(name)
        .map_err(db_error)?
        .map(|g| g.value())
        .unwrap_or(0))
}

/// Wraps any redb failure as a backend error.
pub(super) fn db_error(e: impl Into<redb::Error>) -> Error {
    let e: redb::Error = e.into();
    Error::Backend {
        message: format!("embedded database: {e}"),
        source: Some(Box::new(e)),
    }
}
