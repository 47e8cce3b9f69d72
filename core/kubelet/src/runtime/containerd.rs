//! The containerd implementation of [`ContainerRuntime`], on containerd's native gRPC API.
//!
//! Each container is a containerd container (its OCI spec and labels), an overlayfs snapshot
//! on top of its image, and a runc v2 task. The task's stdout and stderr go to the container's
//! log file through the shim, so logs outlive the kubelet and containerd: written by the log
//! writer the shim runs for the task when one is configured (`binary://` stdio, see
//! [`super::log_driver`]), else by the shim itself (`file://`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use containerd_client::services::v1::container::Runtime;
use containerd_client::services::v1::snapshots::{
    MountsRequest, PrepareSnapshotRequest, RemoveSnapshotRequest, snapshots_client::SnapshotsClient,
};
use containerd_client::services::v1::{
    Container, CreateContainerRequest, CreateTaskRequest, DeleteContainerRequest,
    DeleteProcessRequest, DeleteTaskRequest, ExecProcessRequest, GetContainerRequest, GetRequest,
    KillRequest, ListContainersRequest, ListTasksRequest, StartRequest, UpdateContainerRequest,
    WaitRequest, containers_client::ContainersClient, leases_client::LeasesClient,
    tasks_client::TasksClient,
};
use containerd_client::services::v1::{
    CreateRequest as CreateLeaseRequest, DeleteRequest as DeleteLeaseRequest,
};
use containerd_client::tonic::transport::Channel;
use containerd_client::tonic::{Code, Request, Status};
use containerd_client::types::v1::{Process, Status as TaskStatus};
use nix::sys::signal::Signal;

use super::exec::{ExecRequest, ExecSession};
use super::{
    ContainerConfig, ContainerRuntime, ContainerState, ContainerStatus, Error, PullPolicy, command,
    labels, spec,
};
use crate::image::store::{ImageStore, SNAPSHOTTER, StoredImage, request};
use crate::image::{self, registry};

/// The containerd namespace skiff uses unless told otherwise.
pub const DEFAULT_NAMESPACE: &str = "skiff";
/// The runtime (shim) tasks run with.
pub const RUNC_RUNTIME: &str = "io.containerd.runc.v2";
const SPEC_TYPE: &str = "types.containerd.io/opencontainers/runtime-spec/1/Spec";
const PROCESS_TYPE: &str = "types.containerd.io/opencontainers/runtime-spec/1/Process";
/// How long a SIGKILLed task may take to be reaped before giving up.
const KILL_WAIT: Duration = Duration::from_secs(10);

/// A [`ContainerRuntime`] on one containerd namespace.
#[derive(Debug, Clone)]
pub struct ContainerdRuntime {
    channel: Channel,
    namespace: String,
    images: ImageStore,
    /// Where the named pipes of exec'd processes are made.
    fifo_dir: PathBuf,
    /// The program that writes containers' output to their log files, if any (else the
    /// shim writes them itself): see [`super::log_driver`].
    log_driver: Option<PathBuf>,
}

fn grpc(context: impl Into<String>) -> impl FnOnce(Status) -> Error {
    let context = context.into();
    move |status| Error::backend(context, status)
}

fn timestamp(ts: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    let ts = ts?;
    if ts.seconds <= 0 {
        return None;
    }
    DateTime::from_timestamp(ts.seconds, ts.nanos.max(0) as u32)
}

fn any(type_url: &str, value: &impl serde::Serialize) -> Result<prost_types::Any, Error> {
    Ok(prost_types::Any {
        type_url: type_url.to_string(),
        value: serde_json::to_vec(value).map_err(|e| Error::backend("encoding a spec", e))?,
    })
}

impl ContainerdRuntime {
    /// Connects to containerd's socket and works in `namespace`. Exec pipes go to a `fifo`
    /// directory beside the socket.
    pub async fn connect(socket: &Path, namespace: &str) -> Result<Self, Error> {
        let channel = containerd_client::connect(socket)
            .await
            .map_err(|e| Error::backend(format!("connecting to {}", socket.display()), e))?;
        let fifo_dir = socket
            .parent()
            .unwrap_or(Path::new("/run"))
            .join(format!("skiff-fifo-{namespace}"));
        Ok(Self::from_channel(channel, namespace, fifo_dir))
    }

    /// Wraps an existing channel (e.g. to share one connection).
    pub fn from_channel(channel: Channel, namespace: &str, fifo_dir: PathBuf) -> Self {
        ContainerdRuntime {
            images: ImageStore::new(channel.clone(), namespace),
            channel,
            namespace: namespace.to_string(),
            fifo_dir,
            log_driver: None,
        }
    }

    /// Has the shim run `program` (with `container-log <file>`) to write containers' output
    /// to their log files, rather than writing them itself.
    pub fn with_log_driver(mut self, program: PathBuf) -> Self {
        self.log_driver = Some(program);
        self
    }

    /// The image store of this runtime's namespace.
    pub fn images(&self) -> &ImageStore {
        &self.images
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    fn req<T>(&self, message: T) -> Request<T> {
        request(&self.namespace, None, message)
    }

    fn containers(&self) -> ContainersClient<Channel> {
        ContainersClient::new(self.channel.clone())
    }

    fn tasks(&self) -> TasksClient<Channel> {
        TasksClient::new(self.channel.clone())
    }

    fn snapshots(&self) -> SnapshotsClient<Channel> {
        SnapshotsClient::new(self.channel.clone())
    }

    async fn container(&self, id: &str) -> Result<Container, Error> {
        match self
            .containers()
            .get(self.req(GetContainerRequest { id: id.into() }))
            .await
        {
            Ok(response) => response
                .into_inner()
                .container
                .ok_or_else(|| Error::NotFound { id: id.into() }),
            Err(status) if status.code() == Code::NotFound => {
                Err(Error::NotFound { id: id.into() })
            }
            Err(status) => Err(grpc(format!("getting container {id}"))(status)),
        }
    }

    /// The container's main task, if it has one.
    async fn task(&self, id: &str) -> Result<Option<Process>, Error> {
        match self
            .tasks()
            .get(self.req(GetRequest {
                container_id: id.into(),
                exec_id: String::new(),
            }))
            .await
        {
            Ok(response) => Ok(response.into_inner().process),
            Err(status) if status.code() == Code::NotFound => Ok(None),
            Err(status) => Err(grpc(format!("getting task {id}"))(status)),
        }
    }

    async fn kill(&self, id: &str, signal: Signal, all: bool) -> Result<(), Error> {
        match self
            .tasks()
            .kill(self.req(KillRequest {
                container_id: id.into(),
                exec_id: String::new(),
                signal: signal as u32,
                all,
            }))
            .await
        {
            Ok(_) => Ok(()),
            Err(status) if matches!(status.code(), Code::NotFound | Code::FailedPrecondition) => {
                Ok(())
            }
            Err(status) => Err(grpc(format!("signalling task {id}"))(status)),
        }
    }

    /// Waits for the main task to exit; `false` when `limit` passed first.
    async fn wait(&self, id: &str, limit: Duration) -> Result<bool, Error> {
        let mut tasks = self.tasks();
        let wait = tasks.wait(self.req(WaitRequest {
            container_id: id.into(),
            exec_id: String::new(),
        }));
        match tokio::time::timeout(limit, wait).await {
            Err(_) => Ok(false),
            Ok(Ok(_)) => Ok(true),
            Ok(Err(status)) if status.code() == Code::NotFound => Ok(true),
            Ok(Err(status)) => Err(grpc(format!("waiting for task {id}"))(status)),
        }
    }

    async fn delete_task(&self, id: &str) -> Result<(), Error> {
        match self
            .tasks()
            .delete(self.req(DeleteTaskRequest {
                container_id: id.into(),
            }))
            .await
        {
            Ok(_) => Ok(()),
            Err(status) if status.code() == Code::NotFound => Ok(()),
            Err(status) => Err(grpc(format!("deleting task {id}"))(status)),
        }
    }

    /// Builds a status from a container record and its task.
    fn to_status(&self, container: Container, task: Option<Process>) -> ContainerStatus {
        let labels: std::collections::BTreeMap<String, String> =
            container.labels.into_iter().collect();
        let mut status = ContainerStatus {
            id: container.id,
            state: ContainerState::Created,
            image: container.image,
            pid: None,
            created_at: timestamp(container.created_at.as_ref()),
            started_at: labels
                .get(labels::STARTED_AT)
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc)),
            finished_at: None,
            reason: None,
            log_path: labels.get(labels::LOG_PATH).map(PathBuf::from),
            labels,
        };
        let Some(task) = task else {
            return status;
        };
        match TaskStatus::try_from(task.status).unwrap_or(TaskStatus::Unknown) {
            TaskStatus::Created => {}
            TaskStatus::Running => {
                status.state = ContainerState::Running;
                status.pid = Some(task.pid);
            }
            TaskStatus::Stopped => {
                let exit_code = task.exit_status as i32;
                status.state = ContainerState::Exited { exit_code };
                status.finished_at = timestamp(task.exited_at.as_ref());
                let oom = status
                    .labels
                    .get(labels::CGROUPS_PATH)
                    .is_some_and(|path| oom_killed(path));
                status.reason = Some(
                    match (oom, exit_code) {
                        (true, _) => "OOMKilled",
                        (false, 0) => "Completed",
                        (false, _) => "Error",
                    }
                    .to_string(),
                );
            }
            _ => status.state = ContainerState::Unknown,
        }
        status
    }
}

/// Whether the kernel's OOM killer killed a process of this cgroup (cgroup v1
/// `memory.oom_control`, or v2 `memory.events`). The cgroup lives until the task is deleted.
pub fn oom_killed(cgroups_path: &str) -> bool {
    let relative = cgroups_path.trim_start_matches('/');
    let candidates = [
        Path::new("/sys/fs/cgroup/memory")
            .join(relative)
            .join("memory.oom_control"),
        Path::new("/sys/fs/cgroup")
            .join(relative)
            .join("memory.events"),
    ];
    candidates.iter().any(|file| {
        std::fs::read_to_string(file).is_ok_and(|text| {
            text.lines().any(|line| {
                line.strip_prefix("oom_kill ")
                    .and_then(|n| n.trim().parse::<u64>().ok())
                    .is_some_and(|n| n > 0)
            })
        })
    })
}

#[async_trait]
impl ContainerRuntime for ContainerdRuntime {
    async fn ensure_image(&self, image: &str, policy: PullPolicy) -> Result<String, Error> {
        let name = image::normalize(image).map_err(Error::Image)?;
        let present = self.images.exists(&name).await.map_err(Error::Image)?;
        match policy {
            PullPolicy::Never if !present => return Err(Error::ImageNeverPull { image: name }),
            PullPolicy::Never | PullPolicy::IfNotPresent if present => return Ok(name),
            _ => {}
        }
        let pull_error = |source| Error::ImagePull {
            image: name.clone(),
            source,
        };
        let content = registry::pull(&name).await.map_err(pull_error)?;
        self.images.store(&content).await.map_err(pull_error)?;
        Ok(name)
    }

    async fn import_image(&self, file: &Path) -> Result<Vec<String>, Error> {
        let file = file.to_path_buf();
        let images = tokio::task::spawn_blocking(move || image::archive::read(&file))
            .await
            .map_err(|e| Error::backend("reading an image archive", e))?
            .map_err(Error::Image)?;
        let mut names = Vec::new();
        for image in images {
            self.images.store(&image).await.map_err(Error::Image)?;
            names.push(image.name);
        }
        Ok(names)
    }

    async fn list_images(&self) -> Result<Vec<String>, Error> {
        self.images.list().await.map_err(Error::Image)
    }

    async fn create(&self, config: &ContainerConfig) -> Result<(), Error> {
        let name = image::normalize(&config.image).map_err(Error::Image)?;
        let stored = match self.images.get(&name).await {
            Ok(stored) => stored,
            Err(image::Error::NotFound(_)) => return Err(Error::ImageNotPresent { image: name }),
            Err(e) => return Err(Error::Image(e)),
        };
        let image_config = stored.config.config().as_ref();
        let process = command::resolve(
            image_config,
            &config.command,
            &config.args,
            &config.env,
            config.working_dir.as_deref(),
        );
        let spec = spec::build(config, &process)
            .map_err(|e| Error::backend(format!("building the spec of {}", config.id), e))?;

        // The snapshot is unreferenced until the container record exists: a lease keeps the
        // garbage collector off it meanwhile.
        let lease = self.lease(&format!("skiff-create-{}", config.id)).await?;
        let result = self
            .create_leased(config, name, &stored, &spec, &lease)
            .await;
        self.drop_lease(&lease).await;
        result
    }

    async fn start(&self, id: &str) -> Result<u32, Error> {
        self.start_task(id).await
    }

    async fn stop(&self, id: &str, grace: Duration) -> Result<(), Error> {
        self.stop_task(id, grace).await
    }

    async fn remove(&self, id: &str) -> Result<(), Error> {
        self.remove_all(id).await
    }

    async fn status(&self, id: &str) -> Result<ContainerStatus, Error> {
        let container = self.container(id).await?;
        let task = self.task(id).await?;
        Ok(self.to_status(container, task))
    }

    async fn list(&self) -> Result<Vec<ContainerStatus>, Error> {
        self.list_all().await
    }

    async fn exec(&self, id: &str, request: ExecRequest) -> Result<ExecSession, Error> {
        self.exec_process(id, request).await
    }

    async fn log_path(&self, id: &str) -> Result<PathBuf, Error> {
        self.container(id)
            .await?
            .labels
            .get(labels::LOG_PATH)
            .map(PathBuf::from)
            .ok_or_else(|| Error::NotFound { id: id.into() })
    }
}

impl ContainerdRuntime {
    async fn lease(&self, id: &str) -> Result<String, Error> {
        let expire = (Utc::now() + chrono::Duration::minutes(10)).to_rfc3339();
        LeasesClient::new(self.channel.clone())
            .create(self.req(CreateLeaseRequest {
                id: id.to_string(),
                labels: HashMap::from([("containerd.io/gc.expire".to_string(), expire)]),
            }))
            .await
            .map_err(grpc(format!("creating lease {id}")))?;
        Ok(id.to_string())
    }

    async fn drop_lease(&self, id: &str) {
        let _ = LeasesClient::new(self.channel.clone())
            .delete(self.req(DeleteLeaseRequest {
                id: id.to_string(),
                sync: false,
            }))
            .await;
    }

    async fn create_leased(
        &self,
        config: &ContainerConfig,
        name: String,
        stored: &StoredImage,
        spec: &oci_spec::runtime::Spec,
        lease: &str,
    ) -> Result<(), Error> {
        let leased = |message| request(&self.namespace, Some(lease), message);
        let prepared = self
            .snapshots()
            .prepare(leased(PrepareSnapshotRequest {
                snapshotter: SNAPSHOTTER.into(),
                key: config.id.clone(),
                parent: stored.top_layer.clone().unwrap_or_default(),
                labels: HashMap::new(),
            }))
            .await;
        match prepared {
            Ok(_) => {}
            Err(status) if status.code() == Code::AlreadyExists => {
                return Err(Error::AlreadyExists {
                    id: config.id.clone(),
                });
            }
            Err(status) => {
                return Err(grpc(format!("preparing the snapshot of {}", config.id))(
                    status,
                ));
            }
        }

        let container = Container {
            id: config.id.clone(),
            labels: labels::for_config(config).into_iter().collect(),
            image: name,
            runtime: Some(Runtime {
                name: RUNC_RUNTIME.into(),
                options: None,
            }),
            spec: Some(any(SPEC_TYPE, spec)?),
            snapshotter: SNAPSHOTTER.into(),
            snapshot_key: config.id.clone(),
            ..Default::default()
        };
        let created = self
            .containers()
            .create(request(
                &self.namespace,
                Some(lease),
                CreateContainerRequest {
                    container: Some(container),
                },
            ))
            .await;
        if let Err(status) = created {
            let _ = self
                .snapshots()
                .remove(self.req(RemoveSnapshotRequest {
                    snapshotter: SNAPSHOTTER.into(),
                    key: config.id.clone(),
                }))
                .await;
            return Err(match status.code() {
                Code::AlreadyExists => Error::AlreadyExists {
                    id: config.id.clone(),
                },
                _ => grpc(format!("creating container {}", config.id))(status),
            });
        }
        Ok(())
    }

    async fn start_task(&self, id: &str) -> Result<u32, Error> {
        let mut container = self.container(id).await?;
        if let Some(task) = self.task(id).await? {
            if task.status == TaskStatus::Running as i32 {
                return Ok(task.pid);
            }
            self.delete_task(id).await?;
        }
        let mounts = self
            .snapshots()
            .mounts(self.req(MountsRequest {
                snapshotter: container.snapshotter.clone(),
                key: container.snapshot_key.clone(),
            }))
            .await
            .map_err(grpc(format!("mounts of container {id}")))?
            .into_inner()
            .mounts;
        let log = container
            .labels
            .get(labels::LOG_PATH)
            .cloned()
            .unwrap_or_default();
        let (stdout, stderr) = if log.is_empty() {
            (String::new(), String::new())
        } else {
            if let Some(dir) = Path::new(&log).parent() {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|e| Error::backend(format!("creating the log dir of {id}"), e))?;
            }
            let uri = match &self.log_driver {
                Some(program) => super::log_driver::uri(program, &log),
                None => format!("file://{log}"),
            };
            (uri.clone(), uri)
        };
        self.tasks()
            .create(self.req(CreateTaskRequest {
                container_id: id.into(),
                rootfs: mounts,
                stdin: String::new(),
                stdout,
                stderr,
                terminal: false,
                ..Default::default()
            }))
            .await
            .map_err(grpc(format!("creating the task of {id}")))?;
        let started = self
            .tasks()
            .start(self.req(StartRequest {
                container_id: id.into(),
                exec_id: String::new(),
            }))
            .await;
        let pid = match started {
            Ok(response) => response.into_inner().pid,
            Err(status) => {
                let _ = self.delete_task(id).await;
                return Err(grpc(format!("starting container {id}"))(status));
            }
        };
        container
            .labels
            .insert(labels::STARTED_AT.into(), Utc::now().to_rfc3339());
        self.containers()
            .update(self.req(UpdateContainerRequest {
                container: Some(container),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec![format!("labels.{}", labels::STARTED_AT)],
                }),
            }))
            .await
            .map_err(grpc(format!("recording the start of {id}")))?;
        Ok(pid)
    }

    async fn stop_task(&self, id: &str, grace: Duration) -> Result<(), Error> {
        self.container(id).await?;
        let running = self
            .task(id)
            .await?
            .is_some_and(|t| t.status == TaskStatus::Running as i32);
        if !running {
            return Ok(());
        }
        if !grace.is_zero() {
            self.kill(id, Signal::SIGTERM, false).await?;
            if self.wait(id, grace).await? {
                return Ok(());
            }
        }
        self.kill(id, Signal::SIGKILL, true).await?;
        if !self.wait(id, KILL_WAIT).await? {
            return Err(Error::backend(
                format!("stopping container {id}"),
                "the task did not exit after SIGKILL",
            ));
        }
        Ok(())
    }

    async fn remove_all(&self, id: &str) -> Result<(), Error> {
        if let Some(task) = self.task(id).await? {
            if task.status != TaskStatus::Stopped as i32 {
                self.kill(id, Signal::SIGKILL, true).await?;
                self.wait(id, KILL_WAIT).await?;
            }
            self.delete_task(id).await?;
        }
        match self
            .containers()
            .delete(self.req(DeleteContainerRequest { id: id.into() }))
            .await
        {
            Ok(_) => {}
            Err(status) if status.code() == Code::NotFound => {}
            Err(status) => return Err(grpc(format!("deleting container {id}"))(status)),
        }
        match self
            .snapshots()
            .remove(self.req(RemoveSnapshotRequest {
                snapshotter: SNAPSHOTTER.into(),
                key: id.into(),
            }))
            .await
        {
            Ok(_) => Ok(()),
            Err(status) if status.code() == Code::NotFound => Ok(()),
            Err(status) => Err(grpc(format!("removing the snapshot of {id}"))(status)),
        }
    }

    async fn list_all(&self) -> Result<Vec<ContainerStatus>, Error> {
        let containers = self
            .containers()
            .list(self.req(ListContainersRequest { filters: vec![] }))
            .await
            .map_err(grpc("listing containers"))?
            .into_inner()
            .containers;
        let mut tasks: HashMap<String, Process> = self
            .tasks()
            .list(self.req(ListTasksRequest {
                filter: String::new(),
            }))
            .await
            .map_err(grpc("listing tasks"))?
            .into_inner()
            .tasks
            .into_iter()
            .map(|t| (t.id.clone(), t))
            .collect();
        let mut listed: Vec<ContainerStatus> = containers
            .into_iter()
            .map(|c| {
                let task = tasks.remove(&c.id);
                self.to_status(c, task)
            })
            .collect();
        listed.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(listed)
    }

    async fn exec_process(&self, id: &str, request: ExecRequest) -> Result<ExecSession, Error> {
        let container = self.container(id).await?;
        let running = self
            .task(id)
            .await?
            .is_some_and(|t| t.status == TaskStatus::Running as i32);
        if !running {
            return Err(Error::NotRunning { id: id.into() });
        }
        let spec: serde_json::Value = container
            .spec
            .as_ref()
            .and_then(|s| serde_json::from_slice(&s.value).ok())
            .ok_or_else(|| Error::backend(format!("reading the spec of {id}"), "no spec"))?;
        let mut process = spec["process"].clone();
        process["args"] = serde_json::json!(request.command);
        process["terminal"] = serde_json::json!(request.tty);
        if let Some(env) = process["env"].as_array_mut() {
            env.extend(
                request
                    .env
                    .iter()
                    .map(|(k, v)| serde_json::json!(format!("{k}={v}"))),
            );
        }
        let process = any(PROCESS_TYPE, &process)?;
        super::exec_fifo::run(
            self.channel.clone(),
            self.namespace.clone(),
            &self.fifo_dir,
            id,
            process,
            &request,
        )
        .await
    }
}

/// Builds the exec request for the shim (kept here so the fifo module stays about pipes).
pub(crate) fn exec_request(
    id: &str,
    exec_id: &str,
    process: prost_types::Any,
    terminal: bool,
    stdin: &str,
    stdout: &str,
    stderr: &str,
) -> ExecProcessRequest {
    ExecProcessRequest {
        container_id: id.into(),
        stdin: stdin.into(),
        stdout: stdout.into(),
        stderr: stderr.into(),
        terminal,
        spec: Some(process),
        exec_id: exec_id.into(),
    }
}

/// Deletes an exec'd process record once it ended.
pub(crate) async fn delete_process(channel: Channel, namespace: &str, id: &str, exec_id: &str) {
    let _ = TasksClient::new(channel)
        .delete_process(request(
            namespace,
            None,
            DeleteProcessRequest {
                container_id: id.into(),
                exec_id: exec_id.into(),
            },
        ))
        .await;
}
