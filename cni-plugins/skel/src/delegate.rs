//! Delegation: run another plugin (usually IPAM) found in `CNI_PATH` with the same protocol.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::args::{CmdArgs, Command};
use crate::error::{Error, ErrorBody, ErrorCode};
use crate::types::CniResult;

/// Finds the executable for `plugin_type` in `dirs`, first match wins.
pub fn find_plugin(plugin_type: &str, dirs: &[PathBuf]) -> Result<PathBuf, Error> {
    if plugin_type.is_empty() || plugin_type.contains('/') || plugin_type.starts_with('.') {
        return Err(Error::config(format!(
            "plugin type {plugin_type:?} is not a plain executable name"
        )));
    }
    dirs.iter()
        .map(|dir| dir.join(plugin_type))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(|| {
            Error::io(
                format!("failed to find plugin {plugin_type:?}"),
                format!("searched CNI_PATH {dirs:?}"),
            )
        })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Runs `plugin_type` for `command` with the caller's environment and `stdin` as its
/// configuration. ADD returns the delegate's result; other commands return `None`. A failing
/// delegate's error object is passed through with its own code.
pub fn exec(
    args: &CmdArgs,
    plugin_type: &str,
    command: Command,
    stdin: &[u8],
) -> Result<Option<CniResult>, Error> {
    let binary = find_plugin(plugin_type, &args.path)?;
    let cni_args = args
        .args
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(";");
    let path = std::env::join_paths(&args.path).unwrap_or_default();
    let mut cmd = std::process::Command::new(&binary);
    cmd.env("CNI_COMMAND", command.as_str())
        .env("CNI_CONTAINERID", &args.container_id)
        .env("CNI_IFNAME", &args.ifname)
        .env("CNI_ARGS", cni_args)
        .env("CNI_PATH", path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    match &args.netns {
        Some(netns) => cmd.env("CNI_NETNS", netns),
        None => cmd.env_remove("CNI_NETNS"),
    };
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::io(format!("failed to run plugin {binary:?}"), e))?;
    if let Some(mut input) = child.stdin.take() {
        input
            .write_all(stdin)
            .map_err(|e| Error::io(format!("failed to write to plugin {binary:?}"), e))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| Error::io(format!("failed to wait for plugin {binary:?}"), e))?;
    if !output.status.success() {
        return Err(match serde_json::from_slice::<ErrorBody>(&output.stdout) {
            Ok(body) => Error::from_body(body),
            Err(_) => Error::new(
                ErrorCode::Io,
                format!("plugin {plugin_type} failed with {}", output.status),
            )
            .details(String::from_utf8_lossy(&output.stdout)),
        });
    }
    if command == Command::Add {
        CniResult::from_slice(&output.stdout).map(Some)
    } else {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_types_cannot_escape_the_search_path() {
        for bad in ["../bin/sh", "/bin/sh", ".hidden", ""] {
            assert_eq!(
                find_plugin(bad, &[PathBuf::from("/usr/bin")])
                    .unwrap_err()
                    .code,
                ErrorCode::InvalidNetworkConfig
            );
        }
    }

    #[test]
    fn plugins_are_found_in_the_first_directory_that_has_them() {
        let found = find_plugin(
            "sh",
            &[PathBuf::from("/nonexistent"), PathBuf::from("/bin")],
        )
        .unwrap();
        assert_eq!(found, PathBuf::from("/bin/sh"));
        assert!(find_plugin("sh", &[PathBuf::from("/nonexistent")]).is_err());
    }
}
