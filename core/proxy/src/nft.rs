//! The OS boundary: applying an nftables script, with the real `nft` and a recording fake.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot run nft")]
    Spawn(#[source] std::io::Error),
    #[error("nft refused the ruleset: {0}")]
    Rejected(String),
}

/// Applies rulesets. `apply` gets a whole `nft -f` script and applies it atomically.
pub trait Nft: Send + Sync {
    fn apply(&self, script: &str) -> Result<(), Error>;
}

/// The `nft` command: one `nft -f -` run per script, which the kernel applies as one
/// transaction (all or nothing).
#[derive(Clone, Debug, Default)]
pub struct NftCommand;

impl Nft for NftCommand {
    fn apply(&self, script: &str) -> Result<(), Error> {
        let mut child = Command::new("nft")
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(Error::Spawn)?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(script.as_bytes()).map_err(Error::Spawn)?;
        }
        let out = child.wait_with_output().map_err(Error::Spawn)?;
        if out.status.success() {
            Ok(())
        } else {
            Err(Error::Rejected(
                String::from_utf8_lossy(&out.stderr).trim().to_string(),
            ))
        }
    }
}

/// Keeps every script it is given, for tests.
#[derive(Clone, Debug, Default)]
pub struct RecordingNft {
    scripts: Arc<Mutex<Vec<String>>>,
}

impl RecordingNft {
    /// The scripts applied so far, oldest first.
    pub fn scripts(&self) -> Vec<String> {
        self.scripts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Nft for RecordingNft {
    fn apply(&self, script: &str) -> Result<(), Error> {
        self.scripts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(script.to_string());
        Ok(())
    }
}
