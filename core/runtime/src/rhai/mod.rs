//! Rhai controllers: a sandboxed engine per script, compiled once, run on blocking threads.

mod api;
mod engine;
mod script;

pub use engine::Limits;
pub use script::{Error, RhaiController};

#[cfg(test)]
mod sandbox_tests;
