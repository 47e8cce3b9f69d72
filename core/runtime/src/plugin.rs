//! Native plugins: loading `cdylib`s from the plugins directory (only there, never unloaded),
//! checking their ABI version, and adapting them to the [`Controller`] contract.
//!
//! This is the one module of the host with `unsafe`: calling into a foreign library and
//! lending it pointers cannot be checked by the compiler.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use skiff_plugin_sdk::abi::{ABI_VERSION, Buffer, Bytes, ENTRY_SYMBOL, EntryFn, HostV1, PluginV1};

use crate::cluster::DeleteOptions;
use crate::controller::{
    Action, Context, Controller, ControllerConfig, KindRef, ObjectKey, ReconcileError,
};

/// Why a plugin was not loaded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The library is not directly inside the plugins directory.
    #[error("refusing to load {path}: plugins load only from {dir}")]
    OutsidePluginsDir {
        /// The library asked for.
        path: PathBuf,
        /// The configured plugins directory.
        dir: PathBuf,
    },
    /// A path could not be resolved.
    #[error("resolving {path}")]
    Path {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The dynamic loader refused the library or it lacks the entry point.
    #[error("loading plugin {file}")]
    Load {
        /// The library's file name.
        file: String,
        /// The loader's reason.
        #[source]
        source: libloading::Error,
    },
    /// The entry point returned nothing.
    #[error("plugin {file} returned no entry table")]
    NoEntry {
        /// The library's file name.
        file: String,
    },
    /// The library speaks another ABI.
    #[error("plugin {file} was built for ABI {found}, this host speaks ABI {expected}")]
    Abi {
        /// The library's file name.
        file: String,
        /// Its ABI.
        found: u32,
        /// Ours.
        expected: u32,
    },
    /// Its configuration is not a controller configuration.
    #[error("plugin {file}: invalid config: {message}")]
    Config {
        /// The library's file name.
        file: String,
        /// What is wrong.
        message: String,
    },
}

/// A loaded native controller.
pub struct PluginController {
    file: String,
    entry: &'static PluginV1,
    config: ControllerConfig,
}

/// Takes a plugin buffer's bytes and gives the buffer back to the plugin.
fn take(entry: &PluginV1, buffer: Buffer) -> Vec<u8> {
    // SAFETY: the plugin returned a live buffer made by its `Buffer::from_vec`.
    let bytes = unsafe { buffer.to_vec() };
    (entry.free)(buffer);
    bytes
}

/// Reads a `{"ok"}` / `{"error"}` envelope.
fn open_envelope(bytes: &[u8]) -> Result<Value, String> {
    let mut envelope: Value =
        serde_json::from_slice(bytes).map_err(|e| format!("malformed reply from plugin: {e}"))?;
    if let Some(error) = envelope.get("error").and_then(Value::as_str) {
        return Err(error.to_string());
    }
    Ok(envelope
        .get_mut("ok")
        .map(Value::take)
        .unwrap_or(Value::Null))
}

/// Loads `path`, which must sit directly in `plugins_dir`.
pub fn load(plugins_dir: &Path, path: &Path) -> Result<PluginController, Error> {
    let canonical = |p: &Path| {
        std::fs::canonicalize(p).map_err(|source| Error::Path {
            path: p.to_path_buf(),
            source,
        })
    };
    let dir = canonical(plugins_dir)?;
    let library_path = canonical(path)?;
    if library_path.parent() != Some(dir.as_path()) {
        return Err(Error::OutsidePluginsDir {
            path: path.to_path_buf(),
            dir: plugins_dir.to_path_buf(),
        });
    }
    let file = library_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let load_error = |source| Error::Load {
        file: file.clone(),
        source,
    };
    // SAFETY: loading runs the library's initialisers; the operator put it in the plugins
    // directory, which is the trust decision this host honours.
    let library = unsafe { libloading::Library::new(&library_path) }.map_err(load_error)?;
    // Never unloaded: code and statics of the plugin stay valid for the life of the process.
    let library: &'static libloading::Library = Box::leak(Box::new(library));
    // SAFETY: the symbol is declared by the ABI as `extern "C" fn() -> *const PluginV1`.
    let entry_fn =
        unsafe { library.get::<EntryFn>(ENTRY_SYMBOL.as_bytes()) }.map_err(load_error)?;
    let table = entry_fn();
    if table.is_null() {
        return Err(Error::NoEntry { file });
    }
    // SAFETY: every ABI version keeps `abi_version: u32` as the first field of the table, so
    // reading it is valid whatever version the plugin was built for.
    let found = unsafe { std::ptr::read(table.cast::<u32>()) };
    if found != ABI_VERSION {
        return Err(Error::Abi {
            file,
            found,
            expected: ABI_VERSION,
        });
    }
    // SAFETY: the version matches, so the table is a `PluginV1` in the library's statics,
    // which live forever because the library is never unloaded.
    let entry: &'static PluginV1 = unsafe { &*table };
    let config_error = |message: String| Error::Config {
        file: file.clone(),
        message,
    };
    let raw = open_envelope(&take(entry, (entry.config)())).map_err(config_error)?;
    let config: ControllerConfig =
        serde_json::from_value(raw).map_err(|e| config_error(e.to_string()))?;
    config.check_fields().map_err(config_error)?;
    Ok(PluginController {
        file,
        entry,
        config,
    })
}

/// What the host callbacks reach through the opaque `ctx` pointer.
struct CallState<'a> {
    ctx: &'a Context,
}

fn reply(result: Result<Value, String>) -> Buffer {
    let envelope = match result {
        Ok(ok) => json!({ "ok": ok }),
        Err(error) => json!({ "error": error }),
    };
    Buffer::from_vec(serde_json::to_vec(&envelope).expect("json values always serialize"))
}

/// Runs one callback: decodes the request, catches panics, encodes the reply.
fn callback(
    state: *const c_void,
    request: Bytes,
    f: fn(&Context, Value) -> Result<Value, String>,
) -> Buffer {
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `state` is the `CallState` the host lent for this reconcile, and `request`
        // the plugin's bytes for this call; both outlive the call.
        let (state, request) = unsafe { (&*state.cast::<CallState<'_>>(), request.as_slice()) };
        let request: Value =
            serde_json::from_slice(request).map_err(|e| format!("bad request json: {e}"))?;
        f(state.ctx, request)
    }))
    .unwrap_or_else(|_| Err("host callback panicked".to_string()));
    reply(result)
}

fn str_field<'a>(request: &'a Value, field: &str) -> &'a str {
    request[field].as_str().unwrap_or_default()
}

fn kind_field(request: &Value) -> KindRef {
    KindRef::new(str_field(request, "apiVersion"), str_field(request, "kind"))
}

extern "C" fn host_get(state: *const c_void, request: Bytes) -> Buffer {
    callback(state, request, |ctx, r| {
        let found = ctx.cluster.get(
            &kind_field(&r),
            str_field(&r, "namespace"),
            str_field(&r, "name"),
        );
        found
            .map(|o| o.unwrap_or(Value::Null))
            .map_err(|e| e.to_string())
    })
}

extern "C" fn host_list(state: *const c_void, request: Bytes) -> Buffer {
    callback(state, request, |ctx, r| {
        ctx.cluster
            .list(&kind_field(&r), str_field(&r, "namespace"), &r["selector"])
            .map(|objects| Value::Array(objects.iter().map(|o| (**o).clone()).collect()))
            .map_err(|e| e.to_string())
    })
}

extern "C" fn host_create(state: *const c_void, request: Bytes) -> Buffer {
    callback(state, request, |ctx, r| {
        ctx.cluster.create(&r).map_err(|e| e.to_string())
    })
}

extern "C" fn host_update(state: *const c_void, request: Bytes) -> Buffer {
    callback(state, request, |ctx, r| {
        ctx.cluster.update(&r).map_err(|e| e.to_string())
    })
}

extern "C" fn host_update_status(state: *const c_void, request: Bytes) -> Buffer {
    callback(state, request, |ctx, r| {
        ctx.cluster.update_status(&r).map_err(|e| e.to_string())
    })
}

extern "C" fn host_patch(state: *const c_void, request: Bytes) -> Buffer {
    callback(state, request, |ctx, r| {
        ctx.cluster
            .patch(
                &kind_field(&r),
                str_field(&r, "namespace"),
                str_field(&r, "name"),
                &r["patch"],
            )
            .map_err(|e| e.to_string())
    })
}

extern "C" fn host_delete(state: *const c_void, request: Bytes) -> Buffer {
    callback(state, request, |ctx, r| {
        ctx.cluster
            .delete(
                &kind_field(&r),
                str_field(&r, "namespace"),
                str_field(&r, "name"),
                &DeleteOptions::default(),
            )
            .map(|o| o.unwrap_or(Value::Null))
            .map_err(|e| e.to_string())
    })
}

extern "C" fn host_event(state: *const c_void, request: Bytes) -> Buffer {
    callback(state, request, |ctx, r| {
        ctx.cluster
            .event(
                &r["object"],
                str_field(&r, "type"),
                str_field(&r, "reason"),
                str_field(&r, "message"),
            )
            .map(|()| Value::Null)
            .map_err(|e| e.to_string())
    })
}

impl PluginController {
    /// The library's file name.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Calls into the plugin with a callback table lent for the duration of the call.
    fn call(
        &self,
        ctx: &Context,
        f: impl FnOnce(*const HostV1) -> Buffer,
    ) -> Result<Value, ReconcileError> {
        let state = CallState { ctx };
        let table = HostV1 {
            ctx: (&raw const state).cast::<c_void>(),
            get: host_get,
            list: host_list,
            create: host_create,
            update: host_update,
            update_status: host_update_status,
            patch: host_patch,
            delete: host_delete,
            event: host_event,
            free: Buffer::free,
        };
        let bytes = take(self.entry, f(&raw const table));
        open_envelope(&bytes)
            .map_err(|message| ReconcileError::new(format!("{}: {message}", self.file)))
    }
}

impl Controller for PluginController {
    fn config(&self) -> &ControllerConfig {
        &self.config
    }

    fn reconcile(&self, obj: &Value, ctx: &Context) -> Result<Action, ReconcileError> {
        let obj = serde_json::to_vec(obj).expect("json values always serialize");
        let ctx_json = serde_json::to_vec(&json!({ "name": ctx.name, "now": ctx.now }))
            .expect("json values always serialize");
        let result = self.call(ctx, |table| {
            (self.entry.reconcile)(Bytes::from_slice(&obj), Bytes::from_slice(&ctx_json), table)
        })?;
        match result.get("requeue_after").and_then(Value::as_f64) {
            Some(seconds) if seconds.is_finite() && seconds >= 0.0 => Ok(Action::RequeueAfter(
                std::time::Duration::from_secs_f64(seconds),
            )),
            _ => Ok(Action::Wait),
        }
    }

    fn map(
        &self,
        function: &str,
        obj: &Value,
        ctx: &Context,
    ) -> Result<Vec<ObjectKey>, ReconcileError> {
        let obj = serde_json::to_vec(obj).expect("json values always serialize");
        let result = self.call(ctx, |table| {
            (self.entry.map)(
                Bytes::from_slice(function.as_bytes()),
                Bytes::from_slice(&obj),
                table,
            )
        })?;
        serde_json::from_value(result)
            .map_err(|e| ReconcileError::new(format!("{}: bad mapping result: {e}", self.file)))
    }
}
