//! `pod-startup`: pods created through the API until the watch shows them Running on the real
//! `skiff up` node, beside the floor measured in the same run: the same container started
//! straight through skiff's containerd runtime (own containerd namespace) after the same CNI
//! ADD (skiff's plugins, own network and bridge). Also holds [`Cluster`], the bench's
//! disposable `skiff up`, shared with the `services` scenario.

use crate::report::Figure;
use crate::stats::percentile_ms;
use anyhow::Context as _;
use futures::StreamExt;
use ipnet::Ipv4Net;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::runtime::watcher;
use serde_json::json;
use skiff_kubelet::cni::{CniConfig, CniRuntime, PodNetwork};
use skiff_kubelet::pod::netns::{IpNetns, NetnsOps};
use skiff_kubelet::runtime::containerd::ContainerdRuntime;
use skiff_kubelet::runtime::supervisor::ContainerdConfig;
use skiff_kubelet::runtime::{ContainerConfig, ContainerRuntime, PodRef};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The image every benchmark pod runs, imported with `skiff image build-busybox`.
pub const IMAGE: &str = "skiff.local/busybox:latest";
/// The label on everything a scenario creates, so shutdown can find and delete it.
pub const LABEL: &str = "skiff-bench";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Pods started one after the other, and then as many at once.
    #[arg(long, default_value_t = 20)]
    pub pods: usize,
    /// Longest wait for one phase's pods to run, in seconds.
    #[arg(long, default_value_t = 180)]
    pub timeout: u64,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let cluster = Cluster::start().await?;
    let result = measure(&cluster, &args).await;
    cluster.shutdown().await;
    let figures = result?;
    for (metric, value, baseline_metric, baseline) in figures {
        Figure {
            bench: "pod-startup",
            metric,
            value,
            unit: "ms",
            baseline: Some((baseline_metric, baseline)),
        }
        .print();
    }
    Ok(())
}

type Figures = Vec<(&'static str, f64, &'static str, f64)>;

async fn measure(cluster: &Cluster, args: &Args) -> anyhow::Result<Figures> {
    let timeout = Duration::from_secs(args.timeout);
    let floor = Floor::new(cluster).await?;
    let result = async {
        let api: Api<Pod> = Api::namespaced(cluster.client.clone(), "default");
        let mut running = RunningWatch::start(api.clone()).await?;

        // One untimed start on each path first: the first container of an image pays for
        // things (snapshot metadata, shim binaries in the page cache) later ones do not.
        floor.start_one("warm").await?;
        start_pods(&api, &mut running, &["warm".to_string()], false, timeout).await?;

        let seq: Vec<String> = (0..args.pods).map(|i| format!("seq-{i}")).collect();
        let par: Vec<String> = (0..args.pods).map(|i| format!("par-{i}")).collect();

        let mut floor_seq = Vec::new();
        for name in &seq {
            floor_seq.push(floor.start_one(name).await?);
        }
        let mut pod_seq = start_pods(&api, &mut running, &seq, false, timeout).await?;
        let mut floor_par: Vec<Duration> =
            futures::future::try_join_all(par.iter().map(|name| floor.start_one(name))).await?;
        let mut pod_par = start_pods(&api, &mut running, &par, true, timeout).await?;

        Ok::<_, anyhow::Error>(vec![
            (
                "sequential_p50_ms",
                percentile_ms(&mut pod_seq, 50.0),
                "floor_sequential_p50_ms",
                percentile_ms(&mut floor_seq, 50.0),
            ),
            (
                "sequential_p99_ms",
                percentile_ms(&mut pod_seq, 99.0),
                "floor_sequential_p99_ms",
                percentile_ms(&mut floor_seq, 99.0),
            ),
            (
                "parallel_p50_ms",
                percentile_ms(&mut pod_par, 50.0),
                "floor_parallel_p50_ms",
                percentile_ms(&mut floor_par, 50.0),
            ),
            (
                "parallel_p99_ms",
                percentile_ms(&mut pod_par, 99.0),
                "floor_parallel_p99_ms",
                percentile_ms(&mut floor_par, 99.0),
            ),
        ])
    }
    .await;
    floor.clean_up().await;
    result
}

fn sleeper(name: &str) -> anyhow::Result<Pod> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": format!("bench-{name}"), "labels": {LABEL: "pod-startup"}},
        "spec": {
            "terminationGracePeriodSeconds": 0,
            "containers": [{
                "name": "sleep",
                "image": IMAGE,
                "imagePullPolicy": "Never",
                "command": ["sleep", "3600"],
            }],
        },
    }))?)
}

/// Creates the pods (one after the other, or all at once) and returns, per pod, the time
/// from just before its create call to the watch event showing it Running.
async fn start_pods(
    api: &Api<Pod>,
    running: &mut RunningWatch,
    names: &[String],
    parallel: bool,
    timeout: Duration,
) -> anyhow::Result<Vec<Duration>> {
    let mut created: HashMap<String, Instant> = HashMap::new();
    let create = |name: &String| {
        let api = api.clone();
        let name = name.clone();
        async move {
            let pod = sleeper(&name)?;
            let at = Instant::now();
            api.create(&PostParams::default(), &pod)
                .await
                .with_context(|| format!("cannot create pod {name}"))?;
            Ok::<_, anyhow::Error>((format!("bench-{name}"), at))
        }
    };
    let mut samples = Vec::with_capacity(names.len());
    if parallel {
        created.extend(futures::future::try_join_all(names.iter().map(create)).await?);
        for _ in names {
            let (name, at) = running.next(timeout).await?;
            if let Some(t0) = created.get(&name) {
                samples.push(at - *t0);
            }
        }
    } else {
        for name in names {
            let (pod, t0) = create(name).await?;
            let (seen, at) = running.next(timeout).await?;
            anyhow::ensure!(seen == pod, "{seen} ran before {pod}");
            samples.push(at - t0);
        }
    }
    anyhow::ensure!(samples.len() == names.len(), "some pods ran twice");
    Ok(samples)
}

/// A watch of the bench's pods reporting each pod the first time it is Running.
struct RunningWatch {
    rx: mpsc::UnboundedReceiver<(String, Instant)>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningWatch {
    /// Starts the watch and returns once its initial listing is done, so no event is missed.
    async fn start(api: Api<Pod>) -> anyhow::Result<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let config = watcher::Config::default().labels(&format!("{LABEL}=pod-startup"));
        let task = tokio::spawn(async move {
            let mut stream = watcher(api, config).boxed();
            let mut ready = Some(ready_tx);
            let mut seen = std::collections::HashSet::new();
            while let Some(event) = stream.next().await {
                let pod = match event {
                    Ok(watcher::Event::InitDone) => {
                        if let Some(r) = ready.take() {
                            let _ = r.send(());
                        }
                        continue;
                    }
                    Ok(watcher::Event::Apply(pod) | watcher::Event::InitApply(pod)) => pod,
                    _ => continue,
                };
                let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
                let name = pod.metadata.name.clone().unwrap_or_default();
                if phase == Some("Running") && seen.insert(name.clone()) {
                    let _ = tx.send((name, Instant::now()));
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(30), ready_rx)
            .await
            .context("the pod watch did not start")??;
        Ok(RunningWatch { rx, task })
    }

    async fn next(&mut self, timeout: Duration) -> anyhow::Result<(String, Instant)> {
        tokio::time::timeout(timeout, self.rx.recv())
            .await
            .context("timed out waiting for a pod to run")?
            .context("the pod watch ended")
    }
}

impl Drop for RunningWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The floor: network namespace, CNI ADD and a containerd container, without the API,
/// scheduler or kubelet in between.
struct Floor {
    runtime: ContainerdRuntime,
    cni: CniRuntime,
    dir: PathBuf,
    nonce: String,
    bridge: String,
    started: Mutex<Vec<(String, PodNetwork)>>,
}

impl Floor {
    async fn new(cluster: &Cluster) -> anyhow::Result<Self> {
        let nonce = cluster.nonce.clone();
        let dir = cluster.data_dir().join("floor");
        let conf_dir = dir.join("net.d");
        std::fs::create_dir_all(&conf_dir)?;
        let gateway = Ipv4Addr::from(u32::from(cluster.floor_cidr.network()) + 1);
        // The node's own network, with its own name, bridge and range.
        let conf = json!({
            "cniVersion": "1.0.0",
            "name": format!("skiff-bench-{nonce}"),
            "plugins": [
                {
                    "type": "skiff-bridge",
                    "bridge": cluster.floor_bridge,
                    "isGateway": true,
                    "ipMasq": true,
                    "hairpinMode": true,
                    "ipam": {
                        "type": "skiff-host-local",
                        "ranges": [[{"subnet": cluster.floor_cidr.to_string(), "gateway": gateway.to_string()}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "dataDir": dir.join("ipam").display().to_string(),
                    }
                },
                {"type": "skiff-loopback"}
            ]
        });
        std::fs::write(
            conf_dir.join("10-floor.conflist"),
            serde_json::to_vec_pretty(&conf)?,
        )?;
        let cni = CniRuntime::new(CniConfig {
            conf_dir,
            bin_dirs: vec![bin_dir()?, PathBuf::from("/usr/lib/cni")],
            cache_dir: dir.join("results"),
        });
        let runtime =
            ContainerdRuntime::connect(&cluster.containerd_socket(), &format!("bench-{nonce}"))
                .await
                .context("cannot reach the node's containerd")?;
        let images = dir.join("image");
        std::fs::create_dir_all(&images)?;
        let tarball = skiff_kubelet::image::testimage::busybox(IMAGE, &images)
            .context("cannot build the busybox image")?;
        runtime
            .import_image(&tarball)
            .await
            .context("cannot import the busybox image")?;
        Ok(Floor {
            runtime,
            cni,
            dir,
            nonce,
            bridge: cluster.floor_bridge.clone(),
            started: Mutex::new(Vec::new()),
        })
    }

    /// Starts one sleeping container in a fresh, CNI-attached network namespace; returns how
    /// long that took.
    async fn start_one(&self, name: &str) -> anyhow::Result<Duration> {
        let id = format!("bench-{}-{name}", self.nonce);
        let t0 = Instant::now();
        let netns = IpNetns.create(&format!("sbf{}-{name}", self.nonce)).await?;
        let network = PodNetwork {
            container_id: id.clone(),
            netns: netns.clone(),
            ifname: "eth0".into(),
            pod_name: name.into(),
            pod_namespace: "bench".into(),
            pod_uid: id.clone(),
            ..Default::default()
        };
        self.started
            .lock()
            .unwrap()
            .push((id.clone(), network.clone()));
        self.cni.add(&network).await?;
        let config = ContainerConfig {
            id: id.clone(),
            pod: PodRef {
                uid: id.clone(),
                name: name.into(),
                namespace: "bench".into(),
            },
            name: "sleep".into(),
            image: IMAGE.into(),
            command: vec!["sleep".into(), "3600".into()],
            hostname: Some(name.into()),
            netns: Some(netns),
            log_path: self.dir.join("logs").join(format!("{id}.log")),
            ..Default::default()
        };
        self.runtime.create(&config).await?;
        self.runtime.start(&id).await?;
        Ok(t0.elapsed())
    }

    /// Removes every container, attachment and namespace the floor made, then its bridge and
    /// masquerade table.
    async fn clean_up(&self) {
        let started = std::mem::take(&mut *self.started.lock().unwrap());
        for (id, network) in started {
            if let Err(e) = self.runtime.remove(&id).await {
                eprintln!("warning: removing floor container {id}: {e}");
            }
            if let Err(e) = self.cni.del(&network).await {
                eprintln!("warning: cni del of {id}: {e}");
            }
            let name = network
                .netns
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if let Err(e) = IpNetns.remove(&name).await {
                eprintln!("warning: removing netns {name}: {e}");
            }
        }
        run_quietly("ip", &["link", "del", &self.bridge]);
        run_quietly(
            "nft",
            &[
                "delete",
                "table",
                "inet",
                &format!("skiff_masq_{}", self.bridge),
            ],
        );
    }
}

/// The directory of this binary, where `skiff` and the CNI plugins are built beside it.
fn bin_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    Ok(exe
        .parent()
        .context("the benchmark binary has no directory")?
        .to_path_buf())
}

fn run_quietly(program: &str, args: &[&str]) {
    let _ = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// A disposable `skiff up` (the real binary beside this one) on a temp data dir, with its own
/// bridge, pod and service ranges, load-balancer pool and nft tables. [`Cluster::shutdown`]
/// deletes the bench's objects through the API, stops skiff and removes what is left on the
/// machine; dropping it without shutdown removes what it can without the API.
pub struct Cluster {
    pub client: kube::Client,
    pub service_cidr: Ipv4Net,
    floor_cidr: Ipv4Net,
    /// Unique per run: names of bridges, namespaces and containerd namespaces derive from it.
    nonce: String,
    floor_bridge: String,
    machine: Machine,
}

impl Cluster {
    /// Starts `skiff up`, waits for its ready line and imports the busybox image.
    pub async fn start() -> anyhow::Result<Self> {
        let skiff = bin_dir()?.join("skiff");
        anyhow::ensure!(
            skiff.exists(),
            "{} is missing: build it with `cargo build --release -p skiff -p skiff-bridge -p skiff-host-local -p skiff-loopback`",
            skiff.display()
        );
        let nonce = format!("{:05}", rand::random::<u32>() % 100_000);
        let (pod_cidr, floor_cidr, service_cidr, pool) = free_ranges()?;
        let bridge = format!("skb{nonce}");
        let floor_bridge = format!("skf{nonce}");
        let mut machine = Machine {
            child: None,
            dir: Some(tempfile::Builder::new().prefix("skiff-bench-").tempdir()?),
            nonce: nonce.clone(),
            bridges: vec![bridge.clone(), floor_bridge.clone()],
        };
        let data_dir = machine.data_dir().to_path_buf();
        let log = std::fs::File::create(data_dir.join("skiff.log"))?;
        let mut child = Command::new(&skiff)
            .args(["up", "--listen", "127.0.0.1:0", "--bridge", &bridge])
            .args(["--node-name", &format!("bench-{nonce}")])
            .args(["--pod-cidr", &pod_cidr.to_string()])
            .args(["--service-cidr", &service_cidr.to_string()])
            .args(["--load-balancer-pool", &pool.to_string()])
            .arg("--data-dir")
            .arg(&data_dir)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .context("cannot start skiff up")?;
        let stdout = child.stdout.take().context("no stdout")?;
        machine.child = Some(child);
        let ready = tokio::task::spawn_blocking(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .any(|line| line.starts_with("skiff is up"))
        });
        let ready = tokio::time::timeout(Duration::from_secs(120), ready).await;
        anyhow::ensure!(
            matches!(ready, Ok(Ok(true))),
            "skiff up did not get ready; see {}",
            data_dir.join("skiff.log").display()
        );
        let kubeconfig = kube::config::Kubeconfig::read_from(data_dir.join("kubeconfig"))?;
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
        let client = kube::Client::try_from(config)?;

        let out = Command::new(&skiff)
            .args(["image", "build-busybox", IMAGE, "--data-dir"])
            .arg(&data_dir)
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "skiff image build-busybox: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(Cluster {
            client,
            service_cidr,
            floor_cidr,
            nonce,
            floor_bridge,
            machine,
        })
    }

    pub fn data_dir(&self) -> &Path {
        self.machine.data_dir()
    }

    pub fn containerd_socket(&self) -> PathBuf {
        ContainerdConfig::new(self.data_dir().join("containerd")).socket()
    }

    /// The cluster DNS service's address (the tenth of the service range).
    pub fn dns_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.service_cidr.network()) + 10)
    }

    /// Deletes the bench's deployments and pods, waits for the kubelet to tear them down
    /// (their pod dirs are gone), then stops skiff and removes what is left.
    pub async fn shutdown(mut self) {
        if let Err(e) = self.delete_objects().await {
            eprintln!("warning: deleting the benchmark's objects: {e:#}");
        }
        if let Some(child) = &self.machine.child {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        }
        let child = self.machine.child.take();
        let _ = tokio::task::spawn_blocking(move || wait_or_kill(child)).await;
        self.machine.remove_leftovers();
    }

    async fn delete_objects(&self) -> anyhow::Result<()> {
        let selector = ListParams::default().labels(LABEL);
        let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
            Api::namespaced(self.client.clone(), "default");
        deployments
            .delete_collection(&DeleteParams::default(), &selector)
            .await?;
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), "default");
        let pod_dirs = self.data_dir().join("kubelet").join("pods");
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let left = pods.list(&selector).await?.items.len();
            let dirs = std::fs::read_dir(&pod_dirs).map_or(0, |d| d.count());
            if left == 0 && dirs == 0 {
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "{left} pods and {dirs} pod dirs are still there"
            );
            if left > 0 {
                pods.delete_collection(&DeleteParams::default(), &selector)
                    .await?;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// What a [`Cluster`] leaves on the machine, removed on drop even when the API is gone.
struct Machine {
    child: Option<Child>,
    dir: Option<tempfile::TempDir>,
    nonce: String,
    bridges: Vec<String>,
}

impl Machine {
    fn data_dir(&self) -> &Path {
        self.dir
            .as_ref()
            .map_or(Path::new("/nonexistent"), |d| d.path())
    }

    /// Processes of this data dir (containerd, shims), containers of the bench's pods,
    /// mounts, network namespaces, bridges and nft tables.
    fn remove_leftovers(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let Some(dir) = self.dir.take() else { return };
        let data = dir.path().display().to_string();
        // Containers outlive skiff and their shims: kill what runs in the pods' cgroups and
        // what names the data dir (containerd, shims).
        kill_cgroup_processes(&data);
        if let Ok(procs) = std::fs::read_dir("/proc") {
            for p in procs.filter_map(Result::ok) {
                let cmdline = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
                if String::from_utf8_lossy(&cmdline).contains(&data) {
                    run_quietly("kill", &["-9", &p.file_name().to_string_lossy()]);
                }
            }
        }
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
        let mut points: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .filter(|p| p.starts_with(&data))
            .collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for point in points {
            run_quietly("umount", &["-l", point]);
        }
        // Pod namespaces are `skiff-<uid>`, the uids those of the kubelet's pod dirs; the
        // floor's carry the nonce.
        let floor_prefix = format!("sbf{}-", self.nonce);
        let mut netns: Vec<String> = std::fs::read_dir(dir.path().join("kubelet").join("pods"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| format!("skiff-{}", e.file_name().to_string_lossy()))
            .collect();
        netns.extend(
            std::fs::read_dir("/var/run/netns")
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&floor_prefix)),
        );
        for name in netns {
            run_quietly("ip", &["netns", "delete", &name]);
        }
        for bridge in &self.bridges {
            run_quietly("ip", &["link", "del", bridge]);
            run_quietly(
                "nft",
                &["delete", "table", "inet", &format!("skiff_masq_{bridge}")],
            );
            run_quietly(
                "nft",
                &["delete", "table", "ip", &format!("skiff-proxy-{bridge}")],
            );
        }
        drop(dir);
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        self.remove_leftovers();
    }
}

fn wait_or_kill(child: Option<Child>) {
    let Some(mut child) = child else { return };
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Kills the processes of the containers whose pods (or floor logs) live under the data dir
/// and removes their cgroups.
fn kill_cgroup_processes(data: &str) {
    let mut uids: Vec<String> = std::fs::read_dir(Path::new(data).join("kubelet").join("pods"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    uids.extend(
        std::fs::read_dir(Path::new(data).join("floor").join("logs"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_string_lossy()
                    .strip_suffix(".log")
                    .map(str::to_string)
            }),
    );
    for uid in &uids {
        skiff_test_support::kill_pod_processes(uid);
    }
}

/// Picks a pod range and a floor range that no route of this machine overlaps, plus service
/// and load-balancer ranges, at random in 172.24.0.0/13 so concurrent runs rarely meet.
fn free_ranges() -> anyhow::Result<(Ipv4Net, Ipv4Net, Ipv4Net, Ipv4Net)> {
    let out = Command::new("ip").args(["-4", "route", "show"]).output()?;
    let routes: Vec<Ipv4Net> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|dst| {
            dst.parse::<Ipv4Net>()
                .ok()
                .or_else(|| dst.parse::<Ipv4Addr>().ok().map(Ipv4Net::from))
        })
        .collect();
    let free = |net: &Ipv4Net| {
        !routes
            .iter()
            .any(|r| r.prefix_len() > 0 && (r.contains(net) || net.contains(r)))
    };
    for _ in 0..50 {
        let x: u8 = rand::random();
        let pod = Ipv4Net::new(Ipv4Addr::new(172, 24, x, 0), 24)?;
        let floor = Ipv4Net::new(Ipv4Addr::new(172, 25, x, 0), 24)?;
        if free(&pod) && free(&floor) {
            let service = Ipv4Net::new(Ipv4Addr::new(172, 26, x, 0), 24)?;
            let pool = Ipv4Net::new(Ipv4Addr::new(172, 27, x, 0), 28)?;
            return Ok((pod, floor, service, pool));
        }
    }
    anyhow::bail!("no free address range in 172.24.0.0/14")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chosen_ranges_overlap_no_route_and_each_other() {
        let (pod, floor, service, pool) = free_ranges().unwrap();
        let all = [pod, floor, service, pool];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert!(!a.contains(b) && !b.contains(a), "{a} overlaps {b}");
            }
        }
        let routes = Command::new("ip").args(["-4", "route"]).output().unwrap();
        let routes = String::from_utf8_lossy(&routes.stdout);
        assert!(!routes.contains(&pod.to_string()), "{routes}");
    }

    #[test]
    fn the_sleeper_pod_never_pulls_and_carries_the_bench_label() {
        let pod = sleeper("seq-1").unwrap();
        let c = &pod.spec.as_ref().unwrap().containers[0];
        assert_eq!(c.image_pull_policy.as_deref(), Some("Never"));
        assert_eq!(pod.metadata.name.as_deref(), Some("bench-seq-1"));
        assert_eq!(pod.metadata.labels.as_ref().unwrap()[LABEL], "pod-startup");
    }
}
