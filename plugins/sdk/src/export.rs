//! What [`export_controller!`](crate::export_controller) expands to call: the plugin side of
//! the ABI, with every panic caught before it can cross the boundary.
#![allow(unsafe_code)]

use std::panic::{AssertUnwindSafe, catch_unwind};

use serde_json::{Value, json};

use crate::abi::{Buffer, Bytes, HostV1};
use crate::controller::{Context, Controller};
use crate::host::Host;

fn envelope(result: Result<Value, String>) -> Buffer {
    let value = match result {
        Ok(ok) => json!({ "ok": ok }),
        Err(error) => json!({ "error": error }),
    };
    Buffer::from_vec(serde_json::to_vec(&value).expect("json values always serialize"))
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "unknown panic payload".to_string()
    }
}

/// The `config` entry: the controller's configuration in an envelope.
pub fn config<C: Controller>(controller: impl FnOnce() -> &'static C) -> Buffer {
    let result = catch_unwind(AssertUnwindSafe(|| controller().config()))
        .map_err(|payload| format!("plugin panicked: {}", panic_message(&*payload)));
    envelope(result)
}

/// The `reconcile` entry.
// Only ever called through the ABI by a host that lends valid pointers for the call.
#[allow(clippy::not_unsafe_ptr_arg_deref)]
pub fn reconcile<C: Controller>(
    controller: impl FnOnce() -> &'static C,
    obj: Bytes,
    ctx: Bytes,
    host: *const HostV1,
) -> Buffer {
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the host lends obj/ctx bytes and the callback table for this call only.
        let (obj, ctx, table) = unsafe { (obj.as_slice(), ctx.as_slice(), &*host) };
        let obj: Value =
            serde_json::from_slice(obj).map_err(|e| format!("bad object json: {e}"))?;
        let ctx: Value =
            serde_json::from_slice(ctx).map_err(|e| format!("bad context json: {e}"))?;
        let context = Context {
            name: ctx
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            now: ctx
                .get("now")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            host: Host::new(table),
        };
        controller()
            .reconcile(&obj, &context)
            .map(|action| action.to_json())
    }))
    .unwrap_or_else(|payload| Err(format!("plugin panicked: {}", panic_message(&*payload))));
    envelope(result)
}

/// The `map` entry.
// Only ever called through the ABI by a host that lends valid pointers for the call.
#[allow(clippy::not_unsafe_ptr_arg_deref)]
pub fn map<C: Controller>(
    controller: impl FnOnce() -> &'static C,
    function: Bytes,
    obj: Bytes,
    host: *const HostV1,
) -> Buffer {
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the host lends the bytes and the callback table for this call only.
        let (function, obj, table) = unsafe { (function.as_slice(), obj.as_slice(), &*host) };
        let function = String::from_utf8_lossy(function);
        let obj: Value =
            serde_json::from_slice(obj).map_err(|e| format!("bad object json: {e}"))?;
        let keys = controller().map(&function, &obj, &Host::new(table))?;
        Ok(Value::Array(
            keys.into_iter()
                .map(|(namespace, name)| json!({ "namespace": namespace, "name": name }))
                .collect(),
        ))
    }))
    .unwrap_or_else(|payload| Err(format!("plugin panicked: {}", panic_message(&*payload))));
    envelope(result)
}

/// Frees a buffer this library handed out.
pub extern "C" fn free(buffer: Buffer) {
    Buffer::free(buffer)
}

/// Exports a [`Controller`] type as this library's plugin entry point.
///
/// ```ignore
/// #[derive(Default)]
/// struct Mirror;
/// impl skiff_plugin_sdk::Controller for Mirror { /* ... */ }
/// skiff_plugin_sdk::export_controller!(Mirror);
/// ```
#[macro_export]
macro_rules! export_controller {
    ($controller:ty) => {
        /// The plugin entry point read by the skiff host.
        #[unsafe(no_mangle)]
        pub extern "C" fn skiff_plugin_entry() -> *const $crate::abi::PluginV1 {
            static INSTANCE: ::std::sync::OnceLock<$controller> = ::std::sync::OnceLock::new();
            fn instance() -> &'static $controller {
                INSTANCE.get_or_init(<$controller as ::std::default::Default>::default)
            }
            extern "C" fn config() -> $crate::abi::Buffer {
                $crate::export::config(instance)
            }
            extern "C" fn reconcile(
                obj: $crate::abi::Bytes,
                ctx: $crate::abi::Bytes,
                host: *const $crate::abi::HostV1,
            ) -> $crate::abi::Buffer {
                $crate::export::reconcile(instance, obj, ctx, host)
            }
            extern "C" fn map(
                function: $crate::abi::Bytes,
                obj: $crate::abi::Bytes,
                host: *const $crate::abi::HostV1,
            ) -> $crate::abi::Buffer {
                $crate::export::map(instance, function, obj, host)
            }
            static ENTRY: $crate::abi::PluginV1 = $crate::abi::PluginV1 {
                abi_version: $crate::abi::ABI_VERSION,
                config,
                reconcile,
                map,
                free: $crate::export::free,
            };
            &ENTRY
        }
    };
}
