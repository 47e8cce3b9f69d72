//! `GET ?watch=true`: a stream of `{"type", "object"}` events from the resource's watch hub.

use axum::body::Body;
use axum::response::Response;
use futures::StreamExt;
use serde_json::{Value, json};
use skiff_api::{Status, meta};
use skiff_store::{EventKind, ListOptions};
use std::sync::atomic::Ordering;
use tokio::sync::mpsc;

use super::Ctx;
use crate::machinery::Selectors;
use crate::objects;
use crate::partial::Paths;
use crate::watch::{Change, Error as WatchError};

/// What a watcher asked to see: a namespace (by its store key prefix), perhaps one name, and
/// selectors.
struct Filter {
    ns_prefix: String,
    only_name: Option<String>,
    selectors: Selectors,
    /// The fields the name and the selectors read; `None` when they read nothing, and the
    /// store key alone decides.
    reads: Option<Paths>,
}

impl Filter {
    fn new(ns_prefix: String, only_name: Option<String>, selectors: Selectors) -> Self {
        let mut reads = selectors.reads();
        if only_name.is_some() {
            reads.add("metadata.name");
        }
        Filter {
            ns_prefix,
            only_name,
            selectors,
            reads: (!reads.is_empty()).then_some(reads),
        }
    }

    /// Whether an object stored under `key` is one the watcher wants. The store key says the
    /// namespace without allocating.
    fn matches(&self, key: &str, obj: &Value) -> bool {
        key.starts_with(&self.ns_prefix)
            && self
                .only_name
                .as_deref()
                .is_none_or(|n| meta::name(obj) == Some(n))
            && self.selectors.matches(obj)
    }

    /// The same for a change's object (with `prev`, its state before), reading only the
    /// fields the filter needs: this runs per watcher per change. `None` when there is no
    /// such state or it cannot be read.
    fn passes(&self, change: &Change, prev: bool) -> Option<bool> {
        let Some(reads) = &self.reads else {
            return (!prev || change.has_prev()).then(|| change.key().starts_with(&self.ns_prefix));
        };
        let obj = change.pick(reads, prev)?;
        Some(self.matches(change.key(), &obj))
    }
}

/// Which watch event, if any, a change is for a watcher with these filters: an update that
/// moves an object into (out of) the selection is an `ADDED` (`DELETED`), as upstream.
fn event_type(change: &Change, filter: &Filter) -> Option<&'static str> {
    let now = filter.passes(change, false)?;
    match change.kind {
        EventKind::Delete => now.then_some("DELETED"),
        EventKind::Put => {
            let before = filter.passes(change, true).unwrap_or(false);
            match (before, now) {
                (true, true) => Some("MODIFIED"),
                (false, true) => Some("ADDED"),
                (true, false) => Some("DELETED"),
                (false, false) => None,
            }
        }
    }
}

fn line(kind: &str, object: &Value) -> bytes::Bytes {
    let mut v = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    v.push(b'\n');
    v.into()
}

/// The same line around an object already encoded (once for all watchers of a change):
/// written by hand because serde has no way to embed JSON bytes it did not produce.
fn line_around(kind: &str, object: &[u8]) -> bytes::Bytes {
    let mut v = Vec::with_capacity(object.len() + kind.len() + 24);
    v.extend_from_slice(b"{\"type\":\"");
    v.extend_from_slice(kind.as_bytes());
    v.extend_from_slice(b"\",\"object\":");
    v.extend_from_slice(object);
    v.extend_from_slice(b"}\n");
    v.into()
}

pub async fn watch(ctx: Ctx) -> Result<Response, Status> {
    let selectors = Selectors::parse(
        ctx.query.get("labelSelector"),
        ctx.query.get("fieldSelector"),
    )?;
    let info = ctx.info().clone();
    let ns_prefix = info.namespace_prefix(ctx.namespace());
    let only_name = ctx.target.name.clone();
    let send_initial = ctx.query.flag("sendInitialEvents");
    let bookmarks = ctx.query.flag("allowWatchBookmarks");
    let rv = ctx.query.get("resourceVersion");
    let start: Option<i64> = match rv {
        None | Some("0") => None,
        Some(s) => Some(
            s.parse()
                .map_err(|_| Status::bad_request(format!("invalid resource version: {s:?}")))?,
        ),
    };
    let timeout = ctx
        .query
        .int("timeoutSeconds")
        .filter(|t| *t > 0)
        .map(|t| std::time::Duration::from_secs(t as u64))
        .unwrap_or(ctx.state.watch_timeout);
    // Pinning the resource's indexed field (a kubelet's `spec.nodeName=<node>`) subscribes
    // to the changes of that value only.
    let trigger = crate::watch::Index::of(&info).and_then(|index| {
        selectors
            .exact_field(index.field())
            .map(|value| crate::watch::Trigger {
                index,
                value: value.to_string(),
            })
    });
    let filter = Filter::new(ns_prefix.clone(), only_name, selectors);

    // Initial state: a list, when no revision was given (or initial events were asked for).
    let mut initial = Vec::new();
    let after = if start.is_none() || send_initial {
        let page = ctx
            .state
            .store
            .list(&ns_prefix, ListOptions::default())
            .await
            .map_err(|e| objects::store_error(e, &info, ""))?;
        for kv in &page.items {
            let mut obj = objects::with_type(objects::decode(kv)?, &info);
            if filter.matches(&kv.key, &obj) {
                if ctx.lean {
                    crate::response::drop_managed_fields(&mut obj);
                }
                initial.push(obj);
            }
        }
        page.revision
    } else {
        start.unwrap_or(0)
    };

    let state = ctx.state.clone();
    let table = ctx.table.clone();
    let columns: Option<Vec<Value>> = ctx
        .custom()
        .map(|c| c.printer_columns.clone())
        .filter(|c| !c.is_empty());
    let served = ctx.served.clone();
    // Watchers of the stored version without a table all send the same bytes per change.
    let shared = table.is_none() && served.is_none();
    let lean = ctx.lean;
    let encode = {
        let info = info.clone();
        let served = served.clone();
        move |obj: &Value| -> Value {
            match (&table, &served) {
                (Some(include), _) => {
                    let mut t = crate::machinery::to_table(
                        &info,
                        columns.as_deref(),
                        std::slice::from_ref(obj),
                        include,
                    );
                    if let Some(s) = &served {
                        super::context::served_rows(&mut t, &s.api_version());
                    }
                    t
                }
                (None, Some(s)) => skiff_api::convert::convert(obj.clone(), &s.api_version()),
                (None, None) => obj.clone(),
            }
        }
    };
    let bookmark = {
        let info = served.unwrap_or_else(|| info.clone());
        move |rev: i64, end_of_initial: bool| -> bytes::Bytes {
            let mut m = json!({"resourceVersion": rev.to_string()});
            if end_of_initial {
                m["annotations"] = json!({"k8s.io/initial-events-end": "true"});
            }
            line(
                "BOOKMARK",
                &json!({"kind": info.kind, "apiVersion": info.api_version(), "metadata": m}),
            )
        }
    };

    let subscription = state
        .watches
        .subscribe(&info.key_prefix(), after, trigger)
        .await;
    let (tx, rx) = mpsc::channel::<bytes::Bytes>(64);
    let interval = state.bookmark_interval;
    let shutdown = state.shutdown.clone();
    tokio::spawn(async move {
        let (mut changes, progress) = match subscription {
            Ok(s) => (s.changes.peekable(), s.progress),
            Err(e) => {
                let status = watch_failure(&e);
                let _ = tx.send(line("ERROR", &status.to_json())).await;
                return;
            }
        };
        for obj in &initial {
            if tx.send(line("ADDED", &encode(obj))).await.is_err() {
                return;
            }
        }
        if send_initial && bookmarks {
            let _ = tx.send(bookmark(after, true)).await;
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        let mut last = after;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = &mut deadline => break,
                () = tx.closed() => break,
                _ = tick.tick(), if bookmarks => {
                    // Read before looking at the queue: with nothing waiting, every change
                    // the hub had handed out by then has been seen.
                    let reached = progress.as_ref().map(|p| p.load(Ordering::Acquire));
                    if let Some(reached) = reached
                        && futures::poll!(std::pin::Pin::new(&mut changes).peek()).is_pending()
                    {
                        last = last.max(reached);
                    }
                    if tx.send(bookmark(last, false)).await.is_err() {
                        break;
                    }
                }
                next = changes.next() => match next {
                    None => break,
                    Some(Err(e)) => {
                        if let WatchError::Store(skiff_store::Error::Compacted { .. }) = e {
                            let _ = tx.send(line("ERROR", &watch_failure(&e).to_json())).await;
                        }
                        break;
                    }
                    Some(Ok(change)) => {
                        last = last.max(change.revision);
                        let Some(kind) = event_type(&change, &filter) else { continue };
                        let sent = if shared {
                            change.encoded(&info, lean).map(|json| line_around(kind, &json))
                        } else {
                            change.object().map(|obj| {
                                let mut obj = objects::with_type(obj.clone(), &info);
                                if lean {
                                    crate::response::drop_managed_fields(&mut obj);
                                }
                                line(kind, &encode(&obj))
                            })
                        };
                        if let Some(sent) = sent
                            && tx.send(sent).await.is_err()
                        {
                            break;
                        }
                    }
                }
            }
        }
    });
    let body = Body::from_stream(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, std::convert::Infallible>(b), rx))
    }));
    let mut resp = Response::new(body);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-cache, private"),
    );
    Ok(resp)
}

/// The `Status` a watch ends with when it cannot go on.
fn watch_failure(e: &WatchError) -> Status {
    match e {
        WatchError::Store(skiff_store::Error::Compacted { requested, oldest }) => {
            Status::gone(format!("too old resource version: {requested} ({oldest})"))
        }
        other => Status::internal(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(kind: EventKind, obj: Value, prev: Option<Value>) -> Change {
        let kv = |v: &Value| skiff_store::KeyValue {
            key: "/registry/pods/default/p".into(),
            value: serde_json::to_vec(v).unwrap(),
            create_revision: 1,
            mod_revision: 1,
        };
        Change::new(std::sync::Arc::new(skiff_store::WatchEvent {
            kind,
            kv: kv(&obj),
            prev: prev.as_ref().map(kv),
        }))
    }

    #[test]
    fn updates_moving_objects_across_the_selector_are_added_or_deleted() {
        let sel = Selectors::parse(Some("app=web"), None).unwrap();
        let m = Filter::new("/registry/pods/default/".into(), None, sel);
        let web = json!({"metadata": {"labels": {"app": "web"}}});
        let db = json!({"metadata": {"labels": {"app": "db"}}});
        assert_eq!(
            event_type(&change(EventKind::Put, web.clone(), None), &m),
            Some("ADDED")
        );
        assert_eq!(
            event_type(&change(EventKind::Put, web.clone(), Some(web.clone())), &m),
            Some("MODIFIED")
        );
        assert_eq!(
            event_type(&change(EventKind::Put, db.clone(), Some(web.clone())), &m),
            Some("DELETED")
        );
        assert_eq!(
            event_type(&change(EventKind::Put, web.clone(), Some(db.clone())), &m),
            Some("ADDED")
        );
        assert_eq!(
            event_type(&change(EventKind::Put, db.clone(), Some(db.clone())), &m),
            None
        );
        assert_eq!(
            event_type(&change(EventKind::Delete, web, None), &m),
            Some("DELETED")
        );
    }

    #[test]
    fn a_filter_that_reads_no_field_goes_by_the_key() {
        let pod = json!({"metadata": {"name": "p"}});
        let here = Filter::new(
            "/registry/pods/default/".into(),
            None,
            Selectors::parse(None, None).unwrap(),
        );
        let elsewhere = Filter::new(
            "/registry/pods/other/".into(),
            None,
            Selectors::parse(None, None).unwrap(),
        );
        assert!(here.reads.is_none());
        let created = change(EventKind::Put, pod.clone(), None);
        let updated = change(EventKind::Put, pod.clone(), Some(pod.clone()));
        let deleted = change(EventKind::Delete, pod, None);
        assert_eq!(event_type(&created, &here), Some("ADDED"));
        assert_eq!(event_type(&updated, &here), Some("MODIFIED"));
        assert_eq!(event_type(&deleted, &here), Some("DELETED"));
        for c in [&created, &updated, &deleted] {
            assert_eq!(event_type(c, &elsewhere), None);
        }
    }

    #[test]
    fn events_from_picked_fields_follow_the_selectors_and_the_name() {
        let filter = || {
            Filter::new(
                "/registry/pods/".into(),
                Some("p".into()),
                Selectors::parse(Some("app=web"), Some("spec.nodeName!=")).unwrap(),
            )
        };
        let pod = |node: &str, app: &str| {
            json!({"metadata": {"name": "p", "labels": {"app": app}},
                "spec": {"nodeName": node, "containers": [{"name": "c"}]}})
        };
        let cases = [
            (pod("", "web"), Some(pod("", "web")), None),
            (pod("n1", "web"), Some(pod("", "web")), Some("ADDED")),
            (pod("n1", "web"), Some(pod("n1", "web")), Some("MODIFIED")),
            (pod("n1", "db"), Some(pod("n1", "web")), Some("DELETED")),
            (pod("n1", "web"), None, Some("ADDED")),
        ];
        for (now, before, expected) in cases {
            let picked = change(EventKind::Put, now.clone(), before.clone());
            assert_eq!(
                event_type(&picked, &filter()),
                expected,
                "{now} after {before:?}"
            );
            // A second watcher of the same change reads the first one's pick.
            assert_eq!(
                event_type(&picked, &filter()),
                expected,
                "{now} after {before:?}, again"
            );
        }
    }
}
