//! Pod addresses for a node without a network plugin (simulated nodes): handed out from the
//! node's range so Services, Endpoints and controllers see pods with addresses, as kwok does.
//! Nothing is attached to them; no traffic can reach them.
//!
//! Written by hand: a next-free walk over one small range is all it needs.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;

use ipnet::Ipv4Net;

/// The addresses of one range, each held by at most one pod.
#[derive(Debug)]
pub struct AddressPool {
    range: Ipv4Net,
    state: Mutex<PoolState>,
}

#[derive(Debug, Default)]
struct PoolState {
    used: BTreeSet<Ipv4Addr>,
    /// Where the next walk starts, so a released address is not reused at once.
    cursor: u32,
}

impl AddressPool {
    pub fn new(range: Ipv4Net) -> Self {
        AddressPool {
            range,
            state: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A free address of the range, or `None` when every one is held.
    pub fn allocate(&self) -> Option<IpAddr> {
        let hosts: Vec<Ipv4Addr> = self.range.hosts().collect();
        if hosts.is_empty() {
            return None;
        }
        let mut state = self.lock();
        let count = hosts.len() as u32;
        for step in 0..count {
            let ip = hosts[((state.cursor + step) % count) as usize];
            if state.used.insert(ip) {
                state.cursor = (state.cursor + step + 1) % count;
                return Some(IpAddr::V4(ip));
            }
        }
        None
    }

    /// Marks `ip` held (a pod adopted after a restart keeps its address).
    pub fn claim(&self, ip: IpAddr) {
        if let IpAddr::V4(ip) = ip
            && self.range.contains(&ip)
        {
            self.lock().used.insert(ip);
        }
    }

    /// Returns `ip` to the pool.
    pub fn release(&self, ip: IpAddr) {
        if let IpAddr::V4(ip) = ip {
            self.lock().used.remove(&ip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(cidr: &str) -> AddressPool {
        AddressPool::new(cidr.parse().unwrap())
    }

    #[test]
    fn addresses_are_distinct_until_the_range_is_used_up() {
        let pool = pool("198.18.0.0/30");
        let a = pool.allocate().unwrap();
        let b = pool.allocate().unwrap();
        assert_ne!(a, b);
        assert_eq!(pool.allocate(), None, "a /30 has two host addresses");
        pool.release(a);
        assert_eq!(pool.allocate(), Some(a));
    }

    #[test]
    fn a_claimed_address_is_not_handed_out() {
        let pool = pool("198.18.0.0/30");
        let first: IpAddr = "198.18.0.1".parse().unwrap();
        pool.claim(first);
        assert_eq!(pool.allocate(), Some("198.18.0.2".parse().unwrap()));
        assert_eq!(pool.allocate(), None);
    }

    #[test]
    fn a_released_address_is_reused_only_after_the_others() {
        let pool = pool("198.18.0.0/29");
        let a = pool.allocate().unwrap();
        pool.release(a);
        let b = pool.allocate().unwrap();
        assert_ne!(a, b, "the walk moves on past a just-released address");
    }
}
