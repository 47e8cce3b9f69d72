//! The bridge plugin on the real kernel: a test namespace stands in for the host, others for
//! pods; IPAM is the reference host-local found through CNI_PATH.

mod support;

use serde_json::{Value, json};
use support::{Call, Netns, Outcome};

const BIN: &str = env!("CARGO_BIN_EXE_skiff-bridge");
const CNI_PATH: &str = "/usr/lib/cni";

struct Net {
    node: Netns,
    conf: Value,
    bridge: String,
    subnet_prefix: String,
    _state: tempfile::TempDir,
}

impl Net {
    fn new(extra: Value) -> Self {
        let node = Netns::new();
        let tag = rand::random::<u32>();
        let bridge = format!("skbr{:08x}", tag);
        let subnet_prefix = format!("10.{}.{}", 100 + (tag >> 8) % 150, tag % 250);
        let state = tempfile::tempdir().unwrap();
        let mut conf = json!({
            "cniVersion": "1.0.0",
            "name": "bridge-test",
            "type": "skiff-bridge",
            "bridge": bridge,
            "isGateway": true,
            "isDefaultGateway": true,
            "ipam": {
                "type": "host-local",
                "ranges": [[{"subnet": format!("{subnet_prefix}.0/24")}]],
                "dataDir": state.path(),
            }
        });
        for (k, v) in extra.as_object().unwrap() {
            conf[k] = v.clone();
        }
        Self {
            node,
            conf,
            bridge,
            subnet_prefix,
            _state: state,
        }
    }

    fn call(&self, command: &str, id: &str, pod: Option<&Netns>) -> Outcome {
        self.call_conf(command, id, pod, &self.conf)
    }

    fn call_conf(&self, command: &str, id: &str, pod: Option<&Netns>, conf: &Value) -> Outcome {
        Call {
            bin: BIN,
            node: &self.node,
            command,
            container_id: id,
            netns: pod.map(Netns::path),
            ifname: "eth0",
            path: CNI_PATH.into(),
        }
        .run(conf)
    }

    fn with_prev(&self, result: &Value) -> Value {
        let mut conf = self.conf.clone();
        conf["prevResult"] = result.clone();
        conf
    }
}

fn addresses(ns: &Netns, ifname: &str) -> Vec<String> {
    ns.ip_json(&["addr", "show", "dev", ifname])[0]["addr_info"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"]))
        .collect()
}

#[test]
fn add_wires_the_pod_to_the_bridge_and_del_unwires_it() {
    let net = Net::new(json!({}));
    let pod = Netns::new();
    let add = net.call("ADD", "pod-a", Some(&pod));
    assert!(add.ok, "{}", add.out);
    let r = &add.out;
    let ip = format!("{}.2/24", net.subnet_prefix);
    let gw = format!("{}.1", net.subnet_prefix);
    assert_eq!(r["cniVersion"], "1.0.0");
    assert_eq!(r["interfaces"][0]["name"], net.bridge.as_str());
    assert_eq!(r["interfaces"][2]["name"], "eth0");
    assert_eq!(r["interfaces"][2]["sandbox"], pod.path().to_str().unwrap());
    assert_eq!(r["ips"][0]["address"], ip.as_str());
    assert_eq!(r["ips"][0]["interface"], 2);

    assert!(addresses(&pod, "eth0").contains(&ip));
    assert!(addresses(&net.node, &net.bridge).contains(&format!("{gw}/24")));
    let host_veth = r["interfaces"][1]["name"].as_str().unwrap();
    let veth = net.node.ip_json(&["link", "show", "dev", host_veth]);
    assert_eq!(veth[0]["master"], net.bridge.as_str());
    let mac = r["interfaces"][2]["mac"].as_str().unwrap();
    assert_eq!(
        pod.ip_json(&["link", "show", "dev", "eth0"])[0]["address"],
        mac
    );
    let routes = pod.ip_json(&["route", "show", "default"]);
    assert_eq!(routes[0]["gateway"], gw.as_str());

    assert!(
        net.call_conf("CHECK", "pod-a", Some(&pod), &net.with_prev(r))
            .ok
    );

    assert!(
        net.call_conf("DEL", "pod-a", Some(&pod), &net.with_prev(r))
            .ok
    );
    assert!(!pod.try_exec(&["ip", "link", "show", "eth0"]).0);
    assert!(!net.node.try_exec(&["ip", "link", "show", host_veth]).0);
    let check = net.call_conf("CHECK", "pod-a", Some(&pod), &net.with_prev(r));
    assert!(!check.ok);
    assert!(
        net.call("DEL", "pod-a", Some(&pod)).ok,
        "a second DEL succeeds"
    );

    let again = net.call("ADD", "pod-b", Some(&pod));
    assert!(again.ok, "{}", again.out);
}

#[test]
fn a_repeated_add_leaves_one_working_interface() {
    // The reference static IPAM hands out the same address again, as an idempotent IPAM must.
    let mut net = Net::new(json!({}));
    let address = format!("{}.7/24", net.subnet_prefix);
    let gateway = format!("{}.1", net.subnet_prefix);
    net.conf["ipam"] = json!({
        "type": "static",
        "addresses": [{"address": address, "gateway": gateway}],
    });
    let pod = Netns::new();
    let first = net.call("ADD", "pod-a", Some(&pod));
    assert!(first.ok, "{}", first.out);
    let second = net.call("ADD", "pod-a", Some(&pod));
    assert!(second.ok, "{}", second.out);
    assert_eq!(first.out["ips"], second.out["ips"]);
    assert!(
        net.call_conf("CHECK", "pod-a", Some(&pod), &net.with_prev(&second.out))
            .ok
    );
    let ipv4: Vec<String> = addresses(&pod, "eth0")
        .into_iter()
        .filter(|a| !a.contains(':'))
        .collect();
    assert_eq!(ipv4, vec![address]);
}

#[test]
fn del_succeeds_when_the_namespace_is_gone() {
    let net = Net::new(json!({}));
    let pod = Netns::new();
    let add = net.call("ADD", "pod-gone", Some(&pod));
    assert!(add.ok, "{}", add.out);
    let path = pod.path();
    pod.delete();
    let del = Call {
        bin: BIN,
        node: &net.node,
        command: "DEL",
        container_id: "pod-gone",
        netns: Some(path),
        ifname: "eth0",
        path: CNI_PATH.into(),
    }
    .run(&net.conf);
    assert!(del.ok, "{}", del.out);
    // The address went back to the pool: the next pod gets it.
    let next = Netns::new();
    let add = net.call("ADD", "pod-next", Some(&next));
    assert_eq!(add.out["ips"][0]["address"], add_ip(&net, 3));
}

fn add_ip(net: &Net, host: u8) -> String {
    format!("{}.{host}/24", net.subnet_prefix)
}

#[test]
fn two_pods_on_one_bridge_reach_each_other() {
    let net = Net::new(json!({}));
    let (a, b) = (Netns::new(), Netns::new());
    let add_a = net.call("ADD", "pod-a", Some(&a));
    let add_b = net.call("ADD", "pod-b", Some(&b));
    assert!(add_a.ok && add_b.ok, "{} {}", add_a.out, add_b.out);
    let ip_b = add_b.out["ips"][0]["address"].as_str().unwrap();
    let ip_b = ip_b.split('/').next().unwrap();
    a.exec(&["busybox", "ping", "-c", "1", "-W", "3", ip_b]);
    let gw = format!("{}.1", net.subnet_prefix);
    b.exec(&["busybox", "ping", "-c", "1", "-W", "3", &gw]);
}

#[test]
fn ip_masq_installs_a_rule_for_the_subnet_and_hairpin_is_set_on_the_port() {
    let net = Net::new(json!({"ipMasq": true, "hairpinMode": true, "mtu": 1400}));
    let pod = Netns::new();
    let add = net.call("ADD", "pod-a", Some(&pod));
    assert!(add.ok, "{}", add.out);
    let table = format!("skiff_masq_{}", net.bridge);
    let rules = net.node.exec(&["nft", "list", "table", "inet", &table]);
    let subnet = format!("{}.0/24", net.subnet_prefix);
    assert!(
        rules.contains(&format!(
            "ip saddr {subnet} ip daddr != {subnet} masquerade"
        )),
        "{rules}"
    );
    let host_veth = add.out["interfaces"][1]["name"].as_str().unwrap();
    let port = net.node.ip_json(&["-d", "link", "show", "dev", host_veth]);
    assert_eq!(
        port[0]["linkinfo"]["info_slave_data"]["hairpin"], true,
        "{port}"
    );
    assert_eq!(port[0]["mtu"], 1400);
    assert_eq!(
        pod.ip_json(&["link", "show", "dev", "eth0"])[0]["mtu"],
        1400
    );
}

#[test]
fn version_lists_supported_versions() {
    let net = Net::new(json!({}));
    let out = net.call_conf("VERSION", "", None, &json!({"cniVersion": "1.1.0"}));
    assert!(out.ok);
    assert_eq!(out.out["cniVersion"], "1.1.0");
    assert!(
        out.out["supportedVersions"]
            .as_array()
            .unwrap()
            .contains(&json!("1.0.0"))
    );
}

#[test]
fn bad_configurations_are_reported_as_error_objects() {
    let net = Net::new(json!({"bridge": "this-name-is-too-long"}));
    let pod = Netns::new();
    let out = net.call("ADD", "pod-a", Some(&pod));
    assert!(!out.ok);
    assert_eq!(out.out["code"], 7);
    assert!(out.out["msg"].as_str().unwrap().contains("bridge name"));

    let mut wrong_type = net.conf.clone();
    wrong_type["bridge"] = json!("ok0");
    wrong_type["mtu"] = json!("big");
    let out = net.call_conf("ADD", "pod-a", Some(&pod), &wrong_type);
    assert_eq!(out.out["code"], 7);

    let broken = Call {
        bin: BIN,
        node: &net.node,
        command: "ADD",
        container_id: "pod-a",
        netns: Some(pod.path()),
        ifname: "eth0",
        path: CNI_PATH.into(),
    }
    .run_raw(b"{\"cniVersion\":");
    assert!(!broken.ok);
    assert_eq!(broken.out["code"], 6);

    let unknown = net.call("FROB", "pod-a", Some(&pod));
    assert!(!unknown.ok);
    assert_eq!(unknown.out["code"], 4);
}

#[test]
fn status_reports_a_missing_ipam_plugin() {
    let mut net = Net::new(json!({}));
    net.conf["cniVersion"] = json!("1.1.0");
    net.conf["ipam"]["type"] = json!("skiff-host-local-missing");
    let out = net.call("STATUS", "", None);
    assert!(!out.ok);
    assert_eq!(out.out["code"], 50);
}
