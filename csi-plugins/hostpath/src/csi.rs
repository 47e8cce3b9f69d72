//! The CSI v1 protocol: messages, gRPC clients and server traits generated from `proto/csi.proto`.

/// Package `csi.v1` of the Container Storage Interface specification.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod v1 {
    tonic::include_proto!("csi.v1");
}
