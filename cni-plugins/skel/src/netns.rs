//! Running code inside a container's network namespace, on a thread of its own.
//!
//! Namespaces are per thread: the thread enters the namespace, runs the closure and ends, so
//! the caller's threads never change namespace. Sockets opened inside (netlink included) stay
//! bound to that namespace.

use std::fs::File;
use std::io::ErrorKind;
use std::path::Path;

use nix::sched::{CloneFlags, setns};

/// Errors entering a network namespace.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The namespace path does not exist (the container is gone).
    #[error("network namespace {0} does not exist")]
    Missing(String),
    /// The namespace could not be opened.
    #[error("failed to open network namespace {path}")]
    Open {
        /// The path.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `setns` failed (not a network namespace, or no permission).
    #[error("failed to enter network namespace {path}")]
    Enter {
        /// The path.
        path: String,
        /// Why.
        #[source]
        source: nix::Error,
    },
    /// The worker thread panicked.
    #[error("the thread running in network namespace {0} panicked")]
    Panicked(String),
}

/// Opens a namespace file, telling a missing namespace apart from other failures.
pub fn open(path: &Path) -> Result<File, Error> {
    File::open(path).map_err(|source| {
        let shown = path.display().to_string();
        if source.kind() == ErrorKind::NotFound {
            Error::Missing(shown)
        } else {
            Error::Open {
                path: shown,
                source,
            }
        }
    })
}

/// Runs `f` inside the network namespace at `path` and returns its value.
pub fn run_in<T, F>(path: &Path, f: F) -> Result<T, Error>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    let file = open(path)?;
    let shown = path.display().to_string();
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                setns(&file, CloneFlags::CLONE_NEWNET).map_err(|source| Error::Enter {
                    path: shown.clone(),
                    source,
                })?;
                Ok(f())
            })
            .join()
            .map_err(|_| Error::Panicked(shown.clone()))?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_namespace_is_reported_as_missing() {
        let err = run_in(Path::new("/var/run/netns/skiff-does-not-exist"), || ()).unwrap_err();
        assert!(matches!(err, Error::Missing(_)));
    }

    #[test]
    fn a_file_that_is_not_a_namespace_cannot_be_entered() {
        let err = run_in(Path::new("/etc/hostname"), || ()).unwrap_err();
        assert!(matches!(err, Error::Enter { .. }), "{err}");
    }

    #[test]
    fn code_runs_in_the_current_namespace_when_given_its_own_path() {
        let inode = |p: &str| std::fs::read_link(p).unwrap();
        let ours = inode("/proc/self/ns/net");
        let theirs = run_in(Path::new("/proc/self/ns/net"), || {
            inode("/proc/thread-self/ns/net")
        })
        .unwrap();
        assert_eq!(ours, theirs);
    }
}
