//! Which CSI driver this provisioner serves and where its socket is.
//!
//! Read on every reconcile so a change applies without a restart, in this order: the
//! ConfigMap `kube-system/skiff-csi-provisioner` (keys `driver`, `endpoint`), then the
//! environment (`SKIFF_CSI_PROVISIONER_DRIVER`, `SKIFF_CSI_HOSTPATH_SOCKET`), then the
//! defaults below. The ConfigMap lets several clusters in one process (tests) differ.

use skiff_plugin_sdk::{Host, Value};

/// The driver served when nothing else is configured.
pub const DEFAULT_DRIVER: &str = "hostpath.csi.skiff.dev";
/// The socket used when nothing else is configured (the hostpath driver's default).
pub const DEFAULT_ENDPOINT: &str = "unix:///run/skiff/csi/hostpath/csi.sock";
/// Namespace and name of the optional settings ConfigMap.
pub const CONFIG_MAP: (&str, &str) = ("kube-system", "skiff-csi-provisioner");

/// The provisioner's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The CSI driver name a StorageClass's `provisioner` must equal.
    pub driver: String,
    /// The driver's Controller service socket (`unix://` or a plain path).
    pub endpoint: String,
}

impl Settings {
    /// Settings from the ConfigMap (as an object, or null), the environment and the defaults.
    pub fn resolve(config_map: &Value, env: impl Fn(&str) -> Option<String>) -> Settings {
        let pick = |key: &str, var: &str, default: &str| {
            config_map["data"][key]
                .as_str()
                .map(str::to_string)
                .or_else(|| env(var))
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_string())
        };
        Settings {
            driver: pick("driver", "SKIFF_CSI_PROVISIONER_DRIVER", DEFAULT_DRIVER),
            endpoint: pick("endpoint", "SKIFF_CSI_HOSTPATH_SOCKET", DEFAULT_ENDPOINT),
        }
    }

    /// The settings in effect for this cluster now.
    pub fn load(host: &Host<'_>) -> Settings {
        let config_map = host
            .get("v1", "ConfigMap", CONFIG_MAP.0, CONFIG_MAP.1)
            .unwrap_or(Value::Null);
        Settings::resolve(&config_map, |var| std::env::var(var).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_plugin_sdk::json;

    #[test]
    fn the_config_map_wins_over_the_environment_and_defaults_fill_the_rest() {
        let cm = json!({"data": {"endpoint": "/tmp/a.sock"}});
        let env = |var: &str| (var == "SKIFF_CSI_HOSTPATH_SOCKET").then(|| "/tmp/env.sock".into());
        let settings = Settings::resolve(&cm, env);
        assert_eq!(settings.endpoint, "/tmp/a.sock");
        assert_eq!(settings.driver, DEFAULT_DRIVER);
        let settings = Settings::resolve(&Value::Null, env);
        assert_eq!(settings.endpoint, "/tmp/env.sock");
    }
}
