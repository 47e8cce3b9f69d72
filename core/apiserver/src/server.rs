//! Starting and stopping the server: PKI, kubeconfig, bootstrap objects, the HTTPS accept
//! loop and graceful shutdown.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use skiff_api::Registry;
use skiff_store::Store;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::auth::{Authenticator, PeerIdentity, User};
use crate::config::Config;
use crate::local::LocalService;
use crate::state::ApiState;
use crate::watch::WatchHubs;
use crate::{auth, crd, handlers, kubeconfig, namespaces, tls};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot create data directory {path}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the store")]
    OpenStore(#[source] skiff_store::OpenError),
    #[error("cannot read or write the store")]
    Store(#[source] skiff_store::Error),
    #[error("cannot set up tls")]
    Tls(#[from] tls::Error),
    #[error("cannot write the kubeconfig")]
    Kubeconfig(#[from] kubeconfig::Error),
    #[error("cannot load credentials")]
    Auth(#[from] auth::Error),
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// A running API server.
pub struct Server {
    addr: SocketAddr,
    kubeconfig: PathBuf,
    state: Arc<ApiState>,
    router: Router,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("addr", &self.addr).finish()
    }
}

impl Server {
    /// The address the server listens on (with the port actually bound).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The admin kubeconfig (`<data-dir>/kubeconfig`).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// A snapshot of the resources served now (built-in and from CRDs).
    pub fn registry(&self) -> Registry {
        self.state.registry().clone()
    }

    /// The store behind the server.
    pub fn store(&self) -> Arc<dyn Store> {
        self.state.store.clone()
    }

    /// The API for components in this process, as the cluster administrator (the user of
    /// the admin kubeconfig), without TLS or a socket.
    pub fn local_service(&self) -> LocalService {
        LocalService::new(
            self.router.clone(),
            User {
                name: tls::ADMIN_USER.into(),
                groups: vec![tls::ADMIN_GROUP.into()],
            },
        )
    }

    /// Stops accepting connections, ends watches, and waits (at most 5 s) for requests in
    /// flight.
    pub async fn shutdown(self) {
        self.state.shutdown.cancel();
        let _ = self.task.await;
    }
}

async fn open_store(config: &Config) -> Result<Arc<dyn Store>, Error> {
    match &config.store {
        Some(s) => Ok(s.clone()),
        None => skiff_store::open("embedded", &config.data_dir)
            .await
            .map_err(Error::OpenStore),
    }
}

/// Starts a server: generates or loads the PKI, writes the kubeconfig, creates the initial
/// namespaces, loads CRDs and serves HTTPS until [`Server::shutdown`].
pub async fn start(config: Config) -> Result<Server, Error> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| Error::DataDir {
        path: config.data_dir.clone(),
        source,
    })?;
    let store = open_store(&config).await?;
    let pki = tls::Pki::load_or_create(&config.data_dir.join("pki"), &config.extra_sans)?;
    let acceptor = TlsAcceptor::from(pki.server_config()?);
    let auth = Authenticator::from_token_file(config.token_file.as_deref())?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| Error::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| Error::Bind {
        addr: config.listen,
        source,
    })?;
    let kubeconfig_path = config.data_dir.join("kubeconfig");
    kubeconfig::write(&kubeconfig_path, addr, &pki)?;

    let shutdown = CancellationToken::new();
    let state = Arc::new(ApiState {
        watches: WatchHubs::new(store.clone(), shutdown.clone()),
        store,
        recent: Default::default(),
        registry: RwLock::new(Registry::builtin()),
        custom: RwLock::default(),
        auth,
        streaming: config.streaming.clone(),
        server_address: RwLock::new(kubeconfig::server_url(addr)),
        bookmark_interval: config.bookmark_interval,
        watch_timeout: config.watch_timeout,
        shutdown: shutdown.clone(),
    });
    let registry = state.registry().clone();
    namespaces::bootstrap(state.store.as_ref(), &registry)
        .await
        .map_err(Error::Store)?;
    let crds = crd::load_all(&state).await.map_err(Error::Store)?;
    tracing::info!(%addr, crds, "api server listening");

    let router = Router::new()
        .fallback(handlers::dispatch)
        .with_state(state.clone());
    let task = tokio::spawn(accept_loop(listener, acceptor, router.clone(), shutdown));
    Ok(Server {
        addr,
        kubeconfig: kubeconfig_path,
        state,
        router,
        task,
    })
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    router: Router,
    shutdown: CancellationToken,
) {
    let graceful = GracefulShutdown::new();
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            a = listener.accept() => a,
        };
        let Ok((tcp, _)) = accepted else { continue };
        // Responses go out as soon as they are written, not held back until the client
        // acknowledges the previous segment (Nagle): an API answer is one small message, and
        // kubectl's and the kube-apiserver's Go sockets work the same way.
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let router = router.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let tls =
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(t)) => t,
                    _ => return,
                };
            let user = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(tls::client_identity)
                .map(|(name, groups)| User { name, groups });
            let identity = PeerIdentity(user);
            let service = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
                req.extensions_mut().insert(identity.clone());
                router.clone().oneshot(req.map(Body::new))
            });
            let builder = auto::Builder::new(TokioExecutor::new());
            let conn = builder
                .serve_connection_with_upgrades(TokioIo::new(tls), service)
                .into_owned();
            let _ = watcher.watch(conn).await;
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(5)) => {}
    }
}
