//! A real `skiff-hostpath` CSI driver process on a temporary socket, stopped on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// The driver binary in the target directory (`cargo build -p skiff-hostpath` puts it there).
pub fn driver_binary() -> PathBuf {
    // Test binaries run from <target>/<profile>/deps; the driver is in <target>/<profile>.
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile directory");
    let path = profile_dir.join("skiff-hostpath");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p skiff-hostpath` with the same target dir first",
        path.display()
    );
    path
}

/// A running driver with its own root and socket in a temp dir.
pub struct HostpathDriver {
    dir: tempfile::TempDir,
    child: Child,
    /// The node id the driver reports (its topology segment value).
    pub node_id: String,
}

impl HostpathDriver {
    /// Starts the driver and waits until it answers on its socket.
    pub async fn start(node_id: &str) -> HostpathDriver {
        let dir = tempfile::tempdir().expect("driver temp dir");
        let socket = dir.path().join("csi.sock");
        let child = Command::new(driver_binary())
            .arg("--endpoint")
            .arg(format!("unix://{}", socket.display()))
            .arg("--node-id")
            .arg(node_id)
            .arg("--root")
            .arg(dir.path().join("root"))
            .env("RUST_LOG", "warn")
            .spawn()
            .expect("driver starts");
        let driver = HostpathDriver {
            dir,
            child,
            node_id: node_id.to_string(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !(driver.socket().exists() && skiff_hostpath_probe(&driver.socket()).await) {
            assert!(Instant::now() < deadline, "driver did not start serving");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        driver
    }

    /// The driver's unix socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("csi.sock")
    }

    /// Where the driver keeps volume `id`.
    pub fn volume_dir(&self, id: &str) -> PathBuf {
        self.dir.path().join("root").join("volumes").join(id)
    }
}

async fn skiff_hostpath_probe(socket: &Path) -> bool {
    tokio::net::UnixStream::connect(socket).await.is_ok()
}

impl Drop for HostpathDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
