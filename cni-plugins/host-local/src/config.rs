//! The `ipam` section host-local reads: range sets, routes and the state directory.

use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::IpNet;
use serde::Deserialize;
use skiff_cni_skel::Route;

use crate::range::{self, Range};

/// Where state lives when `dataDir` is not set.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/cni/networks";

/// Errors in the `ipam` section.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The section is missing.
    #[error("the network configuration has no ipam section")]
    Missing,
    /// The section does not decode.
    #[error("invalid ipam section")]
    Decode(#[source] serde_json::Error),
    /// No range was given.
    #[error("ipam needs at least one range (ranges or subnet)")]
    NoRanges,
    /// A range is unusable.
    #[error("invalid range in set {set}")]
    Range {
        /// Index of the range set.
        set: usize,
        /// Why.
        #[source]
        source: range::Error,
    },
    /// Two ranges of one set overlap.
    #[error("ranges {a} and {b} overlap")]
    Overlap {
        /// One subnet.
        a: IpNet,
        /// The other.
        b: IpNet,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawIpam {
    #[serde(default)]
    ranges: Vec<Vec<RawRange>>,
    subnet: Option<IpNet>,
    range_start: Option<IpAddr>,
    range_end: Option<IpAddr>,
    gateway: Option<IpAddr>,
    #[serde(default)]
    routes: Vec<Route>,
    data_dir: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRange {
    subnet: IpNet,
    range_start: Option<IpAddr>,
    range_end: Option<IpAddr>,
    gateway: Option<IpAddr>,
}

/// The validated IPAM configuration. Each range set yields one address per attachment.
#[derive(Debug)]
pub struct IpamConfig {
    /// The range sets.
    pub range_sets: Vec<Vec<Range>>,
    /// Routes to report in the result.
    pub routes: Vec<Route>,
    /// The state directory for this network: `<dataDir>/<network name>`.
    pub dir: PathBuf,
}

impl IpamConfig {
    /// Reads and validates the `ipam` section of network `name`.
    pub fn parse(name: &str, ipam: Option<&serde_json::Value>) -> Result<Self, Error> {
        let raw: RawIpam =
            serde_json::from_value(ipam.ok_or(Error::Missing)?.clone()).map_err(Error::Decode)?;
        let mut raw_sets = raw.ranges;
        if let Some(subnet) = raw.subnet {
            raw_sets.insert(
                0,
                vec![RawRange {
                    subnet,
                    range_start: raw.range_start,
                    range_end: raw.range_end,
                    gateway: raw.gateway,
                }],
            );
        }
        if raw_sets.iter().all(Vec::is_empty) {
            return Err(Error::NoRanges);
        }
        let mut range_sets = Vec::new();
        for (set, raw_ranges) in raw_sets.into_iter().enumerate() {
            let ranges = raw_ranges
                .into_iter()
                .map(|r| Range::new(r.subnet, r.range_start, r.range_end, r.gateway))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|source| Error::Range { set, source })?;
            for (i, a) in ranges.iter().enumerate() {
                if let Some(b) = ranges[i + 1..]
                    .iter()
                    .find(|b| a.subnet.contains(&b.start) || b.subnet.contains(&a.start))
                    .filter(|b| a.start <= b.end && b.start <= a.end)
                {
                    return Err(Error::Overlap {
                        a: a.subnet,
                        b: b.subnet,
                    });
                }
            }
            if !ranges.is_empty() {
                range_sets.push(ranges);
            }
        }
        let dir = raw
            .data_dir
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR))
            .join(name);
        Ok(Self {
            range_sets,
            routes: raw.routes,
            dir,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_legacy_single_subnet_form_becomes_one_range_set() {
        let cfg = IpamConfig::parse(
            "net",
            Some(&json!({"type": "host-local", "subnet": "10.7.0.0/24", "dataDir": "/tmp/x"})),
        )
        .unwrap();
        assert_eq!(cfg.range_sets.len(), 1);
        assert_eq!(cfg.dir, PathBuf::from("/tmp/x/net"));
    }

    #[test]
    fn overlapping_ranges_in_one_set_are_rejected() {
        let err = IpamConfig::parse(
            "net",
            Some(&json!({"ranges": [[{"subnet": "10.7.0.0/24"}, {"subnet": "10.7.0.0/25"}]]})),
        )
        .unwrap_err();
        assert!(matches!(err, Error::Overlap { .. }));
    }

    #[test]
    fn a_section_without_ranges_is_rejected() {
        assert!(matches!(
            IpamConfig::parse("net", Some(&json!({"type": "host-local"}))),
            Err(Error::NoRanges)
        ));
        assert!(matches!(
            IpamConfig::parse("net", None),
            Err(Error::Missing)
        ));
    }
}
