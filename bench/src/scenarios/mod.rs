//! One module per benchmark scenario.

pub mod api;
pub mod scheduler;
