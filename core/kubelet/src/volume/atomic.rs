//! Writes a set of files into a directory so readers see either the old or the new set,
//! never a mix: the upstream `..data` symlink swap.
//!
//! Layout: `<dir>/..<stamp>/` holds one generation; `<dir>/..data` points to it; each
//! user-visible top-level name is a symlink `name -> ..data/name`. An update writes a new
//! generation, renames a fresh `..data_tmp` link over `..data` (atomic), then removes the old
//! generation and stale names.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Component, Path, PathBuf};

/// Errors writing a projection.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid file path {0:?} in a volume projection")]
    BadPath(String),
    #[error("failed to write {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// One file of a projection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub data: Vec<u8>,
    pub mode: u32,
}

const DATA: &str = "..data";
const DATA_TMP: &str = "..data_tmp";

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn check(path: &str) -> Result<(), Error> {
    let p = Path::new(path);
    let ok = !path.is_empty()
        && !path.starts_with("..")
        && p.components().all(|c| matches!(c, Component::Normal(_)));
    if ok {
        Ok(())
    } else {
        Err(Error::BadPath(path.to_string()))
    }
}

fn current(dir: &Path) -> Option<BTreeMap<String, File>> {
    let data = dir.join(DATA);
    std::fs::read_link(&data).ok()?;
    let mut files = BTreeMap::new();
    let mut stack = vec![data.clone()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).ok()?.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(&data)
                    .ok()?
                    .to_string_lossy()
                    .into_owned();
                let meta = std::fs::metadata(&path).ok()?;
                files.insert(
                    rel,
                    File {
                        data: std::fs::read(&path).ok()?,
                        mode: meta.permissions().mode() & 0o7777,
                    },
                );
            }
        }
    }
    Some(files)
}

/// Makes `dir` hold exactly `files` (paths relative, `/`-separated). Returns whether
/// anything changed; an unchanged set is not rewritten.
pub fn write(dir: &Path, files: &BTreeMap<String, File>) -> Result<bool, Error> {
    for path in files.keys() {
        check(path)?;
    }
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    if current(dir).as_ref() == Some(files) {
        return Ok(false);
    }
    let stamp = format!(
        "..{}_{}",
        chrono::Utc::now().format("%Y_%m_%d_%H_%M_%S"),
        uuid::Uuid::new_v4().simple()
    );
    let generation = dir.join(&stamp);
    std::fs::create_dir(&generation).map_err(io(&generation))?;
    for (rel, file) in files {
        let path = generation.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::write(&path, &file.data).map_err(io(&path))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(file.mode))
            .map_err(io(&path))?;
    }
    let old = std::fs::read_link(dir.join(DATA)).ok();
    let tmp = dir.join(DATA_TMP);
    let _ = std::fs::remove_file(&tmp);
    symlink(&stamp, &tmp).map_err(io(&tmp))?;
    std::fs::rename(&tmp, dir.join(DATA)).map_err(io(dir))?;

    let wanted: BTreeSet<String> = files
        .keys()
        .filter_map(|p| p.split('/').next().map(str::to_string))
        .collect();
    for name in &wanted {
        let link = dir.join(name);
        if std::fs::symlink_metadata(&link).is_err() {
            symlink(Path::new(DATA).join(name), &link).map_err(io(&link))?;
        }
    }
    for entry in std::fs::read_dir(dir).map_err(io(dir))?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("..") || wanted.contains(&name) {
            continue;
        }
        let _ = std::fs::remove_file(entry.path());
    }
    if let Some(old) = old.filter(|o| o.as_os_str() != stamp.as_str()) {
        let _ = std::fs::remove_dir_all(dir.join(old));
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str, mode: u32) -> File {
        File {
            data: text.as_bytes().to_vec(),
            mode,
        }
    }

    #[test]
    fn files_appear_through_the_data_link_and_updates_swap_it() {
        let dir = tempfile::tempdir().unwrap();
        let v1 = BTreeMap::from([
            ("a".to_string(), file("one", 0o644)),
            ("sub/b".to_string(), file("two", 0o400)),
        ]);
        assert!(write(dir.path(), &v1).unwrap());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("a")).unwrap(),
            "one"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("sub/b")).unwrap(),
            "two"
        );
        let mode = std::fs::metadata(dir.path().join("sub/b"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o400);
        let first = std::fs::read_link(dir.path().join("..data")).unwrap();
        assert!(!write(dir.path(), &v1).unwrap(), "unchanged sets are kept");

        let v2 = BTreeMap::from([("a".to_string(), file("uno", 0o644))]);
        assert!(write(dir.path(), &v2).unwrap());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("a")).unwrap(),
            "uno"
        );
        assert!(!dir.path().join("sub").exists(), "stale names are removed");
        assert!(!dir.path().join(&first).exists(), "old generations go");
        assert_eq!(
            std::fs::read_link(dir.path().join("a")).unwrap(),
            Path::new("..data/a")
        );
    }

    #[test]
    fn escaping_paths_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["../x", "/etc/passwd", "a/../../x", "..data/x"] {
            let files = BTreeMap::from([(bad.to_string(), file("x", 0o644))]);
            assert!(
                matches!(write(dir.path(), &files), Err(Error::BadPath(_))),
                "{bad}"
            );
        }
    }
}
