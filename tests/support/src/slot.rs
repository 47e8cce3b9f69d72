//! Machine-wide unique network names and address ranges for one test cluster.
//!
//! Tests run in parallel processes (nextest runs each test alone), so uniqueness cannot come
//! from a counter: a slot is claimed by creating its lock file exclusively, and a lock left by
//! a process that no longer exists is taken over.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;

/// Slots available at once; each has its own /16 of pod and service addresses in ranges no
/// other test of the workspace uses (10.30–57 pods, 10.2–29 services, 10.60–87 LB /24s).
const SLOTS: u8 = 28;

/// A claimed slot; released on drop.
#[derive(Debug)]
pub struct Slot {
    pub index: u8,
    lock: PathBuf,
}

impl Slot {
    /// Claims the first free slot, starting at one picked from the process id so parallel
    /// tests rarely try the same one first.
    pub fn claim() -> Slot {
        let dir = std::env::temp_dir().join("skiff-test-slots");
        std::fs::create_dir_all(&dir).expect("slot lock dir");
        let start = (std::process::id() % u32::from(SLOTS)) as u8;
        for attempt in 0..2 * SLOTS {
            let index = (start + attempt % SLOTS) % SLOTS;
            let lock = dir.join(format!("slot-{index}"));
            if attempt >= SLOTS && stale(&lock) {
                let _ = std::fs::remove_file(&lock);
            }
            if let Ok(mut file) = OpenOptions::new().write(true).create_new(true).open(&lock) {
                let _ = write!(file, "{}", std::process::id());
                return Slot { index, lock };
            }
        }
        panic!("all {SLOTS} test cluster slots are in use");
    }

    /// The pod bridge (at most 15 characters, as Linux requires).
    pub fn bridge(&self) -> String {
        format!("skt{}", self.index)
    }

    pub fn pod_cidr(&self) -> String {
        format!("10.{}.0.0/16", 30 + self.index)
    }

    pub fn service_cidr(&self) -> String {
        format!("10.{}.0.0/16", 2 + self.index)
    }

    pub fn load_balancer_pool(&self) -> String {
        format!("10.{}.0.0/24", 60 + self.index)
    }
}

/// A lock whose owner process is gone (or that names no process).
fn stale(lock: &PathBuf) -> bool {
    match std::fs::read_to_string(lock) {
        Ok(pid) => match pid.trim().parse::<u32>() {
            Ok(pid) => !PathBuf::from(format!("/proc/{pid}")).exists(),
            Err(_) => true,
        },
        Err(_) => false,
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.lock);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_claims_get_different_slots_and_a_released_slot_is_free_again() {
        let a = Slot::claim();
        let b = Slot::claim();
        assert_ne!(a.index, b.index);
        assert_ne!(a.bridge(), b.bridge());
        let lock = a.lock.clone();
        assert!(lock.exists());
        drop(a);
        assert!(!lock.exists());
    }

    #[test]
    fn address_ranges_of_a_slot_do_not_overlap() {
        let s = Slot::claim();
        let ranges = [s.pod_cidr(), s.service_cidr(), s.load_balancer_pool()];
        let second: Vec<&str> = ranges
            .iter()
            .map(|r| r.split('.').nth(1).unwrap())
            .collect();
        assert_ne!(second[0], second[1]);
        assert_ne!(second[1], second[2]);
        assert_ne!(second[0], second[2]);
        assert!(s.bridge().len() <= 15);
    }
}
