//! What the three CSI services share: the configuration and the volume store.

use std::sync::{Arc, Mutex, MutexGuard};

use tonic::Status;

use crate::config::Config;
use crate::state::{self, Store};

/// The driver's shared state; each service holds an `Arc` of it.
///
/// One lock serialises every call that changes volumes. Calls are short (a few syscalls and a
/// state-file write), and serialising them is what makes concurrent retries of the same
/// request idempotent.
#[derive(Debug)]
pub struct Driver {
    pub config: Config,
    store: Mutex<Store>,
}

impl Driver {
    /// Opens the store under `config.root`.
    pub fn open(config: Config) -> Result<Arc<Self>, state::Error> {
        let store = Store::open(&config.root)?;
        Ok(Arc::new(Self {
            config,
            store: Mutex::new(store),
        }))
    }

    /// Locks the store. A panic in another call poisons nothing: the store is rolled back on
    /// failed saves, so its in-memory state is always the saved one.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// An INTERNAL status carrying the whole error chain, so callers see the root cause.
pub fn internal(error: &(dyn std::error::Error + 'static)) -> Status {
    let mut message = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        message.push_str(": ");
        message.push_str(&e.to_string());
        cause = e.source();
    }
    tracing::error!(%message, "call failed");
    Status::internal(message)
}
