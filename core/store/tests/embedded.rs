//! Behaviour specific to the embedded backend: persistence, lagging watchers, compaction policy,
//! group commit.

use std::time::Duration;

use futures::StreamExt;
use skiff_store::embedded::AutoCompaction;
use skiff_store::{EmbeddedConfig, EmbeddedStore, Error, ListOptions, Store};

const WAIT: Duration = Duration::from_secs(10);

fn config(dir: &tempfile::TempDir) -> EmbeddedConfig {
    let mut config = EmbeddedConfig::new(dir.path().join("store.redb"));
    config.auto_compaction = AutoCompaction::Disabled;
    config
}

#[tokio::test]
async fn writes_survive_closing_and_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let (kept, revision) = {
        let store = EmbeddedStore::open(config(&dir)).unwrap();
        let a = store.create("/k/a", b"a".to_vec()).await.unwrap();
        let b = store.create("/k/b", b"b".to_vec()).await.unwrap();
        store.delete("/k/b", None).await.unwrap();
        let a = store
            .update("/k/a", b"a2".to_vec(), a.mod_revision)
            .await
            .unwrap();
        store.compact(b.mod_revision).await.unwrap();
        (a, store.current_revision().await.unwrap())
    };
    let store = EmbeddedStore::open(config(&dir)).unwrap();
    assert_eq!(store.current_revision().await.unwrap(), revision);
    assert_eq!(store.get("/k/a").await.unwrap(), Some(kept.clone()));
    assert_eq!(store.get("/k/b").await.unwrap(), None);
    // The compaction mark persisted too.
    let Err(err) = store.watch("/k/", 1).await else {
        panic!("a watch at a compacted revision started");
    };
    assert!(matches!(err, Error::Compacted { .. }), "{err:?}");
    // New writes continue the revision sequence.
    let c = store.create("/k/c", vec![]).await.unwrap();
    assert_eq!(c.mod_revision, revision + 1);
}

#[tokio::test]
async fn a_watcher_that_lags_behind_the_broadcast_catches_up_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&dir);
    config.watch_buffer = 2;
    let store = EmbeddedStore::open(config).unwrap();
    let start = store.current_revision().await.unwrap();
    let mut watch = store.watch("/lag/", start).await.unwrap();
    // Sequential writes are separate batches, so the 2-batch buffer overflows.
    let mut written = Vec::new();
    for i in 0..50u32 {
        written.push(store.create(&format!("/lag/{i:02}"), vec![]).await.unwrap());
        store
            .create(&format!("/other/{i:02}"), vec![])
            .await
            .unwrap();
    }
    for expected in &written {
        let event = tokio::time::timeout(WAIT, watch.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(&event.kv, expected);
    }
}

#[tokio::test]
async fn a_lagging_watcher_whose_history_was_compacted_ends_with_compacted() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&dir);
    config.watch_buffer = 1;
    let store = EmbeddedStore::open(config).unwrap();
    let start = store.current_revision().await.unwrap();
    let mut watch = store.watch("/lag/", start).await.unwrap();
    let mut last = 0;
    for i in 0..10u32 {
        last = store
            .create(&format!("/lag/{i}"), vec![])
            .await
            .unwrap()
            .mod_revision;
    }
    store.compact(last).await.unwrap();
    let outcome = tokio::time::timeout(WAIT, watch.next())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(outcome, Err(Error::Compacted { .. })),
        "{outcome:?}"
    );
    assert!(
        watch.next().await.is_none(),
        "the stream ends after the error"
    );
}

#[tokio::test]
async fn automatic_compaction_keeps_the_last_n_revisions() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&dir);
    config.auto_compaction = AutoCompaction::KeepRevisions(5);
    config.compaction_interval = Duration::ZERO;
    let store = EmbeddedStore::open(config).unwrap();
    for i in 0..20u32 {
        store.create(&format!("/auto/{i}"), vec![]).await.unwrap();
    }
    // Compaction runs with the batch after the one that crossed the threshold.
    store.create("/auto/last", vec![]).await.unwrap();
    let current = store.current_revision().await.unwrap();
    let old = ListOptions {
        revision: Some(current - 10),
        ..ListOptions::default()
    };
    assert!(matches!(
        store.list("/auto/", old).await,
        Err(Error::Compacted { .. })
    ));
    let recent = ListOptions {
        revision: Some(current - 4),
        ..ListOptions::default()
    };
    assert_eq!(store.list("/auto/", recent).await.unwrap().items.len(), 17);
}

#[tokio::test]
async fn automatic_compaction_keeps_the_last_period() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&dir);
    config.auto_compaction = AutoCompaction::KeepFor(Duration::from_millis(200));
    config.compaction_interval = Duration::ZERO;
    let store = EmbeddedStore::open(config).unwrap();
    let first = store.create("/t/0", vec![]).await.unwrap().mod_revision;
    for i in 1..5u32 {
        store.create(&format!("/t/{i}"), vec![]).await.unwrap();
    }
    // Write times are sampled once a second at most.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let later = store.create("/t/later", vec![]).await.unwrap().mod_revision;
    tokio::time::sleep(Duration::from_millis(400)).await;
    store.create("/t/last", vec![]).await.unwrap();

    let at = |revision| ListOptions {
        revision: Some(revision),
        ..ListOptions::default()
    };
    let old = store.list("/t/", at(first)).await;
    assert!(matches!(old, Err(Error::Compacted { .. })), "{old:?}");
    assert_eq!(store.list("/t/", at(later)).await.unwrap().items.len(), 6);
}

#[tokio::test]
async fn compacting_to_a_future_revision_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(config(&dir)).unwrap();
    let current = store.current_revision().await.unwrap();
    assert!(store.compact(current + 10).await.is_err());
    store.create("/k", vec![]).await.unwrap();
    assert!(store.watch("/", current).await.is_ok());
}

/// Group commit: many concurrent writers share each durable commit (each an fsync), while
/// a lone writer pays one commit per write. Counted, not timed, so a slow machine cannot
/// fail it; the speed it buys is measured by `skiff-bench api`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_share_commits() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(config(&dir)).unwrap();

    let before = store.commits();
    for i in 0..20u32 {
        store
            .create(&format!("/seq/{i}"), vec![0; 256])
            .await
            .unwrap();
    }
    assert_eq!(store.commits() - before, 20, "one commit per lone write");

    let total = 64 * 50u64;
    let before = store.commits();
    futures::future::join_all((0..64u32).map(|w| {
        let store = &store;
        async move {
            for i in 0..50u32 {
                store
                    .create(&format!("/par/{w}/{i}"), vec![0; 256])
                    .await
                    .unwrap();
            }
        }
    }))
    .await;
    let commits = store.commits() - before;
    assert!(
        commits * 4 <= total,
        "{total} writes from 64 writers took {commits} commits"
    );
}

/// Commits taken by 16 writers that each pause between writes (as API handlers do, decoding
/// and admitting the next object) with the writer's gathering window set to `gather`.
async fn commits_of_pausing_writers(gather: Duration) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&dir);
    config.gather = gather;
    let store = EmbeddedStore::open(config).unwrap();
    let before = store.commits();
    futures::future::join_all((0..16u32).map(|w| {
        let store = &store;
        async move {
            for i in 0..10u32 {
                // Spread the writers out: without a window, each arrives after the commit
                // of the last one has started.
                tokio::time::sleep(Duration::from_millis(2 + u64::from(w % 4) * 3)).await;
                store
                    .create(&format!("/gather/{w}/{i}"), vec![0; 64])
                    .await
                    .unwrap();
            }
        }
    }))
    .await;
    store.commits() - before
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_that_pause_are_gathered_into_fewer_commits() {
    let at_once = commits_of_pausing_writers(Duration::ZERO).await;
    let gathered = commits_of_pausing_writers(Duration::from_millis(50)).await;
    assert!(
        gathered * 2 <= at_once,
        "160 writes: {gathered} commits with a 50 ms window, {at_once} without"
    );
}
