//! The few link, address and route operations the bridge plugin needs, over rtnetlink.

use std::net::IpAddr;
use std::os::fd::AsRawFd;

use futures::TryStreamExt;
use ipnet::IpNet;
use netlink_packet_route::address::AddressAttribute;
use netlink_packet_route::link::{InfoKind, LinkAttribute, LinkInfo, LinkMessage};
use netlink_packet_route::route::RouteScope;
use rtnetlink::{Handle, LinkBridge, LinkBridgePort, LinkUnspec, LinkVeth, RouteMessageBuilder};

const EEXIST: i32 = 17;
const ENODEV: i32 = 19;

/// Errors talking to the kernel.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The async runtime or the netlink socket could not be created.
    #[error("failed to open a netlink connection")]
    Connect(#[source] std::io::Error),
    /// A request failed.
    #[error("failed to {action}")]
    Request {
        /// What was attempted.
        action: String,
        /// The kernel's answer.
        #[source]
        source: rtnetlink::Error,
    },
    /// A link exists with the name but is not a bridge.
    #[error("link {0} exists but is not a bridge")]
    NotBridge(String),
    /// A link that was just created cannot be found.
    #[error("link {0} not found")]
    NotFound(String),
}

fn request(action: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> Error {
    let action = action.into();
    move |source| Error::Request { action, source }
}

/// The errno of a netlink error, if it is one.
fn errno(err: &rtnetlink::Error) -> Option<i32> {
    match err {
        rtnetlink::Error::NetlinkError(msg) => Some(-msg.raw_code()),
        _ => None,
    }
}

/// A netlink connection bound to the namespace of the thread that opened it.
pub struct Netlink {
    handle: Handle,
}

/// Opens a connection on a fresh single-threaded runtime and runs `f` with it.
pub fn run<T>(f: impl AsyncFnOnce(&Netlink) -> Result<T, Error>) -> Result<T, Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::Connect)?;
    runtime.block_on(async {
        let (connection, handle, _) = rtnetlink::new_connection().map_err(Error::Connect)?;
        tokio::spawn(connection);
        f(&Netlink { handle }).await
    })
}

/// A link's hardware address as `aa:bb:..`.
pub fn mac(link: &LinkMessage) -> String {
    link.attributes
        .iter()
        .find_map(|a| match a {
            LinkAttribute::Address(bytes) => Some(
                bytes
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(":"),
            ),
            _ => None,
        })
        .unwrap_or_default()
}

/// The index of a link's bridge (its controller), if enslaved.
pub fn controller(link: &LinkMessage) -> Option<u32> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::Controller(i) => Some(*i),
        _ => None,
    })
}

fn is_bridge(link: &LinkMessage) -> bool {
    link.attributes.iter().any(|a| match a {
        LinkAttribute::LinkInfo(infos) => infos
            .iter()
            .any(|i| matches!(i, LinkInfo::Kind(InfoKind::Bridge))),
        _ => false,
    })
}

impl Netlink {
    /// The link called `name`, if there is one.
    pub async fn link(&self, name: &str) -> Result<Option<LinkMessage>, Error> {
        let found = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute()
            .try_next()
            .await;
        match found {
            Ok(link) => Ok(link),
            Err(e) if errno(&e) == Some(ENODEV) => Ok(None),
            Err(e) => Err(request(format!("look up link {name}"))(e)),
        }
    }

    async fn require(&self, name: &str) -> Result<LinkMessage, Error> {
        self.link(name)
            .await?
            .ok_or_else(|| Error::NotFound(name.to_string()))
    }

    /// Returns the bridge called `name`, creating it (up, with `mtu`) if needed.
    pub async fn ensure_bridge(&self, name: &str, mtu: Option<u32>) -> Result<LinkMessage, Error> {
        if let Some(link) = self.link(name).await? {
            if !is_bridge(&link) {
                return Err(Error::NotBridge(name.to_string()));
            }
            self.set_up(link.header.index).await?;
            return Ok(link);
        }
        let mut builder = LinkBridge::new(name);
        if let Some(mtu) = mtu {
            builder = builder.mtu(mtu);
        }
        match self.handle.link().add(builder.build()).execute().await {
            Err(e) if errno(&e) != Some(EEXIST) => {
                return Err(request(format!("create bridge {name}"))(e));
            }
            _ => {}
        }
        let link = self.require(name).await?;
        if !is_bridge(&link) {
            return Err(Error::NotBridge(name.to_string()));
        }
        self.set_up(link.header.index).await?;
        Ok(link)
    }

    /// Creates a veth pair `host` <-> `peer`, both in this namespace.
    pub async fn create_veth(&self, host: &str, peer: &str, mtu: Option<u32>) -> Result<(), Error> {
        let mut builder = LinkVeth::new(host, peer);
        if let Some(mtu) = mtu {
            builder = builder.mtu(mtu);
        }
        self.handle
            .link()
            .add(builder.build())
            .execute()
            .await
            .map_err(request(format!("create veth pair {host}/{peer}")))
    }

    /// Moves a link into the namespace open as `netns`.
    pub async fn move_to(&self, name: &str, netns: &std::fs::File) -> Result<(), Error> {
        let link = self.require(name).await?;
        let message = LinkUnspec::new_with_index(link.header.index)
            .setns_by_fd(netns.as_raw_fd())
            .build();
        self.handle
            .link()
            .set(message)
            .execute()
            .await
            .map_err(request(format!("move {name} to the container namespace")))
    }

    /// Renames a link, sets its MTU and brings it up.
    pub async fn rename_up(
        &self,
        name: &str,
        new_name: &str,
        mtu: Option<u32>,
    ) -> Result<LinkMessage, Error> {
        let link = self.require(name).await?;
        let mut builder = LinkUnspec::new_with_index(link.header.index).name(new_name.to_string());
        if let Some(mtu) = mtu {
            builder = builder.mtu(mtu);
        }
        self.handle
            .link()
            .set(builder.build())
            .execute()
            .await
            .map_err(request(format!("rename {name} to {new_name}")))?;
        self.set_up(link.header.index).await?;
        self.require(new_name).await
    }

    /// Brings a link up.
    pub async fn set_up(&self, index: u32) -> Result<(), Error> {
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(request(format!("bring up link {index}")))
    }

    /// Enslaves a link to a bridge.
    pub async fn set_controller(&self, index: u32, bridge: u32) -> Result<(), Error> {
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(index).controller(bridge).build())
            .execute()
            .await
            .map_err(request(format!("attach link {index} to bridge {bridge}")))
    }

    /// Sets hairpin mode on a bridge port, so a pod can reach itself through a service.
    pub async fn set_hairpin(&self, index: u32, on: bool) -> Result<(), Error> {
        self.handle
            .link()
            .set_port(LinkBridgePort::new(index).hairpin(on).build())
            .execute()
            .await
            .map_err(request(format!("set hairpin mode on link {index}")))
    }

    /// Adds an address; an address already present is fine.
    pub async fn add_address(&self, index: u32, addr: IpNet) -> Result<(), Error> {
        match self
            .handle
            .address()
            .add(index, addr.addr(), addr.prefix_len())
            .execute()
            .await
        {
            Err(e) if errno(&e) != Some(EEXIST) => {
                Err(request(format!("add address {addr} to link {index}"))(e))
            }
            _ => Ok(()),
        }
    }

    /// The addresses on a link.
    pub async fn addresses(&self, index: u32) -> Result<Vec<IpNet>, Error> {
        let messages: Vec<_> = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .execute()
            .try_collect()
            .await
            .map_err(request(format!("list addresses of link {index}")))?;
        Ok(messages
            .iter()
            .filter_map(|m| {
                let addr = m.attributes.iter().find_map(|a| match a {
                    AddressAttribute::Address(ip) => Some(*ip),
                    _ => None,
                })?;
                IpNet::new(addr, m.header.prefix_len).ok()
            })
            .collect())
    }

    /// Adds a route through `gw` (or directly on the link) out of link `index`; an existing
    /// identical route is fine.
    pub async fn add_route(&self, dst: IpNet, gw: Option<IpAddr>, index: u32) -> Result<(), Error> {
        let message = match (dst, gw) {
            (IpNet::V4(dst), gw) => {
                let mut b = RouteMessageBuilder::<std::net::Ipv4Addr>::new()
                    .destination_prefix(dst.network(), dst.prefix_len())
                    .output_interface(index);
                match gw {
                    Some(IpAddr::V4(gw)) => b = b.gateway(gw),
                    _ => b = b.scope(RouteScope::Link),
                }
                b.build()
            }
            (IpNet::V6(dst), gw) => {
                let mut b = RouteMessageBuilder::<std::net::Ipv6Addr>::new()
                    .destination_prefix(dst.network(), dst.prefix_len())
                    .output_interface(index);
                match gw {
                    Some(IpAddr::V6(gw)) => b = b.gateway(gw),
                    _ => b = b.scope(RouteScope::Link),
                }
                b.build()
            }
        };
        match self.handle.route().add(message).execute().await {
            Err(e) if errno(&e) != Some(EEXIST) => Err(request(format!("add route to {dst}"))(e)),
            _ => Ok(()),
        }
    }

    /// Deletes a link by name; a missing link is fine.
    pub async fn delete(&self, name: &str) -> Result<(), Error> {
        let Some(link) = self.link(name).await? else {
            return Ok(());
        };
        match self.handle.link().del(link.header.index).execute().await {
            Err(e) if errno(&e) != Some(ENODEV) => Err(request(format!("delete link {name}"))(e)),
            _ => Ok(()),
        }
    }
}
