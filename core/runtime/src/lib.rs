//! The skiff controller host: informers, work queues, the Rhai engine and the plugin loader.
//!
//! The core ships no workload logic: every controller is a Rhai script or a native plugin
//! implementing the one [`Controller`] contract, run by a [`Host`]. `README.md` beside this
//! crate is the reference for script authors.

pub mod cache;
pub mod cluster;
pub mod config;
pub mod controller;
pub mod discovery;
pub mod enable;
pub mod events;
pub mod functions;
pub mod host;
pub mod json_object;
pub mod leader;
pub mod metrics;
pub mod plugin;
pub mod projection;
pub mod queue;
mod reload;
pub mod resources;
pub mod rhai;
pub mod runner;
pub mod selected;
pub mod selector;

pub use config::{HostConfig, LeaderElection};
pub use controller::{
    Action, Context, Controller, ControllerConfig, KindRef, ObjectKey, ReconcileError, WatchRef,
};
pub use enable::EnableList;
pub use host::{ControllerInfo, ControllerState, Error, Host};
