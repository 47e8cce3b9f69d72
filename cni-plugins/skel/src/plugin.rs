//! The plugin trait and the dispatcher every plugin's `main` calls.

use std::collections::HashMap;
use std::io::Read;
use std::process::ExitCode;

use serde_json::json;

use crate::args::{CmdArgs, Command};
use crate::error::Error;
use crate::types::CniResult;
use crate::version::{self, LATEST, SUPPORTED};

/// A CNI plugin. Handlers must be idempotent: the runtime may repeat DEL, and a DEL for a
/// container the plugin never saw succeeds.
pub trait Plugin {
    /// Attaches the container and returns what was configured.
    fn add(&self, args: &CmdArgs) -> Result<CniResult, Error>;
    /// Detaches the container; succeeds if there is nothing to remove.
    fn del(&self, args: &CmdArgs) -> Result<(), Error>;
    /// Verifies the attachment is as ADD left it.
    fn check(&self, args: &CmdArgs) -> Result<(), Error>;
    /// Reports readiness for ADD (code 50/51 errors when not ready).
    fn status(&self, _args: &CmdArgs) -> Result<(), Error> {
        Ok(())
    }
    /// Releases resources not held by `args.conf.valid_attachments`.
    fn gc(&self, _args: &CmdArgs) -> Result<(), Error> {
        Ok(())
    }
}

/// Runs one command for `plugin`: returns what to print on stdout on success.
pub fn dispatch<P: Plugin>(
    plugin: &P,
    env: &HashMap<String, String>,
    stdin: Vec<u8>,
) -> Result<Option<serde_json::Value>, Error> {
    let name = env.get("CNI_COMMAND").map(String::as_str).unwrap_or("");
    let command =
        Command::parse(name).ok_or_else(|| Error::env(format!("unknown CNI_COMMAND {name:?}")))?;
    if command == Command::Version {
        return Ok(Some(version_reply(&stdin)));
    }
    let args = CmdArgs::from_env(command, env, stdin)?;
    let requested = args.conf.cni_version.clone();
    version::ensure_supported(&requested)?;
    match command {
        Command::Add => {
            let result = plugin.add(&args)?;
            Ok(Some(result.to_json(&requested)))
        }
        Command::Del => plugin.del(&args).map(|()| None),
        Command::Check => {
            if !version::at_least(&requested, "0.4.0") {
                return Err(Error::new(
                    crate::ErrorCode::IncompatibleVersion,
                    format!("CHECK is not supported in cni version {requested}"),
                ));
            }
            plugin.check(&args).map(|()| None)
        }
        Command::Status => plugin.status(&args).map(|()| None),
        Command::Gc => plugin.gc(&args).map(|()| None),
        Command::Version => unreachable!("answered above"),
    }
}

/// The VERSION answer: the versions this plugin speaks.
fn version_reply(stdin: &[u8]) -> serde_json::Value {
    let requested = serde_json::from_slice::<serde_json::Value>(stdin)
        .ok()
        .and_then(|v| v.get("cniVersion")?.as_str().map(str::to_string))
        .filter(|v| SUPPORTED.contains(&v.as_str()))
        .unwrap_or_else(|| LATEST.to_string());
    json!({ "cniVersion": requested, "supportedVersions": SUPPORTED })
}

/// A plugin's whole `main`: reads the process environment and stdin, dispatches, prints the
/// result or the error object, and returns the exit code.
pub fn run<P: Plugin>(plugin: &P) -> ExitCode {
    let env: HashMap<String, String> = std::env::vars().collect();
    let mut stdin = Vec::new();
    let outcome = std::io::stdin()
        .read_to_end(&mut stdin)
        .map_err(|e| Error::io("failed to read the configuration from stdin", e))
        .and_then(|_| dispatch(plugin, &env, stdin.clone()));
    match outcome {
        Ok(Some(value)) => {
            println!("{value}");
            ExitCode::SUCCESS
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(err) => {
            let reported = serde_json::from_slice::<serde_json::Value>(&stdin)
                .ok()
                .and_then(|v| v.get("cniVersion")?.as_str().map(str::to_string))
                .filter(|v| SUPPORTED.contains(&v.as_str()))
                .unwrap_or_else(|| LATEST.to_string());
            let body = serde_json::to_string(&err.to_body(&reported)).unwrap_or_default();
            println!("{body}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[derive(Default)]
    struct Recorder {
        calls: RefCell<Vec<&'static str>>,
    }

    impl Plugin for Recorder {
        fn add(&self, args: &CmdArgs) -> Result<CniResult, Error> {
            self.calls.borrow_mut().push("add");
            Ok(args.conf.prev_result()?.unwrap_or_default())
        }
        fn del(&self, _: &CmdArgs) -> Result<(), Error> {
            self.calls.borrow_mut().push("del");
            Ok(())
        }
        fn check(&self, _: &CmdArgs) -> Result<(), Error> {
            self.calls.borrow_mut().push("check");
            Ok(())
        }
    }

    fn env(command: &str) -> HashMap<String, String> {
        [
            ("CNI_COMMAND", command),
            ("CNI_CONTAINERID", "c1"),
            ("CNI_IFNAME", "eth0"),
            ("CNI_NETNS", "/var/run/netns/x"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn unknown_commands_are_environment_errors() {
        let err = dispatch(&Recorder::default(), &env("FROB"), b"{}".to_vec()).unwrap_err();
        assert_eq!(err.code.as_u32(), 4);
    }

    #[test]
    fn version_lists_the_supported_versions_and_echoes_a_known_request() {
        let out = dispatch(
            &Recorder::default(),
            &env("VERSION"),
            br#"{"cniVersion":"0.4.0"}"#.to_vec(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(out["cniVersion"], "0.4.0");
        assert_eq!(
            out["supportedVersions"].as_array().unwrap().len(),
            SUPPORTED.len()
        );
    }

    #[test]
    fn an_unsupported_config_version_is_refused_before_the_plugin_runs() {
        let plugin = Recorder::default();
        let conf = br#"{"cniVersion":"0.2.0","name":"n","type":"t"}"#.to_vec();
        let err = dispatch(&plugin, &env("ADD"), conf).unwrap_err();
        assert_eq!(err.code.as_u32(), 1);
        assert!(plugin.calls.borrow().is_empty());
    }

    #[test]
    fn add_passes_the_previous_result_and_answers_in_the_requested_version() {
        let plugin = Recorder::default();
        let conf = br#"{"cniVersion":"0.4.0","name":"n","type":"t",
            "prevResult":{"cniVersion":"1.0.0","ips":[{"address":"10.9.0.2/24"}]}}"#
            .to_vec();
        let out = dispatch(&plugin, &env("ADD"), conf).unwrap().unwrap();
        assert_eq!(out["cniVersion"], "0.4.0");
        assert_eq!(out["ips"][0]["address"], "10.9.0.2/24");
        assert_eq!(out["ips"][0]["version"], "4");
        assert_eq!(*plugin.calls.borrow(), vec!["add"]);
    }

    #[test]
    fn check_is_refused_for_versions_before_it_existed() {
        let conf = br#"{"cniVersion":"0.3.1","name":"n","type":"t"}"#.to_vec();
        let err = dispatch(&Recorder::default(), &env("CHECK"), conf).unwrap_err();
        assert_eq!(err.code.as_u32(), 1);
    }
}
