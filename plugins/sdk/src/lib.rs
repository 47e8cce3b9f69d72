//! The stable ABI between skiff and native plugins, with a safe Rust wrapper.
//!
//! A plugin is a `cdylib` that implements [`Controller`] and calls
//! [`export_controller!`](crate::export_controller) once. The macro exports the single entry
//! point [`abi::ENTRY_SYMBOL`]; everything crossing the boundary is UTF-8 JSON in buffers
//! owned by the side that allocated them, so host and plugin need not share a Rust compiler.

pub mod abi;
mod buffer;
mod controller;
#[doc(hidden)]
pub mod export;
mod host;

pub use controller::{Action, Context, Controller};
pub use host::{Host, HostError};
pub use serde_json::{Value, json};
