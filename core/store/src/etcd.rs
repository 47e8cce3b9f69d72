//! The etcd backend: the store contract mapped onto etcd's MVCC key space.
//!
//! Keys are stored as given. etcd's `mod_revision` is the object's revision; creates compare
//! `create_revision == 0`, updates and conditional deletes compare `mod_revision`, exactly as
//! the kube-apiserver does, so a cluster's data in etcd stays readable by standard tools.

use std::collections::VecDeque;

use async_trait::async_trait;
use etcd_client::{
    Client, CompactionOptions, Compare, CompareOp, DeleteOptions, EventType, GetOptions, KvClient,
    PutOptions, Txn, TxnOp, TxnOpResponse, WatchClient, WatchOptions,
};
use futures::StreamExt;

use crate::{
    Error, EventKind, KeyValue, ListOptions, ListResult, Result, Revision, Store, WatchEvent,
    WatchStream,
};

/// Largest gRPC message accepted: big lists come back in one response.
const MAX_MESSAGE: usize = 256 * 1024 * 1024;

/// A store in an etcd v3 cluster.
#[derive(Clone)]
pub struct EtcdStore {
    kv: KvClient,
    watch: WatchClient,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore").finish_non_exhaustive()
    }
}

impl EtcdStore {
    /// Connects to the given endpoints (`http://host:port`).
    pub async fn connect(endpoints: &[String]) -> Result<Self> {
        let client = Client::connect(endpoints, None)
            .await
            .map_err(|e| backend("cannot connect to etcd", e))?;
        Ok(Self {
            kv: client
                .kv_client()
                .max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(MAX_MESSAGE),
            watch: client.watch_client().max_decoding_message_size(MAX_MESSAGE),
        })
    }

    /// The value of `key` read inside a failed transaction's `else` branch.
    fn current_from(response: &etcd_client::TxnResponse) -> Result<Option<KeyValue>> {
        for op in response.op_responses() {
            if let TxnOpResponse::Get(get) = op {
                return get.kvs().first().map(convert).transpose();
            }
        }
        Ok(None)
    }
}

fn backend(context: &str, e: etcd_client::Error) -> Error {
    Error::Backend {
        message: format!("{context}: {e}"),
        source: Some(Box::new(e)),
    }
}

/// Maps an etcd failure, recognising compaction (etcd reports it only as a message).
fn classify(context: &str, requested: Revision, e: etcd_client::Error) -> Error {
    if is_compacted(&e) {
        Error::Compacted {
            requested,
            oldest: 0,
        }
    } else {
        backend(context, e)
    }
}

fn is_compacted(e: &etcd_client::Error) -> bool {
    matches!(e, etcd_client::Error::GRpcStatus(status)
        if status.message().contains("required revision has been compacted"))
}

fn convert(kv: &etcd_client::KeyValue) -> Result<KeyValue> {
    let key = kv
        .key_str()
        .map_err(|e| backend("etcd returned a key that is not UTF-8", e))?;
    Ok(KeyValue {
        key: key.to_owned(),
        value: kv.value().to_vec(),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
    })
}

/// The first key after every key that starts with `prefix` (etcd's range end for a prefix).
fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // An empty prefix (or all 0xff): "\0" means "to the end of the key space" to etcd.
    vec![0]
}

/// The first key of a prefix range: etcd refuses an empty key, and "\0" sorts first anyway.
fn range_start(prefix: &str) -> Vec<u8> {
    if prefix.is_empty() {
        vec![0]
    } else {
        prefix.as_bytes().to_vec()
    }
}

fn header_revision(header: Option<&etcd_client::ResponseHeader>) -> Revision {
    header.map(|h| h.revision()).unwrap_or_default()
}

#[async_trait]
impl Store for EtcdStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        let response = self
            .kv
            .clone()
            .get(key, None)
            .await
            .map_err(|e| backend("etcd get failed", e))?;
        response.kvs().first().map(convert).transpose()
    }

    async fn list(&self, prefix: &str, opts: ListOptions) -> Result<ListResult> {
        let start = match &opts.start_after {
            Some(after) if after.as_str() >= prefix => {
                let mut start = after.as_bytes().to_vec();
                start.push(0);
                start
            }
            _ => range_start(prefix),
        };
        let mut options = GetOptions::new().with_range(prefix_end(prefix));
        if let Some(limit) = opts.limit {
            options = options.with_limit(i64::try_from(limit).unwrap_or(i64::MAX));
        }
        let at = opts.revision.filter(|&r| r > 0);
        if let Some(revision) = at {
            options = options.with_revision(revision);
        }
        let response = self
            .kv
            .clone()
            .get(start, Some(options))
            .await
            .map_err(|e| classify("etcd range failed", at.unwrap_or_default(), e))?;
        let items = response
            .kvs()
            .iter()
            .map(convert)
            .collect::<Result<Vec<_>>>()?;
        Ok(ListResult {
            items,
            revision: at.unwrap_or_else(|| header_revision(response.header())),
            more: response.more(),
        })
    }

    async fn create(&self, key: &str, value: Vec<u8>) -> Result<KeyValue> {
        let txn = Txn::new()
            .when([Compare::create_revision(key, CompareOp::Equal, 0)])
            .and_then([TxnOp::put(key, value.clone(), None)]);
        let response = self
            .kv
            .clone()
            .txn(txn)
            .await
            .map_err(|e| backend("etcd create failed", e))?;
        if !response.succeeded() {
            return Err(Error::AlreadyExists(key.to_owned()));
        }
        let revision = header_revision(response.header());
        Ok(KeyValue {
            key: key.to_owned(),
            value,
            create_revision: revision,
            mod_revision: revision,
        })
    }

    async fn update(&self, key: &str, value: Vec<u8>, expected: Revision) -> Result<KeyValue> {
        let txn = Txn::new()
            .when([
                Compare::mod_revision(key, CompareOp::Equal, expected),
                // Without this, expected == 0 would match a missing key and create it.
                Compare::create_revision(key, CompareOp::Greater, 0),
            ])
            .and_then([TxnOp::put(
                key,
                value.clone(),
                Some(PutOptions::new().with_prev_key()),
            )])
            .or_else([TxnOp::get(key, None)]);
        let response = self
            .kv
            .clone()
            .txn(txn)
            .await
            .map_err(|e| backend("etcd update failed", e))?;
        if !response.succeeded() {
            return match Self::current_from(&response)? {
                None => Err(Error::NotFound(key.to_owned())),
                Some(current) => Err(Error::Conflict {
                    key: key.to_owned(),
                    expected,
                    current: Some(Box::new(current)),
                }),
            };
        }
        let create_revision = response
            .op_responses()
            .into_iter()
            .find_map(|op| match op {
                TxnOpResponse::Put(put) => put.prev_key().map(|kv| kv.create_revision()),
                _ => None,
            })
            .unwrap_or_default();
        Ok(KeyValue {
            key: key.to_owned(),
            value,
            create_revision,
            mod_revision: header_revision(response.header()),
        })
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue> {
        let mut compares = vec![Compare::create_revision(key, CompareOp::Greater, 0)];
        if let Some(expected) = expected {
            compares.push(Compare::mod_revision(key, CompareOp::Equal, expected));
        }
        let txn = Txn::new()
            .when(compares)
            .and_then([TxnOp::delete(
                key,
                Some(DeleteOptions::new().with_prev_key()),
            )])
            .or_else([TxnOp::get(key, None)]);
        let response = self
            .kv
            .clone()
            .txn(txn)
            .await
            .map_err(|e| backend("etcd delete failed", e))?;
        if !response.succeeded() {
            return match Self::current_from(&response)? {
                None => Err(Error::NotFound(key.to_owned())),
                Some(current) => Err(Error::Conflict {
                    key: key.to_owned(),
                    expected: expected.unwrap_or_default(),
                    current: Some(Box::new(current)),
                }),
            };
        }
        let revision = header_revision(response.header());
        let prev = response.op_responses().into_iter().find_map(|op| match op {
            TxnOpResponse::Delete(delete) => delete.prev_kvs().first().cloned(),
            _ => None,
        });
        let mut deleted = prev
            .as_ref()
            .map(convert)
            .transpose()?
            .ok_or_else(|| Error::NotFound(key.to_owned()))?;
        deleted.mod_revision = revision;
        Ok(deleted)
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream> {
        // Fail fast on a compacted start, as the embedded store does; etcd itself would only
        // cancel the watch after creating it.
        if after > 0 {
            let probe = GetOptions::new().with_revision(after).with_count_only();
            if let Err(e) = self.kv.clone().get(range_start(prefix), Some(probe)).await
                && is_compacted(&e)
            {
                return Err(classify("etcd watch failed", after, e));
            }
        }
        let mut options = WatchOptions::new()
            .with_range(prefix_end(prefix))
            .with_prev_key();
        if after >= 0 {
            options = options.with_start_revision(after + 1);
        }
        let stream = self
            .watch
            .clone()
            .watch(range_start(prefix), Some(options))
            .await
            .map_err(|e| backend("etcd watch failed", e))?;
        let state = WatchState {
            stream,
            pending: VecDeque::new(),
            position: after,
            done: false,
        };
        Ok(futures::stream::unfold(state, next_event).boxed())
    }

    async fn current_revision(&self) -> Result<Revision> {
        let response = self
            .kv
            .clone()
            .get("\0", Some(GetOptions::new().with_count_only()))
            .await
            .map_err(|e| backend("etcd status failed", e))?;
        Ok(header_revision(response.header()))
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        match self
            .kv
            .clone()
            .compact(revision, Some(CompactionOptions::new().with_physical()))
            .await
        {
            Ok(_) => Ok(()),
            // Already compacted at or past this revision: nothing left to do.
            Err(e) if is_compacted(&e) => Ok(()),
            Err(e) => Err(backend("etcd compaction failed", e)),
        }
    }
}

struct WatchState {
    stream: etcd_client::WatchStream,
    pending: VecDeque<WatchEvent>,
    /// The revision of the last event delivered.
    position: Revision,
    done: bool,
}

async fn next_event(mut state: WatchState) -> Option<(Result<WatchEvent>, WatchState)> {
    loop {
        if state.done {
            return None;
        }
        if let Some(event) = state.pending.pop_front() {
            state.position = event.kv.mod_revision;
            return Some((Ok(event), state));
        }
        let response = match state.stream.message().await {
            Ok(Some(response)) => response,
            Ok(None) => return None,
            Err(e) => {
                state.done = true;
                return Some((Err(backend("etcd watch failed", e)), state));
            }
        };
        if response.compact_revision() > 0 {
            state.done = true;
            let error = Error::Compacted {
                requested: state.position,
                oldest: response.compact_revision(),
            };
            return Some((Err(error), state));
        }
        if response.canceled() {
            state.done = true;
            let error = Error::Backend {
                message: format!("etcd cancelled the watch: {}", response.cancel_reason()),
                source: None,
            };
            return Some((Err(error), state));
        }
        for event in response.events() {
            match watch_event(event) {
                Ok(Some(event)) => state.pending.push_back(event),
                Ok(None) => {}
                Err(e) => {
                    state.done = true;
                    return Some((Err(e), state));
                }
            }
        }
    }
}

fn watch_event(event: &etcd_client::Event) -> Result<Option<WatchEvent>> {
    let Some(kv) = event.kv() else {
        return Ok(None);
    };
    let kv = convert(kv)?;
    let prev = event.prev_kv().map(convert).transpose()?;
    Ok(Some(match event.event_type() {
        EventType::Put => WatchEvent {
            kind: EventKind::Put,
            kv,
            prev,
        },
        EventType::Delete => {
            // etcd's delete event holds only the key and the deletion's revision; the last
            // value comes from prev_kv (empty if etcd already compacted it away).
            let last = match &prev {
                Some(prev) => KeyValue {
                    mod_revision: kv.mod_revision,
                    ..prev.clone()
                },
                None => kv,
            };
            WatchEvent {
                kind: EventKind::Delete,
                kv: last,
                prev,
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn a_prefix_end_is_the_next_key_after_the_prefix_range() {
        assert_eq!(prefix_end("/a/b/"), b"/a/b0");
        assert_eq!(prefix_end(""), b"\0");
    }
}
