//! What the kubelet remembers about each CSI volume it published into a pod, on disk beside
//! the pod's volume directory, so tear-down needs neither the API objects (the PV may already
//! be gone) nor the memory of a kubelet that has since restarted.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Errors reading or writing records.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot write volume record {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read volume record {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("volume record {path} is not valid")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// The suffix of record files: `<pod dir>/volumes/<volume name>.csi.json`.
pub const SUFFIX: &str = ".csi.json";

/// One published volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The CSI driver name (`hostpath.csi.skiff.dev`).
    pub driver: String,
    /// The driver's socket when the volume was published, used if the driver has not
    /// registered again (yet) at tear-down.
    pub endpoint: PathBuf,
    /// The PV's `spec.csi.volumeHandle`.
    pub volume_handle: String,
    /// The node-global staging path, when the driver stages volumes.
    pub staging_path: Option<PathBuf>,
    /// Where the volume is published: the pod's volume directory.
    pub target_path: PathBuf,
    /// The PV, for messages only.
    pub persistent_volume: String,
}

/// The record file of the volume published at `target` (`…/volumes/<name>`).
pub fn path_for(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!("{name}{SUFFIX}"))
}

/// Writes `record` atomically (a temp file renamed over the old one).
pub fn write(path: &Path, record: &Record) -> Result<(), Error> {
    let err = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(err)?;
    let body = serde_json::to_vec_pretty(record).map_err(|e| err(e.into()))?;
    let tmp = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
    std::fs::write(tmp.path(), body).map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

/// Reads the record at `path`; `None` when there is none.
pub fn read(path: &Path) -> Result<Option<Record>, Error> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| Error::Parse {
                path: path.to_path_buf(),
                source,
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Removes the record at `path` (a missing one is fine).
pub fn remove(path: &Path) -> Result<(), Error> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::Write {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The record files directly in `root` (one pod's `volumes` directory).
pub fn in_dir(root: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(SUFFIX))
        .collect();
    found.sort();
    found
}

/// How many records of pods under `pods_dir` (`<pods>/<uid>/volumes/*.csi.json`) other than
/// `except` use the volume `handle` of `driver`: the users of its staging path. Unreadable
/// records count as users, so a staged volume is never pulled from under a pod.
pub fn users(pods_dir: &Path, driver: &str, handle: &str, except: &Path) -> usize {
    std::fs::read_dir(pods_dir)
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|pod| in_dir(&pod.path().join("volumes")))
        .filter(|p| p != except)
        .filter(|p| match read(p) {
            Ok(Some(r)) => r.driver == driver && r.volume_handle == handle,
            Ok(None) => false,
            Err(_) => true,
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(handle: &str, target: &Path) -> Record {
        Record {
            driver: "d.example".into(),
            endpoint: "/run/d.sock".into(),
            volume_handle: handle.into(),
            staging_path: Some("/stage".into()),
            target_path: target.to_path_buf(),
            persistent_volume: "pv".into(),
        }
    }

    #[test]
    fn a_record_sits_beside_its_volume_directory_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("volumes").join("data");
        let path = path_for(&target);
        assert_eq!(path, dir.path().join("volumes").join("data.csi.json"));
        assert_eq!(read(&path).unwrap(), None);
        write(&path, &record("h1", &target)).unwrap();
        assert_eq!(read(&path).unwrap(), Some(record("h1", &target)));
        assert_eq!(in_dir(&dir.path().join("volumes")), vec![path.clone()]);
        remove(&path).unwrap();
        remove(&path).unwrap();
        assert_eq!(read(&path).unwrap(), None);
    }

    #[test]
    fn users_count_other_pods_publishing_the_same_volume() {
        let pods = tempfile::tempdir().unwrap();
        let target = |pod: &str, vol: &str| pods.path().join(pod).join("volumes").join(vol);
        let a = path_for(&target("a", "data"));
        write(&a, &record("h1", &target("a", "data"))).unwrap();
        write(
            &path_for(&target("b", "x")),
            &record("h1", &target("b", "x")),
        )
        .unwrap();
        write(
            &path_for(&target("c", "x")),
            &record("h2", &target("c", "x")),
        )
        .unwrap();
        assert_eq!(users(pods.path(), "d.example", "h1", &a), 1);
        assert_eq!(users(pods.path(), "d.example", "h2", &a), 1);
        assert_eq!(users(pods.path(), "other", "h1", &a), 0);
        std::fs::create_dir_all(pods.path().join("d/volumes")).unwrap();
        std::fs::write(path_for(&target("d", "bad")), b"{").unwrap();
        assert_eq!(users(pods.path(), "other", "h9", &a), 1);
    }
}
