//! Test support for the built-in controllers: an in-process API server, the controller host
//! loading `builtin-controllers/`, simulated nodes and watch helpers.

pub mod cluster;
pub mod sim_node;
pub mod wait;
