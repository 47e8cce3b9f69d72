//! Service ClusterIP and NodePort allocation, derived from the stored services.
//!
//! Nothing is kept in memory between requests: every allocation reads the services in the
//! store and builds the used sets from them, so a restart needs no rebuild and a delete
//! releases its addresses and ports by itself. Allocations in one process are serialized
//! by a lock the caller holds until its write is stored, so two creates cannot take the
//! same address.

use std::collections::HashSet;
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::sync::{OnceLock, RwLock};

use ipnet::IpNet;
use serde_json::{Value, json};
use skiff_api::{ResourceInfo, Status, StatusCause, meta};
use tokio::sync::{Mutex, MutexGuard};

use crate::handlers::Ctx;
use crate::objects;

/// Where service addresses and node ports come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceRanges {
    /// Cluster IPs. Default `10.96.0.0/16`: the first address is the `kubernetes` service,
    /// the tenth the cluster DNS, as upstream.
    pub cidr: IpNet,
    /// Node ports. Default 30000–32767.
    pub node_ports: RangeInclusive<u16>,
}

impl Default for ServiceRanges {
    fn default() -> Self {
        ServiceRanges {
            cidr: "10.96.0.0/16".parse().unwrap_or_else(|_| unreachable!()),
            node_ports: 30000..=32767,
        }
    }
}

fn ranges_cell() -> &'static RwLock<ServiceRanges> {
    static RANGES: OnceLock<RwLock<ServiceRanges>> = OnceLock::new();
    RANGES.get_or_init(|| RwLock::new(ServiceRanges::default()))
}

/// Sets the ranges every API server in this process allocates from (call before serving).
pub fn set_service_ranges(ranges: ServiceRanges) {
    *ranges_cell().write().unwrap_or_else(|e| e.into_inner()) = ranges;
}

/// The ranges in force.
pub fn service_ranges() -> ServiceRanges {
    ranges_cell()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
}

/// Held while a service write is in flight.
pub type AllocationGuard = MutexGuard<'static, ()>;

fn lock() -> &'static Mutex<()> {
    static LOCK: Mutex<()> = Mutex::const_new(());
    &LOCK
}

fn is_service(info: &ResourceInfo) -> bool {
    info.group.is_empty() && info.plural == "services"
}

/// What the other stored services hold.
#[derive(Default)]
struct Used {
    ips: HashSet<IpAddr>,
    ports: HashSet<u16>,
}

async fn used(ctx: &Ctx) -> Result<Used, Status> {
    let info = ctx.info();
    let listed = ctx
        .state
        .store
        .list(&info.key_prefix(), Default::default())
        .await
        .map_err(|e| objects::store_error(e, info, ctx.name()))?;
    let mut used = Used::default();
    for kv in listed.items {
        let Ok(svc) = objects::decode(&kv) else {
            continue;
        };
        if meta::name(&svc) == Some(ctx.name()) && meta::namespace(&svc) == ctx.namespace() {
            continue;
        }
        let spec = &svc["spec"];
        for ip in cluster_ips(spec) {
            if let Ok(ip) = ip.parse() {
                used.ips.insert(ip);
            }
        }
        for port in spec["ports"].as_array().into_iter().flatten() {
            if let Some(p) = port["nodePort"]
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
            {
                used.ports.insert(p);
            }
        }
    }
    Ok(used)
}

fn cluster_ips(spec: &Value) -> Vec<String> {
    let mut ips: Vec<String> = spec["clusterIPs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    if let Some(ip) = spec["clusterIP"].as_str()
        && !ip.is_empty()
        && !ips.iter().any(|i| i == ip)
    {
        ips.insert(0, ip.to_string());
    }
    ips
}

fn kind(spec: &Value) -> &str {
    spec["type"].as_str().unwrap_or("ClusterIP")
}

fn invalid(ctx: &Ctx, causes: Vec<StatusCause>) -> Status {
    Status::invalid("", "Service", ctx.name(), causes)
}

/// Fills `spec.clusterIP(s)` and node ports of a service about to be created (`old` is
/// `None`) or updated, checking explicit ones. Returns the guard to hold until the object
/// is stored; `None` for other kinds.
pub async fn allocate(
    ctx: &Ctx,
    old: Option<&Value>,
    obj: &mut Value,
) -> Result<Option<AllocationGuard>, Status> {
    if !is_service(ctx.info()) || obj.get("spec").is_none() {
        return Ok(None);
    }
    let guard = lock().lock().await;
    let used = used(ctx).await?;
    let ranges = service_ranges();
    let old_spec = old.map(|o| &o["spec"]);
    let spec = &mut obj["spec"];
    let mut causes = Vec::new();
    assign_cluster_ip(spec, old_spec, &used, &ranges, &mut causes);
    assign_node_ports(spec, old_spec, &used, &ranges, &mut causes);
    if !causes.is_empty() {
        return Err(invalid(ctx, causes));
    }
    Ok(Some(guard))
}

fn assign_cluster_ip(
    spec: &mut Value,
    old: Option<&Value>,
    used: &Used,
    ranges: &ServiceRanges,
    causes: &mut Vec<StatusCause>,
) {
    let Some(map) = spec.as_object_mut() else {
        return;
    };
    if kind(&Value::Object(map.clone())) == "ExternalName" {
        map.remove("clusterIP");
        map.remove("clusterIPs");
        return;
    }
    let wanted = cluster_ips(&Value::Object(map.clone()));
    let previous = old.map(cluster_ips).unwrap_or_default();
    let previous = previous.first().filter(|p| !p.is_empty());
    if let Some(prev) = previous {
        match wanted.first() {
            Some(w) if w != prev => causes.push(StatusCause::invalid(
                "spec.clusterIPs[0]",
                format!("Invalid value: [{:?}]: may not change once set", w),
            )),
            _ => {
                let all = old.map(cluster_ips).unwrap_or_default();
                map.insert("clusterIP".into(), json!(prev));
                map.insert("clusterIPs".into(), json!(all));
            }
        }
        return;
    }
    match wanted.first().map(String::as_str) {
        Some("None") => {
            map.insert("clusterIP".into(), json!("None"));
            map.insert("clusterIPs".into(), json!(["None"]));
        }
        Some(ip) => {
            let shown = format!("Invalid value: [{ip:?}]: failed to allocate IP {ip}: ");
            match ip.parse::<IpAddr>() {
                Ok(addr) if !in_range(&ranges.cidr, addr) => {
                    causes.push(StatusCause::invalid(
                        "spec.clusterIPs",
                        format!(
                            "{shown}the provided IP ({ip}) is not in the valid range. The range of valid IPs is {}",
                            ranges.cidr
                        ),
                    ));
                }
                Ok(addr) if used.ips.contains(&addr) => causes.push(StatusCause::invalid(
                    "spec.clusterIPs",
                    format!("{shown}provided IP is already allocated"),
                )),
                Ok(_) => {
                    map.insert("clusterIP".into(), json!(ip));
                    map.insert("clusterIPs".into(), json!([ip]));
                }
                // Syntax errors are reported by validation.
                Err(_) => {}
            }
        }
        None => match free_ip(&ranges.cidr, &used.ips) {
            Some(ip) => {
                map.insert("clusterIP".into(), json!(ip.to_string()));
                map.insert("clusterIPs".into(), json!([ip.to_string()]));
            }
            None => causes.push(StatusCause::invalid(
                "spec.clusterIPs",
                format!(
                    "Invalid value: []: failed to allocate IP: range is full (the range of valid IPs is {})",
                    ranges.cidr
                ),
            )),
        },
    }
}

/// Usable addresses: inside the range, neither the network nor (IPv4) the broadcast one.
fn in_range(cidr: &IpNet, ip: IpAddr) -> bool {
    cidr.contains(&ip) && ip != cidr.network() && (ip.is_ipv6() || ip != cidr.broadcast())
}

fn range_size(cidr: &IpNet) -> u128 {
    let bits = u32::from(cidr.max_prefix_len() - cidr.prefix_len()).min(64);
    1u128 << bits
}

/// A free address for a service that named none. As upstream, dynamic allocations prefer
/// the upper part of the range so the lower part (the `kubernetes` service at offset 1,
/// DNS at offset 10, ...) stays free for explicit requests.
fn free_ip(cidr: &IpNet, used: &HashSet<IpAddr>) -> Option<IpAddr> {
    let size = range_size(cidr);
    let lower = (size / 16).clamp(16, 256).min(size / 2);
    let upper = (lower..size).chain(1..lower);
    for n in upper {
        if let Some(ip) = offset(cidr, n)
            && in_range(cidr, ip)
            && !used.contains(&ip)
        {
            return Some(ip);
        }
    }
    None
}

fn offset(cidr: &IpNet, n: u128) -> Option<IpAddr> {
    match cidr.network() {
        IpAddr::V4(a) => Some(IpAddr::V4(
            u32::from(a).checked_add(u32::try_from(n).ok()?)?.into(),
        )),
        IpAddr::V6(a) => Some(IpAddr::V6(u128::from(a).checked_add(n)?.into())),
    }
}

fn assign_node_ports(
    spec: &mut Value,
    old: Option<&Value>,
    used: &Used,
    ranges: &ServiceRanges,
    causes: &mut Vec<StatusCause>,
) {
    let kind = kind(spec).to_string();
    let wants_ports = kind == "NodePort"
        || kind == "LoadBalancer" && spec["allocateLoadBalancerNodePorts"] != json!(false);
    let old_ports: Vec<Value> = old
        .and_then(|o| o["ports"].as_array().cloned())
        .unwrap_or_default();
    let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) else {
        return;
    };
    let mut taken: HashSet<u16> = used.ports.clone();
    if !wants_ports {
        if kind != "LoadBalancer" {
            for port in ports.iter_mut() {
                if let Some(p) = port.as_object_mut() {
                    p.remove("nodePort");
                }
            }
        }
        return;
    }
    // Explicit ports first, so automatic ones do not take them.
    for (i, port) in ports.iter_mut().enumerate() {
        let explicit = port["nodePort"].as_u64().filter(|p| *p != 0);
        let carried = explicit.or_else(|| {
            old_ports
                .iter()
                .find(|o| o["port"] == port["port"] && o["protocol"] == port["protocol"])
                .and_then(|o| o["nodePort"].as_u64())
        });
        let Some(np) = carried else { continue };
        let field = format!("spec.ports[{i}].nodePort");
        let Ok(np16) = u16::try_from(np) else {
            continue;
        };
        if !ranges.node_ports.contains(&np16) {
            causes.push(StatusCause::invalid(
                field,
                format!(
                    "Invalid value: {np}: provided port is not in the valid range. The range of valid ports is {}-{}",
                    ranges.node_ports.start(),
                    ranges.node_ports.end()
                ),
            ));
        } else if used.ports.contains(&np16) {
            causes.push(StatusCause::invalid(
                field,
                format!("Invalid value: {np}: provided port is already allocated"),
            ));
        } else {
            taken.insert(np16);
            port["nodePort"] = json!(np);
        }
    }
    for port in ports.iter_mut() {
        if port["nodePort"].as_u64().is_some_and(|p| p != 0) {
            continue;
        }
        match ranges.node_ports.clone().find(|p| !taken.contains(p)) {
            Some(p) => {
                taken.insert(p);
                port["nodePort"] = json!(p);
            }
            None => causes.push(StatusCause::invalid(
                "spec.ports",
                "Invalid value: []: failed to allocate a nodePort: range is full",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges() -> ServiceRanges {
        ServiceRanges {
            cidr: "10.0.0.0/24".parse().unwrap(),
            node_ports: 30000..=30002,
        }
    }

    #[test]
    fn dynamic_addresses_skip_the_reserved_lower_band() {
        let ip = free_ip(&ranges().cidr, &HashSet::new()).unwrap();
        assert_eq!(ip.to_string(), "10.0.0.16");
    }

    #[test]
    fn a_full_upper_band_falls_back_to_the_lower_one() {
        let cidr = ranges().cidr;
        let used: HashSet<IpAddr> = (16..255).filter_map(|n| offset(&cidr, n)).collect();
        assert_eq!(free_ip(&cidr, &used).unwrap().to_string(), "10.0.0.1");
    }

    #[test]
    fn explicit_addresses_outside_the_range_are_refused_with_upstream_wording() {
        let mut spec = json!({"clusterIP": "10.1.0.1", "ports": [{"port": 80}]});
        let mut causes = Vec::new();
        assign_cluster_ip(&mut spec, None, &Used::default(), &ranges(), &mut causes);
        assert_eq!(
            causes[0].message,
            "Invalid value: [\"10.1.0.1\"]: failed to allocate IP 10.1.0.1: the provided IP (10.1.0.1) is not in the valid range. The range of valid IPs is 10.0.0.0/24"
        );
    }

    #[test]
    fn a_taken_address_is_refused() {
        let mut spec = json!({"clusterIP": "10.0.0.1", "ports": [{"port": 80}]});
        let used = Used {
            ips: ["10.0.0.1".parse().unwrap()].into(),
            ports: HashSet::new(),
        };
        let mut causes = Vec::new();
        assign_cluster_ip(&mut spec, None, &used, &ranges(), &mut causes);
        assert_eq!(causes[0].field, "spec.clusterIPs");
        assert!(
            causes[0]
                .message
                .ends_with("failed to allocate IP 10.0.0.1: provided IP is already allocated")
        );
    }

    #[test]
    fn the_cluster_ip_is_kept_and_may_not_change_on_update() {
        let old = json!({"clusterIP": "10.0.0.20", "clusterIPs": ["10.0.0.20"]});
        let mut omitted = json!({"ports": [{"port": 80}]});
        let mut causes = Vec::new();
        assign_cluster_ip(
            &mut omitted,
            Some(&old),
            &Used::default(),
            &ranges(),
            &mut causes,
        );
        assert!(causes.is_empty());
        assert_eq!(omitted["clusterIPs"], json!(["10.0.0.20"]));
        let mut changed = json!({"clusterIP": "10.0.0.21"});
        assign_cluster_ip(
            &mut changed,
            Some(&old),
            &Used::default(),
            &ranges(),
            &mut causes,
        );
        assert_eq!(causes[0].field, "spec.clusterIPs[0]");
    }

    #[test]
    fn node_ports_avoid_taken_ones_and_keep_theirs_across_updates() {
        let used = Used {
            ips: HashSet::new(),
            ports: [30000].into(),
        };
        let mut spec = json!({"type": "NodePort", "ports": [{"port": 80, "protocol": "TCP"}]});
        let mut causes = Vec::new();
        assign_node_ports(&mut spec, None, &used, &ranges(), &mut causes);
        assert_eq!(spec["ports"][0]["nodePort"], json!(30001));
        let old = spec.clone();
        let mut again = json!({"type": "NodePort", "ports": [{"port": 80, "protocol": "TCP"}]});
        assign_node_ports(&mut again, Some(&old), &used, &ranges(), &mut causes);
        assert_eq!(again["ports"][0]["nodePort"], json!(30001));
        let mut clash = json!({"type": "NodePort", "ports": [{"port": 81, "nodePort": 30000}]});
        assign_node_ports(&mut clash, None, &used, &ranges(), &mut causes);
        assert_eq!(
            causes[0].message,
            "Invalid value: 30000: provided port is already allocated"
        );
    }

    #[test]
    fn headless_and_external_name_services_get_no_address() {
        let mut causes = Vec::new();
        let mut headless = json!({"clusterIP": "None"});
        assign_cluster_ip(
            &mut headless,
            None,
            &Used::default(),
            &ranges(),
            &mut causes,
        );
        assert_eq!(headless["clusterIPs"], json!(["None"]));
        let mut ext = json!({"type": "ExternalName", "externalName": "example.org"});
        assign_cluster_ip(&mut ext, None, &Used::default(), &ranges(), &mut causes);
        assert!(ext.get("clusterIP").is_none());
        assert!(causes.is_empty());
    }
}
