//! The controller host: loads every controller (scripts from the controller directories,
//! plugins from the plugins directory), runs the enabled ones, reloads changed scripts, and
//! reports their state.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use kube::Client;
use tokio_util::sync::CancellationToken;

use crate::cache::Caches;
use crate::config::HostConfig;
use crate::controller::Controller;
use crate::events::EventRecorder;
use crate::functions::fnv32a;
use crate::metrics::Metrics;
use crate::plugin;
use crate::reload::Reloader;
use crate::resources::Resources;
use crate::rhai::RhaiController;
use crate::runner::{Runner, Shared};

/// The Event source component of host-level Events.
pub const HOST_COMPONENT: &str = "skiff-controller-host";

/// Why the host could not start or load something.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The metrics address could not be served.
    #[error(transparent)]
    Metrics(#[from] crate::metrics::Error),
    /// A controller directory or the plugins directory could not be read.
    #[error("reading {path}")]
    ReadDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Watching the controller directories failed.
    #[error(transparent)]
    Reload(#[from] crate::reload::Error),
    /// A plugin was refused.
    #[error(transparent)]
    Plugin(#[from] plugin::Error),
    /// No plugins directory is configured.
    #[error("no plugins directory is configured")]
    NoPluginsDir,
}

/// Where a controller comes from and how it is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControllerState {
    /// Reconciling (or waiting for leadership).
    Running,
    /// Could not be loaded; see the last error.
    Failed,
    /// Loaded but disabled by the enable list.
    Disabled,
}

/// What [`Host::controllers`] reports about one controller.
#[derive(Debug, Clone)]
pub struct ControllerInfo {
    /// The controller's name (the file stem when its configuration could not be read).
    pub name: String,
    /// The script path or library path.
    pub source: PathBuf,
    /// Content hash of the loaded version (FNV-32a, hex).
    pub version: String,
    /// Running, failed or disabled.
    pub state: ControllerState,
    /// The last load or reconcile error; a running controller whose new version failed to
    /// load keeps running and reports why here.
    pub last_error: Option<String>,
    /// Reconciles run by the loaded version.
    pub reconciles: u64,
    /// Reconciles failed.
    pub errors: u64,
}

struct Slot {
    name: String,
    version: String,
    state: ControllerState,
    load_error: Option<String>,
    runner: Option<Runner>,
}

pub(crate) struct Inner {
    shared: Shared,
    config: HostConfig,
    slots: Mutex<BTreeMap<PathBuf, Slot>>,
    events: EventRecorder,
    cancel: CancellationToken,
    runtime: tokio::runtime::Handle,
}

fn version_of(bytes: &[u8]) -> String {
    format!("{:08x}", fnv32a(bytes))
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Files in `dir` with extension `ext`, sorted.
fn files_in(dir: &Path, ext: &str) -> Result<Vec<PathBuf>, Error> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::ReadDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == ext))
        .collect();
    files.sort();
    Ok(files)
}

impl Inner {
    /// (Re)loads a script, or stops its controller when the file is gone. Blocking.
    pub(crate) fn reload_script(&self, path: &Path) {
        let Ok(bytes) = std::fs::read(path) else {
            if let Some(slot) = self.slots.lock().unwrap().remove(path) {
                tracing::info!(controller = %slot.name, path = %path.display(), "script removed, controller stopped");
            }
            return;
        };
        let version = version_of(&bytes);
        {
            let slots = self.slots.lock().unwrap();
            if slots.get(path).is_some_and(|slot| slot.version == version) {
                return;
            }
        }
        match RhaiController::load(path, &self.config.limits) {
            Ok(controller) => self.install(path, version, Arc::new(controller)),
            Err(error) => self.failed(path, version, error.to_string()),
        }
    }

    fn install(&self, path: &Path, version: String, controller: Arc<dyn Controller>) {
        let name = controller.config().name.clone();
        let mut slots = self.slots.lock().unwrap();
        if let Some((other, _)) = slots.iter().find(|(p, s)| {
            p.as_path() != path && s.name == name && s.state != ControllerState::Failed
        }) {
            let message = format!(
                "controller name {name} is already used by {}",
                other.display()
            );
            drop(slots);
            return self.failed(path, version, message);
        }
        // The old version stops before the new one starts.
        if let Some(mut old) = slots.remove(path)
            && let Some(runner) = old.runner.as_mut()
        {
            runner.stop();
        }
        let enabled = self.config.enable.is_enabled(&name);
        let runner = enabled.then(|| Runner::start(controller, &self.shared, &self.cancel));
        tracing::info!(controller = %name, %version, path = %path.display(), enabled, "controller loaded");
        slots.insert(
            path.to_path_buf(),
            Slot {
                name,
                version,
                state: if enabled {
                    ControllerState::Running
                } else {
                    ControllerState::Disabled
                },
                load_error: None,
                runner,
            },
        );
    }

    fn failed(&self, path: &Path, version: String, message: String) {
        let mut slots = self.slots.lock().unwrap();
        let name = match slots.get_mut(path) {
            Some(slot) if slot.runner.is_some() => {
                tracing::error!(controller = %slot.name, path = %path.display(), error = %message, "new version refused, the running version stays");
                slot.load_error = Some(message.clone());
                slot.name.clone()
            }
            _ => {
                tracing::error!(path = %path.display(), error = %message, "controller failed to load");
                let name = stem(path);
                slots.insert(
                    path.to_path_buf(),
                    Slot {
                        name: name.clone(),
                        version,
                        state: ControllerState::Failed,
                        load_error: Some(message.clone()),
                        runner: None,
                    },
                );
                name
            }
        };
        drop(slots);
        let events = self.events.clone();
        self.runtime.spawn(async move {
            if let Err(error) = events
                .record_for_controller(&name, "Warning", "LoadFailed", &message)
                .await
            {
                tracing::debug!(%error, "could not record the load failure");
            }
        });
    }

    fn load_plugin(&self, path: &Path) -> Result<String, Error> {
        let dir = self
            .config
            .plugins_dir
            .as_ref()
            .ok_or(Error::NoPluginsDir)?;
        let version = std::fs::read(path)
            .map(|b| version_of(&b))
            .unwrap_or_default();
        match plugin::load(dir, path) {
            Ok(controller) => {
                let name = controller.config().name.clone();
                self.install(path, version, Arc::new(controller));
                Ok(name)
            }
            Err(error) => {
                // A library outside the directory is not recorded as one of ours.
                if !matches!(error, plugin::Error::OutsidePluginsDir { .. }) {
                    self.failed(path, version, error.to_string());
                } else {
                    tracing::error!(%error, "plugin refused");
                }
                Err(error.into())
            }
        }
    }
}

/// A running controller host.
pub struct Host {
    inner: Arc<Inner>,
    cancel: CancellationToken,
    leader: Option<tokio::task::JoinHandle<()>>,
    metrics_addr: Option<SocketAddr>,
    _reloader: Option<Reloader>,
}

impl Drop for Host {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl Host {
    /// Starts a host: loads every controller and runs the enabled ones.
    pub async fn start(client: Client, config: HostConfig) -> Result<Host, Error> {
        let cancel = CancellationToken::new();
        let resources = Arc::new(Resources::new(client.clone()));
        let caches = Arc::new(Caches::new(resources.clone(), cancel.child_token()));
        let metrics = Arc::new(Metrics::default());
        let metrics_addr = match config.metrics_addr {
            Some(addr) => Some(metrics.clone().serve(addr, cancel.child_token()).await?),
            None => None,
        };
        let (leading, leader) = match &config.leader_election {
            Some(election) => {
                let (leading, task) =
                    crate::leader::spawn(client.clone(), election.clone(), cancel.child_token());
                (leading, Some(task))
            }
            None => (crate::leader::always(), None),
        };
        let inner = Arc::new(Inner {
            shared: Shared {
                client: client.clone(),
                resources,
                caches,
                metrics,
                leading,
                resync: config.resync,
                backoff: config.backoff,
            },
            events: EventRecorder::new(client, HOST_COMPONENT),
            slots: Mutex::new(BTreeMap::new()),
            cancel: cancel.clone(),
            runtime: tokio::runtime::Handle::current(),
            config,
        });
        let mut scripts = Vec::new();
        for dir in &inner.config.controller_dirs {
            scripts.extend(files_in(dir, "rhai")?);
        }
        let plugins = match &inner.config.plugins_dir {
            Some(dir) => files_in(dir, std::env::consts::DLL_EXTENSION)?,
            None => Vec::new(),
        };
        let loader = inner.clone();
        tokio::task::spawn_blocking(move || {
            for script in scripts {
                loader.reload_script(&script);
            }
            for library in plugins {
                let _ = loader.load_plugin(&library);
            }
        })
        .await
        .expect("loading controllers does not panic");
        let reloader = if inner.config.hot_reload && !inner.config.controller_dirs.is_empty() {
            Some(Reloader::start(
                inner.clone(),
                &inner.config.controller_dirs,
                inner.config.reload_debounce,
                cancel.child_token(),
            )?)
        } else {
            None
        };
        Ok(Host {
            inner,
            cancel,
            leader,
            metrics_addr,
            _reloader: reloader,
        })
    }

    /// Every controller known to the host, by name.
    pub fn controllers(&self) -> Vec<ControllerInfo> {
        let slots = self.inner.slots.lock().unwrap();
        let mut infos: Vec<ControllerInfo> = slots
            .iter()
            .map(|(path, slot)| {
                let stats = slot.runner.as_ref().map(|r| r.stats.clone());
                let reconcile_error = stats
                    .as_ref()
                    .and_then(|s| s.last_error.lock().unwrap().clone());
                ControllerInfo {
                    name: slot.name.clone(),
                    source: path.clone(),
                    version: slot.version.clone(),
                    state: slot.state,
                    last_error: slot.load_error.clone().or(reconcile_error),
                    reconciles: stats
                        .as_ref()
                        .map_or(0, |s| s.reconciles.load(Ordering::Relaxed)),
                    errors: stats
                        .as_ref()
                        .map_or(0, |s| s.errors.load(Ordering::Relaxed)),
                }
            })
            .collect();
        infos.sort_by(|a, b| a.name.cmp(&b.name));
        infos
    }

    /// Loads one more native plugin; it must sit directly in the plugins directory.
    pub async fn load_plugin(&self, path: &Path) -> Result<String, Error> {
        let inner = self.inner.clone();
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || inner.load_plugin(&path))
            .await
            .expect("loading a plugin does not panic")
    }

    /// Where `/metrics` is served, if it is.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Whether this host currently leads (always true without leader election).
    pub fn is_leader(&self) -> bool {
        *self.inner.shared.leading.borrow()
    }

    /// Stops every controller and informer and releases the leader lease.
    pub async fn shutdown(mut self) {
        let slots = std::mem::take(&mut *self.inner.slots.lock().unwrap());
        drop(slots);
        self.cancel.cancel();
        if let Some(leader) = self.leader.take() {
            let _ = leader.await;
        }
    }
}
