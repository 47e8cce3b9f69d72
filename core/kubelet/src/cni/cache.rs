//! The result cache: one file per attachment holding the configuration and ADD result.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Errors reading or writing the cache.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file operation failed.
    #[error("failed to {action} cache file {path}")]
    Io {
        /// What was attempted.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A cache file does not decode.
    #[error("cache file {path} is corrupt")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

/// What is remembered about one attachment after ADD.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheEntry {
    /// Always `skiffCniCacheV1`.
    pub kind: String,
    /// The sandbox container id.
    pub container_id: String,
    /// The interface name.
    pub if_name: String,
    /// The network name.
    pub network_name: String,
    /// The netns path used at ADD.
    pub netns: PathBuf,
    /// `CNI_ARGS` used at ADD.
    pub cni_args: String,
    /// The capability arguments used at ADD.
    pub runtime_config: Value,
    /// The network configuration list used at ADD (so DEL runs the same chain).
    pub config: Value,
    /// The final ADD result.
    pub result: Value,
}

/// The cache file of an attachment.
pub fn path(dir: &Path, network: &str, container_id: &str, ifname: &str) -> PathBuf {
    dir.join(format!("{network}-{container_id}-{ifname}"))
}

/// Writes an entry (atomically, through a temporary file).
pub fn store(dir: &Path, entry: &CacheEntry) -> Result<(), Error> {
    let path = path(
        dir,
        &entry.network_name,
        &entry.container_id,
        &entry.if_name,
    );
    let io = |action| {
        let path = path.clone();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    };
    std::fs::create_dir_all(dir).map_err(io("create the directory of"))?;
    let tmp = path.with_extension("tmp");
    let bytes = serde_json::to_vec_pretty(entry).map_err(|source| Error::Corrupt {
        path: path.clone(),
        source,
    })?;
    std::fs::write(&tmp, bytes).map_err(io("write"))?;
    std::fs::rename(&tmp, &path).map_err(io("rename"))
}

/// Reads an entry, `None` if there is none.
pub fn load(
    dir: &Path,
    network: &str,
    container_id: &str,
    ifname: &str,
) -> Result<Option<CacheEntry>, Error> {
    let path = path(dir, network, container_id, ifname);
    read(&path)
}

fn read(path: &Path) -> Result<Option<CacheEntry>, Error> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| Error::Corrupt {
                path: path.to_path_buf(),
                source,
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Io {
            action: "read",
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Removes an entry; a missing entry is fine.
pub fn remove(dir: &Path, network: &str, container_id: &str, ifname: &str) -> Result<(), Error> {
    let path = path(dir, network, container_id, ifname);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::Io {
            action: "remove",
            path,
            source: e,
        }),
        _ => Ok(()),
    }
}

/// Every entry of network `network`; unreadable files are skipped.
pub fn list(dir: &Path, network: &str) -> Result<Vec<CacheEntry>, Error> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(Error::Io {
                action: "list",
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    Ok(entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_none_or(|ext| ext != "tmp"))
        .filter_map(|e| read(&e.path()).ok().flatten())
        .filter(|entry| entry.network_name == network)
        .collect())
}
