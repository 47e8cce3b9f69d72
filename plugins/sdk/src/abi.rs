//! The C ABI, version 1: the `#[repr(C)]` types both sides agree on.
//!
//! Layout rule that makes versioning possible: every future version keeps `abi_version: u32`
//! as the first field of the entry struct, so a host can read it from any plugin and refuse
//! one it does not speak before touching anything else.
//!
//! Envelopes: a reconcile reply and every host callback reply is a JSON object, either
//! `{"ok": <value>}` or `{"error": "<message>"}`. The reconcile `ok` value is `null` (wait for
//! the next change) or `{"requeue_after": <seconds>}`; a `map` reply's `ok` value is an array
//! of `{"namespace", "name"}`. Host callback requests:
//!
//! | callback        | request JSON                                                  |
//! |-----------------|---------------------------------------------------------------|
//! | `get`           | `{"apiVersion","kind","namespace","name"}` → object or `null`  |
//! | `list`          | `{"apiVersion","kind","namespace","selector"}` → array         |
//! | `create`        | the object → the created object                                |
//! | `update`        | the object → the updated object (conflict is an error)        |
//! | `update_status` | the object → the updated object                               |
//! | `patch`         | `{"apiVersion","kind","namespace","name","patch"}` (merge)      |
//! | `delete`        | `{"apiVersion","kind","namespace","name"}` → object or `null`  |
//! | `event`         | `{"object","type","reason","message"}` → `null`                |

use std::ffi::c_void;

/// The ABI this crate speaks.
pub const ABI_VERSION: u32 = 1;

/// The name of the one symbol a plugin exports: `extern "C" fn() -> *const PluginV1`.
pub const ENTRY_SYMBOL: &str = "skiff_plugin_entry";

/// Bytes lent by the caller for the duration of one call.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Bytes {
    /// Start of the bytes (may be dangling when `len` is 0).
    pub ptr: *const u8,
    /// Number of bytes.
    pub len: usize,
}

/// Bytes owned by the side that allocated them; hand them back to that side's `free`.
#[repr(C)]
pub struct Buffer {
    /// Start of the allocation.
    pub ptr: *mut u8,
    /// Number of initialised bytes.
    pub len: usize,
    /// Capacity of the allocation.
    pub cap: usize,
}

/// One host callback: JSON request in, JSON envelope out (a buffer the host frees).
pub type HostFn = extern "C" fn(ctx: *const c_void, request: Bytes) -> Buffer;

/// The callbacks a host lends to a plugin for one reconcile.
#[repr(C)]
pub struct HostV1 {
    /// Opaque host state passed back to every callback.
    pub ctx: *const c_void,
    /// Reads an object from the shared caches.
    pub get: HostFn,
    /// Lists objects from the shared caches.
    pub list: HostFn,
    /// Creates an object through the API.
    pub create: HostFn,
    /// Replaces an object through the API (optimistic concurrency).
    pub update: HostFn,
    /// Replaces the status subresource.
    pub update_status: HostFn,
    /// Applies a JSON merge patch.
    pub patch: HostFn,
    /// Deletes an object.
    pub delete: HostFn,
    /// Records a core/v1 Event.
    pub event: HostFn,
    /// Frees a buffer returned by any callback above.
    pub free: extern "C" fn(Buffer),
}

/// What [`ENTRY_SYMBOL`] returns: a static table describing the plugin.
#[repr(C)]
pub struct PluginV1 {
    /// Always first: the ABI the plugin was built for.
    pub abi_version: u32,
    /// The controller's configuration as JSON (same shape as a Rhai script's `config()`).
    pub config: extern "C" fn() -> Buffer,
    /// Reconciles one object: `obj` and `ctx` JSON in, envelope out.
    pub reconcile: extern "C" fn(obj: Bytes, ctx: Bytes, host: *const HostV1) -> Buffer,
    /// Maps an object of a watched kind to primary keys with the named mapping function:
    /// `function` (UTF-8 name) and `obj` JSON in, envelope out (`ok` is
    /// `[{"namespace","name"}]`).
    pub map: extern "C" fn(function: Bytes, obj: Bytes, host: *const HostV1) -> Buffer,
    /// Frees a buffer returned by `config`, `reconcile` or `map`.
    pub free: extern "C" fn(Buffer),
}

/// The type of the entry point.
pub type EntryFn = extern "C" fn() -> *const PluginV1;
