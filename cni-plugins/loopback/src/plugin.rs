//! The loopback commands: ADD brings `lo` up, DEL takes it down, CHECK verifies it is up.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use futures::TryStreamExt;
use ipnet::IpNet;
use rtnetlink::packet_route::link::{LinkFlags, LinkMessage};
use rtnetlink::{Handle, LinkUnspec};
use skiff_cni_skel::netns;
use skiff_cni_skel::{CmdArgs, CniResult, Error, ErrorCode, Interface, IpConfig, Plugin};

/// The loopback plugin.
pub struct Loopback;

/// Errors talking to the kernel.
#[derive(Debug, thiserror::Error)]
enum NetlinkError {
    #[error("failed to open a netlink connection")]
    Connect(#[source] std::io::Error),
    #[error("failed to {0}")]
    Request(&'static str, #[source] rtnetlink::Error),
    #[error("the namespace has no loopback interface")]
    NoLoopback,
}

fn sys(e: impl std::error::Error) -> Error {
    let mut details = Vec::new();
    let mut cur = e.source();
    while let Some(cause) = cur {
        details.push(cause.to_string());
        cur = cause.source();
    }
    Error::io(e.to_string(), details.join(": "))
}

/// Runs `f` with a netlink handle opened inside the namespace at `path`.
fn in_netns<T: Send>(
    path: &Path,
    f: impl AsyncFnOnce(Handle, LinkMessage) -> Result<T, NetlinkError> + Send,
) -> Result<Result<T, NetlinkError>, netns::Error> {
    netns::run_in(path, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(NetlinkError::Connect)?;
        runtime.block_on(async {
            let (connection, handle, _) =
                rtnetlink::new_connection().map_err(NetlinkError::Connect)?;
            tokio::spawn(connection);
            let lo = handle
                .link()
                .get()
                .match_name("lo".to_string())
                .execute()
                .try_next()
                .await
                .map_err(|e| NetlinkError::Request("look up lo", e))?
                .ok_or(NetlinkError::NoLoopback)?;
            f(handle, lo).await
        })
    })
}

fn is_up(lo: &LinkMessage) -> bool {
    lo.header.flags.contains(LinkFlags::Up)
}

impl Plugin for Loopback {
    fn add(&self, args: &CmdArgs) -> Result<CniResult, Error> {
        let path = args.require_netns()?;
        in_netns(path, async |handle, lo| {
            handle
                .link()
                .set(LinkUnspec::new_with_index(lo.header.index).up().build())
                .execute()
                .await
                .map_err(|e| NetlinkError::Request("bring up lo", e))
        })
        .map_err(sys)?
        .map_err(sys)?;
        // In a chain, loopback changes nothing the result describes: pass it through.
        if let Some(prev) = args.conf.prev_result()? {
            return Ok(prev);
        }
        let ip = |addr: IpAddr, prefix| IpConfig {
            address: IpNet::new(addr, prefix).unwrap_or_default(),
            gateway: None,
            interface: Some(0),
        };
        Ok(CniResult {
            interfaces: vec![Interface {
                name: "lo".into(),
                mac: "00:00:00:00:00:00".into(),
                sandbox: path.display().to_string(),
                ..Interface::default()
            }],
            ips: vec![
                ip(IpAddr::V4(Ipv4Addr::LOCALHOST), 8),
                ip(IpAddr::V6(Ipv6Addr::LOCALHOST), 128),
            ],
            ..CniResult::default()
        })
    }

    fn del(&self, args: &CmdArgs) -> Result<(), Error> {
        let Some(path) = &args.netns else {
            return Ok(());
        };
        let outcome = in_netns(path, async |handle, lo| {
            handle
                .link()
                .set(LinkUnspec::new_with_index(lo.header.index).down().build())
                .execute()
                .await
                .map_err(|e| NetlinkError::Request("bring down lo", e))
        });
        match outcome {
            Ok(done) => done.map_err(sys),
            // The namespace is gone, and its loopback with it.
            Err(netns::Error::Missing(_)) => Ok(()),
            Err(e) => Err(sys(e)),
        }
    }

    fn check(&self, args: &CmdArgs) -> Result<(), Error> {
        let path = args.require_netns()?;
        let up = in_netns(path, async |_, lo| Ok(is_up(&lo)))
            .map_err(sys)?
            .map_err(sys)?;
        if up {
            Ok(())
        } else {
            Err(Error::new(
                ErrorCode::Other(100),
                "the loopback interface is down",
            ))
        }
    }
}
