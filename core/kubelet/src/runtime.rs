//! The container runtime seam: what the kubelet asks of a runtime, and its two implementations.
//!
//! The kubelet creates each pod's network namespace itself (and runs CNI in it); a runtime only
//! runs containers that join that namespace by path, so there is no pause container. Two
//! implementations share the trait: [`containerd::ContainerdRuntime`] on the real containerd,
//! and [`simulated::SimulatedRuntime`], kwok-style, in memory.
//!
//! Container logs are written by the runtime straight to the file named in
//! [`ContainerConfig::log_path`] (for containerd the shim appends stdout and stderr to it), so
//! they survive a kubelet restart. The format is plain lines as the process printed them,
//! stdout and stderr interleaved, without timestamps.

pub mod command;
pub mod containerd;
pub mod exec;
mod exec_fifo;
pub mod labels;
pub mod log_driver;
pub mod simulated;
pub mod spec;
pub mod supervisor;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use exec::{ExecRequest, ExecSession};

/// The Kubernetes `imagePullPolicy` of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PullPolicy {
    /// Pull every time a container is started, even when the image is present.
    Always,
    /// Pull only when the image is not present (the Kubernetes default for tagged images).
    #[default]
    IfNotPresent,
    /// Never pull: a missing image is an error (`ErrImageNeverPull`).
    Never,
}

impl PullPolicy {
    /// Parses the Kubernetes spelling (`Always`, `IfNotPresent`, `Never`).
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "Always" => Some(Self::Always),
            "IfNotPresent" => Some(Self::IfNotPresent),
            "Never" => Some(Self::Never),
            _ => None,
        }
    }
}

/// The pod a container belongs to; stored as labels so a restarted kubelet can adopt it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PodRef {
    pub uid: String,
    pub name: String,
    pub namespace: String,
}

/// A host path made visible inside the container (volumes, `/etc/hosts`, `/etc/resolv.conf`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub host_path: PathBuf,
    pub container_path: String,
    pub read_only: bool,
}

/// Resource limits, already converted from Kubernetes quantities to OCI `linux.resources`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resources {
    /// Memory limit in bytes (`resources.limits.memory`).
    pub memory_limit_bytes: Option<i64>,
    /// CFS quota in microseconds per period (`resources.limits.cpu`).
    pub cpu_quota: Option<i64>,
    /// CFS period in microseconds (100000 like Kubernetes when a quota is set).
    pub cpu_period: Option<u64>,
    /// CPU shares (`resources.requests.cpu` in millicores * 1024 / 1000).
    pub cpu_shares: Option<u64>,
}

/// Everything needed to create one container of a pod.
#[derive(Debug, Clone, Default)]
pub struct ContainerConfig {
    /// Runtime-wide unique id (the kubelet chooses it).
    pub id: String,
    pub pod: PodRef,
    /// The container's name in the pod spec.
    pub name: String,
    /// The image reference as written in the pod spec; normalized by the runtime.
    pub image: String,
    /// `command` of the pod spec: replaces the image's Entrypoint when not empty.
    pub command: Vec<String>,
    /// `args` of the pod spec: replaces the image's Cmd when not empty.
    pub args: Vec<String>,
    /// Environment; overrides the image's variables of the same name.
    pub env: Vec<(String, String)>,
    /// Replaces the image's WorkingDir when set.
    pub working_dir: Option<String>,
    pub hostname: Option<String>,
    /// The pod's network namespace (e.g. `/var/run/netns/<name>`); a private one when unset.
    pub netns: Option<PathBuf>,
    pub mounts: Vec<Mount>,
    pub resources: Resources,
    /// The cgroup of the pod (e.g. `/skiff/pod<uid>`); the container's cgroup is `<parent>/<id>`.
    /// When unset, `/skiff/pod<uid>` is used.
    pub cgroup_parent: Option<String>,
    /// The file the container's stdout and stderr are appended to.
    pub log_path: PathBuf,
    /// Extra labels kept with the container.
    pub labels: BTreeMap<String, String>,
    /// The pod's annotations. Real runtimes ignore them; the simulated one takes its
    /// steering from them (see [`simulated`]).
    pub pod_annotations: BTreeMap<String, String>,
}

impl ContainerConfig {
    /// The cgroups path given to the OCI runtime: `<cgroup parent>/<id>`.
    pub fn cgroups_path(&self) -> String {
        let parent = self
            .cgroup_parent
            .clone()
            .unwrap_or_else(|| format!("/skiff/pod{}", self.pod.uid));
        format!("{}/{}", parent.trim_end_matches('/'), self.id)
    }
}

/// Where a container is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerState {
    /// Created but not started.
    Created,
    Running,
    /// The main process ended with this exit code.
    Exited {
        exit_code: i32,
    },
    /// The runtime cannot tell (e.g. the task is paused or its shim is gone).
    Unknown,
}

/// What the runtime knows about a container; also what [`ContainerRuntime::list`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerStatus {
    pub id: String,
    pub state: ContainerState,
    /// Normalized image reference.
    pub image: String,
    pub labels: BTreeMap<String, String>,
    /// Pid of the main process on the host, while it runs.
    pub pid: Option<u32>,
    pub created_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// `OOMKilled` when the kernel's OOM killer ended it, `Error` or `Completed` otherwise.
    pub reason: Option<String>,
    pub log_path: Option<PathBuf>,
}

impl ContainerStatus {
    /// The pod this container belongs to, read back from its labels.
    pub fn pod(&self) -> PodRef {
        labels::pod_of(&self.labels)
    }

    /// The container's name in its pod, read back from its labels.
    pub fn container_name(&self) -> Option<&str> {
        self.labels.get(labels::CONTAINER_NAME).map(String::as_str)
    }
}

/// What can go wrong in a container runtime.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Fetching the image failed (`ErrImagePull`; repeated failures become `ImagePullBackOff`).
    #[error("failed to pull image {image}")]
    ImagePull {
        image: String,
        #[source]
        source: crate::image::Error,
    },
    /// The image is not present and the policy forbids pulling (`ErrImageNeverPull`).
    #[error("image {image} is not present and the pull policy is Never")]
    ImageNeverPull { image: String },
    /// The image is not present where it is needed (e.g. creating a container).
    #[error("image {image} is not present")]
    ImageNotPresent { image: String },
    /// Importing or inspecting an image failed.
    #[error("image error")]
    Image(#[source] crate::image::Error),
    #[error("container {id} not found")]
    NotFound { id: String },
    #[error("container {id} already exists")]
    AlreadyExists { id: String },
    /// The container is not in a state that allows the call (e.g. exec in a stopped one).
    #[error("container {id} is not running")]
    NotRunning { id: String },
    /// The backend (containerd, the OS) failed.
    #[error("{context}")]
    Backend {
        context: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl Error {
    /// Whether this is an image pull failure, shown as `ErrImagePull` / `ImagePullBackOff`.
    pub fn is_image_pull(&self) -> bool {
        matches!(self, Error::ImagePull { .. })
    }

    pub(crate) fn backend(
        context: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Error::Backend {
            context: context.into(),
            source: source.into(),
        }
    }
}

/// A container runtime as the kubelet sees it. Object safe: the kubelet holds an
/// `Arc<dyn ContainerRuntime>`.
#[async_trait]
pub trait ContainerRuntime: Send + Sync {
    /// Makes sure `image` is present, pulling it as `policy` says. Returns the normalized name.
    async fn ensure_image(&self, image: &str, policy: PullPolicy) -> Result<String, Error>;

    /// Imports an OCI layout or `docker save` tarball; returns the names stored.
    async fn import_image(&self, file: &Path) -> Result<Vec<String>, Error>;

    /// Names of the images present.
    async fn list_images(&self) -> Result<Vec<String>, Error>;

    /// Creates (does not start) a container.
    async fn create(&self, config: &ContainerConfig) -> Result<(), Error>;

    /// Starts a created container; returns the pid of its main process.
    async fn start(&self, id: &str) -> Result<u32, Error>;

    /// Sends SIGTERM, then SIGKILL if the container still runs after `grace`.
    async fn stop(&self, id: &str, grace: Duration) -> Result<(), Error>;

    /// Removes the container and everything it holds (process, record, filesystem).
    /// Kills it first if it still runs. Removing a missing container is not an error.
    async fn remove(&self, id: &str) -> Result<(), Error>;

    async fn status(&self, id: &str) -> Result<ContainerStatus, Error>;

    /// All containers of this runtime (its containerd namespace), running or not.
    async fn list(&self) -> Result<Vec<ContainerStatus>, Error>;

    /// Runs a process in a running container.
    async fn exec(&self, id: &str, request: ExecRequest) -> Result<ExecSession, Error>;

    /// The file the container's output goes to.
    async fn log_path(&self, id: &str) -> Result<PathBuf, Error>;
}
