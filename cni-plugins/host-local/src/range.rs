//! One address range inside a subnet: its bounds, its gateway, and which addresses it may hand out.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// Errors describing a range that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The subnet leaves no room for hosts.
    #[error("subnet {0} is too small to allocate from")]
    TooSmall(IpNet),
    /// A bound or the gateway lies outside the subnet.
    #[error("{what} {addr} is not inside subnet {subnet}")]
    Outside {
        /// Which field.
        what: &'static str,
        /// Its value.
        addr: IpAddr,
        /// The subnet.
        subnet: IpNet,
    },
    /// The start is after the end.
    #[error("rangeStart {start} is after rangeEnd {end}")]
    Reversed {
        /// The start.
        start: IpAddr,
        /// The end.
        end: IpAddr,
    },
}

/// A validated range: every address between `start` and `end` except the gateway is usable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Range {
    /// The subnet, in canonical form.
    pub subnet: IpNet,
    /// The first address that may be handed out.
    pub start: IpAddr,
    /// The last address that may be handed out.
    pub end: IpAddr,
    /// The gateway, never handed out.
    pub gateway: Option<IpAddr>,
}

impl Range {
    /// Validates a range. Defaults: start is the first host address, end the last one (the
    /// IPv4 broadcast address is excluded), gateway the first host address.
    pub fn new(
        subnet: IpNet,
        start: Option<IpAddr>,
        end: Option<IpAddr>,
        gateway: Option<IpAddr>,
    ) -> Result<Self, Error> {
        let subnet = subnet.trunc();
        let (first_host, last_host) = host_bounds(&subnet).ok_or(Error::TooSmall(subnet))?;
        let inside = |what, addr: IpAddr| {
            if subnet.contains(&addr) {
                Ok(addr)
            } else {
                Err(Error::Outside { what, addr, subnet })
            }
        };
        let start = start.map(|a| inside("rangeStart", a)).transpose()?;
        let end = end.map(|a| inside("rangeEnd", a)).transpose()?;
        let gateway = match gateway {
            Some(gw) => Some(inside("gateway", gw)?),
            None => Some(first_host),
        };
        let start = start.unwrap_or(first_host).max(first_host);
        let end = end.unwrap_or(last_host).min(last_host);
        if start > end {
            return Err(Error::Reversed { start, end });
        }
        Ok(Self {
            subnet,
            start,
            end,
            gateway,
        })
    }

    /// Whether `addr` may be handed out from this range.
    pub fn allocatable(&self, addr: IpAddr) -> bool {
        addr >= self.start && addr <= self.end && Some(addr) != self.gateway
    }

    /// The address after `addr` within the range, wrapping to the start.
    pub fn next(&self, addr: IpAddr) -> IpAddr {
        if addr >= self.end || addr < self.start {
            self.start
        } else {
            from_u128(to_u128(addr) + 1, addr.is_ipv4())
        }
    }

    /// How many addresses lie between start and end (saturating).
    pub fn size(&self) -> u128 {
        (to_u128(self.end) - to_u128(self.start)).saturating_add(1)
    }
}

/// The first and last host addresses: network and (IPv4) broadcast addresses are excluded.
fn host_bounds(subnet: &IpNet) -> Option<(IpAddr, IpAddr)> {
    let v4 = subnet.addr().is_ipv4();
    let network = to_u128(subnet.network());
    let last = to_u128(subnet.broadcast());
    let first_host = network + 1;
    let last_host = if v4 { last.checked_sub(1)? } else { last };
    (first_host <= last_host).then(|| (from_u128(first_host, v4), from_u128(last_host, v4)))
}

fn to_u128(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn from_u128(value: u128, v4: bool) -> IpAddr {
    if v4 {
        IpAddr::V4(Ipv4Addr::from(value as u32))
    } else {
        IpAddr::V6(Ipv6Addr::from(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn defaults_exclude_network_broadcast_and_gateway() {
        let r = Range::new("10.5.0.0/29".parse().unwrap(), None, None, None).unwrap();
        assert_eq!(r.start, ip("10.5.0.1"));
        assert_eq!(r.end, ip("10.5.0.6"));
        assert_eq!(r.gateway, Some(ip("10.5.0.1")));
        assert!(!r.allocatable(ip("10.5.0.1")));
        assert!(r.allocatable(ip("10.5.0.2")));
        assert!(!r.allocatable(ip("10.5.0.7")));
        assert!(!r.allocatable(ip("10.5.0.0")));
    }

    #[test]
    fn next_wraps_around_to_the_start() {
        let r = Range::new("10.5.0.0/29".parse().unwrap(), None, None, None).unwrap();
        assert_eq!(r.next(ip("10.5.0.5")), ip("10.5.0.6"));
        assert_eq!(r.next(ip("10.5.0.6")), ip("10.5.0.1"));
    }

    #[test]
    fn bounds_outside_the_subnet_are_rejected() {
        let err = Range::new(
            "10.5.0.0/24".parse().unwrap(),
            Some(ip("10.6.0.1")),
            None,
            None,
        )
        .unwrap_err();
        assert!(err.to_string().contains("rangeStart"));
        assert!(Range::new("10.5.0.0/31".parse().unwrap(), None, None, None).is_err());
    }

    #[test]
    fn a_non_canonical_subnet_is_truncated() {
        let r = Range::new("10.5.0.9/24".parse().unwrap(), None, None, None).unwrap();
        assert_eq!(r.subnet.to_string(), "10.5.0.0/24");
    }
}
