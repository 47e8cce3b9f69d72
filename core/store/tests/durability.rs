//! An acknowledged write survives `kill -9` of the process that made it.
//!
//! The test re-executes its own binary as the writer: the child opens the embedded store, writes
//! from many tasks as fast as it can and prints each key only once its write is acknowledged.
//! The parent kills it with SIGKILL mid-load, reopens the file and looks for every printed key.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use skiff_store::embedded::AutoCompaction;
use skiff_store::{EmbeddedConfig, EmbeddedStore, Store};

const CHILD_ENV: &str = "SKIFF_STORE_CRASH_WRITER_PATH";
const TEST_NAME: &str = "acknowledged_writes_survive_kill_9";
const WRITERS: usize = 32;
const KILL_AFTER_ACKS: usize = 1500;

fn config(path: &str) -> EmbeddedConfig {
    let mut config = EmbeddedConfig::new(path);
    config.auto_compaction = AutoCompaction::Disabled;
    config
}

fn value_for(key: &str) -> Vec<u8> {
    format!("value of {key}").into_bytes()
}

/// Kills the writer if the test fails before it does.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        write_until_killed(&path).await;
    }

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let path = path.to_str().unwrap().to_owned();
    let child = Command::new(std::env::current_exe().unwrap())
        .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut child = Killed(child);
    let stdout = child.0.stdout.take().unwrap();

    let (acked, killed_at) = tokio::task::spawn_blocking(move || {
        let mut acked = Vec::new();
        let mut killed_at = None;
        let deadline = Instant::now() + Duration::from_secs(120);
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if let Some(key) = line.strip_prefix("ACK ") {
                acked.push(key.to_owned());
            }
            if killed_at.is_none() && (acked.len() >= KILL_AFTER_ACKS || Instant::now() > deadline)
            {
                // SIGKILL while dozens of writes are in flight.
                child.0.kill().unwrap();
                killed_at = Some(acked.len());
            }
            // Lines already in the pipe were acknowledged before the kill: keep reading to EOF.
        }
        let status = child.0.wait().unwrap();
        assert!(!status.success(), "the writer was killed, not finished");
        (acked, killed_at)
    })
    .await
    .unwrap();

    assert!(
        killed_at.is_some_and(|n| n >= KILL_AFTER_ACKS),
        "the writer acknowledged only {} writes before the deadline",
        acked.len()
    );

    let store = EmbeddedStore::open(config(&path)).unwrap();
    let mut missing = Vec::new();
    for key in &acked {
        match store.get(key).await.unwrap() {
            Some(kv) => assert_eq!(kv.value, value_for(key), "{key}"),
            None => missing.push(key.clone()),
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged writes were lost, e.g. {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
    let current = store.current_revision().await.unwrap();
    assert!(current >= acked.len() as i64, "revision {current}");
}

/// The child: writes from many tasks until killed, printing each acknowledged key.
async fn write_until_killed(path: &str) -> ! {
    let store = Arc::new(EmbeddedStore::open(config(path)).unwrap());
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0u64.. {
                    let key = format!("/crash/{w:02}/{i:08}");
                    store.create(&key, value_for(&key)).await.unwrap();
                    println!("ACK {key}");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    unreachable!("the writers never stop")
}
