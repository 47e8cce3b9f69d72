//! Picks a free address from a range set, round-robin after the last one handed out.

use std::collections::HashSet;
use std::net::IpAddr;

use crate::range::Range;
use crate::store::{self, Reservation, Store};

/// How many candidates one allocation examines at most, so a huge IPv6 range that is
/// somehow full fails instead of spinning.
const MAX_ATTEMPTS: u128 = 1 << 20;

/// Errors while allocating.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Every address of the set is taken.
    #[error("no free address in range set {set}")]
    Exhausted {
        /// Index of the range set.
        set: usize,
    },
    /// The store failed.
    #[error("failed to access the reservation store")]
    Store(#[source] store::Error),
}

/// Returns the address of `ranges` held by the attachment, reserving a new one if it holds none.
pub fn allocate(
    store: &Store,
    set: usize,
    ranges: &[Range],
    held: &[Reservation],
    container_id: &str,
    ifname: &str,
) -> Result<(Range, IpAddr), Error> {
    let in_set = |ip: IpAddr| ranges.iter().find(|r| r.allocatable(ip)).cloned();
    if let Some((range, ip)) = held
        .iter()
        .filter(|r| r.container_id == container_id && r.ifname == ifname)
        .find_map(|r| in_set(r.ip).map(|range| (range, r.ip)))
    {
        return Ok((range, ip));
    }
    let taken: HashSet<IpAddr> = held.iter().map(|r| r.ip).collect();
    let total: u128 = ranges
        .iter()
        .map(Range::size)
        .fold(0, u128::saturating_add)
        .min(MAX_ATTEMPTS);
    let mut cursor = match store.last_reserved(set).and_then(|last| {
        ranges
            .iter()
            .position(|r| r.subnet.contains(&last) && last >= r.start && last <= r.end)
            .map(|i| (i, last))
    }) {
        Some(position) => step(ranges, position),
        None => (0, ranges[0].start),
    };
    for _ in 0..total {
        let (index, ip) = cursor;
        if ranges[index].allocatable(ip)
            && !taken.contains(&ip)
            && store
                .reserve(ip, container_id, ifname)
                .map_err(Error::Store)?
        {
            store.set_last_reserved(set, ip).map_err(Error::Store)?;
            return Ok((ranges[index].clone(), ip));
        }
        cursor = step(ranges, cursor);
    }
    Err(Error::Exhausted { set })
}

/// The next candidate: the next address of the range, or the start of the next range.
fn step(ranges: &[Range], (index, ip): (usize, IpAddr)) -> (usize, IpAddr) {
    let range = &ranges[index];
    if ip >= range.end {
        let next = (index + 1) % ranges.len();
        (next, ranges[next].start)
    } else {
        (index, range.next(ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(subnet: &str) -> Range {
        Range::new(subnet.parse().unwrap(), None, None, None).unwrap()
    }

    #[test]
    fn allocation_skips_the_gateway_and_continues_after_the_last_address() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let ranges = [range("10.9.0.0/29")];
        let (_, a) = allocate(&store, 0, &ranges, &[], "a", "eth0").unwrap();
        assert_eq!(a.to_string(), "10.9.0.2");
        let held = store.reservations().unwrap();
        let (_, b) = allocate(&store, 0, &ranges, &held, "b", "eth0").unwrap();
        assert_eq!(b.to_string(), "10.9.0.3");
        store.release(a).unwrap();
        let held = store.reservations().unwrap();
        let (_, c) = allocate(&store, 0, &ranges, &held, "c", "eth0").unwrap();
        assert_eq!(
            c.to_string(),
            "10.9.0.4",
            "released addresses are not reused at once"
        );
    }

    #[test]
    fn the_same_attachment_gets_the_same_address_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let ranges = [range("10.9.0.0/29")];
        let (_, first) = allocate(&store, 0, &ranges, &[], "a", "eth0").unwrap();
        let held = store.reservations().unwrap();
        let (_, again) = allocate(&store, 0, &ranges, &held, "a", "eth0").unwrap();
        assert_eq!(first, again);
        assert_eq!(store.reservations().unwrap().len(), 1);
    }

    #[test]
    fn a_full_range_set_is_exhausted_and_the_next_range_is_used_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let ranges = [range("10.9.0.0/30"), range("10.9.1.0/30")];
        let mut got = Vec::new();
        for id in ["a", "b"] {
            let held = store.reservations().unwrap();
            got.push(allocate(&store, 0, &ranges, &held, id, "eth0").unwrap().1);
        }
        assert_eq!(got[0].to_string(), "10.9.0.2");
        assert_eq!(got[1].to_string(), "10.9.1.2");
        let held = store.reservations().unwrap();
        let err = allocate(&store, 0, &ranges, &held, "c", "eth0").unwrap_err();
        assert!(matches!(err, Error::Exhausted { set: 0 }));
    }
}
