//! Renders the whole desired ruleset as one `nft -f` script that replaces the proxy's table
//! in a single transaction.
//!
//! Layout: one verdict map keyed by `address . protocol . port` jumps from the nat hooks to a
//! chain per service port; that chain picks an endpoint with `numgen random mod N` (after
//! the session-affinity sets, if any), and each endpoint chain marks hairpin traffic for
//! masquerade and DNATs. Node ports use a second map keyed by `protocol . port` for local
//! destination addresses. Lookups are map hits, so the cost per packet does not grow with
//! the number of services.

use std::fmt::Write;
use std::net::{Ipv4Addr, SocketAddrV4};

use crate::model::{Endpoint, ServiceModel, ServicePort};

/// Packet mark bit asking the postrouting chain to masquerade.
pub const MASQUERADE_MARK: u32 = 0x4000;

/// What the rules need besides the services.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderOptions {
    /// The `ip` family table the proxy owns, replaced whole on each sync.
    pub table: String,
    /// Sends `service_ip:53` (UDP and TCP) to the node-local DNS server at this address.
    pub dns: Option<(Ipv4Addr, SocketAddrV4)>,
}

/// A name safe for nft identifiers (namespace and service names are DNS labels).
fn ident(s: &ServiceModel, p: &ServicePort) -> String {
    format!(
        "{}_{}_{}_{}",
        s.namespace.replace('-', "_"),
        s.name.replace('-', "_"),
        p.protocol.nft(),
        p.port
    )
}

/// The ruleset for `services`: the table is created (so deleting it cannot fail), deleted
/// and defined again, all in one transaction.
pub fn render(services: &[ServiceModel], opts: &RenderOptions) -> String {
    let t = &opts.table;
    let mut out = String::with_capacity(256 + services.len() * 512);
    let mut chains = String::new();
    let mut sets = String::new();
    let mut service_map: Vec<String> = Vec::new();
    let mut node_port_map: Vec<String> = Vec::new();
    let mut no_endpoints: Vec<String> = Vec::new();
    let mut no_node_endpoints: Vec<String> = Vec::new();
    let dns_ip = opts.dns.map(|(ip, _)| ip);

    for s in services {
        if s.cluster_ip.is_some() && s.cluster_ip == dns_ip {
            continue;
        }
        for p in &s.ports {
            let id = ident(s, p);
            let proto = p.protocol.nft();
            let all: Vec<&Endpoint> = p.endpoints.iter().collect();
            let local: Vec<&Endpoint> = p.endpoints.iter().filter(|e| e.local).collect();
            let internal = if s.internal_local { &local } else { &all };
            let external = if s.external_local { &local } else { &all };
            // Endpoint chains are shared by the cluster and the local views.
            for (i, ep) in p.endpoints.iter().enumerate() {
                endpoint_chain(&mut chains, &mut sets, s, p, &id, i, ep);
            }
            let index = |e: &&Endpoint| p.endpoints.iter().position(|x| x == *e).unwrap_or(0);
            if let Some(ip) = s.cluster_ip {
                let key = format!("{ip} . {proto} . {}", p.port);
                if internal.is_empty() {
                    no_endpoints.push(key);
                } else {
                    pick_chain(
                        &mut chains,
                        &format!("svc_{id}"),
                        s,
                        &id,
                        &internal.iter().map(index).collect::<Vec<_>>(),
                        false,
                    );
                    service_map.push(format!("{key} : goto svc_{id}"));
                }
            }
            let exposed = p.node_port.is_some() || !s.external_ips.is_empty();
            if !exposed {
                continue;
            }
            // Outside traffic is masqueraded under the Cluster policy so replies come back
            // through this node; under Local the client address is kept.
            let ext_chain = format!("ext_{id}");
            if !external.is_empty() {
                pick_chain(
                    &mut chains,
                    &ext_chain,
                    s,
                    &id,
                    &external.iter().map(index).collect::<Vec<_>>(),
                    !s.external_local,
                );
            }
            for ip in &s.external_ips {
                let key = format!("{ip} . {proto} . {}", p.port);
                if external.is_empty() {
                    no_endpoints.push(key);
                } else {
                    service_map.push(format!("{key} : goto {ext_chain}"));
                }
            }
            if let Some(np) = p.node_port {
                let key = format!("{proto} . {np}");
                if external.is_empty() {
                    no_node_endpoints.push(key);
                } else {
                    node_port_map.push(format!("{key} : goto {ext_chain}"));
                }
            }
        }
    }

    let _ = writeln!(out, "table ip {t}\ndelete table ip {t}\ntable ip {t} {{");
    element_block(
        &mut out,
        "map services",
        "ipv4_addr . inet_proto . inet_service : verdict",
        &service_map,
    );
    element_block(
        &mut out,
        "map node_ports",
        "inet_proto . inet_service : verdict",
        &node_port_map,
    );
    element_block(
        &mut out,
        "set no_endpoints",
        "ipv4_addr . inet_proto . inet_service",
        &no_endpoints,
    );
    element_block(
        &mut out,
        "set no_node_endpoints",
        "inet_proto . inet_service",
        &no_node_endpoints,
    );
    out.push_str(&sets);
    let mark = MASQUERADE_MARK;
    let _ = write!(
        out,
        "\tchain prerouting {{\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t\tjump services\n\t}}\n\
         \tchain output {{\n\t\ttype nat hook output priority -100; policy accept;\n\t\tjump services\n\t}}\n\
         \tchain postrouting {{\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\
         \t\tmeta mark & {mark:#x} == {mark:#x} meta mark set meta mark & {inv:#x} masquerade\n\t}}\n",
        inv = !mark
    );
    // Services without endpoints answer "connection refused" at once instead of timing out.
    for (name, hook) in [
        ("reject_output", "output"),
        ("reject_forward", "forward"),
        ("reject_input", "input"),
    ] {
        let _ = writeln!(
            out,
            "\tchain {name} {{\n\t\ttype filter hook {hook} priority -110; policy accept;\n\
             \t\tct state new ip daddr . meta l4proto . th dport @no_endpoints reject\n\
             \t\tct state new fib daddr type local meta l4proto . th dport @no_node_endpoints reject\n\t}}"
        );
    }
    out.push_str("\tchain services {\n");
    if let Some((ip, local)) = opts.dns {
        for proto in ["udp", "tcp"] {
            let _ = writeln!(out, "\t\tip daddr {ip} {proto} dport 53 dnat to {local}");
        }
    }
    out.push_str("\t\tip daddr . meta l4proto . th dport vmap @services\n");
    out.push_str(
        "\t\tfib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @node_ports\n\t}\n",
    );
    out.push_str(&chains);
    out.push_str("}\n");
    out
}

fn element_block(out: &mut String, head: &str, ty: &str, elements: &[String]) {
    let _ = write!(out, "\t{head} {{\n\t\ttype {ty}\n");
    if !elements.is_empty() {
        let _ = writeln!(out, "\t\telements = {{ {} }}", elements.join(",\n\t\t\t"));
    }
    out.push_str("\t}\n");
}

/// A chain choosing one of `indexes` (endpoints of the port) at random, after the affinity
/// sets; `masquerade` marks the packet first.
fn pick_chain(
    out: &mut String,
    name: &str,
    s: &ServiceModel,
    id: &str,
    indexes: &[usize],
    masquerade: bool,
) {
    let _ = writeln!(out, "\tchain {name} {{");
    if masquerade {
        let _ = writeln!(out, "\t\tmeta mark set meta mark | {MASQUERADE_MARK:#x}");
    }
    if s.affinity_timeout.is_some() {
        for i in indexes {
            let _ = writeln!(out, "\t\tip saddr @aff_{id}_{i} goto ep_{id}_{i}");
        }
    }
    let targets: Vec<String> = indexes
        .iter()
        .enumerate()
        .map(|(n, i)| format!("{n} : goto ep_{id}_{i}"))
        .collect();
    let _ = writeln!(
        out,
        "\t\tnumgen random mod {} vmap {{ {} }}\n\t}}",
        indexes.len(),
        targets.join(", ")
    );
}

fn endpoint_chain(
    chains: &mut String,
    sets: &mut String,
    s: &ServiceModel,
    p: &ServicePort,
    id: &str,
    i: usize,
    ep: &Endpoint,
) {
    let _ = writeln!(
        chains,
        "\tchain ep_{id}_{i} {{\n\t\tip saddr {} meta mark set meta mark | {MASQUERADE_MARK:#x}",
        ep.ip
    );
    if let Some(timeout) = s.affinity_timeout {
        let _ = writeln!(
            sets,
            "\tset aff_{id}_{i} {{\n\t\ttype ipv4_addr\n\t\tflags dynamic,timeout\n\t\ttimeout {timeout}s\n\t}}"
        );
        let _ = writeln!(chains, "\t\tupdate @aff_{id}_{i} {{ ip saddr }}");
    }
    let _ = writeln!(
        chains,
        "\t\tmeta l4proto {} dnat to {}:{}\n\t}}",
        p.protocol.nft(),
        ep.ip,
        ep.port
    );
}

/// The script removing the table (on shutdown).
pub fn remove(table: &str) -> String {
    format!("table ip {table}\ndelete table ip {table}\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::synthetic;

    fn opts() -> RenderOptions {
        RenderOptions {
            table: "skiff-test".into(),
            dns: None,
        }
    }

    #[test]
    fn each_endpoint_gets_a_dnat_chain_and_the_service_picks_among_them() {
        let s = synthetic(1, 3);
        let out = render(&s, &opts());
        assert!(out.starts_with("table ip skiff-test\ndelete table ip skiff-test\n"));
        assert!(out.contains("10.96.1.0 . tcp . 80 : goto svc_bench_svc_0_tcp_80"));
        assert!(out.contains("numgen random mod 3 vmap { 0 : goto ep_bench_svc_0_tcp_80_0, 1 : goto ep_bench_svc_0_tcp_80_1, 2 : goto ep_bench_svc_0_tcp_80_2 }"));
        assert!(out.contains("meta l4proto tcp dnat to 10.244.0.2:8080"));
        assert!(out.contains("ip saddr 10.244.0.2 meta mark set meta mark | 0x4000"));
    }

    #[test]
    fn a_service_without_endpoints_is_rejected_not_mapped() {
        let s = synthetic(1, 0);
        let out = render(&s, &opts());
        assert!(!out.contains("goto svc_"));
        assert!(out.contains("set no_endpoints {\n\t\ttype ipv4_addr . inet_proto . inet_service\n\t\telements = { 10.96.1.0 . tcp . 80 }"));
    }

    #[test]
    fn affinity_adds_a_timed_set_per_endpoint_checked_before_the_random_pick() {
        let mut s = synthetic(1, 2);
        s[0].affinity_timeout = Some(30);
        let out = render(&s, &opts());
        assert!(out.contains("set aff_bench_svc_0_tcp_80_1 {\n\t\ttype ipv4_addr\n\t\tflags dynamic,timeout\n\t\ttimeout 30s"));
        let check = out.find("ip saddr @aff_bench_svc_0_tcp_80_0 goto").unwrap();
        let pick = out.find("numgen random mod 2").unwrap();
        assert!(check < pick);
        assert!(out.contains("update @aff_bench_svc_0_tcp_80_0 { ip saddr }"));
    }

    #[test]
    fn node_ports_and_external_addresses_masquerade_under_the_cluster_policy() {
        let mut s = synthetic(1, 1);
        s[0].ports[0].node_port = Some(30080);
        s[0].external_ips = vec!["10.200.0.1".parse().unwrap()];
        let out = render(&s, &opts());
        assert!(out.contains("tcp . 30080 : goto ext_bench_svc_0_tcp_80"));
        assert!(out.contains("10.200.0.1 . tcp . 80 : goto ext_bench_svc_0_tcp_80"));
        assert!(
            out.contains("chain ext_bench_svc_0_tcp_80 {\n\t\tmeta mark set meta mark | 0x4000")
        );
        s[0].external_local = true;
        let local = render(&s, &opts());
        assert!(!local.contains("goto ext_"));
        assert!(local.contains("elements = { tcp . 30080 }"));
    }

    #[test]
    fn the_dns_service_address_goes_to_the_local_server() {
        let mut o = opts();
        o.dns = Some((
            "10.96.1.0".parse().unwrap(),
            "10.99.0.1:5353".parse().unwrap(),
        ));
        let out = render(&synthetic(1, 1), &o);
        assert!(out.contains("ip daddr 10.96.1.0 udp dport 53 dnat to 10.99.0.1:5353"));
        assert!(!out.contains("goto svc_bench_svc_0"));
    }

    #[test]
    fn rendering_is_stable_for_the_same_input() {
        let s = synthetic(50, 4);
        assert_eq!(render(&s, &opts()), render(&s, &opts()));
    }

    #[test]
    fn nft_accepts_the_full_ruleset() {
        let mut s = synthetic(3, 3);
        s[0].affinity_timeout = Some(60);
        s[1].ports[0].node_port = Some(30080);
        s[1].external_ips = vec!["10.200.0.1".parse().unwrap()];
        s[2].ports[0].endpoints.clear();
        s[2].ports[0].node_port = Some(30081);
        let mut o = opts();
        o.dns = Some((
            "10.96.0.10".parse().unwrap(),
            "10.99.0.1:53".parse().unwrap(),
        ));
        let script = render(&s, &o);
        let mut child = std::process::Command::new("nft")
            .args(["--check", "-f", "-"])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}\n{script}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
