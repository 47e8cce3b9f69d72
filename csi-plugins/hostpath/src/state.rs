//! The driver's durable record of volumes and snapshots, and the directories that hold them.
//!
//! Layout under the root: `state.json` (mode 0600), `volumes/<id>/`, `snapshots/<id>/` and
//! `images/<id>.img` (hard-limited volumes). The root and its subdirectories are 0700 so no
//! other user can reach volume data from the host; a volume directory itself is 0777, like an `emptyDir`, so containers running as
//! any user can write to it once it is mounted. The state file is replaced atomically
//! (temporary file in the same directory, fsync, rename), so a crash leaves either the old or
//! the new state, never a torn one.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Why the state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot prepare directory {path}")]
    Dir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read state file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("state file {path} is not valid")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot write state file {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// One volume the driver created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub id: String,
    /// The name the caller chose; `CreateVolume` is idempotent on it.
    pub name: String,
    pub capacity_bytes: i64,
    /// The snapshot or volume this one was filled from, if any.
    #[serde(default)]
    pub source: Option<ContentSource>,
    /// Staging paths this volume is mounted on (`NodeStageVolume`).
    #[serde(default)]
    pub staged: Vec<PathBuf>,
    /// Target paths this volume is published on, and whether read-only (`NodePublishVolume`).
    #[serde(default)]
    pub published: BTreeMap<PathBuf, bool>,
    /// Whether the directory is a loop-mounted filesystem image of exactly the capacity.
    #[serde(default)]
    pub hard_limit: bool,
}

/// What a volume's content was copied from at creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ContentSource {
    Snapshot(String),
    Volume(String),
}

/// One snapshot: a copy of a volume's directory taken at `created_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub id: String,
    pub name: String,
    pub source_volume_id: String,
    pub size_bytes: i64,
    /// Seconds since the Unix epoch.
    pub created_at: i64,
}

/// Everything the state file holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    #[serde(default)]
    pub volumes: BTreeMap<String, Volume>,
    #[serde(default)]
    pub snapshots: BTreeMap<String, Snapshot>,
}

impl State {
    /// The volume created under `name`, if any.
    pub fn volume_by_name(&self, name: &str) -> Option<&Volume> {
        self.volumes.values().find(|v| v.name == name)
    }

    /// The snapshot created under `name`, if any.
    pub fn snapshot_by_name(&self, name: &str) -> Option<&Snapshot> {
        self.snapshots.values().find(|s| s.name == name)
    }

    /// Bytes claimed by all volumes together.
    pub fn claimed_bytes(&self) -> i64 {
        self.volumes.values().map(|v| v.capacity_bytes).sum()
    }
}

/// The state of one driver root, loaded in memory and saved on every change.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    state: State,
}

impl Store {
    /// Opens the root, creating its directories, and loads the state file if there is one.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, Error> {
        let root = root.into();
        for dir in [
            root.clone(),
            root.join("volumes"),
            root.join("snapshots"),
            root.join("images"),
        ] {
            private_dir(&dir)?;
        }
        let path = root.join("state.json");
        let state = match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| Error::Parse {
                path: path.clone(),
                source,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(source) => return Err(Error::Read { path, source }),
        };
        Ok(Self { root, state })
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// Applies `change` and saves the result; on a failed save the in-memory state is rolled
    /// back, so memory never claims what the disk does not hold.
    pub fn update<T>(&mut self, change: impl FnOnce(&mut State) -> T) -> Result<T, Error> {
        let before = self.state.clone();
        let out = change(&mut self.state);
        if let Err(e) = self.save() {
            self.state = before;
            return Err(e);
        }
        Ok(out)
    }

    /// The directory holding a volume's data.
    pub fn volume_dir(&self, id: &str) -> PathBuf {
        self.root.join("volumes").join(id)
    }

    /// The filesystem image backing a hard-limited volume.
    pub fn image_path(&self, id: &str) -> PathBuf {
        self.root.join("images").join(format!("{id}.img"))
    }

    /// The directory holding a snapshot's copy of its volume.
    pub fn snapshot_dir(&self, id: &str) -> PathBuf {
        self.root.join("snapshots").join(id)
    }

    fn save(&self) -> Result<(), Error> {
        let path = self.root.join("state.json");
        let write_err = |source| Error::Write {
            path: path.clone(),
            source,
        };
        let bytes = serde_json::to_vec_pretty(&self.state).map_err(|e| write_err(e.into()))?;
        // `tempfile` creates the file with mode 0600, which the rename carries over.
        let mut tmp = tempfile::NamedTempFile::new_in(&self.root).map_err(write_err)?;
        tmp.write_all(&bytes).map_err(write_err)?;
        tmp.as_file().sync_all().map_err(write_err)?;
        tmp.persist(&path).map_err(|e| write_err(e.error))?;
        fs::File::open(&self.root)
            .and_then(|dir| dir.sync_all())
            .map_err(write_err)?;
        Ok(())
    }
}

/// Creates `dir` (and parents) if missing and makes it 0700.
fn private_dir(dir: &Path) -> Result<(), Error> {
    let err = |source| Error::Dir {
        path: dir.to_owned(),
        source,
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(err)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volume(id: &str, name: &str, capacity_bytes: i64) -> Volume {
        Volume {
            id: id.into(),
            name: name.into(),
            capacity_bytes,
            source: None,
            staged: vec![],
            published: BTreeMap::new(),
            hard_limit: false,
        }
    }

    #[test]
    fn saved_state_is_loaded_by_a_new_store() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        store
            .update(|s| s.volumes.insert("v1".into(), volume("v1", "pvc-a", 10)))
            .unwrap();
        let reopened = Store::open(dir.path()).unwrap();
        assert_eq!(reopened.state(), store.state());
        assert_eq!(reopened.state().volume_by_name("pvc-a").unwrap().id, "v1");
    }

    #[test]
    fn state_file_is_private_and_directories_are_0700() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let mut store = Store::open(&root).unwrap();
        store.update(|_| ()).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&root.join("state.json")), 0o600);
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(&root.join("volumes")), 0o700);
        assert_eq!(mode(&root.join("snapshots")), 0o700);
    }

    #[test]
    fn no_temporary_files_are_left_after_saves() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        for i in 0..3 {
            store
                .update(|s| s.volumes.insert(format!("v{i}"), volume("v", "n", 1)))
                .unwrap();
        }
        let files: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n != "volumes" && n != "snapshots" && n != "images")
            .collect();
        assert_eq!(files, vec!["state.json".to_string()]);
    }

    #[test]
    fn a_corrupt_state_file_is_reported_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("state.json"), b"{not json").unwrap();
        assert!(matches!(Store::open(dir.path()), Err(Error::Parse { .. })));
        assert_eq!(
            fs::read(dir.path().join("state.json")).unwrap(),
            b"{not json"
        );
    }

    #[test]
    fn a_failed_save_rolls_back_memory() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        // A directory where the state file should be makes the rename fail.
        fs::create_dir(dir.path().join("state.json")).unwrap();
        let result = store.update(|s| s.volumes.insert("v1".into(), volume("v1", "a", 1)));
        assert!(result.is_err());
        assert!(store.state().volumes.is_empty());
    }

    #[test]
    fn claimed_bytes_add_up_all_volumes() {
        let mut state = State::default();
        state.volumes.insert("a".into(), volume("a", "a", 5));
        state.volumes.insert("b".into(), volume("b", "b", 7));
        assert_eq!(state.claimed_bytes(), 12);
    }
}
