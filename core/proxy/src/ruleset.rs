//! The desired ruleset as data: what a partial sync compares with the ruleset last applied,
//! and what a full sync writes out whole.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// The proxy's whole table, split into the pieces a partial sync can change one by one:
/// map and set elements, affinity sets and per-service chains. Built by
/// [`render`](crate::render::render).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ruleset {
    /// The `ip` family table.
    pub table: String,
    /// The base chains (nat and filter hooks, the `services` dispatch chain with the DNS
    /// rules), already written out. They never change while a proxy runs; when they differ
    /// the sync is a full one.
    pub base: String,
    /// Elements of the `services` verdict map: `address . protocol . port` to verdict.
    pub services: BTreeMap<String, String>,
    /// Elements of the `node_ports` verdict map: `protocol . port` to verdict.
    pub node_ports: BTreeMap<String, String>,
    /// Elements of `no_endpoints`: `address . protocol . port` refused at once.
    pub no_endpoints: BTreeSet<String>,
    /// Elements of `no_node_endpoints`: `protocol . port` refused on local addresses.
    pub no_node_endpoints: BTreeSet<String>,
    /// Session-affinity sets by name, with their timeout in seconds. Packets fill them, so
    /// a partial sync keeps the ones that stay.
    pub affinity_sets: BTreeMap<String, u32>,
    /// Per-service chains by name, each with its rules in order.
    pub chains: BTreeMap<String, Vec<String>>,
}

impl Ruleset {
    /// The `nft -f` script replacing the table whole in one transaction: the table is
    /// created (so deleting it cannot fail), deleted and defined again.
    pub fn full_script(&self) -> String {
        let t = &self.table;
        let rules: usize = self.chains.values().map(Vec::len).sum();
        let mut out = String::with_capacity(
            1024 + self.services.len() * 64 + self.chains.len() * 32 + rules * 80,
        );
        let _ = writeln!(out, "table ip {t}\ndelete table ip {t}\ntable ip {t} {{");
        element_block(
            &mut out,
            "map services",
            "ipv4_addr . inet_proto . inet_service : verdict",
            self.services.iter().map(|(k, v)| format!("{k} : {v}")),
        );
        element_block(
            &mut out,
            "map node_ports",
            "inet_proto . inet_service : verdict",
            self.node_ports.iter().map(|(k, v)| format!("{k} : {v}")),
        );
        element_block(
            &mut out,
            "set no_endpoints",
            "ipv4_addr . inet_proto . inet_service",
            self.no_endpoints.iter().cloned(),
        );
        element_block(
            &mut out,
            "set no_node_endpoints",
            "inet_proto . inet_service",
            self.no_node_endpoints.iter().cloned(),
        );
        for (name, timeout) in &self.affinity_sets {
            let _ = writeln!(
                out,
                "\tset {name} {{\n\t\ttype ipv4_addr\n\t\tflags dynamic,timeout\n\t\ttimeout {timeout}s\n\t}}"
            );
        }
        out.push_str(&self.base);
        for (name, rules) in &self.chains {
            let _ = writeln!(out, "\tchain {name} {{");
            for rule in rules {
                let _ = writeln!(out, "\t\t{rule}");
            }
            out.push_str("\t}\n");
        }
        out.push_str("}\n");
        out
    }
}

fn element_block(out: &mut String, head: &str, ty: &str, elements: impl Iterator<Item = String>) {
    let _ = write!(out, "\t{head} {{\n\t\ttype {ty}\n");
    let elements: Vec<String> = elements.collect();
    if !elements.is_empty() {
        let _ = writeln!(out, "\t\telements = {{ {} }}", elements.join(",\n\t\t\t"));
    }
    out.push_str("\t}\n");
}
