//! Patches of stored objects: JSON patch, JSON merge patch, strategic merge patch and server-side apply.
//!
//! Every function works on `serde_json::Value` and never mutates its inputs, so the API server
//! can compute a candidate object, validate it, and only then write it.

pub mod apply;
pub mod fieldset;
mod json;
pub mod managed;
mod merge;
mod strategic;
pub mod strategy;

pub use apply::{ApplyError, server_side_apply, track_update, track_update_subresource};
pub use json::json_patch;
pub use merge::merge_patch;
pub use strategic::strategic_merge_patch;
pub use strategy::{ListStrategy, PatchStrategy};

/// Why a JSON patch or a strategic merge patch could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The body of a JSON patch is not a list of RFC 6902 operations.
    #[error("invalid json patch document")]
    InvalidJsonPatch(#[source] serde_json::Error),
    /// An operation failed (a `test` did not match, a path does not exist, ...).
    #[error("json patch could not be applied")]
    JsonPatch(#[source] json_patch::PatchError),
    /// Strategic merge patches and their targets are JSON objects.
    #[error("the patch and its target must be json objects")]
    NotAnObject,
    /// A `$patch` directive other than `replace`, `delete` or `merge`.
    #[error("unknown patch directive {0:?}")]
    UnknownDirective(String),
    /// A directive whose value has the wrong shape.
    #[error("invalid {directive} directive: {reason}")]
    InvalidDirective {
        /// The directive key, e.g. `$retainKeys`.
        directive: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An item of a list merged by key lacks the key.
    #[error("an item of list {list:?} has no merge key {key:?}")]
    MissingMergeKey {
        /// The list field.
        list: String,
        /// The merge key it is merged by.
        key: &'static str,
    },
    /// The patch sets a field that its own `$retainKeys` list would drop.
    #[error("field {0:?} is not present in the $retainKeys list")]
    NotRetained(String),
}
