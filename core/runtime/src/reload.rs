//! Hot reload: controller directories are watched (debounced) and a changed, new or removed
//! script is reloaded, started or stopped.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify::RecursiveMode;
use notify_debouncer_mini::{DebounceEventResult, Debouncer, new_debouncer};
use tokio_util::sync::CancellationToken;

use crate::host::Inner;

/// Why the directories could not be watched.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The watcher could not be set up.
    #[error("watching {path}")]
    Watch {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: notify::Error,
    },
}

/// Keeps the watch alive; dropping it stops reloading.
pub struct Reloader {
    _debouncer: Debouncer<notify::RecommendedWatcher>,
}

impl Reloader {
    /// Watches `dirs` and reloads `*.rhai` files through `host`.
    pub(crate) fn start(
        host: Arc<Inner>,
        dirs: &[PathBuf],
        debounce: Duration,
        cancel: CancellationToken,
    ) -> Result<Self, Error> {
        let (changed, mut changes) = tokio::sync::mpsc::unbounded_channel::<PathBuf>();
        let mut debouncer =
            new_debouncer(debounce, move |result: DebounceEventResult| match result {
                Ok(events) => {
                    for event in events {
                        if event.path.extension().is_some_and(|e| e == "rhai") {
                            let _ = changed.send(event.path);
                        }
                    }
                }
                Err(error) => tracing::warn!(%error, "watching controller directories failed"),
            })
            .map_err(|source| Error::Watch {
                path: dirs.first().cloned().unwrap_or_default(),
                source,
            })?;
        for dir in dirs {
            debouncer
                .watcher()
                .watch(dir, RecursiveMode::NonRecursive)
                .map_err(|source| Error::Watch {
                    path: dir.clone(),
                    source,
                })?;
        }
        tokio::spawn(async move {
            loop {
                let path = tokio::select! {
                    _ = cancel.cancelled() => return,
                    path = changes.recv() => match path { Some(path) => path, None => return },
                };
                let host = host.clone();
                let _ = tokio::task::spawn_blocking(move || host.reload_script(&path)).await;
            }
        });
        Ok(Reloader {
            _debouncer: debouncer,
        })
    }
}
