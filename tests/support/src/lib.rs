//! What end-to-end tests share: a real `skiff up` on its own bridge, addresses and data dir
//! ([`SkiffUp`]), an API server and controller host in the test's process
//! ([`InProcessCluster`]), the workspace binaries ([`binary`]), waiting ([`until`]) and a
//! plain HTTP GET ([`http_get`]).

mod http;
mod in_process;
mod slot;
mod up;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use http::http_get;
pub use in_process::{InProcessCluster, builtin_controllers, client_for};
pub use up::{SkiffUp, kill_pod_processes};

/// A binary of this workspace, from the directory Cargo put the running test binary's
/// siblings in (`<target>/<profile>/`; test binaries run from its `deps/`).
///
/// Panics with the `cargo build` command to run when it is missing: Cargo does not build
/// other packages' binaries for a test.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("path of the running binary");
    let mut dir = exe.parent().expect("directory of the running binary");
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir = dir.parent().unwrap_or(dir);
    }
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build it first with `cargo build --workspace --bins` (same target dir and profile)",
        path.display()
    );
    path
}

/// Calls `check` every half second until it returns a value; panics naming `what` after
/// `timeout`.
pub fn until<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Whether a mount point lies under `dir` (to check nothing is left mounted).
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let prefix = dir.display().to_string();
    std::fs::read_to_string("/proc/mounts")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split_whitespace().nth(1))
        .filter(|point| point.starts_with(&prefix))
        .map(str::to_string)
        .collect()
}
