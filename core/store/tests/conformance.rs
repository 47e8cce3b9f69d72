//! The store contract, checked against every backend: each case runs once per backend.

use std::any::Any;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use skiff_store::{
    EmbeddedConfig, EmbeddedStore, Error, EventKind, KeyValue, ListOptions, Revision, Store,
    WatchEvent, WatchStream,
};

/// A fresh, empty store and whatever keeps it alive (temp dir, etcd process).
struct Fixture {
    store: Arc<dyn Store>,
    _guard: Box<dyn Any + Send>,
}

async fn embedded() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(EmbeddedConfig::new(dir.path().join("store.redb"))).unwrap();
    Fixture {
        store: Arc::new(store),
        _guard: Box::new(dir),
    }
}

async fn etcd() -> Fixture {
    let server = tokio::task::spawn_blocking(skiff_store::testing::EtcdServer::start)
        .await
        .unwrap()
        .expect("etcd starts");
    let store = skiff_store::EtcdStore::connect(&[server.endpoint()])
        .await
        .unwrap();
    Fixture {
        store: Arc::new(store),
        _guard: Box::new(server),
    }
}

/// Generates one test per case for one backend: `conformance!(module, fixture_fn)`.
macro_rules! conformance {
    ($backend:ident, $fixture:path) => {
        mod $backend {
            conformance!(@cases $fixture;
                created_keys_can_be_read,
                creating_an_existing_key_fails,
                updating_with_a_stale_revision_conflicts_with_the_current_value,
                deleting_with_a_stale_revision_conflicts,
                deleted_keys_are_not_listed,
                lists_page_with_start_after_and_limit,
                a_list_at_an_older_revision_sees_the_old_state,
                a_prefix_does_not_match_longer_segments,
                revisions_are_global_and_strictly_increasing,
                a_watch_replays_later_changes_in_order_then_delivers_live_ones,
                delete_events_carry_the_last_value,
                watches_and_lists_at_a_compacted_revision_fail,
                concurrent_creates_of_one_key_have_exactly_one_winner,
                two_hundred_concurrent_writers_are_all_acknowledged_and_readable,
            );
        }
    };
    (@cases $fixture:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let fixture = $fixture().await;
                super::$case(fixture.store.as_ref()).await;
            }
        )*
    };
}

conformance!(embedded_backend, super::embedded);
conformance!(etcd_backend, super::etcd);

const WAIT: Duration = Duration::from_secs(10);

async fn next_event(watch: &mut WatchStream) -> WatchEvent {
    tokio::time::timeout(WAIT, watch.next())
        .await
        .expect("no watch event within the timeout")
        .expect("watch ended")
        .expect("watch failed")
}

async fn list_all(store: &dyn Store, prefix: &str, revision: Option<Revision>) -> Vec<KeyValue> {
    let opts = ListOptions {
        revision,
        ..ListOptions::default()
    };
    let page = store.list(prefix, opts).await.unwrap();
    assert!(!page.more);
    page.items
}

fn keys(items: &[KeyValue]) -> Vec<&str> {
    items.iter().map(|kv| kv.key.as_str()).collect()
}

async fn created_keys_can_be_read(store: &dyn Store) {
    assert_eq!(store.get("/registry/pods/default/a").await.unwrap(), None);
    let created = store
        .create("/registry/pods/default/a", b"one".to_vec())
        .await
        .unwrap();
    assert_eq!(created.key, "/registry/pods/default/a");
    assert_eq!(created.value, b"one");
    assert!(created.mod_revision > 0);
    assert_eq!(created.create_revision, created.mod_revision);
    let read = store.get("/registry/pods/default/a").await.unwrap();
    assert_eq!(read, Some(created.clone()));
    assert_eq!(
        store.current_revision().await.unwrap(),
        created.mod_revision
    );
}

async fn creating_an_existing_key_fails(store: &dyn Store) {
    store.create("/k", b"first".to_vec()).await.unwrap();
    let err = store.create("/k", b"second".to_vec()).await.unwrap_err();
    assert!(
        matches!(err, Error::AlreadyExists(ref k) if k == "/k"),
        "{err:?}"
    );
    assert_eq!(store.get("/k").await.unwrap().unwrap().value, b"first");
}

async fn updating_with_a_stale_revision_conflicts_with_the_current_value(store: &dyn Store) {
    let v1 = store.create("/k", b"v1".to_vec()).await.unwrap();
    let v2 = store
        .update("/k", b"v2".to_vec(), v1.mod_revision)
        .await
        .unwrap();
    assert_eq!(v2.create_revision, v1.create_revision);
    assert!(v2.mod_revision > v1.mod_revision);
    assert_eq!(v2.value, b"v2");

    match store.update("/k", b"v3".to_vec(), v1.mod_revision).await {
        Err(Error::Conflict {
            key,
            expected,
            current,
        }) => {
            assert_eq!(key, "/k");
            assert_eq!(expected, v1.mod_revision);
            assert_eq!(current.as_deref(), Some(&v2));
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(store.get("/k").await.unwrap(), Some(v2));

    let missing = store
        .update("/missing", b"x".to_vec(), 1)
        .await
        .unwrap_err();
    assert!(
        matches!(missing, Error::NotFound(ref k) if k == "/missing"),
        "{missing:?}"
    );
}

async fn deleting_with_a_stale_revision_conflicts(store: &dyn Store) {
    let v1 = store.create("/k", b"v1".to_vec()).await.unwrap();
    let v2 = store
        .update("/k", b"v2".to_vec(), v1.mod_revision)
        .await
        .unwrap();
    let err = store.delete("/k", Some(v1.mod_revision)).await.unwrap_err();
    match err {
        Error::Conflict { current, .. } => assert_eq!(current.as_deref(), Some(&v2)),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(store.get("/k").await.unwrap().is_some());

    let deleted = store.delete("/k", Some(v2.mod_revision)).await.unwrap();
    assert_eq!(deleted.value, b"v2");
    assert_eq!(deleted.create_revision, v1.create_revision);
    assert!(deleted.mod_revision > v2.mod_revision);
    assert_eq!(store.get("/k").await.unwrap(), None);

    let missing = store.delete("/k", None).await.unwrap_err();
    assert!(matches!(missing, Error::NotFound(_)), "{missing:?}");

    store.create("/u", b"x".to_vec()).await.unwrap();
    store.delete("/u", None).await.unwrap();
    assert_eq!(store.get("/u").await.unwrap(), None);
}

async fn deleted_keys_are_not_listed(store: &dyn Store) {
    for name in ["a", "b", "c"] {
        store
            .create(&format!("/p/{name}"), name.as_bytes().to_vec())
            .await
            .unwrap();
    }
    store.delete("/p/b", None).await.unwrap();
    assert_eq!(keys(&list_all(store, "/p/", None).await), ["/p/a", "/p/c"]);
}

async fn lists_page_with_start_after_and_limit(store: &dyn Store) {
    let mut expected = Vec::new();
    for i in 0..7 {
        let key = format!("/p/{i:02}");
        store.create(&key, vec![i]).await.unwrap();
        expected.push(key);
    }
    store.create("/q/00", vec![]).await.unwrap();

    let first = store
        .list(
            "/p/",
            ListOptions {
                limit: Some(3),
                ..ListOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(keys(&first.items), ["/p/00", "/p/01", "/p/02"]);
    assert!(first.more);
    let at = first.revision;
    assert_eq!(at, store.current_revision().await.unwrap());

    // A write between pages must not show in later pages read at the first page's revision.
    store.create("/p/025", vec![]).await.unwrap();

    let mut seen: Vec<String> = first.items.iter().map(|kv| kv.key.clone()).collect();
    let mut after = first.items.last().unwrap().key.clone();
    loop {
        let page = store
            .list(
                "/p/",
                ListOptions {
                    start_after: Some(after.clone()),
                    limit: Some(3),
                    revision: Some(at),
                },
            )
            .await
            .unwrap();
        assert_eq!(page.revision, at);
        assert!(page.items.len() <= 3);
        seen.extend(page.items.iter().map(|kv| kv.key.clone()));
        if !page.more {
            break;
        }
        after = page.items.last().unwrap().key.clone();
    }
    assert_eq!(seen, expected);

    let exact = store
        .list(
            "/p/",
            ListOptions {
                start_after: Some("/p/03".into()),
                limit: Some(4),
                revision: Some(at),
            },
        )
        .await
        .unwrap();
    assert_eq!(keys(&exact.items), ["/p/04", "/p/05", "/p/06"]);
    assert!(
        !exact.more,
        "a page that ends exactly at the last key has no more"
    );
}

async fn a_list_at_an_older_revision_sees_the_old_state(store: &dyn Store) {
    let a1 = store.create("/p/a", b"a1".to_vec()).await.unwrap();
    let b1 = store.create("/p/b", b"b1".to_vec()).await.unwrap();
    let old = store.current_revision().await.unwrap();

    let a2 = store
        .update("/p/a", b"a2".to_vec(), a1.mod_revision)
        .await
        .unwrap();
    store.delete("/p/b", None).await.unwrap();
    let c1 = store.create("/p/c", b"c1".to_vec()).await.unwrap();
    store.create("/p/b", b"b2".to_vec()).await.unwrap();
    store.delete("/p/b", None).await.unwrap();

    assert_eq!(list_all(store, "/p/", Some(old)).await, vec![a1, b1]);
    assert_eq!(list_all(store, "/p/", None).await, vec![a2, c1]);
}

async fn a_prefix_does_not_match_longer_segments(store: &dyn Store) {
    store.create("/a/b/x", b"in".to_vec()).await.unwrap();
    store.create("/a/bc/x", b"out".to_vec()).await.unwrap();
    store.create("/a/b", b"out".to_vec()).await.unwrap();
    let start = store.current_revision().await.unwrap();
    assert_eq!(keys(&list_all(store, "/a/b/", None).await), ["/a/b/x"]);

    let mut watch = store.watch("/a/b/", start).await.unwrap();
    store.create("/a/bc/y", b"out".to_vec()).await.unwrap();
    store.create("/a/b/y", b"in".to_vec()).await.unwrap();
    assert_eq!(next_event(&mut watch).await.kv.key, "/a/b/y");
}

async fn revisions_are_global_and_strictly_increasing(store: &dyn Store) {
    let mut last = store.current_revision().await.unwrap();
    let a = store.create("/x/a", vec![]).await.unwrap();
    assert!(a.mod_revision > last);
    last = a.mod_revision;
    let b = store.create("/y/b", vec![]).await.unwrap();
    assert!(b.mod_revision > last);
    last = b.mod_revision;
    let a = store.update("/x/a", vec![1], a.mod_revision).await.unwrap();
    assert!(a.mod_revision > last);
    last = a.mod_revision;
    let d = store.delete("/y/b", None).await.unwrap();
    assert!(d.mod_revision > last);
    last = d.mod_revision;
    // A refused write does not move the revision.
    store.create("/x/a", vec![]).await.unwrap_err();
    assert_eq!(store.current_revision().await.unwrap(), last);
}

async fn a_watch_replays_later_changes_in_order_then_delivers_live_ones(store: &dyn Store) {
    let k1 = store.create("/w/1", b"one".to_vec()).await.unwrap();
    let from = k1.mod_revision;
    let k1b = store
        .update("/w/1", b"uno".to_vec(), k1.mod_revision)
        .await
        .unwrap();
    let k2 = store.create("/w/2", b"two".to_vec()).await.unwrap();
    let gone = store.delete("/w/1", None).await.unwrap();

    let mut watch = store.watch("/w/", from).await.unwrap();
    let e1 = next_event(&mut watch).await;
    assert_eq!((e1.kind, &e1.kv), (EventKind::Put, &k1b));
    assert_eq!(e1.prev.as_ref(), Some(&k1));
    let e2 = next_event(&mut watch).await;
    assert_eq!((e2.kind, &e2.kv, &e2.prev), (EventKind::Put, &k2, &None));
    let e3 = next_event(&mut watch).await;
    assert_eq!(e3.kind, EventKind::Delete);
    assert_eq!(e3.kv, gone);

    let live = store.create("/w/3", b"three".to_vec()).await.unwrap();
    let e4 = next_event(&mut watch).await;
    assert_eq!((e4.kind, &e4.kv), (EventKind::Put, &live));

    // A second watch from the latest revision sees only what comes next.
    let mut latest = store
        .watch("/w/", store.current_revision().await.unwrap())
        .await
        .unwrap();
    let next = store.create("/w/4", vec![]).await.unwrap();
    assert_eq!(next_event(&mut latest).await.kv, next);
    assert_eq!(next_event(&mut watch).await.kv, next);
}

async fn delete_events_carry_the_last_value(store: &dyn Store) {
    let start = store.current_revision().await.unwrap();
    let mut watch = store.watch("/d/", start).await.unwrap();
    let created = store.create("/d/k", b"v1".to_vec()).await.unwrap();
    let updated = store
        .update("/d/k", b"last".to_vec(), created.mod_revision)
        .await
        .unwrap();
    let deleted = store.delete("/d/k", None).await.unwrap();
    assert_eq!(next_event(&mut watch).await.kv, created);
    assert_eq!(next_event(&mut watch).await.kv, updated);
    let event = next_event(&mut watch).await;
    assert_eq!(event.kind, EventKind::Delete);
    assert_eq!(event.kv.key, "/d/k");
    assert_eq!(event.kv.value, b"last");
    assert_eq!(event.kv.create_revision, created.create_revision);
    assert_eq!(event.kv.mod_revision, deleted.mod_revision);
    assert_eq!(event.prev.as_ref(), Some(&updated));
}

async fn watches_and_lists_at_a_compacted_revision_fail(store: &dyn Store) {
    let early = store.create("/c/a", vec![0]).await.unwrap().mod_revision;
    let mut rev = early;
    for i in 1..5u8 {
        rev = store
            .update("/c/a", vec![i], rev)
            .await
            .unwrap()
            .mod_revision;
    }
    store.create("/c/b", vec![]).await.unwrap();
    let mid = rev;
    store.compact(mid).await.unwrap();

    let err = match store.watch("/c/", early).await {
        Err(e) => e,
        // A backend may report it on the stream instead of on the call.
        Ok(mut watch) => tokio::time::timeout(WAIT, watch.next())
            .await
            .expect("no answer within the timeout")
            .expect("watch ended without an error")
            .expect_err("a compacted watch delivered an event"),
    };
    assert!(matches!(err, Error::Compacted { .. }), "{err:?}");

    let err = store
        .list(
            "/c/",
            ListOptions {
                revision: Some(early),
                ..ListOptions::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Compacted { .. }), "{err:?}");

    // The compacted revision itself and everything later still read and watch.
    assert_eq!(list_all(store, "/c/", Some(mid)).await.len(), 1);
    assert_eq!(list_all(store, "/c/", None).await.len(), 2);
    let mut watch = store.watch("/c/", mid).await.unwrap();
    assert_eq!(next_event(&mut watch).await.kv.key, "/c/b");
}

async fn concurrent_creates_of_one_key_have_exactly_one_winner(store: &dyn Store) {
    let results = futures::future::join_all(
        (0..32u8).map(|i| async move { store.create("/race", vec![i]).await }),
    )
    .await;
    let winners: Vec<&KeyValue> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for result in &results {
        if let Err(e) = result {
            assert!(matches!(e, Error::AlreadyExists(_)), "{e:?}");
        }
    }
    assert_eq!(store.get("/race").await.unwrap().as_ref(), Some(winners[0]));
}

async fn two_hundred_concurrent_writers_are_all_acknowledged_and_readable(store: &dyn Store) {
    let results = futures::future::join_all((0..200u32).map(|i| async move {
        let key = format!("/many/{i:03}");
        store.create(&key, i.to_be_bytes().to_vec()).await
    }))
    .await;
    let acked: Vec<KeyValue> = results.into_iter().map(|r| r.unwrap()).collect();
    let revisions: BTreeSet<Revision> = acked.iter().map(|kv| kv.mod_revision).collect();
    assert_eq!(revisions.len(), 200, "every write has its own revision");
    for kv in &acked {
        assert_eq!(store.get(&kv.key).await.unwrap().as_ref(), Some(kv));
    }
    assert_eq!(list_all(store, "/many/", None).await, acked);
}
