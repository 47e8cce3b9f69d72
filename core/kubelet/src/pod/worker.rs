//! One pod's worker: keeps the pod's sandbox, volumes and containers in line with its spec,
//! restarts and probes containers, tears everything down on deletion.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{Container, Pod, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Api;
use kube::api::{DeleteParams, Preconditions};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::backoff::Backoff;
use super::context::NodeContext;
use super::downward::Facts;
use super::probe::{self, ProbeState};
use super::{env, etc, resources};
use crate::cni::PodNetwork;
use crate::runtime::{
    ContainerConfig, ContainerState, ContainerStatus, Error as RuntimeError, Mount, PodRef,
    PullPolicy,
};
use crate::volume::{self, Prepared};

/// The label holding a container's attempt number (its pod-level restart count).
pub const ATTEMPT_LABEL: &str = "io.skiff.attempt";

/// The pod's network: persisted in the pod dir so a restarted agent finds it again.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Sandbox {
    pub netns: Option<PathBuf>,
    pub ips: Vec<IpAddr>,
}

/// One container name of the pod, across its attempts.
#[derive(Debug)]
pub(super) struct Slot {
    pub current: Option<ContainerStatus>,
    pub attempt: u32,
    /// The exited container before `current`, kept for `lastState` and `logs --previous`.
    pub previous: Option<ContainerStatus>,
    pub backoff: Backoff,
    pub pull_backoff: Backoff,
    pub pull_retry_at: Option<DateTime<Utc>>,
    /// Why the container is not running, when the kubelet knows better than the runtime.
    pub waiting: Option<(String, String)>,
    pub image_id: String,
    pub liveness: ProbeState,
    pub readiness: ProbeState,
    pub startup: ProbeState,
    pub started: Option<Instant>,
    /// A stop was sent (failed liveness or startup probe).
    pub killing: bool,
}

impl Slot {
    fn new(ctx: &NodeContext) -> Self {
        Slot {
            current: None,
            attempt: 0,
            previous: None,
            backoff: Backoff::new(ctx.config.backoff),
            pull_backoff: Backoff::new(ctx.config.backoff),
            pull_retry_at: None,
            waiting: None,
            image_id: String::new(),
            liveness: ProbeState::new(true),
            readiness: ProbeState::new(false),
            startup: ProbeState::new(false),
            started: None,
            killing: false,
        }
    }

    pub fn exit_code(&self) -> Option<i32> {
        match self.current.as_ref()?.state {
            ContainerState::Exited { exit_code } => Some(exit_code),
            _ => None,
        }
    }

    pub fn running(&self) -> bool {
        self.current
            .as_ref()
            .is_some_and(|c| c.state == ContainerState::Running)
    }
}

/// The worker of one pod.
pub struct PodWorker {
    pub(super) ctx: Arc<NodeContext>,
    pub(super) uid: String,
    pub(super) sandbox: Option<Sandbox>,
    pub(super) slots: HashMap<String, Slot>,
    pub(super) volumes: Option<Prepared>,
    pub(super) volumes_at: Option<Instant>,
    pub(super) last_status: Option<PodStatus>,
    pub(super) start_time: Option<Time>,
    pub(super) sandbox_error: Option<String>,
    /// The pod reached Succeeded or Failed: nothing restarts any more.
    pub(super) terminal: bool,
    /// The soonest time something is due (a back-off ending, a probe).
    pub(super) wake: Option<Instant>,
    /// The sandbox addresses the pod's `/etc` files were written for.
    pub(super) etc_for: Option<Vec<IpAddr>>,
}

impl std::fmt::Debug for PodWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodWorker")
            .field("uid", &self.uid)
            .finish_non_exhaustive()
    }
}

fn containers(pod: &Pod, init: bool) -> Vec<Container> {
    let spec = pod.spec.as_ref();
    if init {
        spec.and_then(|s| s.init_containers.clone())
            .unwrap_or_default()
    } else {
        spec.map(|s| s.containers.clone()).unwrap_or_default()
    }
}

fn restart_policy(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        .unwrap_or("Always")
}

fn pull_policy(c: &Container) -> PullPolicy {
    c.image_pull_policy
        .as_deref()
        .and_then(PullPolicy::parse)
        .unwrap_or_else(|| {
            let image = c.image.as_deref().unwrap_or("");
            let tagged = image
                .rsplit('/')
                .next()
                .is_some_and(|last| last.contains(':'));
            if !tagged || image.ends_with(":latest") {
                PullPolicy::Always
            } else {
                PullPolicy::IfNotPresent
            }
        })
}

fn ran_for(status: &ContainerStatus) -> Duration {
    match (status.started_at, status.finished_at) {
        (Some(s), Some(f)) => (f - s).to_std().unwrap_or_default(),
        _ => Duration::ZERO,
    }
}

impl PodWorker {
    /// A worker for pod `uid`, adopting the containers the runtime already has for it.
    pub fn new(ctx: Arc<NodeContext>, uid: String, existing: Vec<ContainerStatus>) -> Self {
        let sandbox: Option<Sandbox> = (ctx.files)
            .read(&ctx.pod_dir(&uid).join("sandbox.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        if let (Some(pool), Some(sandbox)) = (&ctx.addresses, &sandbox)
            && sandbox.netns.is_none()
        {
            sandbox.ips.iter().for_each(|ip| pool.claim(*ip));
        }
        let mut worker = PodWorker {
            ctx,
            uid,
            sandbox,
            slots: HashMap::new(),
            volumes: None,
            volumes_at: None,
            last_status: None,
            start_time: None,
            sandbox_error: None,
            terminal: false,
            wake: None,
            etc_for: None,
        };
        let mut by_name: HashMap<String, Vec<(u32, ContainerStatus)>> = HashMap::new();
        for c in existing {
            let Some(name) = c.container_name().map(str::to_string) else {
                continue;
            };
            let attempt = c
                .labels
                .get(ATTEMPT_LABEL)
                .and_then(|a| a.parse().ok())
                .unwrap_or(0);
            by_name.entry(name).or_default().push((attempt, c));
        }
        for (name, mut list) in by_name {
            list.sort_by_key(|(a, _)| std::cmp::Reverse(*a));
            let mut slot = Slot::new(&worker.ctx);
            let mut iter = list.into_iter();
            if let Some((attempt, current)) = iter.next() {
                slot.attempt = attempt;
                if current.state == ContainerState::Running {
                    slot.started = Some(Instant::now());
                }
                slot.image_id = current.image.clone();
                slot.current = Some(current);
            }
            slot.previous = iter.next().map(|(_, c)| c);
            // Older leftovers are not needed any more.
            let ctx = worker.ctx.clone();
            let stale: Vec<String> = iter.map(|(_, c)| c.id).collect();
            tokio::spawn(async move {
                for id in stale {
                    let _ = ctx.runtime.remove(&id).await;
                }
            });
            for _ in 0..slot.attempt {
                slot.backoff.restarted();
            }
            worker.slots.insert(name, slot);
        }
        worker
    }

    /// Follows the pod until it is deleted (then tears it down) or the agent stops.
    pub async fn run(mut self, mut rx: watch::Receiver<Option<Arc<Pod>>>) {
        let mut last: Option<Arc<Pod>> = None;
        loop {
            let pod = rx.borrow_and_update().clone();
            if pod.is_some() {
                last = pod.clone();
            }
            // The passes are boxed: their state (several KB) is held while they run, not by
            // every idle worker of a node with thousands of pods.
            let done = match &pod {
                None => Box::pin(self.terminate(last.as_deref(), true)).await,
                Some(p) if p.metadata.deletion_timestamp.is_some() => {
                    Box::pin(self.terminate(Some(p), false)).await
                }
                Some(p) => {
                    self.wake = None;
                    if let Err(e) = Box::pin(self.sync(p)).await {
                        tracing::warn!(pod = %self.uid, error = %e, "pod sync failed");
                    }
                    false
                }
            };
            if done {
                return;
            }
            let mut sleep = self.ctx.config.sync_interval;
            if let Some(w) = self.wake {
                sleep = sleep.min(w.saturating_duration_since(Instant::now()));
            }
            tokio::select! {
                changed = rx.changed() => if changed.is_err() { return },
                () = tokio::time::sleep(sleep) => {}
            }
        }
    }

    fn wake_at(&mut self, at: Instant) {
        self.wake = Some(self.wake.map_or(at, |w| w.min(at)));
    }

    fn facts(&self) -> Facts {
        let ips: Vec<String> = self
            .sandbox
            .iter()
            .flat_map(|s| s.ips.iter().map(IpAddr::to_string))
            .collect();
        Facts {
            pod_ip: ips.first().cloned(),
            pod_ips: ips,
            host_ip: self.ctx.config.node_ip.to_string(),
        }
    }

    async fn ensure_sandbox(&mut self, pod: &Pod) -> Result<(), String> {
        if self.sandbox.is_some() {
            return Ok(());
        }
        let host_network = pod
            .spec
            .as_ref()
            .and_then(|s| s.host_network)
            .unwrap_or(false);
        let sandbox =
            match (&self.ctx.cni, host_network) {
                (_, true) => Sandbox {
                    netns: None,
                    ips: vec![self.ctx.config.node_ip],
                },
                (None, false) => Sandbox {
                    netns: None,
                    ips: self
                        .ctx
                        .addresses
                        .as_ref()
                        .and_then(|pool| pool.allocate())
                        .into_iter()
                        .collect(),
                },
                (Some(cni), false) => {
                    let name = self.ctx.netns_name(&self.uid);
                    let path =
                        self.ctx.netns.create(&name).await.map_err(|e| {
                            format!("failed to create the pod network namespace: {e}")
                        })?;
                    let network = self.pod_network(pod, path.clone());
                    let result = cni.add(&network).await.map_err(|e| {
                        format!("failed to set up the pod network: {}", error_chain(&e))
                    })?;
                    Sandbox {
                        netns: Some(path),
                        ips: result.ips,
                    }
                }
            };
        let dir = self.ctx.pod_dir(&self.uid);
        let files = &self.ctx.files;
        files.create_dir_all(&dir).map_err(|e| e.to_string())?;
        files
            .write(
                &dir.join("sandbox.json"),
                &serde_json::to_vec(&sandbox).unwrap_or_default(),
            )
            .map_err(|e| e.to_string())?;
        self.sandbox = Some(sandbox);
        Ok(())
    }

    pub(super) fn pod_network(&self, pod: &Pod, netns: PathBuf) -> PodNetwork {
        PodNetwork {
            container_id: self.uid.clone(),
            netns,
            ifname: "eth0".into(),
            pod_name: pod.metadata.name.clone().unwrap_or_default(),
            pod_namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            pod_uid: self.uid.clone(),
            ..Default::default()
        }
    }

    async fn ensure_volumes(&mut self, pod: &Pod) -> Result<(), String> {
        let due = self
            .volumes_at
            .is_none_or(|t| t.elapsed() >= self.ctx.config.volume_refresh);
        if !due {
            return Ok(());
        }
        let result = volume::set_up_all(
            self.ctx.files.as_ref(),
            pod,
            &self.ctx.pod_dir(&self.uid),
            self.ctx.objects.as_ref(),
            &self.facts(),
            self.ctx.node_resources(),
            &self.ctx.volume_plugins,
        )
        .await;
        self.volumes_at = Some(Instant::now());
        match result {
            Ok(v) => {
                self.volumes = Some(v);
                Ok(())
            }
            Err(e) if self.volumes.is_some() => {
                tracing::warn!(pod = %self.uid, error = %error_chain(&e), "volume refresh failed");
                Ok(())
            }
            Err(e) => Err(error_chain(&e)),
        }
    }

    fn write_etc(&self, pod: &Pod) -> std::io::Result<()> {
        let host_resolv =
            std::fs::read_to_string(&self.ctx.config.host_resolv_conf).unwrap_or_default();
        let ips = self.facts().pod_ips;
        let domain = self
            .ctx
            .config
            .cluster_dns
            .as_ref()
            .map(|d| d.domain.as_str());
        etc::write_all(
            self.ctx.files.as_ref(),
            &self.ctx.pod_dir(&self.uid).join("etc"),
            &etc::hosts(pod, &ips, domain),
            &etc::hostname(pod),
            &etc::resolv_conf(pod, self.ctx.config.cluster_dns.as_ref(), &host_resolv),
        )
    }

    /// One reconciliation pass.
    async fn sync(&mut self, pod: &Pod) -> Result<(), String> {
        if self.start_time.is_none() {
            self.start_time = Some(
                pod.status
                    .as_ref()
                    .and_then(|s| s.start_time.clone())
                    .unwrap_or_else(|| time(Utc::now())),
            );
        }
        if self.terminal {
            return self.write_status(pod).await;
        }
        if let Err(e) = self.ensure_sandbox(pod).await {
            tracing::warn!(pod = %self.uid, error = %e, "sandbox");
            self.sandbox_error = Some(e);
            return self.write_status(pod).await;
        }
        self.sandbox_error = None;
        if let Err(e) = self.ensure_volumes(pod).await {
            self.sandbox_error = Some(e);
            return self.write_status(pod).await;
        }
        // As the kubelet does, the files are written for the sandbox as it was set up, not on
        // every pass: writing them again only when the addresses change.
        let ips = self
            .sandbox
            .as_ref()
            .map(|s| s.ips.clone())
            .unwrap_or_default();
        if (self.ctx.uses_netns() || !ips.is_empty()) && self.etc_for.as_ref() != Some(&ips) {
            self.write_etc(pod).map_err(|e| e.to_string())?;
            self.etc_for = Some(ips);
        }
        self.refresh().await;
        let init_done = self.sync_init(pod).await;
        if init_done {
            for c in containers(pod, false) {
                self.sync_app(pod, &c).await;
            }
            self.probe(pod).await;
        }
        self.write_status(pod).await
    }

    /// Reads the runtime's view of every current container.
    async fn refresh(&mut self) {
        for slot in self.slots.values_mut() {
            if let Some(cur) = &slot.current {
                match self.ctx.runtime.status(&cur.id).await {
                    Ok(s) => {
                        if s.state != ContainerState::Running {
                            slot.killing = false;
                        }
                        slot.current = Some(s);
                    }
                    Err(RuntimeError::NotFound { .. }) => {
                        // Gone behind our back: treat as exited with an unknown code.
                        let mut s = cur.clone();
                        if s.state == ContainerState::Running || s.state == ContainerState::Created
                        {
                            s.state = ContainerState::Exited { exit_code: 137 };
                            s.finished_at = Some(Utc::now());
                            s.reason = Some("Error".into());
                        }
                        slot.current = Some(s);
                    }
                    Err(e) => tracing::debug!(error = %e, "container status"),
                }
            }
        }
    }

    /// Runs init containers in order; true once all have succeeded.
    async fn sync_init(&mut self, pod: &Pod) -> bool {
        let policy = restart_policy(pod).to_string();
        for c in containers(pod, true) {
            let slot = self
                .slots
                .entry(c.name.clone())
                .or_insert_with(|| Slot::new(&self.ctx));
            if slot.running() {
                return false;
            }
            match slot.exit_code() {
                Some(0) => continue,
                Some(_) if policy == "Never" => {
                    // The pod has failed; the status says so.
                    return false;
                }
                Some(_) => {
                    self.restart_after_backoff(pod, &c).await;
                    return false;
                }
                None => {
                    self.start(pod, &c).await;
                    return false;
                }
            }
        }
        true
    }

    async fn sync_app(&mut self, pod: &Pod, c: &Container) {
        let policy = restart_policy(pod).to_string();
        let slot = self
            .slots
            .entry(c.name.clone())
            .or_insert_with(|| Slot::new(&self.ctx));
        if slot.running() {
            return;
        }
        match slot.exit_code() {
            None if slot
                .current
                .as_ref()
                .is_some_and(|c| c.state == ContainerState::Created) =>
            {
                let id = slot
                    .current
                    .as_ref()
                    .map(|c| c.id.clone())
                    .unwrap_or_default();
                if let Err(e) = self.ctx.runtime.start(&id).await {
                    tracing::warn!(error = %e, "start of a created container");
                }
            }
            None => self.start(pod, c).await,
            Some(code) => {
                let restart = match policy.as_str() {
                    "Always" => true,
                    "OnFailure" => code != 0,
                    _ => false,
                };
                if restart {
                    self.restart_after_backoff(pod, c).await;
                }
            }
        }
    }

    /// Restarts an exited container once its back-off allows, else shows CrashLoopBackOff.
    async fn restart_after_backoff(&mut self, pod: &Pod, c: &Container) {
        let Some(slot) = self.slots.get_mut(&c.name) else {
            return;
        };
        let Some(cur) = slot.current.clone() else {
            return;
        };
        let finished = cur.finished_at.unwrap_or_else(Utc::now);
        let ready_at = slot.backoff.ready_at(finished, ran_for(&cur));
        let now = Utc::now();
        if ready_at > now {
            let wait = (ready_at - now).to_std().unwrap_or_default();
            slot.waiting = Some((
                "CrashLoopBackOff".into(),
                format!(
                    "back-off {}s restarting failed container={} pod={}_{}({})",
                    slot.backoff.delay().as_secs(),
                    c.name,
                    pod.metadata.name.as_deref().unwrap_or(""),
                    pod.metadata.namespace.as_deref().unwrap_or(""),
                    self.uid
                ),
            ));
            self.wake_at(Instant::now() + wait);
            return;
        }
        self.start(pod, c).await;
    }

    /// Creates and starts the next attempt of `c` (pulling its image first).
    async fn start(&mut self, pod: &Pod, c: &Container) {
        let facts = self.facts();
        let ctx = self.ctx.clone();
        let uid = self.uid.clone();
        let Some(slot) = self.slots.get_mut(&c.name) else {
            return;
        };
        let image = c.image.clone().unwrap_or_default();
        if let Some(at) = slot.pull_retry_at
            && at > Utc::now()
        {
            slot.waiting = Some((
                "ImagePullBackOff".into(),
                format!("Back-off pulling image {image:?}"),
            ));
            let wait = (at - Utc::now()).to_std().unwrap_or_default();
            self.wake_at(Instant::now() + wait);
            return;
        }
        let image_name = match ctx.runtime.ensure_image(&image, pull_policy(c)).await {
            Ok(n) => {
                slot.pull_retry_at = None;
                slot.pull_backoff = Backoff::new(ctx.config.backoff);
                n
            }
            Err(e) => {
                let reason = match &e {
                    RuntimeError::ImageNeverPull { .. } => "ErrImageNeverPull",
                    RuntimeError::ImagePull { .. } => "ErrImagePull",
                    _ => "ErrImagePull",
                };
                slot.pull_backoff.restarted();
                slot.pull_retry_at = Some(
                    Utc::now()
                        + chrono::Duration::from_std(slot.pull_backoff.delay()).unwrap_or_default(),
                );
                slot.waiting = Some((reason.into(), error_chain(&e)));
                return;
            }
        };
        let env =
            match env::resolve(pod, c, ctx.objects.as_ref(), &facts, ctx.node_resources()).await {
                Ok(env) => env,
                Err(e) => {
                    slot.waiting = Some(("CreateContainerConfigError".into(), error_chain(&e)));
                    return;
                }
            };
        let mut mounts = Vec::new();
        for m in c.volume_mounts.iter().flatten() {
            let Some(host) = self.volumes.as_ref().and_then(|v| v.get(&m.name)) else {
                slot.waiting = Some((
                    "CreateContainerConfigError".into(),
                    format!("volume {:?} not found", m.name),
                ));
                return;
            };
            let mut host = host.clone();
            if let Some(sub) = m.sub_path.as_deref().filter(|s| !s.is_empty()) {
                host = host.join(sub);
                if !ctx.files.exists(&host) {
                    let _ = ctx.files.create_dir_all(&host);
                }
            }
            mounts.push(Mount {
                host_path: host,
                container_path: m.mount_path.clone(),
                read_only: m.read_only.unwrap_or(false),
            });
        }
        let etc_dir = ctx.pod_dir(&uid).join("etc");
        if ctx.files.exists(&etc_dir.join("hosts")) {
            for (file, path) in [
                ("hosts", "/etc/hosts"),
                ("hostname", "/etc/hostname"),
                ("resolv.conf", "/etc/resolv.conf"),
            ] {
                if !mounts.iter().any(|m| m.container_path == path) {
                    mounts.push(Mount {
                        host_path: etc_dir.join(file),
                        container_path: path.into(),
                        read_only: false,
                    });
                }
            }
        }
        let first = slot.current.is_none();
        let attempt = if first {
            slot.attempt
        } else {
            slot.attempt + 1
        };
        let log_path = ctx.log_path(&uid, &c.name, attempt);
        if let Some(parent) = log_path.parent() {
            let _ = ctx.files.create_dir_all(parent);
        }
        let host_network = pod
            .spec
            .as_ref()
            .and_then(|s| s.host_network)
            .unwrap_or(false);
        let config = ContainerConfig {
            id: uuid::Uuid::new_v4().simple().to_string(),
            pod: PodRef {
                uid: uid.clone(),
                name: pod.metadata.name.clone().unwrap_or_default(),
                namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            },
            name: c.name.clone(),
            image: image_name.clone(),
            command: c.command.clone().unwrap_or_default(),
            args: c.args.clone().unwrap_or_default(),
            env,
            working_dir: c.working_dir.clone().filter(|w| !w.is_empty()),
            hostname: if host_network {
                None
            } else {
                Some(etc::hostname(pod))
            },
            netns: self.sandbox.as_ref().and_then(|s| s.netns.clone()),
            mounts,
            resources: resources::of(c),
            cgroup_parent: None,
            log_path,
            labels: [(ATTEMPT_LABEL.to_string(), attempt.to_string())].into(),
            pod_annotations: pod.metadata.annotations.clone().unwrap_or_default(),
        };
        // Expand $(VAR) in command and args with the container's environment.
        let vars: HashMap<String, String> = config.env.iter().cloned().collect();
        let config = ContainerConfig {
            command: config
                .command
                .iter()
                .map(|a| env::expand(a, &vars))
                .collect(),
            args: config.args.iter().map(|a| env::expand(a, &vars)).collect(),
            ..config
        };
        if let Err(e) = ctx.runtime.create(&config).await {
            slot.waiting = Some(("CreateContainerError".into(), error_chain(&e)));
            return;
        }
        if let Err(e) = ctx.runtime.start(&config.id).await {
            let _ = ctx.runtime.remove(&config.id).await;
            slot.waiting = Some(("RunContainerError".into(), error_chain(&e)));
            return;
        }
        let status = ctx.runtime.status(&config.id).await.ok();
        if !first {
            slot.backoff.restarted();
            // Keep the last exited attempt (for lastState and previous logs), drop the one
            // before it with its log.
            if let Some(old) = slot.previous.take() {
                let _ = ctx.runtime.remove(&old.id).await;
                if let Some(path) = &old.log_path {
                    let _ = ctx.files.remove_file(path);
                }
            }
            slot.previous = slot.current.take();
        }
        slot.attempt = attempt;
        slot.current = status;
        slot.image_id = image_name;
        slot.waiting = None;
        slot.started = Some(Instant::now());
        slot.liveness = ProbeState::new(true);
        slot.readiness = ProbeState::new(false);
        slot.startup = ProbeState::new(false);
        slot.killing = false;
    }

    /// Runs the probes that are due; kills containers whose liveness or startup failed.
    async fn probe(&mut self, pod: &Pod) {
        let netns = self.sandbox.as_ref().and_then(|s| s.netns.clone());
        let pod_ip = self.sandbox.as_ref().and_then(|s| s.ips.first().copied());
        let grace = pod
            .spec
            .as_ref()
            .and_then(|s| s.termination_grace_period_seconds)
            .unwrap_or(30)
            .max(0) as u64;
        let period = |p: &k8s_openapi::api::core::v1::Probe| {
            Duration::from_secs(p.period_seconds.unwrap_or(10).max(1) as u64)
        };
        for c in containers(pod, false) {
            let runtime = self.ctx.runtime.clone();
            let Some(slot) = self.slots.get_mut(&c.name) else {
                continue;
            };
            if !slot.running() || slot.killing {
                continue;
            }
            let Some(started) = slot.started else {
                continue;
            };
            let target = probe::Target {
                container_id: slot
                    .current
                    .as_ref()
                    .map(|s| s.id.clone())
                    .unwrap_or_default(),
                netns: netns.clone(),
                pod_ip,
            };
            let mut next = Vec::new();
            let mut kill = false;
            if let Some(p) = &c.startup_probe
                && !slot.startup.passing
            {
                if slot.startup.due(p, started) {
                    let ok = probe::run(&runtime, p, &c, &target).await;
                    slot.startup.record(p, ok);
                    if !ok && slot.startup.failures >= p.failure_threshold.unwrap_or(3).max(1) {
                        kill = true;
                    }
                }
                next.push(period(p));
            } else {
                if let Some(p) = &c.liveness_probe {
                    if slot.liveness.due(p, started) {
                        let ok = probe::run(&runtime, p, &c, &target).await;
                        slot.liveness.record(p, ok);
                        kill |= !slot.liveness.passing;
                    }
                    next.push(period(p));
                }
                if let Some(p) = &c.readiness_probe {
                    if slot.readiness.due(p, started) {
                        let ok = probe::run(&runtime, p, &c, &target).await;
                        slot.readiness.record(p, ok);
                    }
                    next.push(period(p));
                }
            }
            if kill {
                slot.killing = true;
                slot.readiness.passing = false;
                let id = target.container_id.clone();
                tokio::spawn(async move {
                    let _ = runtime.stop(&id, Duration::from_secs(grace)).await;
                });
            }
            if let Some(p) = next.into_iter().min() {
                self.wake_at(Instant::now() + p.min(Duration::from_secs(1)));
            }
        }
    }

    /// Stops everything of a deleted pod and releases its resources; then removes the pod
    /// object. Returns true when done.
    async fn terminate(&mut self, pod: Option<&Pod>, gone: bool) -> bool {
        let grace = pod
            .and_then(|p| p.metadata.deletion_grace_period_seconds)
            .or_else(|| pod.and_then(|p| p.spec.as_ref()?.termination_grace_period_seconds))
            .unwrap_or(30)
            .max(0) as u64;
        let grace = if gone { grace.min(2) } else { grace };
        // Containers the runtime holds for this pod (also ones this worker lost track of).
        let listed = self.ctx.runtime.list().await.unwrap_or_default();
        let ids: Vec<String> = listed
            .iter()
            .filter(|c| c.pod().uid == self.uid)
            .map(|c| c.id.clone())
            .collect();
        let runtime = self.ctx.runtime.clone();
        let stops = ids.iter().map(|id| {
            let runtime = runtime.clone();
            async move { runtime.stop(id, Duration::from_secs(grace)).await }
        });
        for r in futures::future::join_all(stops).await {
            if let Err(e) = r {
                tracing::warn!(pod = %self.uid, error = %e, "stopping a container");
            }
        }
        for id in &ids {
            if let Err(e) = runtime.remove(id).await {
                tracing::warn!(pod = %self.uid, error = %e, "removing a container");
                return false;
            }
        }
        if let Err(e) = release(&self.ctx, &self.uid, pod, self.sandbox.as_ref()).await {
            tracing::warn!(pod = %self.uid, error = %e, "releasing the pod's resources");
            return false;
        }
        if gone {
            return true;
        }
        let Some(pod) = pod else { return true };
        let api: Api<Pod> = Api::namespaced(
            self.ctx.client.clone(),
            pod.metadata.namespace.as_deref().unwrap_or("default"),
        );
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: Some(self.uid.clone()),
                resource_version: None,
            }),
            ..Default::default()
        };
        match api
            .delete(pod.metadata.name.as_deref().unwrap_or(""), &params)
            .await
        {
            Ok(_) => true,
            Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => true,
            Err(e) => {
                tracing::warn!(pod = %self.uid, error = %e, "deleting the pod object");
                false
            }
        }
    }
}

/// Releases what a pod held on the node: CNI attachment, network namespace, volumes and the
/// pod dir (logs included). Safe to call again.
pub async fn release(
    ctx: &NodeContext,
    uid: &str,
    pod: Option<&Pod>,
    sandbox: Option<&Sandbox>,
) -> Result<(), String> {
    let dir = ctx.pod_dir(uid);
    let stored: Option<Sandbox> = (ctx.files)
        .read(&dir.join("sandbox.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let sandbox = sandbox.cloned().or(stored);
    if let Some(netns) = sandbox.as_ref().and_then(|s| s.netns.clone()) {
        if let Some(cni) = &ctx.cni {
            let network = PodNetwork {
                container_id: uid.to_string(),
                netns: netns.clone(),
                ifname: "eth0".into(),
                pod_name: pod
                    .and_then(|p| p.metadata.name.clone())
                    .unwrap_or_default(),
                pod_namespace: pod
                    .and_then(|p| p.metadata.namespace.clone())
                    .unwrap_or_default(),
                pod_uid: uid.to_string(),
                ..Default::default()
            };
            cni.del(&network)
                .await
                .map_err(|e| format!("cni del: {}", error_chain(&e)))?;
        }
        ctx.netns
            .remove(&ctx.netns_name(uid))
            .await
            .map_err(|e| e.to_string())?;
    }
    // Only while the pod dir is there: a second call must not free an address that another
    // pod got in between.
    if let (Some(pool), Some(sandbox)) = (&ctx.addresses, &sandbox)
        && sandbox.netns.is_none()
        && ctx.files.exists(&dir)
    {
        sandbox.ips.iter().for_each(|ip| pool.release(*ip));
    }
    volume::tear_down_all(ctx.files.as_ref(), uid, pod, &dir, &ctx.volume_plugins)
        .await
        .map_err(|e| error_chain(&e))?;
    match ctx.files.remove_dir_all(&dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

/// A chrono time as an API `Time`.
pub fn time(t: DateTime<Utc>) -> Time {
    Time(
        k8s_openapi::jiff::Timestamp::from_microsecond(t.timestamp_micros())
            .unwrap_or_else(|_| k8s_openapi::jiff::Timestamp::now()),
    )
}

/// An error with its sources, `: `-joined (for status messages).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size_of_future<F, Fut>(_: F) -> usize
    where
        F: FnOnce(PodWorker, watch::Receiver<Option<Arc<Pod>>>) -> Fut,
    {
        std::mem::size_of::<Fut>()
    }

    /// A node holds one worker per pod for the pod's whole life, mostly waiting: its task
    /// must not carry the state of a sync pass (over 7 KB when inlined).
    #[test]
    fn a_waiting_worker_holds_no_sync_state() {
        let size = size_of_future(PodWorker::run);
        assert!(size < 2048, "a worker task holds {size} bytes");
    }
}
