//! The reverse proxy: HTTP and HTTPS listeners, routing by the table, forwarding to an
//! endpoint with hyper's client.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use http::{Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::routes::{Table, rewritten};

type Body = BoxBody<Bytes, hyper::Error>;

/// What every connection shares.
pub struct Shared {
    pub table: RwLock<Table>,
    client: Client<HttpConnector, Incoming>,
    next: AtomicUsize,
}

impl Shared {
    pub fn new() -> Arc<Shared> {
        Arc::new(Shared {
            table: RwLock::new(Table::default()),
            client: Client::builder(TokioExecutor::new()).build_http(),
            next: AtomicUsize::new(0),
        })
    }
}

fn text(code: StatusCode, msg: &str) -> Response<Body> {
    let mut r = Response::new(
        Full::new(Bytes::from(format!("{msg}\n")))
            .map_err(|never| match never {})
            .boxed(),
    );
    *r.status_mut() = code;
    r
}

async fn handle(shared: Arc<Shared>, mut req: Request<Incoming>) -> Response<Body> {
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().host().map(str::to_string))
        .unwrap_or_default();
    let host = host
        .rsplit_once(':')
        .map_or(host.as_str(), |(h, p)| {
            if p.chars().all(|c| c.is_ascii_digit()) {
                h
            } else {
                host.as_str()
            }
        })
        .to_string();
    let path = req.uri().path().to_string();
    let (upstream, new_path) = {
        let table = shared.table.read().unwrap_or_else(|e| e.into_inner());
        let Some(target) = table.route(&host, &path) else {
            return text(StatusCode::NOT_FOUND, "404 page not found");
        };
        if target.endpoints.is_empty() {
            return text(StatusCode::SERVICE_UNAVAILABLE, "503 no ready endpoints");
        }
        let i = shared.next.fetch_add(1, Ordering::Relaxed) % target.endpoints.len();
        (target.endpoints[i], rewritten(target, &path))
    };
    let query = req
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let Ok(uri) = format!("http://{upstream}{new_path}{query}").parse::<Uri>() else {
        return text(StatusCode::BAD_REQUEST, "bad path");
    };
    *req.uri_mut() = uri;
    match shared.client.request(req).await {
        Ok(resp) => resp.map(|b| b.boxed()),
        Err(e) => {
            tracing::debug!(error = %e, %upstream, "upstream failed");
            text(StatusCode::BAD_GATEWAY, "502 bad gateway")
        }
    }
}

/// Serves plain HTTP on `listener`, or HTTPS when `tls` is given.
pub async fn serve(listener: TcpListener, tls: Option<TlsAcceptor>, shared: Arc<Shared>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(shared, req).await) }
            });
            let builder = auto::Builder::new(TokioExecutor::new());
            match tls {
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(tcp).await {
                        let _ = builder
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    }
                }
                None => {
                    let _ = builder.serve_connection(TokioIo::new(tcp), service).await;
                }
            }
        });
    }
}

/// The address of a listener, for status.
pub fn local(listener: &TcpListener) -> Option<SocketAddr> {
    listener.local_addr().ok()
}
