//! A work queue per controller, with client-go's semantics: a key queued several times is
//! processed once; a key being processed is not handed to a second worker, and a change
//! arriving meanwhile queues it again once it is done; failures back off per key.
//!
//! Written by hand: kube-runtime's scheduler is tied to its own `Controller` loop, and the
//! host needs the queue on its own (depth metrics, resync, per-key backoff).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use crate::controller::ObjectKey;

/// Per-key exponential backoff: 5 ms doubling up to 1000 s, as client-go's default
/// controller rate limiter.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// First delay.
    pub base: Duration,
    /// Largest delay.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(5),
            max: Duration::from_secs(1000),
        }
    }
}

impl Backoff {
    /// The delay after `failures` earlier failures of the same key.
    pub fn delay(&self, failures: u32) -> Duration {
        let factor = 2u32.saturating_pow(failures.min(31));
        self.base.saturating_mul(factor).min(self.max)
    }
}

#[derive(Default)]
struct Inner {
    queue: VecDeque<ObjectKey>,
    dirty: HashSet<ObjectKey>,
    processing: HashSet<ObjectKey>,
    failures: HashMap<ObjectKey, u32>,
    shut_down: bool,
}

/// The queue.
pub struct WorkQueue {
    inner: Mutex<Inner>,
    notify: Notify,
    backoff: Backoff,
}

impl WorkQueue {
    /// An empty queue.
    pub fn new(backoff: Backoff) -> Arc<Self> {
        Arc::new(WorkQueue {
            inner: Mutex::new(Inner::default()),
            notify: Notify::new(),
            backoff,
        })
    }

    /// Queues a key unless it is already waiting.
    pub fn add(&self, key: ObjectKey) {
        let mut inner = self.inner.lock().unwrap();
        if inner.shut_down || !inner.dirty.insert(key.clone()) {
            return;
        }
        if !inner.processing.contains(&key) {
            inner.queue.push_back(key);
            drop(inner);
            self.notify.notify_one();
        }
    }

    /// Queues a key after a delay.
    pub fn add_after(self: &Arc<Self>, key: ObjectKey, delay: Duration) {
        if delay.is_zero() {
            return self.add(key);
        }
        let queue = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Some(queue) = queue.upgrade() {
                queue.add(key);
            }
        });
    }

    /// Queues a key after its backoff delay, counting one more failure; returns the delay.
    pub fn add_rate_limited(self: &Arc<Self>, key: ObjectKey) -> Duration {
        let delay = {
            let mut inner = self.inner.lock().unwrap();
            let failures = inner.failures.entry(key.clone()).or_insert(0);
            let delay = self.backoff.delay(*failures);
            *failures += 1;
            delay
        };
        self.add_after(key, delay);
        delay
    }

    /// Forgets a key's failures (after a successful reconcile).
    pub fn forget(&self, key: &ObjectKey) {
        self.inner.lock().unwrap().failures.remove(key);
    }

    /// How many failures in a row a key has had.
    pub fn failures(&self, key: &ObjectKey) -> u32 {
        self.inner
            .lock()
            .unwrap()
            .failures
            .get(key)
            .copied()
            .unwrap_or(0)
    }

    /// Waits for the next key; `None` once the queue is shut down.
    pub async fn get(&self) -> Option<ObjectKey> {
        loop {
            let notified = self.notify.notified();
            {
                let mut inner = self.inner.lock().unwrap();
                if inner.shut_down {
                    return None;
                }
                if let Some(key) = inner.queue.pop_front() {
                    inner.dirty.remove(&key);
                    inner.processing.insert(key.clone());
                    return Some(key);
                }
            }
            notified.await;
        }
    }

    /// Marks a key processed; if it changed meanwhile it is queued again.
    pub fn done(&self, key: &ObjectKey) {
        let mut inner = self.inner.lock().unwrap();
        inner.processing.remove(key);
        if inner.dirty.contains(key) {
            inner.queue.push_back(key.clone());
            drop(inner);
            self.notify.notify_one();
        }
    }

    /// Keys waiting.
    pub fn len(&self) -> usize {
        self.inner.lock().unwrap().queue.len()
    }

    /// Whether no key is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stops handing out keys; waiting getters return `None`.
    pub fn shut_down(&self) {
        self.inner.lock().unwrap().shut_down = true;
        self.notify.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> ObjectKey {
        ObjectKey::new("ns", name)
    }

    #[tokio::test]
    async fn a_key_queued_twice_is_processed_once() {
        let queue = WorkQueue::new(Backoff::default());
        queue.add(key("a"));
        queue.add(key("a"));
        queue.add(key("b"));
        assert_eq!(queue.len(), 2);
        assert_eq!(queue.get().await, Some(key("a")));
        assert_eq!(queue.get().await, Some(key("b")));
        assert!(queue.is_empty());
    }

    #[tokio::test]
    async fn a_key_changed_while_processing_comes_back_after_done() {
        let queue = WorkQueue::new(Backoff::default());
        queue.add(key("a"));
        let got = queue.get().await.unwrap();
        queue.add(key("a"));
        assert!(queue.is_empty(), "not handed out while processing");
        queue.done(&got);
        assert_eq!(queue.len(), 1);
        assert_eq!(queue.get().await, Some(key("a")));
    }

    #[test]
    fn backoff_doubles_from_five_milliseconds_up_to_the_cap() {
        let backoff = Backoff::default();
        assert_eq!(backoff.delay(0), Duration::from_millis(5));
        assert_eq!(backoff.delay(1), Duration::from_millis(10));
        assert_eq!(backoff.delay(4), Duration::from_millis(80));
        assert_eq!(backoff.delay(40), Duration::from_secs(1000));
    }

    #[tokio::test]
    async fn rate_limited_adds_back_off_per_key_and_forget_resets() {
        let queue = WorkQueue::new(Backoff::default());
        assert_eq!(queue.add_rate_limited(key("a")), Duration::from_millis(5));
        assert_eq!(queue.add_rate_limited(key("a")), Duration::from_millis(10));
        assert_eq!(queue.add_rate_limited(key("b")), Duration::from_millis(5));
        assert_eq!(queue.failures(&key("a")), 2);
        queue.forget(&key("a"));
        assert_eq!(queue.add_rate_limited(key("a")), Duration::from_millis(5));
        let first = tokio::time::timeout(Duration::from_secs(1), queue.get())
            .await
            .unwrap();
        assert!(first.is_some());
    }

    #[tokio::test]
    async fn shut_down_wakes_waiting_getters() {
        let queue = WorkQueue::new(Backoff::default());
        let waiter = tokio::spawn({
            let queue = queue.clone();
            async move { queue.get().await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        queue.shut_down();
        assert_eq!(waiter.await.unwrap(), None);
    }
}
