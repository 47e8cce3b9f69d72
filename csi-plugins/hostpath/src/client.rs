//! Connecting to a CSI driver's unix socket, for the kubelet (Node calls) and the
//! provisioner (Controller calls).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use skiff_hostpath::csi::v1::{node_client::NodeClient, NodeGetInfoRequest};
//! let channel = skiff_hostpath::connect("/var/lib/skiff/csi/hostpath/csi.sock").await?;
//! let info = NodeClient::new(channel).node_get_info(NodeGetInfoRequest {}).await?;
//! println!("{}", info.into_inner().node_id);
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};

use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

/// Why a driver could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot connect to the CSI driver at {path}")]
    Connect {
        path: PathBuf,
        #[source]
        source: tonic::transport::Error,
    },
}

/// Opens a gRPC channel to the driver listening on the unix socket `socket`.
///
/// Accepts a plain path or a `unix://` endpoint as drivers are configured
/// (`unix:///run/csi.sock`). The channel reconnects by itself if the driver restarts.
pub async fn connect(socket: impl AsRef<Path>) -> Result<Channel, Error> {
    let path = socket_path(socket.as_ref());
    // The URI is required by tonic but never dialled: the connector below ignores it.
    let endpoint = Endpoint::from_static("http://csi.invalid");
    let dial = path.clone();
    endpoint
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let dial = dial.clone();
            async move { UnixStream::connect(dial).await.map(TokioIo::new) }
        }))
        .await
        .map_err(|source| Error::Connect { path, source })
}

/// Strips a `unix://` or `unix:` prefix from an endpoint, leaving the socket path.
pub fn socket_path(endpoint: &Path) -> PathBuf {
    let text = endpoint.to_string_lossy();
    let stripped = text
        .strip_prefix("unix://")
        .or_else(|| text.strip_prefix("unix:"))
        .unwrap_or(&text);
    PathBuf::from(stripped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_endpoints_and_plain_paths_give_the_same_socket() {
        let want = PathBuf::from("/run/csi/csi.sock");
        assert_eq!(socket_path(Path::new("unix:///run/csi/csi.sock")), want);
        assert_eq!(socket_path(Path::new("unix:/run/csi/csi.sock")), want);
        assert_eq!(socket_path(Path::new("/run/csi/csi.sock")), want);
    }

    #[tokio::test]
    async fn connecting_to_a_missing_socket_fails() {
        let dir = tempfile::tempdir().unwrap();
        let err = connect(dir.path().join("none.sock")).await.unwrap_err();
        assert!(err.to_string().contains("none.sock"));
    }
}
