//! The safe side of a plugin: the trait an author implements and what reconcile returns.

use std::time::Duration;

use serde_json::Value;

use crate::host::Host;

/// What the host does after a successful reconcile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    /// Nothing until the object or something mapped to it changes.
    Wait,
    /// Reconcile the same object again after this long.
    RequeueAfter(Duration),
}

impl Action {
    /// The JSON form of the action inside an `ok` envelope.
    pub fn to_json(self) -> Value {
        match self {
            Action::Wait => Value::Null,
            Action::RequeueAfter(after) => {
                serde_json::json!({ "requeue_after": after.as_secs_f64() })
            }
        }
    }
}

/// What a reconcile gets besides the object: its name, the time, and the host's callbacks.
pub struct Context<'a> {
    /// The controller's name.
    pub name: String,
    /// The current time (RFC 3339), as the host saw it.
    pub now: String,
    /// Reads from the shared caches and writes through the API.
    pub host: Host<'a>,
}

/// A native controller. One instance lives for the life of the process; reconciles of
/// different objects may run concurrently, hence `Sync`.
pub trait Controller: Default + Send + Sync + 'static {
    /// The same map a Rhai script's `config()` returns: `name`, `primary`, `owns`,
    /// `watches`, `resync_seconds`, `workers`.
    fn config(&self) -> Value;

    /// Brings the world in line with `obj`. `obj` is `{"deleted": true, "namespace", "name"}`
    /// when the primary object is gone. An `Err` is logged, recorded as an Event and retried
    /// with backoff.
    fn reconcile(&self, obj: &Value, ctx: &Context<'_>) -> Result<Action, String>;

    /// Maps an object of a kind listed in `watches` to the primaries to reconcile, as
    /// `(namespace, name)` pairs; `function` is the `map` name the watch declared.
    fn map(
        &self,
        function: &str,
        obj: &Value,
        host: &Host<'_>,
    ) -> Result<Vec<(String, String)>, String> {
        let _ = (obj, host);
        Err(format!("no mapping function {function}"))
    }
}
