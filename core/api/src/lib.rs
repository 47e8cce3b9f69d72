//! Kubernetes API machinery shared by every skiff component: types and pure functions, no I/O.
//!
//! Objects are handled as `serde_json::Value` so that built-in kinds and custom resources
//! follow exactly the same paths through the store and the API server.

pub mod convert;
pub mod defaults;
pub mod meta;
pub mod openapi;
pub mod patch;
pub mod protobuf;
pub mod registry;
pub mod selector;
pub mod status;
pub mod table;
pub mod validation;

pub use registry::{Registry, ResourceInfo, Scope};
pub use status::{Status, StatusCause};
