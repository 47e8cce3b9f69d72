//! Partial syncs against the real kernel: after a full sync and any series of partial ones,
//! the table holds exactly what a fresh full sync of the same services writes into another
//! table.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;
use skiff_proxy::model::{Endpoint, ServiceModel, synthetic};
use skiff_proxy::nft::{Nft, NftCommand};
use skiff_proxy::plan::{Plan, plan};
use skiff_proxy::render::{RenderOptions, remove, render};

/// A table of this test's own, deleted however the test ends.
struct Table(String);

impl Table {
    fn new(what: &str) -> Table {
        static N: AtomicU32 = AtomicU32::new(0);
        Table(format!(
            "skiff-ps-{what}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ))
    }

    fn options(&self) -> RenderOptions {
        RenderOptions {
            table: self.0.clone(),
            dns: Some((
                "10.96.0.10".parse().unwrap(),
                "10.99.0.1:53".parse().unwrap(),
            )),
        }
    }

    /// The table as `nft -j` lists it, without what differs between two equal tables:
    /// the table's name, handles, the order chains were created in and the order the
    /// kernel keeps map and set elements in.
    fn normalized(&self) -> BTreeMap<String, Value> {
        let out = Command::new("nft")
            .args(["-j", "list", "table", "ip", &self.0])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let listing: Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut objects = BTreeMap::new();
        let mut rules: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for item in listing["nftables"].as_array().unwrap() {
            let Some((kind, body)) = item.as_object().and_then(|o| o.iter().next()) else {
                continue;
            };
            let mut body = body.clone();
            let Some(fields) = body.as_object_mut() else {
                continue;
            };
            fields.remove("handle");
            fields.remove("table");
            match kind.as_str() {
                "metainfo" | "table" => {}
                "rule" => {
                    let chain = fields["chain"].as_str().unwrap().to_string();
                    rules.entry(chain).or_default().push(fields["expr"].clone());
                }
                _ => {
                    if let Some(Value::Array(elems)) = fields.get_mut("elem") {
                        elems.sort_by_key(Value::to_string);
                    }
                    let name = fields["name"].as_str().unwrap().to_string();
                    objects.insert(format!("{kind} {name}"), body);
                }
            }
        }
        for (chain, exprs) in rules {
            objects.insert(format!("rules {chain}"), Value::Array(exprs));
        }
        objects
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        let _ = NftCommand.apply(&remove(&self.0));
    }
}

fn endpoint(ip: u32) -> Endpoint {
    Endpoint {
        ip: Ipv4Addr::from(ip),
        port: 8080,
        local: ip.is_multiple_of(2),
    }
}

/// A small deterministic generator, so a failing series can be replayed.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        usize::try_from(self.0 >> 33).unwrap() % n.max(1)
    }
}

/// One random change of the kind the API brings: endpoints come and go, services appear and
/// go, get node ports, external addresses, affinity or a local traffic policy.
fn change(services: &mut Vec<ServiceModel>, rng: &mut Lcg, fresh: &mut u32) {
    let i = rng.below(services.len());
    match rng.below(9) {
        0 => {
            let eps = &mut services[i].ports[0].endpoints;
            if !eps.is_empty() {
                eps.remove(rng.below(eps.len()));
            }
        }
        1 | 2 => {
            *fresh += 1;
            services[i].ports[0]
                .endpoints
                .push(endpoint(0x0afa_0000 + *fresh));
            services[i].ports[0].endpoints.sort();
        }
        3 => {
            services.remove(i);
        }
        4 => {
            *fresh += 1;
            let mut s = synthetic(1, 2).remove(0);
            s.name = format!("new-{fresh}");
            s.cluster_ip = Some(Ipv4Addr::from(0x0a61_0000 + *fresh));
            services.push(s);
        }
        5 => {
            services[i].ports[0].node_port = match services[i].ports[0].node_port {
                Some(_) => None,
                None => Some(30000 + u16::try_from(i).unwrap()),
            }
        }
        6 => {
            *fresh += 1;
            services[i].external_ips = vec![Ipv4Addr::from(0x0ac8_0000 + *fresh)];
        }
        7 => {
            services[i].affinity_timeout = match services[i].affinity_timeout {
                Some(_) => None,
                None => Some(300),
            }
        }
        _ => {
            services[i].external_local = !services[i].external_local;
            services[i].internal_local = !services[i].internal_local;
        }
    }
}

fn apply(script: &str) {
    NftCommand
        .apply(script)
        .unwrap_or_else(|e| panic!("{e}: {e:?}\n{script}"));
}

#[test]
fn partial_syncs_leave_the_same_table_as_a_full_sync() {
    let live = Table::new("live");
    let fresh_table = Table::new("fresh");
    let mut services = synthetic(30, 3);
    services[3].affinity_timeout = Some(60);
    services[4].ports[0].node_port = Some(30400);
    services[5].external_ips = vec!["10.200.0.5".parse().unwrap()];
    services[6].ports[0].endpoints.clear();
    let mut last = render(&services, &live.options());
    apply(&last.full_script());

    let mut rng = Lcg(7);
    let mut fresh = 0;
    let mut partials = 0;
    for round in 0..12 {
        for _ in 0..=rng.below(4) {
            change(&mut services, &mut rng, &mut fresh);
        }
        let next = render(&services, &live.options());
        match plan(Some(&last), &next) {
            Plan::Partial(script) => {
                assert!(!script.contains("delete table"), "{script}");
                apply(&script);
                partials += 1;
            }
            Plan::Full(script) => apply(&script),
            Plan::Unchanged => {}
        }
        last = next;

        apply(&render(&services, &fresh_table.options()).full_script());
        let (got, want) = (live.normalized(), fresh_table.normalized());
        if got != want {
            let differ: std::collections::BTreeSet<&String> = got
                .keys()
                .chain(want.keys())
                .filter(|k| got.get(*k) != want.get(*k))
                .collect();
            panic!("round {round}: the tables differ in {differ:?}");
        }
    }
    assert!(partials >= 8, "only {partials} partial syncs ran");
}

#[test]
fn an_endpoint_change_keeps_the_affinity_of_the_other_endpoints() {
    let table = Table::new("aff");
    let mut services = synthetic(1, 2);
    services[0].affinity_timeout = Some(600);
    let first = render(&services, &table.options());
    apply(&first.full_script());
    let kept = "aff_bench_svc-0_tcp_80_10_244_0_1_8080";
    apply(&format!(
        "add element ip {} {kept} {{ 10.1.2.3 }}\n",
        table.0
    ));

    services[0].ports[0].endpoints[0] = endpoint(0x0afa_0001);
    services[0].ports[0].endpoints.sort();
    let Plan::Partial(script) = plan(Some(&first), &render(&services, &table.options())) else {
        panic!("not a partial sync")
    };
    apply(&script);
    let set = &table.normalized()[&format!("set {kept}")];
    assert_eq!(set["elem"][0]["elem"]["val"], "10.1.2.3", "{set}");
}

#[test]
fn a_partial_sync_against_a_table_that_drifted_fails_whole() {
    let table = Table::new("drift");
    let mut services = synthetic(3, 2);
    let first = render(&services, &table.options());
    apply(&first.full_script());
    apply(&format!(
        "delete element ip {} services {{ 10.96.1.2 . tcp . 80 }}\n",
        table.0
    ));
    let before = table.normalized();

    services.remove(2);
    services[0].ports[0].endpoints.clear();
    let Plan::Partial(script) = plan(Some(&first), &render(&services, &table.options())) else {
        panic!("not a partial sync")
    };
    assert!(NftCommand.apply(&script).is_err());
    assert_eq!(
        table.normalized(),
        before,
        "a failed transaction changed the table"
    );
}
