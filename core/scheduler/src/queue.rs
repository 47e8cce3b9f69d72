//! The scheduling queue: an active heap ordered by priority then creation time, a backoff heap
//! (1 s doubling to 10 s per failed attempt), and a pool of unschedulable pods that waits for
//! a cluster change (or 5 minutes) before trying again, so pods never retry in a hot loop.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::jiff::Timestamp;

use crate::pod_info::PodInfo;

/// Backoff after the first failed attempt.
pub const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
/// Longest backoff.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Unschedulable pods are retried at least this often even without cluster changes.
pub const MAX_UNSCHEDULABLE: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Active,
    Backoff,
    Unschedulable,
    InFlight,
}

#[derive(Debug)]
struct Queued {
    info: Arc<PodInfo>,
    place: Place,
    attempts: u32,
    ready_at: Instant,
    since: Instant,
    /// Bumped whenever the pod enters a heap, so stale heap entries are skipped.
    generation: u64,
}

#[derive(Debug, PartialEq, Eq)]
struct ActiveEntry {
    priority: i32,
    created: Option<Timestamp>,
    generation: u64,
    key: String,
}

impl Ord for ActiveEntry {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap pops the greatest: higher priority, then older, then first queued.
        self.priority
            .cmp(&other.priority)
            .then_with(|| other.created.cmp(&self.created))
            .then_with(|| other.generation.cmp(&self.generation))
    }
}

impl PartialOrd for ActiveEntry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Pending pods not yet placed.
#[derive(Debug, Default)]
pub struct Queue {
    pods: HashMap<String, Queued>,
    active: BinaryHeap<ActiveEntry>,
    backoff: BinaryHeap<Reverse<(Instant, u64, String)>>,
    generation: u64,
}

fn backoff_for(attempts: u32) -> Duration {
    let shift = attempts.saturating_sub(1).min(16);
    (INITIAL_BACKOFF * (1u32 << shift)).min(MAX_BACKOFF)
}

impl Queue {
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.pods.keys()
    }

    fn push_active(&mut self, key: &str) {
        self.generation += 1;
        let Some(q) = self.pods.get_mut(key) else {
            return;
        };
        q.place = Place::Active;
        q.generation = self.generation;
        self.active.push(ActiveEntry {
            priority: q.info.priority,
            created: q.info.created,
            generation: self.generation,
            key: key.to_string(),
        });
    }

    fn push_backoff(&mut self, key: &str) {
        self.generation += 1;
        let Some(q) = self.pods.get_mut(key) else {
            return;
        };
        q.place = Place::Backoff;
        q.generation = self.generation;
        self.backoff
            .push(Reverse((q.ready_at, self.generation, key.to_string())));
    }

    /// Adds a new pending pod, or refreshes the object of one already queued: it keeps its
    /// place and backoff, except that an unschedulable pod whose spec or labels changed is
    /// tried again (the change may make it fit).
    pub fn upsert(&mut self, info: Arc<PodInfo>, now: Instant) {
        if let Some(q) = self.pods.get_mut(&info.key) {
            let changed = q.info.pod.spec != info.pod.spec || q.info.labels != info.labels;
            let waiting = q.place == Place::Unschedulable;
            q.info = info;
            if changed && waiting {
                let key = q.info.key.clone();
                self.move_one(&key, now);
            }
            return;
        }
        let key = info.key.clone();
        self.pods.insert(
            key.clone(),
            Queued {
                info,
                place: Place::Active,
                attempts: 0,
                ready_at: now,
                since: now,
                generation: 0,
            },
        );
        self.push_active(&key);
    }

    pub fn remove(&mut self, key: &str) -> Option<Arc<PodInfo>> {
        self.pods.remove(key).map(|q| q.info)
    }

    /// The next pod to schedule, after moving pods whose backoff expired to the active heap.
    pub fn pop(&mut self, now: Instant) -> Option<Arc<PodInfo>> {
        while let Some(Reverse((at, generation, _))) = self.backoff.peek() {
            if *at > now {
                break;
            }
            let (generation, key) = (*generation, self.backoff.pop().map(|r| r.0.2)?);
            if self
                .pods
                .get(&key)
                .is_some_and(|q| q.generation == generation && q.place == Place::Backoff)
            {
                self.push_active(&key);
            }
        }
        while let Some(e) = self.active.pop() {
            if let Some(q) = self.pods.get_mut(&e.key)
                && q.generation == e.generation
                && q.place == Place::Active
            {
                q.place = Place::InFlight;
                return Some(q.info.clone());
            }
        }
        None
    }

    /// The pod was placed: it leaves the queue.
    pub fn done(&mut self, key: &str) {
        self.pods.remove(key);
    }

    /// The attempt failed. Unschedulable pods wait for a cluster change; others (errors, lost
    /// binding races) only for their backoff.
    pub fn failed(&mut self, key: &str, unschedulable: bool, now: Instant) {
        let Some(q) = self.pods.get_mut(key) else {
            return;
        };
        q.attempts += 1;
        q.ready_at = now + backoff_for(q.attempts);
        q.since = now;
        if unschedulable {
            q.place = Place::Unschedulable;
        } else {
            self.push_backoff(key);
        }
    }

    /// Puts back a pod whose binding failed after it left the queue.
    pub fn requeue(&mut self, info: Arc<PodInfo>, now: Instant) {
        let key = info.key.clone();
        self.upsert(info, now);
        self.failed(&key, false, now);
    }

    /// A cluster change may have made unschedulable pods fit: move them to backoff (or active
    /// when their backoff is over).
    pub fn move_all(&mut self, now: Instant) {
        let keys: Vec<String> = self
            .pods
            .iter()
            .filter(|(_, q)| q.place == Place::Unschedulable)
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            self.move_one(&key, now);
        }
    }

    fn move_one(&mut self, key: &str, now: Instant) {
        let Some(q) = self.pods.get(key) else { return };
        if q.ready_at <= now {
            self.push_active(key);
        } else {
            self.push_backoff(key);
        }
    }

    /// Retries pods unschedulable for longer than [`MAX_UNSCHEDULABLE`].
    pub fn flush_stale(&mut self, now: Instant) {
        let stale: Vec<String> = self
            .pods
            .iter()
            .filter(|(_, q)| q.place == Place::Unschedulable && now - q.since >= MAX_UNSCHEDULABLE)
            .map(|(k, _)| k.clone())
            .collect();
        for key in stale {
            self.move_one(&key, now);
        }
    }

    /// When something becomes ready without any event: the earliest backoff expiry or stale
    /// unschedulable pod.
    pub fn next_wakeup(&self) -> Option<Instant> {
        let backoff = self.backoff.peek().map(|r| r.0.0);
        let stale = self
            .pods
            .values()
            .filter(|q| q.place == Place::Unschedulable)
            .map(|q| q.since + MAX_UNSCHEDULABLE)
            .min();
        backoff.into_iter().chain(stale).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, priority: i32, created: &str) -> Arc<PodInfo> {
        Arc::new(PodInfo::new(Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "default", "creationTimestamp": created},
                "spec": {"priority": priority, "containers": [{"name": "c"}]}
            }))
            .unwrap(),
        )))
    }

    #[test]
    fn higher_priority_pops_first_then_older_pods() {
        let now = Instant::now();
        let mut q = Queue::default();
        q.upsert(pod("late-low", 0, "2024-01-01T00:00:02Z"), now);
        q.upsert(pod("early-low", 0, "2024-01-01T00:00:01Z"), now);
        q.upsert(pod("high", 100, "2024-01-01T00:00:03Z"), now);
        let order: Vec<String> = std::iter::from_fn(|| q.pop(now))
            .map(|p| p.name.clone())
            .collect();
        assert_eq!(order, ["high", "early-low", "late-low"]);
    }

    #[test]
    fn unschedulable_pods_wait_for_a_move_and_then_for_their_backoff() {
        let now = Instant::now();
        let mut q = Queue::default();
        q.upsert(pod("p", 0, "2024-01-01T00:00:00Z"), now);
        assert!(q.pop(now).is_some());
        q.failed("default/p", true, now);
        assert!(
            q.pop(now + Duration::from_secs(20)).is_none(),
            "no move yet"
        );
        q.move_all(now);
        assert!(
            q.pop(now + Duration::from_millis(500)).is_none(),
            "still backing off"
        );
        assert_eq!(q.next_wakeup(), Some(now + INITIAL_BACKOFF));
        assert!(q.pop(now + INITIAL_BACKOFF).is_some());
        q.failed("default/p", true, now);
        q.move_all(now + Duration::from_secs(1));
        assert!(q.pop(now + Duration::from_millis(1999)).is_none());
        assert!(q.pop(now + Duration::from_secs(2)).is_some());
    }

    #[test]
    fn changing_an_unschedulable_pod_retries_it_but_status_updates_do_not() {
        let now = Instant::now();
        let mut q = Queue::default();
        q.upsert(pod("p", 0, "2024-01-01T00:00:00Z"), now);
        q.pop(now);
        q.failed("default/p", true, now);
        let later = now + Duration::from_secs(2);
        q.upsert(pod("p", 0, "2024-01-01T00:00:00Z"), later);
        assert!(q.pop(later).is_none());
        q.upsert(pod("p", 5, "2024-01-01T00:00:00Z"), later);
        assert!(q.pop(later).is_some());
    }

    #[test]
    fn backoff_doubles_up_to_ten_seconds() {
        assert_eq!(backoff_for(1), Duration::from_secs(1));
        assert_eq!(backoff_for(2), Duration::from_secs(2));
        assert_eq!(backoff_for(4), Duration::from_secs(8));
        assert_eq!(backoff_for(5), MAX_BACKOFF);
        assert_eq!(backoff_for(60), MAX_BACKOFF);
    }

    #[test]
    fn stale_unschedulable_pods_are_retried_without_events() {
        let now = Instant::now();
        let mut q = Queue::default();
        q.upsert(pod("p", 0, "2024-01-01T00:00:00Z"), now);
        q.pop(now);
        q.failed("default/p", true, now);
        q.flush_stale(now + Duration::from_secs(10));
        assert!(q.pop(now + Duration::from_secs(10)).is_none());
        q.flush_stale(now + MAX_UNSCHEDULABLE);
        assert!(q.pop(now + MAX_UNSCHEDULABLE).is_some());
    }
}
