//! Running a private containerd for skiff: writes its config under a data dir, starts
//! `/usr/bin/containerd`, waits for its socket, restarts it when it dies and stops it on
//! shutdown. Or, when a socket is configured, only connects to an existing containerd.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::sync::watch;

use super::containerd::{ContainerdRuntime, DEFAULT_NAMESPACE};

/// What can go wrong supervising containerd.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to prepare {path}")]
    Prepare {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to start {binary}")]
    Spawn {
        binary: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("containerd did not answer on {socket} within {waited:?}")]
    NotReady { socket: PathBuf, waited: Duration },
    #[error("failed to connect to containerd")]
    Connect(#[source] super::Error),
}

/// How to get a containerd.
#[derive(Debug, Clone)]
pub struct ContainerdConfig {
    /// Holds `root/`, `state/`, `config.toml`, `containerd.sock` and `containerd.log`.
    pub data_dir: PathBuf,
    /// Connect to this socket instead of starting containerd. Default: none.
    pub existing_socket: Option<PathBuf>,
    /// Default: `/usr/bin/containerd`.
    pub binary: PathBuf,
    /// The containerd namespace of skiff's images and containers. Default: `skiff`.
    pub namespace: String,
    /// How long to wait for the socket to answer. Default: 30 s.
    pub start_timeout: Duration,
    /// The program the shim runs to write containers' output to their log files (see
    /// [`super::log_driver`]), called with `container-log <file>`. Default: none, the shim
    /// writes the files itself, which can lose a stream's last output at exit.
    pub log_driver: Option<PathBuf>,
}

impl ContainerdConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        ContainerdConfig {
            data_dir: data_dir.into(),
            existing_socket: None,
            binary: PathBuf::from("/usr/bin/containerd"),
            namespace: DEFAULT_NAMESPACE.to_string(),
            start_timeout: Duration::from_secs(30),
            log_driver: None,
        }
    }

    /// The socket containerd serves on (the existing one, or the one in the data dir).
    pub fn socket(&self) -> PathBuf {
        self.existing_socket
            .clone()
            .unwrap_or_else(|| self.data_dir.join("containerd.sock"))
    }

    /// containerd's configuration: private root, state and sockets; no CRI plugin (skiff's
    /// kubelet talks to the native API) and no snapshotters that cannot work here.
    pub fn config_toml(&self) -> String {
        let dir = self.data_dir.display();
        format!(
            r#"version = 2
root = "{dir}/root"
state = "{dir}/state"
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = "{socket}"

[ttrpc]
  address = "{socket}.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""
"#,
            socket = self.socket().display(),
        )
    }
}

/// A running (or connected) containerd; stops the one it started when dropped.
#[derive(Debug)]
pub struct Containerd {
    config: ContainerdConfig,
    /// Pid of the current containerd process (0 when connected to an existing one).
    pid: Arc<AtomicU32>,
    stop: Option<watch::Sender<bool>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Containerd {
    /// Starts containerd under `config.data_dir` (or checks the existing socket) and waits
    /// until it answers.
    pub async fn start(config: ContainerdConfig) -> Result<Self, Error> {
        if config.existing_socket.is_some() {
            let containerd = Containerd {
                config,
                pid: Arc::default(),
                stop: None,
                task: None,
            };
            containerd.wait_ready().await?;
            return Ok(containerd);
        }
        for dir in [
            config.data_dir.clone(),
            config.data_dir.join("root"),
            config.data_dir.join("state"),
        ] {
            std::fs::create_dir_all(&dir).map_err(|source| Error::Prepare {
                path: dir.clone(),
                source,
            })?;
        }
        let config_path = config.data_dir.join("config.toml");
        std::fs::write(&config_path, config.config_toml()).map_err(|source| Error::Prepare {
            path: config_path.clone(),
            source,
        })?;
        let child = spawn(&config)?;
        let pid = Arc::new(AtomicU32::new(child.id().unwrap_or_default()));
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(supervise(config.clone(), child, stopped, pid.clone()));
        let containerd = Containerd {
            config,
            pid,
            stop: Some(stop),
            task: Some(task),
        };
        containerd.wait_ready().await?;
        Ok(containerd)
    }

    pub fn socket(&self) -> PathBuf {
        self.config.socket()
    }

    /// Pid of the containerd process this supervisor runs now; `None` when connected to an
    /// existing containerd.
    pub fn pid(&self) -> Option<u32> {
        Some(self.pid.load(Ordering::Relaxed)).filter(|pid| *pid != 0)
    }

    /// Waits until containerd answers again (e.g. after a restart).
    pub async fn ready(&self) -> Result<(), Error> {
        self.wait_ready().await
    }

    pub fn config(&self) -> &ContainerdConfig {
        &self.config
    }

    /// A runtime client on this containerd, in the configured namespace.
    pub async fn runtime(&self) -> Result<ContainerdRuntime, Error> {
        let runtime = ContainerdRuntime::connect(&self.socket(), &self.config.namespace)
            .await
            .map_err(Error::Connect)?;
        Ok(match &self.config.log_driver {
            Some(program) => runtime.with_log_driver(program.clone()),
            None => runtime,
        })
    }

    /// Waits until the socket accepts a version call.
    async fn wait_ready(&self) -> Result<(), Error> {
        let socket = self.socket();
        let deadline = tokio::time::Instant::now() + self.config.start_timeout;
        loop {
            if socket.exists() && answers(&socket).await {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::NotReady {
                    socket,
                    waited: self.config.start_timeout,
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops a started containerd (SIGTERM, then SIGKILL after 10 s) and waits for it.
    /// Containers keep running in their shims, as with a containerd restart.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
    }
}

async fn answers(socket: &Path) -> bool {
    let Ok(channel) = containerd_client::connect(socket).await else {
        return false;
    };
    let mut version = containerd_client::services::v1::version_client::VersionClient::new(channel);
    version.version(()).await.is_ok()
}

fn spawn(config: &ContainerdConfig) -> Result<Child, Error> {
    let log_path = config.data_dir.join("containerd.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|source| Error::Prepare {
            path: log_path.clone(),
            source,
        })?;
    let log_err = log.try_clone().map_err(|source| Error::Prepare {
        path: log_path,
        source,
    })?;
    // A stale socket from a killed containerd would make the readiness check pass too early.
    let _ = std::fs::remove_file(config.socket());
    Command::new(&config.binary)
        .arg("--config")
        .arg(config.data_dir.join("config.toml"))
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| Error::Spawn {
            binary: config.binary.clone(),
            source,
        })
}

/// Keeps containerd running until told to stop; restarts it (after a short pause) when it
/// exits on its own.
async fn supervise(
    config: ContainerdConfig,
    mut child: Child,
    mut stop: watch::Receiver<bool>,
    pid: Arc<AtomicU32>,
) {
    loop {
        tokio::select! {
            exited = child.wait() => {
                tracing::warn!(?exited, "containerd exited; restarting it");
                tokio::time::sleep(Duration::from_millis(500)).await;
                if *stop.borrow() {
                    return;
                }
                match spawn(&config) {
                    Ok(next) => {
                        pid.store(next.id().unwrap_or_default(), Ordering::Relaxed);
                        child = next;
                    }
                    Err(error) => {
                        tracing::error!(%error, "could not restart containerd");
                        return;
                    }
                }
            }
            _ = stop.changed() => {
                terminate(&mut child).await;
                return;
            }
        }
    }
}

async fn terminate(child: &mut Child) {
    if let Some(pid) = child.id() {
        let pid = nix::unistd::Pid::from_raw(pid as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        if tokio::time::timeout(Duration::from_secs(10), child.wait())
            .await
            .is_ok()
        {
            return;
        }
    }
    let _ = child.kill().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_keeps_everything_under_the_data_dir_and_disables_cri() {
        let config = ContainerdConfig::new("/data/c");
        let toml = config.config_toml();
        assert!(toml.contains(r#"root = "/data/c/root""#));
        assert!(toml.contains(r#"state = "/data/c/state""#));
        assert!(toml.contains(r#"address = "/data/c/containerd.sock""#));
        assert!(toml.contains(r#""io.containerd.grpc.v1.cri""#));
    }

    #[test]
    fn an_existing_socket_replaces_the_private_one() {
        let mut config = ContainerdConfig::new("/data/c");
        config.existing_socket = Some("/run/containerd/containerd.sock".into());
        assert_eq!(
            config.socket(),
            PathBuf::from("/run/containerd/containerd.sock")
        );
    }
}
