//! The kernel switches service traffic needs.
//!
//! `net.ipv4.ip_forward`: pods reach services through the host. With `br_netfilter`
//! loaded, `net.bridge.bridge-nf-call-iptables` makes frames bridged between two pods of
//! one node pass the `ip` hooks, so a reply from a backend to a client on the same bridge
//! is un-NATed by conntrack. Node ports are not offered on 127.0.0.1, so `route_localnet`
//! stays off.

use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot set {key}")]
    Write {
        key: String,
        #[source]
        source: std::io::Error,
    },
}

/// Switches on forwarding and (when the bridge netfilter module is there) bridge hooks.
pub fn apply() -> Result<(), Error> {
    set("net/ipv4/ip_forward", "1")?;
    if Path::new("/proc/sys/net/bridge").exists() {
        set("net/bridge/bridge-nf-call-iptables", "1")?;
    } else {
        tracing::warn!(
            "br_netfilter is not loaded: replies between pods on one bridge skip service NAT"
        );
    }
    Ok(())
}

fn set(key: &str, value: &str) -> Result<(), Error> {
    let path = Path::new("/proc/sys").join(key);
    if std::fs::read_to_string(&path).is_ok_and(|v| v.trim() == value) {
        return Ok(());
    }
    std::fs::write(&path, value).map_err(|source| Error::Write {
        key: key.replace('/', "."),
        source,
    })
}
