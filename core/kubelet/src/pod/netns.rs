//! Pod network namespaces at the OS boundary: made and removed with `ip netns`, so they are
//! visible to `ip netns exec` under `/var/run/netns`.

use std::path::PathBuf;
use std::process::Stdio;

use async_trait::async_trait;

/// Errors creating or removing a namespace.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to run ip netns {action} {name}")]
    Spawn {
        action: &'static str,
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("ip netns {action} {name} failed: {stderr}")]
    Failed {
        action: &'static str,
        name: String,
        stderr: String,
    },
}

/// Creates and removes named network namespaces.
#[async_trait]
pub trait NetnsOps: Send + Sync {
    /// Creates `name` (with `lo` up) unless it exists; returns its path.
    async fn create(&self, name: &str) -> Result<PathBuf, Error>;
    /// Removes `name`; a missing namespace is not an error.
    async fn remove(&self, name: &str) -> Result<(), Error>;
    /// The path of `name`.
    fn path(&self, name: &str) -> PathBuf;
}

/// [`NetnsOps`] with the `ip` tool.
#[derive(Debug, Clone, Default)]
pub struct IpNetns;

const NETNS_DIR: &str = "/var/run/netns";

async fn ip(action: &'static str, name: &str, args: &[&str]) -> Result<(), Error> {
    let out = tokio::process::Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|source| Error::Spawn {
            action,
            name: name.into(),
            source,
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Failed {
            action,
            name: name.into(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

#[async_trait]
impl NetnsOps for IpNetns {
    async fn create(&self, name: &str) -> Result<PathBuf, Error> {
        let path = self.path(name);
        if !path.exists() {
            ip("add", name, &["netns", "add", name]).await?;
        }
        ip("add", name, &["-n", name, "link", "set", "lo", "up"]).await?;
        Ok(path)
    }

    async fn remove(&self, name: &str) -> Result<(), Error> {
        if !self.path(name).exists() {
            return Ok(());
        }
        ip("delete", name, &["netns", "delete", name]).await
    }

    fn path(&self, name: &str) -> PathBuf {
        PathBuf::from(NETNS_DIR).join(name)
    }
}
