//! The bridge plugin's own configuration fields.

use serde::Deserialize;
use skiff_cni_skel::Dns;

/// The bridge used when the configuration names none.
pub const DEFAULT_BRIDGE: &str = "cni0";

/// The bridge plugin's configuration (the common fields are read by the skeleton).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BridgeConf {
    /// The bridge's name (default `cni0`); at most 15 bytes, as the kernel requires.
    #[serde(default = "default_bridge")]
    pub bridge: String,
    /// Give the bridge the gateway address of each subnet (and enable forwarding).
    #[serde(default)]
    pub is_gateway: bool,
    /// Add a default route in the container through the gateway (implies `isGateway`).
    #[serde(default)]
    pub is_default_gateway: bool,
    /// Masquerade traffic leaving the subnet.
    #[serde(default)]
    pub ip_masq: bool,
    /// Let traffic leave and re-enter through the same bridge port.
    #[serde(default)]
    pub hairpin_mode: bool,
    /// MTU of the bridge and the veth pair.
    pub mtu: Option<u32>,
    /// DNS settings to report in the result.
    #[serde(default)]
    pub dns: Dns,
}

fn default_bridge() -> String {
    DEFAULT_BRIDGE.to_string()
}

impl BridgeConf {
    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.bridge.is_empty() || self.bridge.len() > 15 || self.bridge.contains('/') {
            return Err(format!(
                "bridge name {:?} must be 1 to 15 bytes without '/'",
                self.bridge
            ));
        }
        if let Some(mtu) = self.mtu.filter(|mtu| !(68..=65535).contains(mtu)) {
            return Err(format!("mtu {mtu} is outside 68..65535"));
        }
        Ok(())
    }

    /// Whether the bridge holds the gateway addresses.
    pub fn gateway_on_bridge(&self) -> bool {
        self.is_gateway || self.is_default_gateway
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_bridge_names_are_rejected() {
        let conf: BridgeConf = serde_json::from_str(r#"{"bridge":"a-very-long-bridge"}"#).unwrap();
        assert!(conf.validate().is_err());
        let conf: BridgeConf = serde_json::from_str("{}").unwrap();
        assert_eq!(conf.bridge, "cni0");
        assert!(conf.validate().is_ok());
    }
}
