//! Serving the three CSI services on a unix socket until told to stop.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};

use std::time::Duration;

use tokio::net::UnixListener;
use tokio::sync::watch;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::transport::Server;

use crate::config::Config;
use crate::controller::ControllerService;
use crate::csi::v1::controller_server::ControllerServer;
use crate::csi::v1::identity_server::IdentityServer;
use crate::csi::v1::node_server::NodeServer;
use crate::driver::Driver;
use crate::identity::IdentityService;
use crate::node::NodeService;
use crate::state;

/// How long calls in flight may take to finish once shutdown was asked for.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Why the driver could not serve.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot open the driver state")]
    State(#[source] state::Error),
    #[error("cannot prepare the socket {path}")]
    Socket {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("grpc server failed")]
    Serve(#[source] tonic::transport::Error),
}

/// Serves Identity, Controller and Node on the unix socket `socket` until `shutdown`
/// completes, then removes the socket.
///
/// A socket file left by an earlier run that died is replaced: a CSI driver is restarted by
/// its supervisor on the same path, and refusing to start there would need a human.
pub async fn serve(
    config: Config,
    socket: &Path,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), Error> {
    let driver = Driver::open(config).map_err(Error::State)?;
    let socket_err = |source| Error::Socket {
        path: socket.to_owned(),
        source,
    };
    if let Some(parent) = socket.parent() {
        std::fs::create_dir_all(parent).map_err(socket_err)?;
    }
    match std::fs::remove_file(socket) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(socket_err(e)),
        _ => {}
    }
    let listener = UnixListener::bind(socket).map_err(socket_err)?;
    tracing::info!(socket = %socket.display(), node = %driver.config.node_id, "serving CSI");

    let (stop, stopped) = watch::channel(false);
    let mut graceful = stopped.clone();
    let server = Server::builder()
        .add_service(IdentityServer::new(IdentityService::new(driver.clone())))
        .add_service(ControllerServer::new(ControllerService::new(
            driver.clone(),
        )))
        .add_service(NodeServer::new(NodeService::new(driver)))
        .serve_with_incoming_shutdown(UnixListenerStream::new(listener), async move {
            let _ = graceful.wait_for(|stop| *stop).await;
        });
    tokio::pin!(server);
    let served = tokio::select! {
        served = &mut server => served,
        () = shutdown => {
            let _ = stop.send(true);
            // Calls in flight may finish; idle connections a client keeps open (the kubelet
            // holds one for its lifetime) must not keep the driver alive past the grace.
            match tokio::time::timeout(SHUTDOWN_GRACE, &mut server).await {
                Ok(served) => served,
                Err(_) => {
                    tracing::info!("connections still open after the grace period, closing them");
                    Ok(())
                }
            }
        }
    };
    let _ = std::fs::remove_file(socket);
    tracing::info!(socket = %socket.display(), "stopped serving CSI");
    served.map_err(Error::Serve)
}
