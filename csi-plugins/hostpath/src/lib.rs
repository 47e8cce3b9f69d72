//! skiff-hostpath: a CSI v1 driver whose volumes are directories on the node.
//!
//! The binary (`skiff-hostpath`) serves the Identity, Controller and Node services on a unix
//! socket. The library half exists so other skiff components can speak CSI to any driver:
//! [`csi::v1`] holds the generated message types and gRPC clients, and [`client::connect`]
//! opens a channel over a driver's unix socket.

pub mod capability;
pub mod client;
pub mod config;
pub mod controller;
pub mod csi;
pub mod driver;
pub mod hardlimit;
pub mod identity;
pub mod mount;
pub mod node;
pub mod server;
pub mod size;
pub mod state;

pub use client::connect;
pub use config::Config;
