//! Cluster DNS: a hickory server answering cluster names from the informer caches and
//! forwarding the rest upstream.

mod forward;
mod resolve;

use std::net::SocketAddr;

use hickory_proto::op::{MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::Record;
use hickory_server::Server;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use forward::{Forwarded, Forwarder};
pub use resolve::{Answer, ClusterView};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot set up forwarding")]
    Forward(#[from] forward::Error),
}

/// Answers one query at a time from the view, or from upstream.
struct Handler {
    view: ClusterView,
    forwarder: Forwarder,
}

impl Handler {
    async fn records(&self, request: &Request) -> (ResponseCode, bool, Vec<Record>) {
        let Ok(info) = request.request_info() else {
            return (ResponseCode::FormErr, false, Vec::new());
        };
        let name = info.query.name().clone().into();
        let qtype = info.query.query_type();
        match self.view.answer(&name, qtype) {
            Answer::Records(r) => (ResponseCode::NoError, true, r),
            Answer::NxDomain => (ResponseCode::NXDomain, true, Vec::new()),
            Answer::Forward => match self.forwarder.lookup(&name, qtype).await {
                Forwarded::Records(r) => (ResponseCode::NoError, false, r),
                Forwarded::NxDomain => (ResponseCode::NXDomain, false, Vec::new()),
                Forwarded::Failed => (ResponseCode::ServFail, false, Vec::new()),
            },
        }
    }
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: hickory_server::net::runtime::Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let (code, authoritative, records) = if request.metadata.op_code == OpCode::Query {
            self.records(request).await
        } else {
            (ResponseCode::NotImp, false, Vec::new())
        };
        let mut meta = Metadata::new(request.metadata.id, MessageType::Response, OpCode::Query);
        meta.recursion_desired = request.metadata.recursion_desired;
        meta.recursion_available = true;
        meta.authoritative = authoritative;
        meta.response_code = code;
        let response = MessageResponseBuilder::new(&request.queries, None).build(
            meta,
            records.iter(),
            std::iter::empty(),
            std::iter::empty(),
            std::iter::empty(),
        );
        match response_handle.send_response(response).await {
            Ok(info) => info,
            Err(e) => {
                tracing::debug!(error = %e, "cannot send a dns response");
                let mut metadata =
                    Metadata::new(request.metadata.id, MessageType::Response, OpCode::Query);
                metadata.response_code = ResponseCode::ServFail;
                hickory_proto::op::Header {
                    metadata,
                    counts: Default::default(),
                }
                .into()
            }
        }
    }
}

/// A running DNS server.
pub struct DnsServer {
    addr: SocketAddr,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for DnsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsServer")
            .field("addr", &self.addr)
            .finish()
    }
}

impl DnsServer {
    /// Serves UDP and TCP on `listen` (port 0: one free port for both).
    pub async fn start(
        listen: SocketAddr,
        view: ClusterView,
        upstreams: &[SocketAddr],
    ) -> Result<Self, Error> {
        let bind = |addr| move |source| Error::Bind { addr, source };
        let (udp, tcp) = bind_pair(listen).await.map_err(bind(listen))?;
        let addr = udp.local_addr().map_err(bind(listen))?;
        let handler = Handler {
            view,
            forwarder: Forwarder::new(upstreams)?,
        };
        let mut server = Server::new(handler);
        server.register_socket(udp);
        server.register_listener(tcp, std::time::Duration::from_secs(5), 64);
        let stop = CancellationToken::new();
        let token = stop.clone();
        let task = tokio::spawn(async move {
            token.cancelled().await;
            let _ = server.shutdown_gracefully().await;
        });
        tracing::info!(%addr, "cluster dns listening");
        Ok(DnsServer { addr, stop, task })
    }

    /// The address served (UDP and TCP).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub async fn shutdown(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// A UDP socket and a TCP listener on the same port.
async fn bind_pair(listen: SocketAddr) -> std::io::Result<(UdpSocket, TcpListener)> {
    if listen.port() != 0 {
        return Ok((
            UdpSocket::bind(listen).await?,
            TcpListener::bind(listen).await?,
        ));
    }
    let mut last = None;
    for _ in 0..20 {
        let udp = UdpSocket::bind(listen).await?;
        match TcpListener::bind(udp.local_addr()?).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free port")))
}
