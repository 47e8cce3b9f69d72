//! The containerd runtime on a real, private containerd with runc: images, lifecycle, logs,
//! networking in a pod netns, stop grace, memory limits, exec, adoption and registry pulls.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use skiff_kubelet::image::{self, registry, testimage};
use skiff_kubelet::runtime::containerd::ContainerdRuntime;
use skiff_kubelet::runtime::supervisor::{Containerd, ContainerdConfig};
use skiff_kubelet::runtime::{
    ContainerConfig, ContainerRuntime, ContainerState, ContainerStatus, Error, ExecRequest, Mount,
    PodRef, PullPolicy, Resources,
};
use tokio::io::AsyncWriteExt;

const IMAGE: &str = "skiff.test/busybox:1";

fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}{}x{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A private containerd in a temp dir. Dropping it kills whatever it left running (shims,
/// container processes), unmounts root filesystems and removes the test's cgroups.
struct Node {
    containerd: Option<Containerd>,
    runtime: ContainerdRuntime,
    cgroup_parent: String,
    dir: tempfile::TempDir,
}

impl Node {
    async fn start() -> Node {
        // A short path: unix socket paths are limited to 108 bytes.
        let dir = tempfile::Builder::new()
            .prefix("skrt")
            .tempdir_in("/tmp")
            .unwrap();
        let mut config = ContainerdConfig::new(dir.path().join("c"));
        config.namespace = unique("skiff-test-");
        config.log_driver = Some(PathBuf::from(env!("CARGO_BIN_EXE_skiff-container-log")));
        let containerd = Containerd::start(config).await.unwrap();
        let runtime = containerd.runtime().await.unwrap();
        let node = Node {
            containerd: Some(containerd),
            runtime,
            cgroup_parent: format!("/{}", unique("skiff-test-")),
            dir,
        };
        let tar = testimage::busybox(IMAGE, node.dir.path()).unwrap();
        let names = image::import(&node.runtime, &tar).await.unwrap();
        assert_eq!(names, vec![IMAGE.to_string()]);
        node
    }

    fn config(&self, id: &str, args: &[&str]) -> ContainerConfig {
        ContainerConfig {
            id: id.to_string(),
            pod: PodRef {
                uid: "uid-1".into(),
                name: "pod-1".into(),
                namespace: "default".into(),
            },
            name: format!("ctr-{id}"),
            image: IMAGE.into(),
            command: args.iter().map(|s| s.to_string()).collect(),
            cgroup_parent: Some(self.cgroup_parent.clone()),
            log_path: self.dir.path().join("logs").join(format!("{id}.log")),
            ..Default::default()
        }
    }

    async fn run(&self, config: &ContainerConfig) -> u32 {
        self.runtime.create(config).await.unwrap();
        self.runtime.start(&config.id).await.unwrap()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let state = self
            .dir
            .path()
            .join("c/state/io.containerd.runtime.v2.task");
        // Container processes: each task's init (its pid namespace dies with it).
        let tasks = std::fs::read_dir(&state).into_iter().flatten().flatten();
        for ns in tasks {
            for task in std::fs::read_dir(ns.path()).into_iter().flatten().flatten() {
                let pid = std::fs::read_to_string(task.path().join("init.pid"));
                if let Ok(pid) = pid.unwrap_or_default().trim().parse::<i32>() {
                    kill(pid);
                }
            }
        }
        // Shims: the processes working in this containerd's task bundles.
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            if std::fs::read_link(entry.path().join("cwd")).is_ok_and(|cwd| cwd.starts_with(&state))
            {
                kill(pid);
            }
        }
        drop(self.containerd.take());
        std::thread::sleep(Duration::from_millis(200));
        for controller in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            remove_cgroup(
                &controller
                    .path()
                    .join(self.cgroup_parent.trim_start_matches('/')),
            );
        }
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let root = self.dir.path().to_string_lossy().into_owned();
        for line in mounts.lines() {
            if let Some(point) = line.split(' ').nth(4).filter(|p| p.starts_with(&root)) {
                let _ = nix::mount::umount2(point, nix::mount::MntFlags::MNT_DETACH);
            }
        }
    }
}

fn kill(pid: i32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
}

/// Removes a cgroup directory tree, deepest first (cgroup dirs only go away with rmdir).
fn remove_cgroup(path: &Path) {
    for child in std::fs::read_dir(path).into_iter().flatten().flatten() {
        if child.file_type().is_ok_and(|t| t.is_dir()) {
            remove_cgroup(&child.path());
        }
    }
    let _ = std::fs::remove_dir(path);
}

/// A network namespace made with `ip netns add`, deleted on drop.
struct Netns(String);

impl Netns {
    fn new() -> Netns {
        let name = unique("skrt");
        ip(&["netns", "add", &name]);
        let ns = Netns(name);
        ip(&["-n", &ns.0, "link", "set", "lo", "up"]);
        ns
    }

    fn path(&self) -> PathBuf {
        PathBuf::from("/var/run/netns").join(&self.0)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.0])
            .status();
    }
}

fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().unwrap();
    assert!(status.success(), "ip {args:?}");
}

async fn wait_exited(runtime: &dyn ContainerRuntime, id: &str) -> ContainerStatus {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = runtime.status(id).await.unwrap();
        if matches!(status.state, ContainerState::Exited { .. }) {
            return status;
        }
        assert!(Instant::now() < deadline, "{id} still {:?}", status.state);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_container_prints_to_its_log_and_exits_with_its_code() {
    let node = Node::start().await;
    let config = node.config(
        "exit3",
        &[
            "sh",
            "-c",
            "echo hello from skiff; echo to stderr >&2; exit 3",
        ],
    );
    node.run(&config).await;
    let status = wait_exited(&node.runtime, "exit3").await;
    assert_eq!(status.state, ContainerState::Exited { exit_code: 3 });
    assert_eq!(status.reason.as_deref(), Some("Error"));
    assert!(status.started_at.is_some() && status.finished_at.is_some());
    assert_eq!(status.image, IMAGE);
    let log_path = node.runtime.log_path("exit3").await.unwrap();
    assert_eq!(log_path, config.log_path);
    // The log writer copies the streams on its own: the exit can be reported a moment before
    // its last write lands, so the file is read until both lines are there.
    let mut log = String::new();
    for _ in 0..50 {
        log = std::fs::read_to_string(&log_path).unwrap();
        if log.lines().any(|l| l == "to stderr") && log.lines().any(|l| l == "hello from skiff") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(log.lines().any(|l| l == "hello from skiff"), "{log:?}");
    assert!(log.lines().any(|l| l == "to stderr"), "{log:?}");

    node.runtime.remove("exit3").await.unwrap();
    assert!(matches!(
        node.runtime.status("exit3").await,
        Err(Error::NotFound { .. })
    ));
    node.runtime.remove("exit3").await.unwrap();
}

#[tokio::test]
async fn image_cmd_env_and_working_dir_are_resolved_against_the_image() {
    let node = Node::start().await;
    let mut config = node.config("env", &[]);
    config.args = vec!["-c".into(), "echo $PATH $GREETING; pwd".into()];
    config.command = vec!["sh".into()];
    config.env = vec![("GREETING".into(), "hi".into())];
    config.working_dir = Some("/tmp".into());
    node.run(&config).await;
    wait_exited(&node.runtime, "env").await;
    let log = std::fs::read_to_string(&config.log_path).unwrap();
    assert_eq!(
        log,
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin hi\n/tmp\n"
    );
}

#[tokio::test]
async fn httpd_in_a_pod_netns_answers_on_its_loopback() {
    let node = Node::start().await;
    let netns = Netns::new();
    let www = node.dir.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("index.html"), "served by skiff\n").unwrap();
    let mut config = node.config(
        "web",
        &["httpd", "-f", "-p", "127.0.0.1:8080", "-h", "/www"],
    );
    config.netns = Some(netns.path());
    config.mounts = vec![Mount {
        host_path: www,
        container_path: "/www".into(),
        read_only: true,
    }];
    node.run(&config).await;

    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &netns.0,
                "busybox",
                "wget",
                "-qO-",
                "http://127.0.0.1:8080/",
            ])
            .output()
            .unwrap();
        if out.status.success() {
            break String::from_utf8(out.stdout).unwrap();
        }
        assert!(Instant::now() < deadline, "httpd never answered");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(body, "served by skiff\n");
    let status = node.runtime.status("web").await.unwrap();
    assert_eq!(status.state, ContainerState::Running);
    node.runtime.remove("web").await.unwrap();
}

#[tokio::test]
async fn stop_kills_after_the_grace_period_only_when_sigterm_is_ignored() {
    let node = Node::start().await;
    let stubborn = node.config("stubborn", &["sh", "-c", "trap '' TERM; sleep 1000 & wait"]);
    let polite = node.config(
        "polite",
        &["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"],
    );
    node.run(&stubborn).await;
    node.run(&polite).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let began = Instant::now();
    node.runtime
        .stop("polite", Duration::from_secs(20))
        .await
        .unwrap();
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "{:?}",
        began.elapsed()
    );
    let status = node.runtime.status("polite").await.unwrap();
    assert_eq!(status.state, ContainerState::Exited { exit_code: 0 });

    let began = Instant::now();
    node.runtime
        .stop("stubborn", Duration::from_secs(2))
        .await
        .unwrap();
    let took = began.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(12),
        "{took:?}"
    );
    let status = node.runtime.status("stubborn").await.unwrap();
    assert_eq!(status.state, ContainerState::Exited { exit_code: 137 });
}

#[tokio::test]
async fn a_container_beyond_its_memory_limit_is_oom_killed() {
    let node = Node::start().await;
    let mut config = node.config(
        "hog",
        &[
            "sh",
            "-c",
            "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived",
        ],
    );
    config.resources = Resources {
        memory_limit_bytes: Some(32 << 20),
        cpu_quota: Some(50_000),
        cpu_period: Some(100_000),
        cpu_shares: Some(512),
    };
    node.run(&config).await;
    let status = wait_exited(&node.runtime, "hog").await;
    assert_eq!(status.state, ContainerState::Exited { exit_code: 137 });
    assert_eq!(status.reason.as_deref(), Some("OOMKilled"));
    let log = std::fs::read_to_string(&config.log_path).unwrap_or_default();
    assert!(!log.contains("survived"), "{log:?}");
}

#[tokio::test]
async fn exec_returns_output_and_exit_code_and_takes_stdin() {
    let node = Node::start().await;
    let config = node.config(
        "host",
        &["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"],
    );
    node.run(&config).await;

    let session = node
        .runtime
        .exec(
            "host",
            ExecRequest {
                command: vec![
                    "sh".into(),
                    "-c".into(),
                    "echo out; echo err >&2; exit 7".into(),
                ],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let output = session.output().await.unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&output.stderr), "err\n");
    assert_eq!(output.exit_code, 7);

    let mut session = node
        .runtime
        .exec(
            "host",
            ExecRequest {
                command: vec!["cat".into()],
                stdin: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut stdin = session.stdin.take().unwrap();
    stdin.write_all(b"through stdin\n").await.unwrap();
    stdin.shutdown().await.unwrap();
    drop(stdin);
    let output = session.output().await.unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout), "through stdin\n");
    assert_eq!(output.exit_code, 0);

    node.runtime
        .stop("host", Duration::from_secs(5))
        .await
        .unwrap();
    let stopped = node
        .runtime
        .exec(
            "host",
            ExecRequest {
                command: vec!["true".into()],
                ..Default::default()
            },
        )
        .await;
    assert!(matches!(stopped, Err(Error::NotRunning { .. })));
}

#[tokio::test]
async fn a_new_client_lists_the_running_container_with_its_labels_and_pid() {
    let node = Node::start().await;
    let mut config = node.config(
        "adopt",
        &["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"],
    );
    config.labels.insert("extra".into(), "kept".into());
    let pid = node.run(&config).await;

    let socket = node.containerd.as_ref().unwrap().socket();
    let fresh = ContainerdRuntime::connect(&socket, node.runtime.namespace())
        .await
        .unwrap();
    let listed = fresh.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    let found = &listed[0];
    assert_eq!(found.id, "adopt");
    assert_eq!(found.state, ContainerState::Running);
    assert_eq!(found.pid, Some(pid));
    assert_eq!(found.pod(), config.pod);
    assert_eq!(found.container_name(), Some("ctr-adopt"));
    assert_eq!(found.labels.get("extra").map(String::as_str), Some("kept"));
    assert_eq!(found.log_path.as_deref(), Some(config.log_path.as_path()));
    fresh.remove("adopt").await.unwrap();
    assert!(node.runtime.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_docker_save_archive_imports_under_its_repo_tag() {
    let node = Node::start().await;
    let content = testimage::busybox_content("ignored").unwrap();
    let tar_path = node.dir.path().join("docker.tar");
    let mut tar = tar::Builder::new(std::fs::File::create(&tar_path).unwrap());
    let config_name = format!(
        "{}.json",
        content.config.digest.trim_start_matches("sha256:")
    );
    let manifest = serde_json::json!([{
        "Config": config_name,
        "RepoTags": ["docker-saved:v2"],
        "Layers": ["layer0/layer.tar"],
    }]);
    for (path, data) in [
        ("manifest.json", serde_json::to_vec(&manifest).unwrap()),
        (config_name.as_str(), content.config.data.clone()),
        ("layer0/layer.tar", content.layers[0].data.clone()),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, path, &data[..]).unwrap();
    }
    tar.into_inner().unwrap();

    let names = image::import(&node.runtime, &tar_path).await.unwrap();
    assert_eq!(names, vec!["docker.io/library/docker-saved:v2".to_string()]);
    let mut config = node.config("saved", &["echo", "from docker save"]);
    config.image = "docker-saved:v2".into();
    node.runtime
        .ensure_image(&config.image, PullPolicy::Never)
        .await
        .unwrap();
    node.run(&config).await;
    let status = wait_exited(&node.runtime, "saved").await;
    assert_eq!(status.state, ContainerState::Exited { exit_code: 0 });
    assert_eq!(
        std::fs::read_to_string(&config.log_path).unwrap(),
        "from docker save\n"
    );
}

/// A `docker-registry` on a free loopback port with its own storage, killed on drop.
struct Registry {
    child: std::process::Child,
    addr: String,
}

impl Registry {
    fn start(dir: &Path) -> Registry {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let config = dir.join("registry.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
                dir.join("registry-data").display()
            ),
        )
        .unwrap();
        let child = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let registry = Registry { child, addr };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&registry.addr).is_err() {
            assert!(Instant::now() < deadline, "registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn images_pull_from_a_local_registry_and_missing_ones_are_pull_errors() {
    let node = Node::start().await;
    let registry = Registry::start(node.dir.path());
    let name = format!("{}/skiff/busybox:pulled", registry.addr);
    let content = testimage::busybox_content(&name).unwrap();
    registry::push(&content, &name).await.unwrap();

    let stored = node
        .runtime
        .ensure_image(&name, PullPolicy::IfNotPresent)
        .await
        .unwrap();
    assert_eq!(stored, name);
    assert!(node.runtime.list_images().await.unwrap().contains(&name));
    // Present now: Never is satisfied, Always pulls again.
    node.runtime
        .ensure_image(&name, PullPolicy::Never)
        .await
        .unwrap();
    node.runtime
        .ensure_image(&name, PullPolicy::Always)
        .await
        .unwrap();

    let mut config = node.config("pulled", &["echo", "pulled and ran"]);
    config.image = name.clone();
    node.run(&config).await;
    let status = wait_exited(&node.runtime, "pulled").await;
    assert_eq!(status.state, ContainerState::Exited { exit_code: 0 });
    assert_eq!(
        std::fs::read_to_string(&config.log_path).unwrap(),
        "pulled and ran\n"
    );

    let missing = format!("{}/skiff/absent:1", registry.addr);
    let err = node
        .runtime
        .ensure_image(&missing, PullPolicy::IfNotPresent)
        .await
        .unwrap_err();
    assert!(err.is_image_pull(), "{err:?}");
    let err = node
        .runtime
        .ensure_image(&missing, PullPolicy::Never)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ImageNeverPull { .. }), "{err:?}");
    let mut absent = node.config("absent", &["true"]);
    absent.image = missing;
    assert!(matches!(
        node.runtime.create(&absent).await,
        Err(Error::ImageNotPresent { .. })
    ));
}
