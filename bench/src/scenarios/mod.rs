//! One module per benchmark scenario.

pub mod api;
pub mod controllers;
pub mod pod_startup;
pub mod proxy_sync;
pub mod scheduler;
pub mod service_traffic;
pub mod storage;
