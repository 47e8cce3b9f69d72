//! A tiny DNS server on loopback standing in for the host's resolver: it knows one name.

use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;

use hickory_proto::op::{MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_server::Server;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;

/// Answers `name` with `address`; NXDOMAIN for anything else. Counts queries.
pub struct Upstream {
    pub addr: SocketAddr,
    pub queries: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    _server: Server<Handler>,
}

pub struct Handler {
    name: Name,
    address: Ipv4Addr,
    queries: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: hickory_server::net::runtime::Time>(
        &self,
        request: &Request,
        mut response: R,
    ) -> ResponseInfo {
        self.queries
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let info = request.request_info().unwrap();
        let asked: Name = info.query.name().clone().into();
        let mut meta = Metadata::new(request.metadata.id, MessageType::Response, OpCode::Query);
        let mut records = Vec::new();
        if asked.to_lowercase() == self.name && info.query.query_type() == RecordType::A {
            records.push(Record::from_rdata(asked, 60, RData::A(A(self.address))));
        } else if asked.to_lowercase() != self.name {
            meta.response_code = ResponseCode::NXDomain;
        }
        let msg = MessageResponseBuilder::new(&request.queries, None).build(
            meta,
            records.iter(),
            std::iter::empty(),
            std::iter::empty(),
            std::iter::empty(),
        );
        response.send_response(msg).await.unwrap()
    }
}

impl Upstream {
    pub async fn start(name: &str, address: Ipv4Addr) -> Upstream {
        let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = udp.local_addr().unwrap();
        let queries = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut server = Server::new(Handler {
            name: Name::from_str(name).unwrap().to_lowercase(),
            address,
            queries: queries.clone(),
        });
        server.register_socket(udp);
        Upstream {
            addr,
            queries,
            _server: server,
        }
    }
}
