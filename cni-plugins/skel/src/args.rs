//! The CNI_* environment of one plugin invocation, read and checked per command.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::de::DeserializeOwned;

use crate::conf::NetConf;
use crate::error::Error;

/// The operation requested by `CNI_COMMAND`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// Attach a container to the network.
    Add,
    /// Detach a container.
    Del,
    /// Verify an attachment.
    Check,
    /// Report supported versions.
    Version,
    /// Report whether the plugin is ready for ADD.
    Status,
    /// Release resources not held by the listed attachments.
    Gc,
}

impl Command {
    /// Parses the value of `CNI_COMMAND`.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "ADD" => Self::Add,
            "DEL" => Self::Del,
            "CHECK" => Self::Check,
            "VERSION" => Self::Version,
            "STATUS" => Self::Status,
            "GC" => Self::Gc,
            _ => return None,
        })
    }

    /// The value of `CNI_COMMAND`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Add => "ADD",
            Self::Del => "DEL",
            Self::Check => "CHECK",
            Self::Version => "VERSION",
            Self::Status => "STATUS",
            Self::Gc => "GC",
        }
    }
}

/// Everything a plugin gets for one call.
#[derive(Clone, Debug)]
pub struct CmdArgs {
    /// The command.
    pub command: Command,
    /// `CNI_CONTAINERID` (empty for STATUS and GC).
    pub container_id: String,
    /// `CNI_NETNS`: the container's network namespace path, if given.
    pub netns: Option<PathBuf>,
    /// `CNI_IFNAME` (empty for STATUS and GC).
    pub ifname: String,
    /// `CNI_ARGS`, split into key/value pairs.
    pub args: Vec<(String, String)>,
    /// `CNI_PATH`: where to find delegated plugins.
    pub path: Vec<PathBuf>,
    /// The raw configuration from stdin.
    pub stdin: Vec<u8>,
    /// The common configuration fields.
    pub conf: NetConf,
}

impl CmdArgs {
    /// Reads and checks the environment for `command`: ADD and CHECK need a container id, a
    /// netns and an interface name; DEL needs a container id and an interface name.
    pub fn from_env(
        command: Command,
        env: &HashMap<String, String>,
        stdin: Vec<u8>,
    ) -> Result<Self, Error> {
        let get = |key: &str| env.get(key).filter(|v| !v.is_empty()).cloned();
        let require = |key: &str| get(key).ok_or_else(|| Error::env(format!("{key} is required")));
        let (needs_netns, needs_id) = match command {
            Command::Add | Command::Check => (true, true),
            Command::Del => (false, true),
            Command::Version | Command::Status | Command::Gc => (false, false),
        };
        let container_id = if needs_id {
            require("CNI_CONTAINERID")?
        } else {
            get("CNI_CONTAINERID").unwrap_or_default()
        };
        if !container_id.is_empty() && !valid_container_id(&container_id) {
            return Err(Error::env(format!(
                "CNI_CONTAINERID {container_id:?} has characters other than letters, digits, '_', '.' and '-'"
            )));
        }
        let ifname = if needs_id {
            require("CNI_IFNAME")?
        } else {
            get("CNI_IFNAME").unwrap_or_default()
        };
        let netns = if needs_netns {
            Some(PathBuf::from(require("CNI_NETNS")?))
        } else {
            get("CNI_NETNS").map(PathBuf::from)
        };
        let args = get("CNI_ARGS")
            .map(|raw| parse_cni_args(&raw))
            .transpose()?
            .unwrap_or_default();
        let path = get("CNI_PATH")
            .map(|raw| std::env::split_paths(&raw).collect())
            .unwrap_or_default();
        let conf = NetConf::parse(&stdin)?;
        Ok(Self {
            command,
            container_id,
            netns,
            ifname,
            args,
            path,
            stdin,
            conf,
        })
    }

    /// Parses the whole stdin configuration into a plugin's own type.
    pub fn parse_conf<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.stdin)
            .map_err(|e| Error::from_json("network configuration", &e))
    }

    /// The value of one `CNI_ARGS` key.
    pub fn arg(&self, key: &str) -> Option<&str> {
        self.args
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The netns path, which ADD and CHECK are guaranteed to have.
    pub fn require_netns(&self) -> Result<&PathBuf, Error> {
        self.netns
            .as_ref()
            .ok_or_else(|| Error::env("CNI_NETNS is required"))
    }
}

/// Container ids are restricted so they are safe in file names and rule comments.
fn valid_container_id(id: &str) -> bool {
    id.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// `CNI_ARGS` is `KEY=VALUE` pairs separated by `;`.
fn parse_cni_args(raw: &str) -> Result<Vec<(String, String)>, Error> {
    raw.split(';')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            pair.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| Error::env(format!("CNI_ARGS entry {pair:?} is not KEY=VALUE")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const CONF: &[u8] = br#"{"cniVersion":"1.0.0","name":"n","type":"t"}"#;

    #[test]
    fn add_without_a_netns_is_an_environment_error() {
        let env = env(&[("CNI_CONTAINERID", "c1"), ("CNI_IFNAME", "eth0")]);
        let err = CmdArgs::from_env(Command::Add, &env, CONF.to_vec()).unwrap_err();
        assert_eq!(err.code.as_u32(), 4);
        assert!(err.msg.contains("CNI_NETNS"));
    }

    #[test]
    fn del_does_not_need_a_netns() {
        let env = env(&[("CNI_CONTAINERID", "c1"), ("CNI_IFNAME", "eth0")]);
        let args = CmdArgs::from_env(Command::Del, &env, CONF.to_vec()).unwrap();
        assert!(args.netns.is_none());
        assert_eq!(args.conf.name, "n");
    }

    #[test]
    fn cni_args_are_split_into_pairs() {
        let env = env(&[
            ("CNI_CONTAINERID", "c1"),
            ("CNI_IFNAME", "eth0"),
            ("CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAME=web-0"),
            ("CNI_PATH", "/a:/b"),
        ]);
        let args = CmdArgs::from_env(Command::Del, &env, CONF.to_vec()).unwrap();
        assert_eq!(args.arg("K8S_POD_NAME"), Some("web-0"));
        assert_eq!(args.path, vec![PathBuf::from("/a"), PathBuf::from("/b")]);
    }

    #[test]
    fn container_ids_with_slashes_are_rejected() {
        let env = env(&[("CNI_CONTAINERID", "../x"), ("CNI_IFNAME", "eth0")]);
        let err = CmdArgs::from_env(Command::Del, &env, CONF.to_vec()).unwrap_err();
        assert_eq!(err.code.as_u32(), 4);
    }
}
