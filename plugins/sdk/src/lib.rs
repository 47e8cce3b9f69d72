//! The stable ABI between skiff and native plugins, with a safe Rust wrapper.
