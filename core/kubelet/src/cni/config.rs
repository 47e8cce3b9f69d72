//! Network configuration: where it is read from, and the validated `.conflist`.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};

/// Where the CNI runtime finds configurations, plugins and its result cache.
#[derive(Clone, Debug)]
pub struct CniConfig {
    /// Directory of `.conflist`/`.conf`/`.json` files; the lexically first is used.
    /// Default: `/etc/cni/net.d`.
    pub conf_dir: PathBuf,
    /// Directories searched, in order, for plugin executables.
    /// Default: `/opt/cni/bin` then `/usr/lib/cni` (Debian's reference plugins).
    pub bin_dirs: Vec<PathBuf>,
    /// Directory where ADD results are cached for DEL, CHECK and GC.
    /// Default: `/var/lib/cni/results`.
    pub cache_dir: PathBuf,
}

impl Default for CniConfig {
    fn default() -> Self {
        Self {
            conf_dir: PathBuf::from("/etc/cni/net.d"),
            bin_dirs: vec![PathBuf::from("/opt/cni/bin"), PathBuf::from("/usr/lib/cni")],
            cache_dir: PathBuf::from("/var/lib/cni/results"),
        }
    }
}

/// Errors loading a network configuration.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The conf dir holds no configuration.
    #[error("no network configuration (.conflist, .conf or .json) in {0}")]
    NoConfig(PathBuf),
    /// A file could not be read.
    #[error("failed to read {path}")]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file is not a valid configuration.
    #[error("invalid network configuration {path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// A validated network configuration list.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkConfigList {
    /// The spec version of the whole list.
    pub cni_version: String,
    /// The network name.
    pub name: String,
    /// Skip CHECK.
    pub disable_check: bool,
    /// Skip GC.
    pub disable_gc: bool,
    /// The plugin configurations, in chain order; each has a string `type`.
    pub plugins: Vec<Map<String, Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawList {
    cni_version: String,
    #[serde(default)]
    cni_versions: Vec<String>,
    name: String,
    #[serde(default)]
    disable_check: bool,
    #[serde(default, rename = "disableGC")]
    disable_gc: bool,
    #[serde(default)]
    load_only_inlined_plugins: bool,
    plugins: Vec<Map<String, Value>>,
}

impl NetworkConfigList {
    /// Parses a `.conflist` (`conflist == true`) or a single-plugin `.conf`.
    pub fn parse(bytes: &[u8], conflist: bool) -> Result<Self, String> {
        let list = if conflist {
            let raw: RawList = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
            let _ = (raw.cni_versions, raw.load_only_inlined_plugins);
            Self {
                cni_version: raw.cni_version,
                name: raw.name,
                disable_check: raw.disable_check,
                disable_gc: raw.disable_gc,
                plugins: raw.plugins,
            }
        } else {
            let plugin: Map<String, Value> =
                serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
            let text = |key: &str| {
                plugin
                    .get(key)
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| format!("missing string field `{key}`"))
            };
            Self {
                cni_version: text("cniVersion")?,
                name: text("name")?,
                disable_check: false,
                disable_gc: false,
                plugins: vec![plugin],
            }
        };
        list.validate()?;
        Ok(list)
    }

    fn validate(&self) -> Result<(), String> {
        if skiff_cni_skel::version::parse(&self.cni_version).is_none() {
            return Err(format!(
                "cniVersion {:?} is not a version",
                self.cni_version
            ));
        }
        if self.name.is_empty() {
            return Err("`name` is empty".into());
        }
        if self.plugins.is_empty() {
            return Err("`plugins` is empty".into());
        }
        for (i, plugin) in self.plugins.iter().enumerate() {
            match plugin.get("type").and_then(Value::as_str) {
                Some(t) if !t.is_empty() && !t.contains('/') => {}
                _ => return Err(format!("plugin {i} has no valid string `type`")),
            }
        }
        Ok(())
    }

    /// Each plugin's `type`, in chain order.
    pub fn plugin_types(&self) -> Vec<&str> {
        self.plugins
            .iter()
            .filter_map(|p| p.get("type").and_then(Value::as_str))
            .collect()
    }

    /// Loads the lexically first configuration file of `dir`.
    pub fn load_dir(dir: &Path) -> Result<Self, Error> {
        let read_err = |source| Error::Read {
            path: dir.to_path_buf(),
            source,
        };
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(read_err)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && matches!(
                        p.extension().and_then(|e| e.to_str()),
                        Some("conflist" | "conf" | "json")
                    )
            })
            .collect();
        files.sort();
        let path = files
            .into_iter()
            .next()
            .ok_or_else(|| Error::NoConfig(dir.to_path_buf()))?;
        Self::load_file(&path)
    }

    /// Loads one configuration file; the extension tells a list from a single plugin.
    pub fn load_file(path: &Path) -> Result<Self, Error> {
        let bytes = std::fs::read(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let conflist = path.extension().and_then(|e| e.to_str()) == Some("conflist");
        Self::parse(&bytes, conflist).map_err(|reason| Error::Invalid {
            path: path.to_path_buf(),
            reason,
        })
    }
}
