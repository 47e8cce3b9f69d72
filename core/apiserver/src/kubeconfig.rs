//! The admin kubeconfig written beside the PKI, for `kubectl --kubeconfig` and kube-rs.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use crate::tls::Pki;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot write kubeconfig {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot encode kubeconfig")]
    Encode(#[source] serde_yaml::Error),
}

/// The URL clients use for a listen address: wildcard addresses become loopback.
pub fn server_url(addr: SocketAddr) -> String {
    let ip = if addr.ip().is_unspecified() {
        if addr.is_ipv4() {
            "127.0.0.1".parse().expect("valid ip")
        } else {
            "::1".parse().expect("valid ip")
        }
    } else {
        addr.ip()
    };
    SocketAddr::new(ip, addr.port()).to_string()
}

/// Writes a kubeconfig with the CA and the admin client certificate embedded, pointing at
/// `addr`. Rewritten on every start because the port may change.
pub fn write(path: &Path, addr: SocketAddr, pki: &Pki) -> Result<(), Error> {
    let b64 = |s: &str| STANDARD.encode(s.as_bytes());
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "skiff", "cluster": {
            "server": format!("https://{}", server_url(addr)),
            "certificate-authority-data": b64(&pki.ca_cert),
        }}],
        "users": [{"name": "admin", "user": {
            "client-certificate-data": b64(&pki.admin_cert),
            "client-key-data": b64(&pki.admin_key),
        }}],
        "contexts": [{"name": "skiff", "context": {"cluster": "skiff", "user": "admin"}}],
        "current-context": "skiff",
        "preferences": {},
    });
    let text = serde_yaml::to_string(&config).map_err(Error::Encode)?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|source| Error::Write {
            path: path.to_path_buf(),
            source,
        })
}
