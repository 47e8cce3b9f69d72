//! host-local driven through the CNI protocol: environment, stdin, stdout and exit code.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_skiff-host-local");

struct Outcome {
    ok: bool,
    out: Value,
}

fn call(command: &str, id: &str, conf: &Value) -> Outcome {
    call_raw(command, id, conf.to_string().as_bytes())
}

fn call_raw(command: &str, id: &str, stdin: &[u8]) -> Outcome {
    let mut child = Command::new(BIN)
        .env("CNI_COMMAND", command)
        .env("CNI_CONTAINERID", id)
        .env("CNI_NETNS", "/var/run/netns/unused")
        .env("CNI_IFNAME", "eth0")
        .env("CNI_PATH", "/nonexistent")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let output = child.wait_with_output().unwrap();
    let out = if output.stdout.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&output.stdout).unwrap()
    };
    Outcome {
        ok: output.status.success(),
        out,
    }
}

fn conf(dir: &Path, subnet: &str) -> Value {
    json!({
        "cniVersion": "1.1.0",
        "name": "testnet",
        "type": "skiff-bridge",
        "ipam": {
            "type": "skiff-host-local",
            "ranges": [[{"subnet": subnet}]],
            "routes": [{"dst": "0.0.0.0/0"}],
            "dataDir": dir,
        }
    })
}

#[test]
fn add_check_del_round_trip_and_del_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let conf = conf(dir.path(), "10.201.0.0/24");
    let add = call("ADD", "c1", &conf);
    assert!(add.ok, "{}", add.out);
    assert_eq!(add.out["ips"][0]["address"], "10.201.0.2/24");
    assert_eq!(add.out["ips"][0]["gateway"], "10.201.0.1");
    assert_eq!(add.out["routes"][0]["dst"], "0.0.0.0/0");
    let again = call("ADD", "c1", &conf);
    assert_eq!(
        again.out["ips"][0]["address"], "10.201.0.2/24",
        "ADD for the same attachment returns its address"
    );
    assert!(call("CHECK", "c1", &conf).ok);
    assert!(call("DEL", "c1", &conf).ok);
    let check = call("CHECK", "c1", &conf);
    assert!(!check.ok);
    assert_eq!(check.out["code"], 3);
    assert!(call("DEL", "c1", &conf).ok, "a second DEL succeeds");
    assert!(
        call("DEL", "never-added", &conf).ok,
        "DEL of an unknown container succeeds"
    );
    assert!(!dir.path().join("testnet/10.201.0.2").exists());
}

#[test]
fn old_versions_get_the_ip_family_in_results() {
    let dir = tempfile::tempdir().unwrap();
    let mut conf = conf(dir.path(), "10.201.1.0/24");
    conf["cniVersion"] = json!("0.4.0");
    let add = call("ADD", "c1", &conf);
    assert!(add.ok, "{}", add.out);
    assert_eq!(add.out["cniVersion"], "0.4.0");
    assert_eq!(add.out["ips"][0]["version"], "4");
}

#[test]
fn version_reports_the_supported_versions() {
    let out = call_raw("VERSION", "", br#"{"cniVersion":"1.0.0"}"#);
    assert!(out.ok);
    assert_eq!(out.out["cniVersion"], "1.0.0");
    let versions: Vec<&str> = out.out["supportedVersions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(versions.contains(&"0.4.0") && versions.contains(&"1.1.0"));
}

#[test]
fn malformed_json_is_a_decode_error() {
    let out = call_raw("ADD", "c1", b"{not json");
    assert!(!out.ok);
    assert_eq!(out.out["code"], 6);
    assert!(out.out["msg"].as_str().unwrap().contains("decode"));
}

#[test]
fn an_invalid_range_is_a_network_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut conf = conf(dir.path(), "10.201.2.0/24");
    conf["ipam"]["ranges"][0][0]["rangeStart"] = json!("10.99.0.1");
    let out = call("ADD", "c1", &conf);
    assert!(!out.ok);
    assert_eq!(out.out["code"], 7);
    assert_eq!(out.out["cniVersion"], "1.1.0");
}

#[test]
fn an_unknown_command_is_an_environment_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = call("FROB", "c1", &conf(dir.path(), "10.201.3.0/24"));
    assert!(!out.ok);
    assert_eq!(out.out["code"], 4);
}

#[test]
fn a_hundred_concurrent_adds_never_share_an_address() {
    let dir = tempfile::tempdir().unwrap();
    let conf = conf(dir.path(), "10.201.4.0/24");
    let handles: Vec<_> = (0..100)
        .map(|i| {
            let conf = conf.clone();
            std::thread::spawn(move || call("ADD", &format!("ctr-{i}"), &conf))
        })
        .collect();
    let mut seen = HashSet::new();
    for handle in handles {
        let out = handle.join().unwrap();
        assert!(out.ok, "{}", out.out);
        let address = out.out["ips"][0]["address"].as_str().unwrap().to_string();
        assert!(seen.insert(address.clone()), "{address} handed out twice");
    }
    assert_eq!(seen.len(), 100);
    assert!(
        !seen.contains("10.201.4.1/24"),
        "the gateway is never handed out"
    );
}

#[test]
fn a_full_range_reports_an_error_and_keeps_existing_reservations() {
    let dir = tempfile::tempdir().unwrap();
    let conf = conf(dir.path(), "10.201.5.0/29");
    for i in 0..5 {
        assert!(call("ADD", &format!("c{i}"), &conf).ok);
    }
    let full = call("ADD", "c-extra", &conf);
    assert!(!full.ok);
    assert!(
        full.out["msg"]
            .as_str()
            .unwrap()
            .contains("no free address")
    );
    assert!(call("CHECK", "c0", &conf).ok);
}

#[test]
fn gc_releases_addresses_of_attachments_that_are_not_valid() {
    let dir = tempfile::tempdir().unwrap();
    let mut conf = conf(dir.path(), "10.201.6.0/24");
    for id in ["keep", "drop1", "drop2"] {
        assert!(call("ADD", id, &conf).ok);
    }
    conf["cni.dev/valid-attachments"] = json!([{"containerID": "keep", "ifname": "eth0"}]);
    let gc = call("GC", "", &conf);
    assert!(gc.ok, "{}", gc.out);
    assert!(call("CHECK", "keep", &conf).ok);
    assert!(!call("CHECK", "drop1", &conf).ok);
    assert!(!call("CHECK", "drop2", &conf).ok);
    let reserved: Vec<_> = std::fs::read_dir(dir.path().join("testnet"))
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().into_string().ok())
        .filter(|n| n.starts_with("10."))
        .collect();
    assert_eq!(reserved.len(), 1);
}

#[test]
fn status_succeeds_when_the_store_is_usable() {
    let dir = tempfile::tempdir().unwrap();
    assert!(call("STATUS", "", &conf(dir.path(), "10.201.7.0/24")).ok);
    let mut broken = conf(dir.path(), "10.201.7.0/24");
    broken["ipam"]["dataDir"] = json!("/proc/skiff-not-writable");
    let out = call("STATUS", "", &broken);
    assert!(!out.ok);
    assert_eq!(out.out["code"], 50);
}
