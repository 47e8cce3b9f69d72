//! Executing one plugin binary: the `CNI_*` environment, JSON on stdin, result or error on stdout.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::Value;
use skiff_cni_skel::error::ErrorBody;
use tokio::io::AsyncWriteExt;

/// Errors running a plugin.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No bin dir holds the plugin.
    #[error("plugin {plugin:?} not found in {dirs:?}")]
    NotFound {
        /// The plugin type.
        plugin: String,
        /// The searched directories.
        dirs: Vec<PathBuf>,
    },
    /// The process could not be run.
    #[error("failed to run plugin {plugin}")]
    Spawn {
        /// The plugin type.
        plugin: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The plugin reported an error object.
    #[error("plugin {plugin} failed ({command}): {msg} (code {code}){}", if details.is_empty() { String::new() } else { format!(": {details}") })]
    Plugin {
        /// The plugin type.
        plugin: String,
        /// The command.
        command: &'static str,
        /// The CNI error code.
        code: u32,
        /// The message.
        msg: String,
        /// The details.
        details: String,
    },
    /// The plugin's output is not what the spec says.
    #[error("plugin {plugin} printed an invalid answer: {output}")]
    BadOutput {
        /// The plugin type.
        plugin: String,
        /// What it printed (and its stderr).
        output: String,
    },
}

/// The `CNI_*` environment of one call.
#[derive(Clone, Debug)]
pub struct Invocation<'a> {
    /// `CNI_COMMAND`.
    pub command: &'static str,
    /// `CNI_CONTAINERID`.
    pub container_id: &'a str,
    /// `CNI_NETNS`.
    pub netns: Option<&'a Path>,
    /// `CNI_IFNAME`.
    pub ifname: &'a str,
    /// `CNI_ARGS`.
    pub args: &'a str,
    /// Where plugins live (`CNI_PATH`).
    pub bin_dirs: &'a [PathBuf],
}

/// Finds `plugin` in the bin dirs.
pub fn find(plugin: &str, dirs: &[PathBuf]) -> Result<PathBuf, Error> {
    skiff_cni_skel::delegate::find_plugin(plugin, dirs).map_err(|_| Error::NotFound {
        plugin: plugin.to_string(),
        dirs: dirs.to_vec(),
    })
}

/// Runs `plugin` with `conf` on stdin; returns its stdout as JSON (`Value::Null` when empty).
pub async fn run(plugin: &str, inv: &Invocation<'_>, conf: &Value) -> Result<Value, Error> {
    let binary = find(plugin, inv.bin_dirs)?;
    let spawn_err = |source| Error::Spawn {
        plugin: plugin.to_string(),
        source,
    };
    let mut cmd = tokio::process::Command::new(&binary);
    cmd.env("CNI_COMMAND", inv.command)
        .env("CNI_CONTAINERID", inv.container_id)
        .env("CNI_IFNAME", inv.ifname)
        .env("CNI_ARGS", inv.args)
        .env(
            "CNI_PATH",
            std::env::join_paths(inv.bin_dirs).unwrap_or_default(),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    match inv.netns {
        Some(netns) => cmd.env("CNI_NETNS", netns),
        None => cmd.env_remove("CNI_NETNS"),
    };
    let mut child = cmd.spawn().map_err(spawn_err)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(conf.to_string().as_bytes())
            .await
            .map_err(spawn_err)?;
    }
    let output = child.wait_with_output().await.map_err(spawn_err)?;
    let shown = || {
        format!(
            "{} {}",
            String::from_utf8_lossy(&output.stdout).trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        )
    };
    if !output.status.success() {
        return Err(match serde_json::from_slice::<ErrorBody>(&output.stdout) {
            Ok(body) => Error::Plugin {
                plugin: plugin.to_string(),
                command: inv.command,
                code: body.code,
                msg: body.msg,
                details: body.details,
            },
            Err(_) => Error::BadOutput {
                plugin: plugin.to_string(),
                output: format!("exit {}: {}", output.status, shown()),
            },
        });
    }
    if output.stdout.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&output.stdout).map_err(|_| Error::BadOutput {
        plugin: plugin.to_string(),
        output: shown(),
    })
}
