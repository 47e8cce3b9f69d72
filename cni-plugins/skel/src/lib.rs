//! Shared CNI plugin skeleton: the CNI_* environment, stdin config, result and error protocol.
//!
//! A plugin implements [`Plugin`] and its `main` is one call to [`run`]. The skeleton reads the
//! environment and the network configuration, negotiates the version, dispatches the command,
//! and prints the result or the spec's error object. The result types are shared with the
//! kubelet, which is the CNI runtime on the other side of the same protocol.

pub mod args;
pub mod conf;
pub mod delegate;
pub mod error;
pub mod netns;
pub mod plugin;
pub mod types;
pub mod version;

pub use args::{CmdArgs, Command};
pub use conf::{Attachment, NetConf};
pub use error::{Error, ErrorCode};
pub use plugin::{Plugin, dispatch, run};
pub use types::{CniResult, Dns, Interface, IpConfig, Route};
pub use version::{LATEST, SUPPORTED};
