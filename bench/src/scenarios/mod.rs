//! One module per benchmark scenario.

pub mod api;
pub mod controllers;
pub mod pod_startup;
pub mod scheduler;
pub mod service_traffic;
