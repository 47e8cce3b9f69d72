//! One module per `skiff` subcommand.

pub mod api_resources;
pub mod apply;
pub mod controllers;
pub mod create;
pub mod delete;
pub mod describe;
pub mod get;
pub mod image;
pub mod up;
pub mod version;
