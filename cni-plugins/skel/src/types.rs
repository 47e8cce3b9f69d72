//! The ADD result: interfaces, IP configurations, routes and DNS, in every supported version.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::version;

/// The result of ADD, also passed down a chain as `prevResult`.
///
/// Results of versions 0.3.x/0.4.0 carry a `version` field on each IP configuration; it is
/// ignored when reading and written back by [`CniResult::to_json`] for those versions.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CniResult {
    /// The version the result is expressed in.
    #[serde(rename = "cniVersion", default)]
    pub cni_version: String,
    /// Interfaces created or used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<Interface>,
    /// Addresses assigned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<IpConfig>,
    /// Routes installed (in the container for interface plugins, requested for IPAM).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    /// DNS settings.
    #[serde(default, skip_serializing_if = "Dns::is_empty")]
    pub dns: Dns,
}

/// An interface in a result.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interface {
    /// The interface name.
    pub name: String,
    /// The hardware address, if any.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac: String,
    /// The MTU, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// The network namespace path for interfaces inside the container; empty on the host.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sandbox: String,
}

/// An address assigned to an interface.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpConfig {
    /// The address with its prefix length, e.g. `10.22.0.5/24`.
    pub address: IpNet,
    /// The gateway for this subnet, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    /// Index into `interfaces` of the interface holding the address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<usize>,
}

/// A route.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// The destination.
    pub dst: IpNet,
    /// The next hop; the default gateway of the interface when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<IpAddr>,
    /// The route's MTU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// The route's advertised MSS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advmss: Option<u32>,
    /// The route's priority (metric).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    /// The routing table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<u32>,
    /// The route's scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<u8>,
}

impl Route {
    /// A route to `dst` through `gw`.
    pub fn new(dst: IpNet, gw: Option<IpAddr>) -> Self {
        Self {
            dst,
            gw,
            mtu: None,
            advmss: None,
            priority: None,
            table: None,
            scope: None,
        }
    }
}

/// DNS settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dns {
    /// Name servers, in order of preference.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
    /// The local domain.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub domain: String,
    /// Search domains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<String>,
    /// Resolver options.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

impl Dns {
    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        self.nameservers.is_empty()
            && self.domain.is_empty()
            && self.search.is_empty()
            && self.options.is_empty()
    }
}

impl CniResult {
    /// Reads a result of any supported version.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, Error> {
        serde_json::from_value(value.clone()).map_err(|e| Error::from_json("result", &e))
    }

    /// Reads a result from bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, Error> {
        serde_json::from_slice(bytes).map_err(|e| Error::from_json("result", &e))
    }

    /// Writes the result in the format of `cni_version`.
    pub fn to_json(&self, cni_version: &str) -> serde_json::Value {
        let mut result = self.clone();
        result.cni_version = cni_version.to_string();
        let mut value = serde_json::to_value(&result).unwrap_or_default();
        if let Some(ips) = value
            .get_mut("ips")
            .and_then(|ips| ips.as_array_mut())
            .filter(|_| !version::at_least(cni_version, "1.0.0"))
        {
            for (ip, config) in ips.iter_mut().zip(&self.ips) {
                let family = if config.address.addr().is_ipv4() {
                    "4"
                } else {
                    "6"
                };
                ip["version"] = serde_json::Value::from(family);
            }
        }
        value
    }

    /// The addresses of the result, without prefix lengths.
    pub fn addresses(&self) -> Vec<IpAddr> {
        self.ips.iter().map(|ip| ip.address.addr()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> CniResult {
        CniResult {
            cni_version: "1.0.0".into(),
            interfaces: vec![Interface {
                name: "eth0".into(),
                sandbox: "/var/run/netns/x".into(),
                ..Interface::default()
            }],
            ips: vec![IpConfig {
                address: "10.1.2.3/24".parse().unwrap(),
                gateway: Some("10.1.2.1".parse().unwrap()),
                interface: Some(0),
            }],
            routes: vec![Route::new("0.0.0.0/0".parse().unwrap(), None)],
            dns: Dns::default(),
        }
    }

    #[test]
    fn old_versions_carry_the_ip_family_and_new_ones_do_not() {
        let old = sample().to_json("0.4.0");
        assert_eq!(old["ips"][0]["version"], json!("4"));
        assert_eq!(old["cniVersion"], json!("0.4.0"));
        let new = sample().to_json("1.0.0");
        assert!(new["ips"][0].get("version").is_none());
    }

    #[test]
    fn a_result_survives_a_round_trip_through_an_old_version() {
        let back = CniResult::from_json(&sample().to_json("0.4.0")).unwrap();
        assert_eq!(back.ips, sample().ips);
        assert_eq!(
            back.addresses(),
            vec!["10.1.2.3".parse::<IpAddr>().unwrap()]
        );
    }
}
