//! Test support: namespaces that remove themselves, and plugin calls through the protocol.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

/// A named network namespace, deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new() -> Self {
        let name = format!("skiff-test-{:08x}", rand::random::<u32>());
        let status = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .unwrap();
        assert!(status.success(), "ip netns add {name}");
        let ns = Self { name };
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    pub fn path(&self) -> PathBuf {
        Path::new("/var/run/netns").join(&self.name)
    }

    /// Runs a command inside the namespace and returns its stdout; panics on failure.
    pub fn exec(&self, cmd: &[&str]) -> String {
        let out = self.try_exec(cmd);
        assert!(out.0, "{cmd:?} in {} failed: {}", self.name, out.1);
        out.1
    }

    /// Runs a command inside the namespace: (success, stdout + stderr).
    pub fn try_exec(&self, cmd: &[&str]) -> (bool, String) {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(cmd)
            .output()
            .unwrap();
        let mut text = String::from_utf8_lossy(&out.stdout).to_string();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    }

    /// `ip -j` output for a command inside the namespace.
    pub fn ip_json(&self, args: &[&str]) -> Value {
        let mut cmd = vec!["ip", "-j"];
        cmd.extend_from_slice(args);
        serde_json::from_str(&self.exec(&cmd)).unwrap()
    }

    pub fn delete(&self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        self.delete();
    }
}

/// What a plugin printed and whether it succeeded.
pub struct Outcome {
    pub ok: bool,
    pub out: Value,
}

/// One plugin invocation, run inside `node` (the namespace standing in for the host).
pub struct Call<'a> {
    pub bin: &'a str,
    pub node: &'a Netns,
    pub command: &'a str,
    pub container_id: &'a str,
    pub netns: Option<PathBuf>,
    pub ifname: &'a str,
    pub path: String,
}

impl Call<'_> {
    pub fn run(&self, conf: &Value) -> Outcome {
        self.run_raw(conf.to_string().as_bytes())
    }

    pub fn run_raw(&self, stdin: &[u8]) -> Outcome {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.node.name, self.bin])
            .env("CNI_COMMAND", self.command)
            .env("CNI_CONTAINERID", self.container_id)
            .env("CNI_IFNAME", self.ifname)
            .env("CNI_PATH", &self.path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(netns) = &self.netns {
            cmd.env("CNI_NETNS", netns);
        }
        let mut child = cmd.spawn().unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        let output = child.wait_with_output().unwrap();
        let out = if output.stdout.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
                panic!(
                    "stdout is not JSON ({e}): {}\nstderr: {}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                )
            })
        };
        Outcome {
            ok: output.status.success(),
            out,
        }
    }
}
