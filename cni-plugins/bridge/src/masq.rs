//! Source NAT for traffic leaving a bridge's subnets, in an nftables table of the bridge's own.
//!
//! The table is rewritten whole in one `nft -f` transaction (flush + add), so concurrent ADDs
//! converge on the same rules and never duplicate them. nftables has no well-kept Rust
//! library for its netlink protocol, so the `nft` tool applies the ruleset.

use std::io::Write;
use std::process::{Command, Stdio};

use ipnet::IpNet;

/// Errors applying rules.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `nft` could not be run.
    #[error("failed to run nft")]
    Spawn(#[source] std::io::Error),
    /// `nft` refused the ruleset.
    #[error("nft refused the masquerade rules: {0}")]
    Refused(String),
}

/// The table holding the masquerade rules of `bridge`.
pub fn table_name(bridge: &str) -> String {
    let safe: String = bridge
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("skiff_masq_{safe}")
}

/// The ruleset masquerading traffic from `subnets` to anywhere outside them.
pub fn ruleset(bridge: &str, subnets: &[IpNet]) -> String {
    let table = table_name(bridge);
    let mut script = format!(
        "add table inet {table}\n\
         add chain inet {table} postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}\n\
         flush chain inet {table} postrouting\n"
    );
    for subnet in subnets {
        let family = if subnet.addr().is_ipv4() { "ip" } else { "ip6" };
        script.push_str(&format!(
            "add rule inet {table} postrouting {family} saddr {subnet} {family} daddr != {subnet} masquerade\n"
        ));
    }
    script
}

/// Installs the masquerade rules for `subnets` on `bridge`.
pub fn apply(bridge: &str, subnets: &[IpNet]) -> Result<(), Error> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(Error::Spawn)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(ruleset(bridge, subnets).as_bytes())
            .map_err(Error::Spawn)?;
    }
    let out = child.wait_with_output().map_err(Error::Spawn)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Refused(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ruleset_masquerades_each_subnet_by_family() {
        let script = ruleset(
            "br-x.1",
            &["10.1.0.0/24".parse().unwrap(), "fd00::/64".parse().unwrap()],
        );
        assert!(script.contains("add table inet skiff_masq_br_x_1"));
        assert!(script.contains("ip saddr 10.1.0.0/24 ip daddr != 10.1.0.0/24 masquerade"));
        assert!(script.contains("ip6 saddr fd00::/64 ip6 daddr != fd00::/64 masquerade"));
        assert!(script.find("flush").unwrap() < script.find("add rule").unwrap());
    }
}
