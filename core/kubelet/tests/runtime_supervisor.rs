//! The containerd supervisor: a private containerd that comes back when it dies, keeps its
//! containers across the restart, and a second supervisor that only connects to a socket.

use std::time::{Duration, Instant};

use skiff_kubelet::image::{self, testimage};
use skiff_kubelet::runtime::supervisor::{Containerd, ContainerdConfig};
use skiff_kubelet::runtime::{ContainerConfig, ContainerRuntime, ContainerState};

/// Kills what the test's containerd left running (shims working in its bundles).
struct Cleanup(std::path::PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let state = self.0.join("state");
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            if std::fs::read_link(entry.path().join("cwd")).is_ok_and(|cwd| cwd.starts_with(&state))
            {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
}

#[tokio::test]
async fn a_killed_containerd_is_restarted_and_its_containers_survive() {
    let dir = tempfile::Builder::new()
        .prefix("sksv")
        .tempdir_in("/tmp")
        .unwrap();
    let data = dir.path().join("c");
    let _cleanup = Cleanup(data.clone());
    let mut config = ContainerdConfig::new(&data);
    config.namespace = format!("skiff-sv-{}", std::process::id());
    let containerd = Containerd::start(config.clone()).await.unwrap();
    let runtime = containerd.runtime().await.unwrap();
    let tar = testimage::busybox("skiff.test/sv:1", dir.path()).unwrap();
    image::import(&runtime, &tar).await.unwrap();
    let container = ContainerConfig {
        id: "survivor".into(),
        image: "skiff.test/sv:1".into(),
        command: vec![
            "sh".into(),
            "-c".into(),
            "trap 'exit 0' TERM; sleep 1000 & wait".into(),
        ],
        cgroup_parent: Some(format!("/skiff-sv-{}", std::process::id())),
        log_path: dir.path().join("survivor.log"),
        ..Default::default()
    };
    runtime.create(&container).await.unwrap();
    let pid = runtime.start("survivor").await.unwrap();

    let first = containerd.pid().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(first as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while containerd.pid() == Some(first) {
        assert!(Instant::now() < deadline, "containerd was not restarted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    containerd.ready().await.unwrap();

    // A supervisor that only connects to the socket sees the same container.
    let mut existing = ContainerdConfig::new(dir.path().join("unused"));
    existing.existing_socket = Some(containerd.socket());
    existing.namespace = config.namespace.clone();
    let connected = Containerd::start(existing).await.unwrap();
    assert_eq!(connected.pid(), None);
    let status = connected
        .runtime()
        .await
        .unwrap()
        .status("survivor")
        .await
        .unwrap();
    assert_eq!(status.state, ContainerState::Running);
    assert_eq!(status.pid, Some(pid));

    let runtime = containerd.runtime().await.unwrap();
    runtime
        .stop("survivor", Duration::from_secs(5))
        .await
        .unwrap();
    runtime.remove("survivor").await.unwrap();
    containerd.shutdown().await;
    for controller in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        let _ = std::fs::remove_dir(
            controller
                .path()
                .join(format!("skiff-sv-{}", std::process::id())),
        );
    }
}
