//! Plans a sync: the one `nft -f` transaction taking the kernel from the ruleset last applied
//! to the next, sending only what changed when it can (a partial sync), the whole table
//! otherwise (a full sync).
//!
//! Replacing a table of thousands of chains costs the kernel seconds, while a change usually
//! touches a few services; like kube-proxy's nftables mode, a partial sync flushes and refills
//! only the chains whose rules changed, adds and deletes only the map and set elements that
//! changed, and deletes the chains of services that went away. The caller decides when a full
//! sync is due anyway (first sync, after a failed transaction, periodically to heal drift)
//! by passing no last ruleset.
//!
//! Order inside the transaction, so every reference resolves when it is checked and nothing
//! is deleted while still referenced: new affinity sets; new chains, declared empty; changed
//! chains flushed, then new and changed chains filled; removed and changed map and set
//! elements deleted, new and changed ones added; gone chains flushed, then deleted; gone
//! affinity sets deleted.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use crate::ruleset::Ruleset;

/// What a sync sends to the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// The kernel already holds the next ruleset.
    Unchanged,
    /// A transaction changing only what differs.
    Partial(String),
    /// A transaction replacing the table whole.
    Full(String),
}

impl Plan {
    /// The script to apply, if any.
    pub fn script(&self) -> Option<&str> {
        match self {
            Plan::Unchanged => None,
            Plan::Partial(s) | Plan::Full(s) => Some(s),
        }
    }
}

/// The transaction from `last` (the ruleset the kernel holds, or `None` when unknown) to
/// `next`.
pub fn plan(last: Option<&Ruleset>, next: &Ruleset) -> Plan {
    let Some(last) = last else {
        return Plan::Full(next.full_script());
    };
    if last.table != next.table || last.base != next.base {
        return Plan::Full(next.full_script());
    }
    // A set's timeout is fixed when it is created; a new one means recreating the set while
    // rules point at it, which a full sync does more simply (and it is rare).
    let retimed = next
        .affinity_sets
        .iter()
        .any(|(name, t)| last.affinity_sets.get(name).is_some_and(|old| old != t));
    if retimed {
        return Plan::Full(next.full_script());
    }
    let t = &next.table;
    let mut out = String::new();

    for (name, timeout) in &next.affinity_sets {
        if !last.affinity_sets.contains_key(name) {
            let _ = writeln!(
                out,
                "add set ip {t} {name} {{ type ipv4_addr; flags dynamic,timeout; timeout {timeout}s; }}"
            );
        }
    }
    let mut fill: Vec<(&String, &Vec<String>)> = Vec::new();
    for (name, rules) in &next.chains {
        match last.chains.get(name) {
            None => {
                let _ = writeln!(out, "add chain ip {t} {name}");
                fill.push((name, rules));
            }
            Some(old) if old != rules => {
                let _ = writeln!(out, "flush chain ip {t} {name}");
                fill.push((name, rules));
            }
            Some(_) => {}
        }
    }
    for (name, rules) in fill {
        for rule in rules {
            let _ = writeln!(out, "add rule ip {t} {name} {rule}");
        }
    }

    map_changes(&mut out, t, "services", &last.services, &next.services);
    map_changes(
        &mut out,
        t,
        "node_ports",
        &last.node_ports,
        &next.node_ports,
    );
    set_changes(
        &mut out,
        t,
        "no_endpoints",
        &last.no_endpoints,
        &next.no_endpoints,
    );
    set_changes(
        &mut out,
        t,
        "no_node_endpoints",
        &last.no_node_endpoints,
        &next.no_node_endpoints,
    );

    let gone: Vec<&String> = last
        .chains
        .keys()
        .filter(|name| !next.chains.contains_key(*name))
        .collect();
    // Flushing first drops the jumps between gone chains, so each is unreferenced when it
    // is deleted.
    for name in &gone {
        let _ = writeln!(out, "flush chain ip {t} {name}");
    }
    for name in &gone {
        let _ = writeln!(out, "delete chain ip {t} {name}");
    }
    for name in last.affinity_sets.keys() {
        if !next.affinity_sets.contains_key(name) {
            let _ = writeln!(out, "delete set ip {t} {name}");
        }
    }

    if out.is_empty() {
        Plan::Unchanged
    } else {
        Plan::Partial(out)
    }
}

/// Deletes the elements of map `name` that went or changed their verdict, then adds the new
/// and changed ones.
fn map_changes(
    out: &mut String,
    table: &str,
    name: &str,
    last: &BTreeMap<String, String>,
    next: &BTreeMap<String, String>,
) {
    let gone: Vec<&str> = last
        .iter()
        .filter(|(k, v)| next.get(*k) != Some(*v))
        .map(|(k, _)| k.as_str())
        .collect();
    let added: Vec<String> = next
        .iter()
        .filter(|(k, v)| last.get(*k) != Some(*v))
        .map(|(k, v)| format!("{k} : {v}"))
        .collect();
    element_lines(out, table, name, &gone, &added);
}

/// Deletes the elements of set `name` that went, then adds the new ones.
fn set_changes(
    out: &mut String,
    table: &str,
    name: &str,
    last: &BTreeSet<String>,
    next: &BTreeSet<String>,
) {
    let gone: Vec<&str> = last.difference(next).map(String::as_str).collect();
    let added: Vec<&str> = next.difference(last).map(String::as_str).collect();
    element_lines(out, table, name, &gone, &added);
}

fn element_lines(
    out: &mut String,
    table: &str,
    name: &str,
    gone: &[impl AsRef<str>],
    added: &[impl AsRef<str>],
) {
    let gone: Vec<&str> = gone.iter().map(AsRef::as_ref).collect();
    let added: Vec<&str> = added.iter().map(AsRef::as_ref).collect();
    for (verb, elements) in [("delete", gone), ("add", added)] {
        if !elements.is_empty() {
            let _ = writeln!(
                out,
                "{verb} element ip {table} {name} {{ {} }}",
                elements.join(", ")
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Endpoint, synthetic};
    use crate::render::{RenderOptions, render};

    fn opts() -> RenderOptions {
        RenderOptions {
            table: "skiff-test".into(),
            dns: None,
        }
    }

    #[test]
    fn without_a_last_ruleset_the_table_is_replaced_whole() {
        let next = render(&synthetic(2, 2), &opts());
        let Plan::Full(script) = plan(None, &next) else {
            panic!("not a full sync")
        };
        assert!(script.starts_with("table ip skiff-test\ndelete table ip skiff-test\n"));
    }

    #[test]
    fn the_same_ruleset_again_sends_nothing() {
        let rs = render(&synthetic(20, 3), &opts());
        assert_eq!(plan(Some(&rs), &rs.clone()), Plan::Unchanged);
        assert_eq!(Plan::Unchanged.script(), None);
    }

    #[test]
    fn an_endpoint_change_touches_only_the_chains_of_its_service() {
        let mut services = synthetic(20, 3);
        let last = render(&services, &opts());
        services[7].ports[0].endpoints[1] = Endpoint {
            ip: "10.250.0.9".parse().unwrap(),
            port: 8080,
            local: false,
        };
        services[7].ports[0].endpoints.sort();
        let Plan::Partial(script) = plan(Some(&last), &render(&services, &opts())) else {
            panic!("not a partial sync")
        };
        let touched: BTreeSet<&str> = script
            .lines()
            .filter_map(|l| l.split_whitespace().nth(4))
            .collect();
        assert_eq!(
            touched,
            BTreeSet::from([
                "ep_bench_svc-7_tcp_80_10_250_0_9_8080",
                "svc_bench_svc-7_tcp_80",
                "ep_bench_svc-7_tcp_80_10_244_0_113_8080",
            ]),
            "{script}"
        );
        assert!(script.contains("add chain ip skiff-test ep_bench_svc-7_tcp_80_10_250_0_9_8080\n"));
        assert!(script.contains("flush chain ip skiff-test svc_bench_svc-7_tcp_80\n"));
        assert!(!script.contains("element"), "{script}");
        let refill = script
            .find("add rule ip skiff-test svc_bench_svc-7")
            .unwrap();
        let delete = script
            .find("delete chain ip skiff-test ep_bench_svc-7_tcp_80_10_244_0_113_8080")
            .unwrap();
        assert!(
            refill < delete,
            "the old endpoint is still jumped to when deleted"
        );
    }

    #[test]
    fn a_removed_service_loses_its_map_element_before_its_chains() {
        let services = synthetic(3, 2);
        let last = render(&services, &opts());
        let Plan::Partial(script) = plan(Some(&last), &render(&services[..2], &opts())) else {
            panic!("not a partial sync")
        };
        let element = script
            .find("delete element ip skiff-test services { 10.96.1.2 . tcp . 80 }")
            .unwrap();
        let flush = script
            .find("flush chain ip skiff-test svc_bench_svc-2_tcp_80")
            .unwrap();
        let delete = script
            .find("delete chain ip skiff-test svc_bench_svc-2_tcp_80")
            .unwrap();
        assert!(element < flush && flush < delete, "{script}");
        assert!(!script.contains("svc-1"), "{script}");
    }

    #[test]
    fn a_service_losing_its_endpoints_moves_from_the_map_to_the_reject_set() {
        let mut services = synthetic(2, 2);
        let last = render(&services, &opts());
        services[0].ports[0].endpoints.clear();
        let Plan::Partial(script) = plan(Some(&last), &render(&services, &opts())) else {
            panic!("not a partial sync")
        };
        assert!(script.contains("delete element ip skiff-test services { 10.96.1.0 . tcp . 80 }"));
        assert!(script.contains("add element ip skiff-test no_endpoints { 10.96.1.0 . tcp . 80 }"));
    }

    #[test]
    fn affinity_sets_are_added_and_dropped_with_their_endpoints() {
        let mut services = synthetic(1, 2);
        services[0].affinity_timeout = Some(30);
        let last = render(&services, &opts());
        services[0].ports[0].endpoints.remove(0);
        let Plan::Partial(script) = plan(Some(&last), &render(&services, &opts())) else {
            panic!("not a partial sync")
        };
        assert!(
            script.ends_with("delete set ip skiff-test aff_bench_svc-0_tcp_80_10_244_0_0_8080\n")
        );
        services[0].ports[0].endpoints.push(Endpoint {
            ip: "10.250.0.1".parse().unwrap(),
            port: 8080,
            local: false,
        });
        let Plan::Partial(script) = plan(Some(&last), &render(&services, &opts())) else {
            panic!("not a partial sync")
        };
        assert!(script.starts_with(
            "add set ip skiff-test aff_bench_svc-0_tcp_80_10_250_0_1_8080 { type ipv4_addr; flags dynamic,timeout; timeout 30s; }\n"
        ));
    }

    #[test]
    fn a_new_affinity_timeout_or_base_replaces_the_table() {
        let mut services = synthetic(1, 2);
        services[0].affinity_timeout = Some(30);
        let last = render(&services, &opts());
        services[0].affinity_timeout = Some(60);
        assert!(matches!(
            plan(Some(&last), &render(&services, &opts())),
            Plan::Full(_)
        ));
        let mut o = opts();
        o.dns = Some((
            "10.96.0.10".parse().unwrap(),
            "10.99.0.1:53".parse().unwrap(),
        ));
        assert!(matches!(
            plan(Some(&last), &render(&services, &o)),
            Plan::Full(_)
        ));
    }
}
