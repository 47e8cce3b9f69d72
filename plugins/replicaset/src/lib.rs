//! The ReplicaSet controller as a native skiff plugin.
//!
//! It behaves like `builtin-controllers/replicaset.rhai` (same pod names, ownerReferences,
//! adoption and release, expectations annotation and status), so an operator may run either,
//! and `skiff-bench controllers` can compare the Rhai host with the native one on the same
//! work. Install it by copying the built library into the host's plugins directory and
//! disabling the script (`--enable '*,-replicaset'` style lists name controllers, and both
//! are called `replicaset`, so only one of them may be loaded).

mod controller;
pub mod expectations;
pub mod labels;
pub mod pods;

pub use controller::{Error, ReplicaSetController};

skiff_plugin_sdk::export_controller!(ReplicaSetController);
