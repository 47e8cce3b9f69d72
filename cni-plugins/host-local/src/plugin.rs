//! The host-local commands: ADD reserves, DEL releases, CHECK verifies, GC sweeps leftovers.

use std::collections::HashSet;

use skiff_cni_skel::{CmdArgs, CniResult, Error, ErrorCode, IpConfig, Plugin};

use crate::allocator;
use crate::config::IpamConfig;
use crate::store::Store;

/// The host-local IPAM plugin.
pub struct HostLocal;

fn config(args: &CmdArgs) -> Result<IpamConfig, Error> {
    IpamConfig::parse(&args.conf.name, args.conf.ipam.as_ref())
        .map_err(|e| Error::config(e.to_string()).details(source_chain(&e)))
}

fn open(cfg: &IpamConfig) -> Result<Store, Error> {
    Store::open(&cfg.dir).map_err(|e| Error::io(e.to_string(), source_chain(&e)))
}

fn store_error(e: impl std::error::Error) -> Error {
    Error::io(e.to_string(), source_chain(&e))
}

/// The causes of an error, for the `details` field.
fn source_chain(e: &dyn std::error::Error) -> String {
    let mut out = Vec::new();
    let mut cur = e.source();
    while let Some(cause) = cur {
        out.push(cause.to_string());
        cur = cause.source();
    }
    out.join(": ")
}

impl Plugin for HostLocal {
    fn add(&self, args: &CmdArgs) -> Result<CniResult, Error> {
        let cfg = config(args)?;
        let store = open(&cfg)?;
        let held = store.reservations().map_err(store_error)?;
        let mut ips = Vec::new();
        let mut reserved_now = Vec::new();
        for (set, ranges) in cfg.range_sets.iter().enumerate() {
            match allocator::allocate(&store, set, ranges, &held, &args.container_id, &args.ifname)
            {
                Ok((range, ip)) => {
                    if !held.iter().any(|r| r.ip == ip) {
                        reserved_now.push(ip);
                    }
                    ips.push(IpConfig {
                        address: ipnet::IpNet::new(ip, range.subnet.prefix_len())
                            .map_err(|e| Error::config("invalid prefix").details(e))?,
                        gateway: range.gateway,
                        interface: None,
                    });
                }
                Err(e) => {
                    // An attachment gets an address from every set or from none.
                    for ip in reserved_now {
                        let _ = store.release(ip);
                    }
                    return Err(store_error(e));
                }
            }
        }
        Ok(CniResult {
            ips,
            routes: cfg.routes,
            ..CniResult::default()
        })
    }

    fn del(&self, args: &CmdArgs) -> Result<(), Error> {
        let cfg = config(args)?;
        let store = open(&cfg)?;
        for r in store.reservations().map_err(store_error)? {
            if r.container_id == args.container_id && r.ifname == args.ifname {
                store.release(r.ip).map_err(store_error)?;
            }
        }
        Ok(())
    }

    fn check(&self, args: &CmdArgs) -> Result<(), Error> {
        let cfg = config(args)?;
        let store = open(&cfg)?;
        let held = store.reservations().map_err(store_error)?;
        for (set, ranges) in cfg.range_sets.iter().enumerate() {
            let found = held.iter().any(|r| {
                r.container_id == args.container_id
                    && r.ifname == args.ifname
                    && ranges.iter().any(|range| range.allocatable(r.ip))
            });
            if !found {
                return Err(Error::new(
                    ErrorCode::UnknownContainer,
                    format!(
                        "no address of range set {set} is reserved for {}/{}",
                        args.container_id, args.ifname
                    ),
                ));
            }
        }
        Ok(())
    }

    fn status(&self, args: &CmdArgs) -> Result<(), Error> {
        let cfg = config(args)?;
        open(&cfg).map(drop).map_err(|e| {
            Error::new(
                ErrorCode::NotAvailable,
                "the reservation store is not usable",
            )
            .details(e.details)
        })
    }

    fn gc(&self, args: &CmdArgs) -> Result<(), Error> {
        let cfg = config(args)?;
        let valid: HashSet<(&str, &str)> = args
            .conf
            .valid_attachments
            .iter()
            .flatten()
            .map(|a| (a.container_id.as_str(), a.ifname.as_str()))
            .collect();
        let store = open(&cfg)?;
        for r in store.reservations().map_err(store_error)? {
            if !valid.contains(&(r.container_id.as_str(), r.ifname.as_str())) {
                store.release(r.ip).map_err(store_error)?;
            }
        }
        Ok(())
    }
}
