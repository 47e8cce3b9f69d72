//! A simulated runtime (kwok-style): containers exist only in memory and run at once, so one
//! machine can host many simulated nodes. Tests steer it: make a container exit or fail, make
//! an image unpullable, directly or through pod annotations, which also work for pods of a
//! `skiff up --sim-nodes` cluster:
//! - `sim.skiff.dev/exit-code: "<n>"`: the pod's containers exit with `n` once they have run
//!   for `sim.skiff.dev/run-seconds` (default 1).
//! - `sim.skiff.dev/fail-times: "<n>"`: the first `n` pods of a group (same namespace, same
//!   name up to the last `-`: the pods of one Job) exit with 1 after running, later ones
//!   with 0. Runtimes made with [`SimulatedRuntime::sibling`] count together, so the pods of
//!   one Job count wherever they run.
//! - `sim.skiff.dev/exec-exit-code: "<n>"`: commands run in the pod's containers (exec, and
//!   so exec probes) exit with `n`; `1` keeps a readiness probe failing.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;

use super::{
    ContainerConfig, ContainerRuntime, ContainerState, ContainerStatus, Error, ExecRequest,
    ExecSession, PullPolicy, labels,
};
use crate::image;

/// The exit code a simulated container reports after a stop (as if SIGTERM ended it).
pub const STOPPED_EXIT_CODE: i32 = 143;

const EXIT_CODE: &str = "sim.skiff.dev/exit-code";
const RUN_SECONDS: &str = "sim.skiff.dev/run-seconds";
const FAIL_TIMES: &str = "sim.skiff.dev/fail-times";
const EXEC_EXIT_CODE: &str = "sim.skiff.dev/exec-exit-code";

#[derive(Debug, Default)]
struct State {
    images: BTreeSet<String>,
    unpullable: BTreeSet<String>,
    containers: HashMap<String, ContainerStatus>,
    steering: HashMap<String, Steering>,
}

/// What the annotations of a container's pod ask of it.
#[derive(Debug, Clone, Default)]
struct Steering {
    exit_code: Option<i32>,
    run_for: Duration,
    /// The `fail-times` group and count, resolved to an exit code when the container starts.
    fail_times: Option<(String, u32)>,
    exec_exit_code: i32,
}

impl Steering {
    /// Whether the annotations ask anything of the container.
    fn steers(&self) -> bool {
        self.exit_code.is_some() || self.fail_times.is_some() || self.exec_exit_code != 0
    }

    fn of(config: &ContainerConfig) -> Steering {
        let get = |key: &str| config.pod_annotations.get(key).map(|v| v.trim());
        let fail_times = get(FAIL_TIMES).and_then(|n| n.parse().ok()).map(|n| {
            let name = &config.pod.name;
            let group = name.rsplit_once('-').map_or(name.as_str(), |(g, _)| g);
            (format!("{}/{group}", config.pod.namespace), n)
        });
        Steering {
            exit_code: get(EXIT_CODE).and_then(|c| c.parse().ok()),
            run_for: Duration::from_secs_f64(
                get(RUN_SECONDS)
                    .and_then(|s| s.parse::<f64>().ok())
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .unwrap_or(1.0),
            ),
            fail_times,
            exec_exit_code: get(EXEC_EXIT_CODE)
                .and_then(|c| c.parse().ok())
                .unwrap_or(0),
        }
    }
}

/// An in-memory runtime; see the module docs.
#[derive(Debug)]
pub struct SimulatedRuntime {
    state: Mutex<State>,
    next_pid: AtomicU32,
    /// Containers started per `fail-times` group, shared by siblings.
    started_in_group: Arc<Mutex<HashMap<String, u32>>>,
}

impl Default for SimulatedRuntime {
    fn default() -> Self {
        SimulatedRuntime {
            state: Mutex::default(),
            next_pid: AtomicU32::new(10_000),
            started_in_group: Arc::default(),
        }
    }
}

impl SimulatedRuntime {
    pub fn new() -> Self {
        Self::default()
    }

    /// Another runtime (another simulated node) with its own containers and images that
    /// counts `fail-times` groups together with this one.
    pub fn sibling(&self) -> SimulatedRuntime {
        SimulatedRuntime {
            started_in_group: self.started_in_group.clone(),
            ..SimulatedRuntime::default()
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The state with every steered container whose run time is up ended, so a status read
    /// sees the exit.
    fn observe(&self) -> std::sync::MutexGuard<'_, State> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let now = Utc::now();
        for (id, steering) in &state.steering {
            let Some(code) = steering.exit_code else {
                continue;
            };
            let Some(status) = state.containers.get_mut(id) else {
                continue;
            };
            let due = status.started_at.is_some_and(|started| {
                (now - started).to_std().unwrap_or_default() >= steering.run_for
            });
            if status.state == ContainerState::Running && due {
                end(status, code, None);
            }
        }
        guard
    }

    /// Makes every pull of `image` fail (it stays absent).
    pub fn fail_pulls_of(&self, image: &str) {
        let name = image::normalize(image).unwrap_or_else(|_| image.to_string());
        let mut state = self.lock();
        state.images.remove(&name);
        state.unpullable.insert(name);
    }

    /// Ends a running container's main process with `exit_code`.
    pub fn exit(&self, id: &str, exit_code: i32) -> Result<(), Error> {
        self.finish(id, exit_code, None)
    }

    /// Ends a running container as the kernel's OOM killer would.
    pub fn oom_kill(&self, id: &str) -> Result<(), Error> {
        self.finish(id, 137, Some("OOMKilled"))
    }

    fn finish(&self, id: &str, exit_code: i32, reason: Option<&str>) -> Result<(), Error> {
        let mut state = self.lock();
        let status = state
            .containers
            .get_mut(id)
            .ok_or_else(|| Error::NotFound { id: id.into() })?;
        if status.state != ContainerState::Running {
            return Err(Error::NotRunning { id: id.into() });
        }
        end(status, exit_code, reason);
        Ok(())
    }
}

fn end(status: &mut ContainerStatus, exit_code: i32, reason: Option<&str>) {
    status.state = ContainerState::Exited { exit_code };
    status.pid = None;
    status.finished_at = Some(Utc::now());
    status.reason = Some(match reason {
        Some(reason) => reason.to_string(),
        None if exit_code == 0 => "Completed".to_string(),
        None => "Error".to_string(),
    });
}

#[async_trait]
impl ContainerRuntime for SimulatedRuntime {
    async fn ensure_image(&self, image: &str, policy: PullPolicy) -> Result<String, Error> {
        let name = image::normalize(image).map_err(Error::Image)?;
        let mut state = self.lock();
        let present = state.images.contains(&name);
        match policy {
            PullPolicy::Never if !present => Err(Error::ImageNeverPull { image: name }),
            PullPolicy::IfNotPresent | PullPolicy::Never if present => Ok(name),
            _ if state.unpullable.contains(&name) => Err(Error::ImagePull {
                image: name.clone(),
                source: image::Error::NotFound(name),
            }),
            _ => {
                state.images.insert(name.clone());
                Ok(name)
            }
        }
    }

    async fn import_image(&self, file: &Path) -> Result<Vec<String>, Error> {
        let images = image::archive::read(file).map_err(Error::Image)?;
        let names: Vec<String> = images.into_iter().map(|i| i.name).collect();
        let mut state = self.lock();
        for name in &names {
            state.unpullable.remove(name);
            state.images.insert(name.clone());
        }
        Ok(names)
    }

    async fn list_images(&self) -> Result<Vec<String>, Error> {
        Ok(self.lock().images.iter().cloned().collect())
    }

    async fn create(&self, config: &ContainerConfig) -> Result<(), Error> {
        let image = image::normalize(&config.image).map_err(Error::Image)?;
        let mut state = self.lock();
        if !state.images.contains(&image) {
            return Err(Error::ImageNotPresent { image });
        }
        if state.containers.contains_key(&config.id) {
            return Err(Error::AlreadyExists {
                id: config.id.clone(),
            });
        }
        let status = ContainerStatus {
            id: config.id.clone(),
            state: ContainerState::Created,
            image,
            labels: labels::for_config(config),
            pid: None,
            created_at: Some(Utc::now()),
            started_at: None,
            finished_at: None,
            reason: None,
            log_path: Some(config.log_path.clone()),
        };
        state.containers.insert(config.id.clone(), status);
        // Only steered containers are kept here: status reads walk this map.
        let steering = Steering::of(config);
        if steering.steers() {
            state.steering.insert(config.id.clone(), steering);
        }
        Ok(())
    }

    async fn start(&self, id: &str) -> Result<u32, Error> {
        let mut state = self.lock();
        let status = state
            .containers
            .get_mut(id)
            .ok_or_else(|| Error::NotFound { id: id.into() })?;
        if status.state != ContainerState::Created {
            return Err(Error::backend(
                format!("starting container {id}"),
                "container is not in the created state",
            ));
        }
        let pid = self.next_pid.fetch_add(1, Ordering::Relaxed);
        if let Some(steering) = state.steering.get_mut(id)
            && let Some((group, times)) = steering.fail_times.take()
        {
            let mut started = self
                .started_in_group
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let count = started.entry(group).or_default();
            *count += 1;
            steering.exit_code = Some(if *count <= times { 1 } else { 0 });
        }
        let status = state
            .containers
            .get_mut(id)
            .ok_or_else(|| Error::NotFound { id: id.into() })?;
        status.state = ContainerState::Running;
        status.pid = Some(pid);
        status.started_at = Some(Utc::now());
        Ok(pid)
    }

    async fn stop(&self, id: &str, _grace: Duration) -> Result<(), Error> {
        match self.finish(id, STOPPED_EXIT_CODE, None) {
            Err(Error::NotRunning { .. }) => Ok(()),
            other => other,
        }
    }

    async fn remove(&self, id: &str) -> Result<(), Error> {
        let mut state = self.lock();
        state.containers.remove(id);
        state.steering.remove(id);
        Ok(())
    }

    async fn status(&self, id: &str) -> Result<ContainerStatus, Error> {
        self.observe()
            .containers
            .get(id)
            .cloned()
            .ok_or_else(|| Error::NotFound { id: id.into() })
    }

    async fn list(&self) -> Result<Vec<ContainerStatus>, Error> {
        let state = self.observe();
        let sorted: BTreeMap<_, _> = state.containers.iter().collect();
        Ok(sorted.into_values().cloned().collect())
    }

    /// Simulated processes print nothing and succeed.
    async fn exec(&self, id: &str, _request: ExecRequest) -> Result<ExecSession, Error> {
        let status = self.status(id).await?;
        if status.state != ContainerState::Running {
            return Err(Error::NotRunning { id: id.into() });
        }
        let exit_code = self.lock().steering.get(id).map_or(0, |s| s.exec_exit_code);
        Ok(ExecSession {
            stdin: None,
            stdout: Box::pin(tokio::io::empty()),
            stderr: Some(Box::pin(tokio::io::empty())),
            exit: Box::pin(async move { Ok(exit_code) }),
        })
    }

    async fn log_path(&self, id: &str) -> Result<PathBuf, Error> {
        self.status(id)
            .await?
            .log_path
            .ok_or_else(|| Error::NotFound { id: id.into() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::PodRef;

    fn config(id: &str) -> ContainerConfig {
        ContainerConfig {
            id: id.into(),
            pod: PodRef {
                uid: "uid-1".into(),
                name: "web".into(),
                namespace: "default".into(),
            },
            name: "app".into(),
            image: "busybox".into(),
            log_path: "/var/log/pods/x/app/0.log".into(),
            ..Default::default()
        }
    }

    async fn running(runtime: &SimulatedRuntime, id: &str) -> u32 {
        start_steered(runtime, &config(id)).await
    }

    fn steered(id: &str, pod: &str, annotations: &[(&str, &str)]) -> ContainerConfig {
        let mut config = config(id);
        config.pod.name = pod.into();
        config.pod_annotations = annotations
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        config
    }

    async fn start_steered(runtime: &SimulatedRuntime, config: &ContainerConfig) -> u32 {
        runtime
            .ensure_image("busybox", PullPolicy::IfNotPresent)
            .await
            .unwrap();
        runtime.create(config).await.unwrap();
        runtime.start(&config.id).await.unwrap()
    }

    #[tokio::test]
    async fn a_container_asked_to_exit_runs_first_then_exits_with_the_code() {
        let runtime = SimulatedRuntime::new();
        let config = steered("c1", "job-a1b2c", &[(EXIT_CODE, "3"), (RUN_SECONDS, "0.2")]);
        start_steered(&runtime, &config).await;
        assert_eq!(
            runtime.status("c1").await.unwrap().state,
            ContainerState::Running
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        let status = runtime.status("c1").await.unwrap();
        assert_eq!(status.state, ContainerState::Exited { exit_code: 3 });
        assert_eq!(status.reason.as_deref(), Some("Error"));
    }

    #[tokio::test]
    async fn the_first_pods_of_a_group_fail_on_any_sibling_and_later_ones_succeed() {
        let first = SimulatedRuntime::new();
        let second = first.sibling();
        let steering = [(FAIL_TIMES, "2"), (RUN_SECONDS, "0")];
        start_steered(&first, &steered("a", "retry-aaaaa", &steering)).await;
        start_steered(&second, &steered("b", "retry-bbbbb", &steering)).await;
        start_steered(&first, &steered("c", "retry-ccccc", &steering)).await;
        start_steered(&second, &steered("d", "other-ddddd", &steering)).await;
        let exited = |code| ContainerState::Exited { exit_code: code };
        assert_eq!(first.status("a").await.unwrap().state, exited(1));
        assert_eq!(second.status("b").await.unwrap().state, exited(1));
        assert_eq!(first.status("c").await.unwrap().state, exited(0));
        assert_eq!(
            second.status("d").await.unwrap().state,
            exited(1),
            "another group counts on its own"
        );
    }

    #[tokio::test]
    async fn exec_in_a_steered_pod_exits_with_the_asked_code() {
        let runtime = SimulatedRuntime::new();
        start_steered(&runtime, &steered("c1", "web-1", &[(EXEC_EXIT_CODE, "1")])).await;
        let output = runtime
            .exec("c1", ExecRequest::default())
            .await
            .unwrap()
            .output()
            .await
            .unwrap();
        assert_eq!(output.exit_code, 1);
        assert_eq!(
            runtime.status("c1").await.unwrap().state,
            ContainerState::Running,
            "without an exit code the container keeps running"
        );
    }

    #[tokio::test]
    async fn started_containers_run_at_once_with_a_pid() {
        let runtime = SimulatedRuntime::new();
        let pid = running(&runtime, "c1").await;
        let status = runtime.status("c1").await.unwrap();
        assert_eq!(status.state, ContainerState::Running);
        assert_eq!(status.pid, Some(pid));
        assert!(status.started_at.is_some());
        assert_eq!(status.image, "docker.io/library/busybox:latest");
    }

    #[tokio::test]
    async fn told_to_exit_a_container_reports_its_code_and_reason() {
        let runtime = SimulatedRuntime::new();
        running(&runtime, "c1").await;
        runtime.exit("c1", 3).unwrap();
        let status = runtime.status("c1").await.unwrap();
        assert_eq!(status.state, ContainerState::Exited { exit_code: 3 });
        assert_eq!(status.reason.as_deref(), Some("Error"));
        assert!(status.finished_at.is_some());
        assert_eq!(status.pid, None);
    }

    #[tokio::test]
    async fn oom_killed_containers_say_so() {
        let runtime = SimulatedRuntime::new();
        running(&runtime, "c1").await;
        runtime.oom_kill("c1").unwrap();
        let status = runtime.status("c1").await.unwrap();
        assert_eq!(status.state, ContainerState::Exited { exit_code: 137 });
        assert_eq!(status.reason.as_deref(), Some("OOMKilled"));
    }

    #[tokio::test]
    async fn never_policy_without_the_image_is_err_image_never_pull() {
        let runtime = SimulatedRuntime::new();
        let err = runtime
            .ensure_image("busybox", PullPolicy::Never)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::ImageNeverPull { .. }), "{err:?}");
        assert!(!err.is_image_pull());
    }

    #[tokio::test]
    async fn unpullable_images_give_the_pull_error_kind() {
        let runtime = SimulatedRuntime::new();
        runtime.fail_pulls_of("missing:1");
        let err = runtime
            .ensure_image("missing:1", PullPolicy::Always)
            .await
            .unwrap_err();
        assert!(err.is_image_pull(), "{err:?}");
    }

    #[tokio::test]
    async fn creating_without_the_image_fails() {
        let runtime = SimulatedRuntime::new();
        let err = runtime.create(&config("c1")).await.unwrap_err();
        assert!(matches!(err, Error::ImageNotPresent { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn list_returns_containers_with_their_pod_labels() {
        let runtime = SimulatedRuntime::new();
        running(&runtime, "c1").await;
        running(&runtime, "c2").await;
        let listed = runtime.list().await.unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].id, "c1");
        assert_eq!(listed[0].pod().name, "web");
        assert_eq!(listed[0].container_name(), Some("app"));
    }

    #[tokio::test]
    async fn stop_ends_a_running_container_and_remove_forgets_it() {
        let runtime = SimulatedRuntime::new();
        running(&runtime, "c1").await;
        runtime.stop("c1", Duration::from_secs(30)).await.unwrap();
        assert_eq!(
            runtime.status("c1").await.unwrap().state,
            ContainerState::Exited {
                exit_code: STOPPED_EXIT_CODE
            }
        );
        runtime.stop("c1", Duration::ZERO).await.unwrap();
        runtime.remove("c1").await.unwrap();
        assert!(matches!(
            runtime.status("c1").await,
            Err(Error::NotFound { .. })
        ));
    }

    #[tokio::test]
    async fn exec_needs_a_running_container() {
        let runtime = SimulatedRuntime::new();
        running(&runtime, "c1").await;
        let output = runtime
            .exec("c1", ExecRequest::default())
            .await
            .unwrap()
            .output()
            .await
            .unwrap();
        assert_eq!(output.exit_code, 0);
        runtime.exit("c1", 0).unwrap();
        assert!(matches!(
            runtime.exec("c1", ExecRequest::default()).await,
            Err(Error::NotRunning { .. })
        ));
    }

    #[tokio::test]
    async fn imported_tarballs_make_images_present() {
        let dir = tempfile::tempdir().unwrap();
        let tar = image::testimage::busybox("skiff.test/bb:1", dir.path()).unwrap();
        let runtime = SimulatedRuntime::new();
        let names = runtime.import_image(&tar).await.unwrap();
        assert_eq!(names, vec!["skiff.test/bb:1".to_string()]);
        runtime
            .ensure_image("skiff.test/bb:1", PullPolicy::Never)
            .await
            .unwrap();
    }
}
