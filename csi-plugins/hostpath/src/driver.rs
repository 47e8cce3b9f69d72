//! What the three CSI services share: the configuration and the volume store.

use std::sync::{Arc, Mutex, MutexGuard};

use tonic::Status;

use crate::config::Config;
use crate::hardlimit;
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
    /// Opens the store under `config.root` and mounts again the images of hard-limited volumes
    /// that a reboot unmounted.
    pub fn open(config: Config) -> Result<Arc<Self>, state::Error> {
        let store = Store::open(&config.root)?;
        reattach_images(&store);
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

/// Attaches every hard-limited volume's image that is not mounted. A volume that cannot be
/// attached is logged and left alone: the driver still serves the others, and calls on that
/// volume fail with the cause.
fn reattach_images(store: &Store) {
    for volume in store.state().volumes.values().filter(|v| v.hard_limit) {
        let dir = store.volume_dir(&volume.id);
        if hardlimit::is_attached(&dir) {
            continue;
        }
        match hardlimit::attach(&store.image_path(&volume.id), &dir) {
            Ok(()) => tracing::info!(volume = %volume.id, "re-attached volume image"),
            Err(e) => {
                tracing::error!(volume = %volume.id, error = %e, "cannot re-attach volume image")
            }
        }
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
