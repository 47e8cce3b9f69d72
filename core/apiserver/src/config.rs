//! Settings of one API server instance, with documented defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use skiff_store::Store;

use crate::streaming::StreamingHandler;

/// How to run an API server. Build one with [`Config::new`] and adjust the public fields.
#[derive(Clone)]
pub struct Config {
    /// Address to listen on. Default `127.0.0.1:6443`; use port 0 to pick a free one.
    pub listen: SocketAddr,
    /// Directory holding the PKI (`pki/`), the admin `kubeconfig` and, for the embedded
    /// store, its data.
    pub data_dir: PathBuf,
    /// The object store. Default (`None`): the embedded backend inside `data_dir/store`.
    pub store: Option<Arc<dyn Store>>,
    /// Extra subject alternative names (DNS names or IP addresses) for the serving
    /// certificate, besides 127.0.0.1, ::1, localhost and the host name. Only used when
    /// the certificate is first generated.
    pub extra_sans: Vec<String>,
    /// Optional static token file, one `token,user,uid,"group1,group2"` line per token (the
    /// upstream `--token-auth-file` format). Default: none.
    pub token_file: Option<PathBuf>,
    /// How often watches that asked for bookmarks receive one. Default 60 s (as upstream).
    pub bookmark_interval: Duration,
    /// Watches with no `timeoutSeconds` end after this long. Default 30 min.
    pub watch_timeout: Duration,
    /// Serves `log`, `exec`, `attach` and `portforward` of pods. Default: none (those
    /// subresources answer 404 until the node side provides one).
    pub streaming: Option<Arc<dyn StreamingHandler>>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("store", &self.store.is_some())
            .field("extra_sans", &self.extra_sans)
            .field("token_file", &self.token_file)
            .field("bookmark_interval", &self.bookmark_interval)
            .field("watch_timeout", &self.watch_timeout)
            .finish()
    }
}

impl Config {
    /// The defaults, with data kept in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 6443)),
            data_dir: data_dir.into(),
            store: None,
            extra_sans: Vec::new(),
            token_file: None,
            bookmark_interval: Duration::from_secs(60),
            watch_timeout: Duration::from_secs(1800),
            streaming: None,
        }
    }
}
