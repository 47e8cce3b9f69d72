//! Building the OCI runtime spec of a container from its [`ContainerConfig`] and image.

use oci_spec::runtime::Spec;
use serde_json::{Value, json};

use super::ContainerConfig;
use super::command::Process;

/// What can go wrong building a spec.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid runtime spec")]
    Invalid(#[source] serde_json::Error),
}

/// The capabilities a Kubernetes container gets by default (the container runtimes' set).
const DEFAULT_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// The OCI process of a container or of an exec'd command.
pub fn process(process: &Process, terminal: bool) -> Value {
    json!({
        "terminal": terminal,
        "user": { "uid": process.uid, "gid": process.gid },
        "args": process.args,
        "env": process.env,
        "cwd": process.cwd,
        "capabilities": {
            "bounding": DEFAULT_CAPABILITIES,
            "effective": DEFAULT_CAPABILITIES,
            "permitted": DEFAULT_CAPABILITIES,
        },
        "noNewPrivileges": false,
    })
}

/// The full spec: the defaults of a Linux container (proc, dev, sys mounts, masked paths),
/// the resolved process, the pod's network namespace joined by path, bind mounts, resources
/// and the cgroups path. The root filesystem is the `rootfs` directory of the bundle, where
/// the runtime mounts the container's snapshot.
pub fn build(config: &ContainerConfig, proc: &Process) -> Result<Spec, Error> {
    let mut spec = serde_json::to_value(Spec::default()).map_err(Error::Invalid)?;
    spec["process"] = process(proc, false);
    spec["root"] = json!({ "path": "rootfs", "readonly": false });
    spec["hostname"] = json!(config.hostname.clone().unwrap_or_else(|| config.id.clone()));

    let mounts = spec["mounts"]
        .as_array_mut()
        .expect("default spec has mounts");
    // The host's cgroup tree is not shown to pods (as with the usual runtimes on cgroup v1).
    mounts.retain(|m| m["destination"] != "/sys/fs/cgroup");
    for mount in &config.mounts {
        let mode = if mount.read_only { "ro" } else { "rw" };
        mounts.push(json!({
            "destination": mount.container_path,
            "type": "bind",
            "source": mount.host_path,
            "options": ["rbind", "rprivate", mode],
        }));
    }

    let linux = &mut spec["linux"];
    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ];
    namespaces.push(match &config.netns {
        Some(path) => json!({"type": "network", "path": path}),
        None => json!({"type": "network"}),
    });
    linux["namespaces"] = json!(namespaces);
    linux["cgroupsPath"] = json!(config.cgroups_path());

    let mut resources = json!({ "devices": [{ "allow": false, "access": "rwm" }] });
    let r = &config.resources;
    if let Some(limit) = r.memory_limit_bytes {
        resources["memory"] = json!({ "limit": limit });
    }
    let mut cpu = serde_json::Map::new();
    if let Some(quota) = r.cpu_quota {
        cpu.insert("quota".into(), json!(quota));
        cpu.insert("period".into(), json!(r.cpu_period.unwrap_or(100_000)));
    } else if let Some(period) = r.cpu_period {
        cpu.insert("period".into(), json!(period));
    }
    if let Some(shares) = r.cpu_shares {
        cpu.insert("shares".into(), json!(shares));
    }
    if !cpu.is_empty() {
        resources["cpu"] = Value::Object(cpu);
    }
    linux["resources"] = resources;

    serde_json::from_value(spec).map_err(Error::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{Mount, PodRef, Resources};

    fn config() -> ContainerConfig {
        ContainerConfig {
            id: "c1".into(),
            pod: PodRef {
                uid: "u1".into(),
                name: "p".into(),
                namespace: "default".into(),
            },
            netns: Some("/var/run/netns/pod1".into()),
            mounts: vec![Mount {
                host_path: "/tmp/hosts".into(),
                container_path: "/etc/hosts".into(),
                read_only: true,
            }],
            resources: Resources {
                memory_limit_bytes: Some(64 << 20),
                cpu_quota: Some(50_000),
                cpu_period: None,
                cpu_shares: Some(512),
            },
            ..Default::default()
        }
    }

    fn proc() -> Process {
        Process {
            args: vec!["sh".into()],
            env: vec!["PATH=/bin".into()],
            cwd: "/".into(),
            uid: 0,
            gid: 0,
        }
    }

    #[test]
    fn the_pod_netns_is_joined_by_path() {
        let spec = serde_json::to_value(build(&config(), &proc()).unwrap()).unwrap();
        let net: Vec<_> = spec["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["type"] == "network")
            .collect();
        assert_eq!(net.len(), 1);
        assert_eq!(net[0]["path"], "/var/run/netns/pod1");
    }

    #[test]
    fn resources_and_cgroups_path_reach_linux_resources() {
        let spec = serde_json::to_value(build(&config(), &proc()).unwrap()).unwrap();
        let linux = &spec["linux"];
        assert_eq!(linux["cgroupsPath"], "/skiff/podu1/c1");
        assert_eq!(linux["resources"]["memory"]["limit"], 64 << 20);
        assert_eq!(linux["resources"]["cpu"]["quota"], 50_000);
        assert_eq!(linux["resources"]["cpu"]["period"], 100_000);
        assert_eq!(linux["resources"]["cpu"]["shares"], 512);
    }

    #[test]
    fn read_only_mounts_are_bound_read_only() {
        let spec = serde_json::to_value(build(&config(), &proc()).unwrap()).unwrap();
        let hosts = spec["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["destination"] == "/etc/hosts")
            .unwrap()
            .clone();
        assert_eq!(hosts["source"], "/tmp/hosts");
        assert!(hosts["options"].as_array().unwrap().contains(&json!("ro")));
    }
}
