//! Renders the desired ruleset from the services: the layout of the proxy's table.
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
use crate::ruleset::Ruleset;

/// Packet mark bit asking the postrouting chain to masquerade.
pub const MASQUERADE_MARK: u32 = 0x4000;

/// What the rules need besides the services.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderOptions {
    /// The `ip` family table the proxy owns.
    pub table: String,
    /// Sends `service_ip:53` (UDP and TCP) to the node-local DNS server at this address.
    pub dns: Option<(Ipv4Addr, SocketAddrV4)>,
}

/// The name part of a service port. Namespace and service names are DNS labels (letters,
/// digits, `-`), all valid in nft identifiers, and never hold the `_` used as separator, so
/// two service ports never share a name.
fn ident(s: &ServiceModel, p: &ServicePort) -> String {
    format!("{}_{}_{}_{}", s.namespace, s.name, p.protocol.nft(), p.port)
}

/// The name suffix of an endpoint: its address and port, so an endpoint keeps its chain and
/// its affinity set while others come and go.
fn endpoint_suffix(ep: &Endpoint) -> String {
    let [a, b, c, d] = ep.ip.octets();
    format!("{a}_{b}_{c}_{d}_{}", ep.port)
}

/// The ruleset for `services`.
pub fn render(services: &[ServiceModel], opts: &RenderOptions) -> Ruleset {
    let mut rs = Ruleset {
        table: opts.table.clone(),
        base: base_chains(opts),
        ..Ruleset::default()
    };
    let dns_ip = opts.dns.map(|(ip, _)| ip);

    for s in services {
        if s.cluster_ip.is_some() && s.cluster_ip == dns_ip {
            continue;
        }
        for p in &s.ports {
            let id = ident(s, p);
            let proto = p.protocol.nft();
            // Endpoint chains are shared by the cluster and the local views.
            let all: Vec<String> = p.endpoints.iter().map(endpoint_suffix).collect();
            let local: Vec<String> = p
                .endpoints
                .iter()
                .filter(|e| e.local)
                .map(endpoint_suffix)
                .collect();
            for (ep, suffix) in p.endpoints.iter().zip(&all) {
                endpoint_chain(&mut rs, s, p, &id, suffix, ep);
            }
            let internal = if s.internal_local { &local } else { &all };
            let external = if s.external_local { &local } else { &all };
            if let Some(ip) = s.cluster_ip {
                let key = format!("{ip} . {proto} . {}", p.port);
                if internal.is_empty() {
                    rs.no_endpoints.insert(key);
                } else {
                    let chain = format!("svc_{id}");
                    pick_chain(&mut rs, &chain, s, &id, internal, false);
                    rs.services.insert(key, format!("goto {chain}"));
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
                pick_chain(&mut rs, &ext_chain, s, &id, external, !s.external_local);
            }
            for ip in &s.external_ips {
                let key = format!("{ip} . {proto} . {}", p.port);
                if external.is_empty() {
                    rs.no_endpoints.insert(key);
                } else {
                    rs.services.insert(key, format!("goto {ext_chain}"));
                }
            }
            if let Some(np) = p.node_port {
                let key = format!("{proto} . {np}");
                if external.is_empty() {
                    rs.no_node_endpoints.insert(key);
                } else {
                    rs.node_ports.insert(key, format!("goto {ext_chain}"));
                }
            }
        }
    }
    rs
}

/// The hook chains and the `services` dispatch chain, the same for every sync of a proxy.
fn base_chains(opts: &RenderOptions) -> String {
    let mut out = String::new();
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
    out
}

/// A chain choosing one of the endpoints named by `suffixes` at random, after the affinity
/// sets; `masquerade` marks the packet first.
fn pick_chain(
    rs: &mut Ruleset,
    name: &str,
    s: &ServiceModel,
    id: &str,
    suffixes: &[String],
    masquerade: bool,
) {
    let mut rules = Vec::with_capacity(suffixes.len() + 2);
    if masquerade {
        rules.push(format!("meta mark set meta mark | {MASQUERADE_MARK:#x}"));
    }
    if s.affinity_timeout.is_some() {
        for e in suffixes {
            rules.push(format!("ip saddr @aff_{id}_{e} goto ep_{id}_{e}"));
        }
    }
    let targets: Vec<String> = suffixes
        .iter()
        .enumerate()
        .map(|(n, e)| format!("{n} : goto ep_{id}_{e}"))
        .collect();
    rules.push(format!(
        "numgen random mod {} vmap {{ {} }}",
        suffixes.len(),
        targets.join(", ")
    ));
    rs.chains.insert(name.to_string(), rules);
}

fn endpoint_chain(
    rs: &mut Ruleset,
    s: &ServiceModel,
    p: &ServicePort,
    id: &str,
    suffix: &str,
    ep: &Endpoint,
) {
    let mut rules = vec![format!(
        "ip saddr {} meta mark set meta mark | {MASQUERADE_MARK:#x}",
        ep.ip
    )];
    if let Some(timeout) = s.affinity_timeout {
        let set = format!("aff_{id}_{suffix}");
        rules.push(format!("update @{set} {{ ip saddr }}"));
        rs.affinity_sets.insert(set, timeout);
    }
    rules.push(format!(
        "meta l4proto {} dnat to {}:{}",
        p.protocol.nft(),
        ep.ip,
        ep.port
    ));
    rs.chains.insert(format!("ep_{id}_{suffix}"), rules);
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
        let out = render(&s, &opts()).full_script();
        assert!(out.starts_with("table ip skiff-test\ndelete table ip skiff-test\n"));
        assert!(out.contains("10.96.1.0 . tcp . 80 : goto svc_bench_svc-0_tcp_80"));
        assert!(out.contains("numgen random mod 3 vmap { 0 : goto ep_bench_svc-0_tcp_80_10_244_0_0_8080, 1 : goto ep_bench_svc-0_tcp_80_10_244_0_1_8080, 2 : goto ep_bench_svc-0_tcp_80_10_244_0_2_8080 }"));
        assert!(out.contains("meta l4proto tcp dnat to 10.244.0.2:8080"));
        assert!(out.contains("ip saddr 10.244.0.2 meta mark set meta mark | 0x4000"));
    }

    #[test]
    fn a_service_without_endpoints_is_rejected_not_mapped() {
        let s = synthetic(1, 0);
        let out = render(&s, &opts()).full_script();
        assert!(!out.contains("goto svc_"));
        assert!(out.contains("set no_endpoints {\n\t\ttype ipv4_addr . inet_proto . inet_service\n\t\telements = { 10.96.1.0 . tcp . 80 }"));
    }

    #[test]
    fn affinity_adds_a_timed_set_per_endpoint_checked_before_the_random_pick() {
        let mut s = synthetic(1, 2);
        s[0].affinity_timeout = Some(30);
        let out = render(&s, &opts()).full_script();
        assert!(out.contains("set aff_bench_svc-0_tcp_80_10_244_0_1_8080 {\n\t\ttype ipv4_addr\n\t\tflags dynamic,timeout\n\t\ttimeout 30s"));
        let check = out
            .find("ip saddr @aff_bench_svc-0_tcp_80_10_244_0_0_8080 goto")
            .unwrap();
        let pick = out.find("numgen random mod 2").unwrap();
        assert!(check < pick);
        assert!(out.contains("update @aff_bench_svc-0_tcp_80_10_244_0_0_8080 { ip saddr }"));
    }

    #[test]
    fn node_ports_and_external_addresses_masquerade_under_the_cluster_policy() {
        let mut s = synthetic(1, 1);
        s[0].ports[0].node_port = Some(30080);
        s[0].external_ips = vec!["10.200.0.1".parse().unwrap()];
        let out = render(&s, &opts()).full_script();
        assert!(out.contains("tcp . 30080 : goto ext_bench_svc-0_tcp_80"));
        assert!(out.contains("10.200.0.1 . tcp . 80 : goto ext_bench_svc-0_tcp_80"));
        assert!(
            out.contains("chain ext_bench_svc-0_tcp_80 {\n\t\tmeta mark set meta mark | 0x4000")
        );
        s[0].external_local = true;
        let local = render(&s, &opts()).full_script();
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
        let out = render(&synthetic(1, 1), &o).full_script();
        assert!(out.contains("ip daddr 10.96.1.0 udp dport 53 dnat to 10.99.0.1:5353"));
        assert!(!out.contains("goto svc_bench_svc-0"));
    }

    #[test]
    fn rendering_is_stable_for_the_same_input() {
        let s = synthetic(50, 4);
        assert_eq!(
            render(&s, &opts()).full_script(),
            render(&s, &opts()).full_script()
        );
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
        let script = render(&s, &o).full_script();
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
