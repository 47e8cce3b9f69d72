//! The loopback plugin on the real kernel, in namespaces the test creates.

// The namespace and call helpers are shared with the bridge plugin's tests.
#[path = "../../bridge/tests/support/mod.rs"]
mod support;

use serde_json::{Value, json};
use support::{Call, Netns, Outcome};

const BIN: &str = env!("CARGO_BIN_EXE_skiff-loopback");

fn conf() -> Value {
    json!({"cniVersion": "1.0.0", "name": "lo-test", "type": "skiff-loopback"})
}

fn call(node: &Netns, command: &str, pod: Option<std::path::PathBuf>, conf: &Value) -> Outcome {
    Call {
        bin: BIN,
        node,
        command,
        container_id: "pod-lo",
        netns: pod,
        ifname: "lo",
        path: String::new(),
    }
    .run(conf)
}

fn lo_is_up(pod: &Netns) -> bool {
    let link = pod.ip_json(&["link", "show", "dev", "lo"]);
    link[0]["flags"].as_array().unwrap().contains(&json!("UP"))
}

#[test]
fn add_brings_lo_up_and_del_takes_it_down() {
    let node = Netns::new();
    let pod = Netns::new();
    pod.exec(&["ip", "link", "set", "lo", "down"]);
    assert!(!lo_is_up(&pod));
    let add = call(&node, "ADD", Some(pod.path()), &conf());
    assert!(add.ok, "{}", add.out);
    assert!(lo_is_up(&pod));
    assert_eq!(add.out["interfaces"][0]["name"], "lo");
    assert_eq!(add.out["ips"][0]["address"], "127.0.0.1/8");
    let mut with_prev = conf();
    with_prev["prevResult"] = add.out.clone();
    assert!(call(&node, "CHECK", Some(pod.path()), &with_prev).ok);
    assert!(call(&node, "DEL", Some(pod.path()), &with_prev).ok);
    assert!(!lo_is_up(&pod));
    let check = call(&node, "CHECK", Some(pod.path()), &with_prev);
    assert!(!check.ok);
    assert!(check.out["msg"].as_str().unwrap().contains("down"));
    assert!(
        call(&node, "DEL", Some(pod.path()), &conf()).ok,
        "a second DEL succeeds"
    );
}

#[test]
fn del_succeeds_when_the_namespace_is_gone() {
    let node = Netns::new();
    let pod = Netns::new();
    let path = pod.path();
    pod.delete();
    assert!(call(&node, "DEL", Some(path.clone()), &conf()).ok);
    let add = call(&node, "ADD", Some(path), &conf());
    assert!(!add.ok);
    assert_eq!(add.out["code"], 5);
}

#[test]
fn version_bad_config_and_unknown_command_follow_the_protocol() {
    let node = Netns::new();
    let pod = Netns::new();
    let version = call(&node, "VERSION", None, &json!({"cniVersion": "0.4.0"}));
    assert_eq!(version.out["cniVersion"], "0.4.0");
    let bad = call(&node, "ADD", Some(pod.path()), &json!({"cniVersion": 1}));
    assert!(!bad.ok);
    assert_eq!(bad.out["code"], 7);
    let unknown = call(&node, "BOGUS", Some(pod.path()), &conf());
    assert_eq!(unknown.out["code"], 4);
    let old = call(
        &node,
        "ADD",
        Some(pod.path()),
        &json!({"cniVersion": "0.2.0", "name": "x", "type": "t"}),
    );
    assert_eq!(old.out["code"], 1);
}

#[test]
fn a_chained_add_passes_the_previous_result_through() {
    let node = Netns::new();
    let pod = Netns::new();
    let mut chained = conf();
    chained["prevResult"] = json!({
        "cniVersion": "1.0.0",
        "interfaces": [{"name": "eth0", "sandbox": pod.path()}],
        "ips": [{"address": "10.250.0.9/24", "interface": 0}],
    });
    let add = call(&node, "ADD", Some(pod.path()), &chained);
    assert!(add.ok, "{}", add.out);
    assert!(lo_is_up(&pod));
    assert_eq!(add.out["ips"][0]["address"], "10.250.0.9/24");
    assert_eq!(add.out["interfaces"][0]["name"], "eth0");
}
