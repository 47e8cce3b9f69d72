//! The bridge commands: ADD wires a veth between the bridge and the pod, DEL unwires it,
//! CHECK verifies the wiring, STATUS and GC defer to the IPAM plugin.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use ipnet::IpNet;
use skiff_cni_skel::netns;
use skiff_cni_skel::{
    CmdArgs, CniResult, Command, Error, ErrorCode, Interface, Plugin, Route, delegate, version,
};

use crate::config::BridgeConf;
use crate::masq;
use crate::netlink::{self, Netlink};

/// The bridge plugin.
pub struct Bridge;

/// The causes of an error, for the `details` field.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = Vec::new();
    let mut cur = e.source();
    while let Some(cause) = cur {
        out.push(cause.to_string());
        cur = cause.source();
    }
    out.join(": ")
}

fn sys(e: impl std::error::Error) -> Error {
    Error::io(e.to_string(), chain(&e))
}

fn conf(args: &CmdArgs) -> Result<BridgeConf, Error> {
    let conf: BridgeConf = args.parse_conf()?;
    conf.validate().map_err(Error::config)?;
    Ok(conf)
}

/// Host-side names derived from the attachment, so a repeated ADD or a DEL finds them again.
fn veth_names(args: &CmdArgs) -> (String, String) {
    let mut hasher = DefaultHasher::new();
    (&args.container_id, &args.ifname).hash(&mut hasher);
    let tag = format!("{:08x}", hasher.finish() as u32);
    (format!("veth{tag}"), format!("sktmp{tag}"))
}

/// Runs netlink work inside the container's namespace.
fn in_container<T: Send>(
    path: &Path,
    f: impl AsyncFnOnce(&Netlink) -> Result<T, netlink::Error> + Send,
) -> Result<T, Error> {
    netns::run_in(path, || netlink::run(f))
        .map_err(sys)?
        .map_err(sys)
}

/// Whether a DEL may treat the namespace as already gone.
fn namespace_gone(err: &netns::Error) -> bool {
    match err {
        netns::Error::Missing(_) => true,
        netns::Error::Enter { source, .. } => *source == nix::errno::Errno::EINVAL,
        _ => false,
    }
}

fn default_route(gw: IpAddr) -> IpNet {
    match gw {
        IpAddr::V4(_) => IpNet::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        IpAddr::V6(_) => IpNet::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
    }
    .unwrap_or_default()
}

fn enable_forwarding(ips: &CniResult) -> Result<(), Error> {
    let mut files = Vec::new();
    if ips.ips.iter().any(|ip| ip.address.addr().is_ipv4()) {
        files.push("/proc/sys/net/ipv4/ip_forward");
    }
    if ips.ips.iter().any(|ip| ip.address.addr().is_ipv6()) {
        files.push("/proc/sys/net/ipv6/conf/all/forwarding");
    }
    for file in files {
        std::fs::write(file, "1").map_err(|e| Error::io(format!("failed to write {file}"), e))?;
    }
    Ok(())
}

impl Bridge {
    fn attach(
        &self,
        args: &CmdArgs,
        conf: &BridgeConf,
        netns_path: &Path,
        mut result: CniResult,
    ) -> Result<CniResult, Error> {
        let netns_file = netns::open(netns_path).map_err(sys)?;
        let (host_name, tmp_name) = veth_names(args);
        let ifname = args.ifname.clone();
        // A repeated ADD starts from a clean slate.
        in_container(netns_path, async |nl| nl.delete(&ifname).await)?;
        let (bridge, host) = netlink::run(async |nl| {
            let bridge = nl.ensure_bridge(&conf.bridge, conf.mtu).await?;
            nl.delete(&host_name).await?;
            nl.delete(&tmp_name).await?;
            nl.create_veth(&host_name, &tmp_name, conf.mtu).await?;
            nl.move_to(&tmp_name, &netns_file).await?;
            let host = nl
                .link(&host_name)
                .await?
                .ok_or_else(|| netlink::Error::NotFound(host_name.clone()))?;
            nl.set_controller(host.header.index, bridge.header.index)
                .await?;
            if conf.hairpin_mode {
                nl.set_hairpin(host.header.index, true).await?;
            }
            nl.set_up(host.header.index).await?;
            if conf.gateway_on_bridge() {
                for ip in &result.ips {
                    let gateway = ip.gateway.map(|gw| IpNet::new(gw, ip.address.prefix_len()));
                    if let Some(Ok(net)) = gateway {
                        nl.add_address(bridge.header.index, net).await?;
                    }
                }
            }
            let bridge = nl.link(&conf.bridge).await?.unwrap_or(bridge);
            Ok((bridge, host))
        })
        .map_err(sys)?;

        if conf.is_default_gateway {
            for gw in result.ips.iter().filter_map(|ip| ip.gateway) {
                let dst = default_route(gw);
                if !result.routes.iter().any(|r| r.dst == dst) {
                    result.routes.push(Route::new(dst, Some(gw)));
                }
            }
        }
        let ips = result.ips.clone();
        let routes = result.routes.clone();
        let container = in_container(netns_path, async |nl| {
            let link = nl.rename_up(&tmp_name, &ifname, conf.mtu).await?;
            let index = link.header.index;
            for ip in &ips {
                nl.add_address(index, ip.address).await?;
            }
            for route in &routes {
                let gw = route.gw.or_else(|| {
                    ips.iter()
                        .filter(|ip| ip.address.addr().is_ipv4() == route.dst.addr().is_ipv4())
                        .find_map(|ip| ip.gateway)
                });
                nl.add_route(route.dst, gw, index).await?;
            }
            Ok(link)
        })?;

        if conf.gateway_on_bridge() {
            enable_forwarding(&result)?;
        }
        if conf.ip_masq {
            let subnets: Vec<IpNet> = result.ips.iter().map(|ip| ip.address.trunc()).collect();
            masq::apply(&conf.bridge, &subnets).map_err(sys)?;
        }

        result.interfaces = vec![
            Interface {
                name: conf.bridge.clone(),
                mac: netlink::mac(&bridge),
                ..Interface::default()
            },
            Interface {
                name: host_name,
                mac: netlink::mac(&host),
                ..Interface::default()
            },
            Interface {
                name: args.ifname.clone(),
                mac: netlink::mac(&container),
                sandbox: netns_path.display().to_string(),
                ..Interface::default()
            },
        ];
        for ip in &mut result.ips {
            ip.interface = Some(2);
        }
        if !conf.dns.is_empty() {
            result.dns = conf.dns.clone();
        }
        Ok(result)
    }
}

impl Plugin for Bridge {
    fn add(&self, args: &CmdArgs) -> Result<CniResult, Error> {
        let conf = conf(args)?;
        let netns_path = args.require_netns()?.clone();
        netns::open(&netns_path).map_err(sys)?;
        let ipam = args.conf.ipam_type().map(str::to_string);
        let result = match &ipam {
            Some(ipam) => {
                delegate::exec(args, ipam, Command::Add, &args.stdin)?.ok_or_else(|| {
                    Error::new(ErrorCode::Decode, "the ipam plugin returned no result")
                })?
            }
            None => CniResult::default(),
        };
        self.attach(args, &conf, &netns_path, result)
            .inspect_err(|_| {
                // Give the address back: the runtime will not DEL an ADD that failed.
                if let Some(ipam) = &ipam {
                    let _ = delegate::exec(args, ipam, Command::Del, &args.stdin);
                }
            })
    }

    fn del(&self, args: &CmdArgs) -> Result<(), Error> {
        conf(args)?;
        if let Some(ipam) = args.conf.ipam_type() {
            delegate::exec(args, ipam, Command::Del, &args.stdin)?;
        }
        if let Some(path) = &args.netns {
            let ifname = args.ifname.clone();
            match netns::run_in(path, || netlink::run(async |nl| nl.delete(&ifname).await)) {
                Ok(done) => done.map_err(sys)?,
                Err(e) if namespace_gone(&e) => {}
                Err(e) => return Err(sys(e)),
            }
        }
        let (host_name, _) = veth_names(args);
        netlink::run(async |nl| nl.delete(&host_name).await).map_err(sys)
    }

    fn check(&self, args: &CmdArgs) -> Result<(), Error> {
        let conf = conf(args)?;
        let netns_path = args.require_netns()?.clone();
        let prev = args
            .conf
            .prev_result()?
            .ok_or_else(|| Error::config("CHECK needs prevResult"))?;
        let host_name = prev
            .interfaces
            .iter()
            .find(|i| i.sandbox.is_empty() && i.name != conf.bridge)
            .map(|i| i.name.clone())
            .unwrap_or_else(|| veth_names(args).0);
        netlink::run(async |nl| {
            let bridge = nl
                .link(&conf.bridge)
                .await?
                .ok_or_else(|| netlink::Error::NotFound(conf.bridge.clone()))?;
            let host = nl
                .link(&host_name)
                .await?
                .ok_or_else(|| netlink::Error::NotFound(host_name.clone()))?;
            if netlink::controller(&host) != Some(bridge.header.index) {
                return Err(netlink::Error::NotFound(format!(
                    "{host_name} on bridge {}",
                    conf.bridge
                )));
            }
            Ok(())
        })
        .map_err(sys)?;
        let ifname = args.ifname.clone();
        let present = in_container(&netns_path, async |nl| {
            let link = nl
                .link(&ifname)
                .await?
                .ok_or_else(|| netlink::Error::NotFound(ifname.clone()))?;
            nl.addresses(link.header.index).await
        })?;
        let container_index = prev
            .interfaces
            .iter()
            .position(|i| i.name == args.ifname && !i.sandbox.is_empty());
        for ip in &prev.ips {
            let ours = ip.interface.is_none() || ip.interface == container_index;
            if ours && !present.contains(&ip.address) {
                return Err(Error::new(
                    ErrorCode::Other(100),
                    format!("address {} is missing from {}", ip.address, args.ifname),
                ));
            }
        }
        Ok(())
    }

    fn status(&self, args: &CmdArgs) -> Result<(), Error> {
        conf(args)?;
        if let Some(ipam) = args.conf.ipam_type() {
            delegate::find_plugin(ipam, &args.path).map_err(|e| {
                Error::new(
                    ErrorCode::NotAvailable,
                    format!("ipam plugin {ipam} is not available"),
                )
                .details(e.details)
            })?;
            if version::at_least(&args.conf.cni_version, "1.1.0") {
                delegate::exec(args, ipam, Command::Status, &args.stdin)?;
            }
        }
        Ok(())
    }

    fn gc(&self, args: &CmdArgs) -> Result<(), Error> {
        conf(args)?;
        if let Some(ipam) = args.conf.ipam_type() {
            delegate::exec(args, ipam, Command::Gc, &args.stdin)?;
        }
        Ok(())
    }
}
