//! Writes a set of files into a directory so readers see either the old or the new set,
//! never a mix: the upstream `..data` symlink swap.
//!
//! Layout: `<dir>/..<stamp>/` holds one generation; `<dir>/..data` points to it; each
//! user-visible top-level name is a symlink `name -> ..data/name`. An update writes a new
//! generation, renames a fresh `..data_tmp` link over `..data` (atomic), then removes the old
//! generation and stale names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use crate::files::{Files, Kind};

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

fn current(fs: &dyn Files, dir: &Path) -> Option<BTreeMap<String, File>> {
    let data = dir.join(DATA);
    fs.read_link(&data).ok()?;
    let mut files = BTreeMap::new();
    let mut stack = vec![data.clone()];
    while let Some(d) = stack.pop() {
        for name in fs.read_dir(&d).ok()? {
            let path = d.join(name);
            let meta = fs.metadata(&path).ok()?;
            if meta.kind == Kind::Dir {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(&data)
                    .ok()?
                    .to_string_lossy()
                    .into_owned();
                files.insert(
                    rel,
                    File {
                        data: fs.read(&path).ok()?,
                        mode: meta.mode,
                    },
                );
            }
        }
    }
    Some(files)
}

/// Makes `dir` hold exactly `files` (paths relative, `/`-separated). Returns whether
/// anything changed; an unchanged set is not rewritten.
pub fn write(fs: &dyn Files, dir: &Path, files: &BTreeMap<String, File>) -> Result<bool, Error> {
    for path in files.keys() {
        check(path)?;
    }
    fs.create_dir_all(dir).map_err(io(dir))?;
    if current(fs, dir).as_ref() == Some(files) {
        return Ok(false);
    }
    let stamp = format!(
        "..{}_{}",
        chrono::Utc::now().format("%Y_%m_%d_%H_%M_%S"),
        uuid::Uuid::new_v4().simple()
    );
    let generation = dir.join(&stamp);
    fs.create_dir_all(&generation).map_err(io(&generation))?;
    for (rel, file) in files {
        let path = generation.join(rel);
        if let Some(parent) = path.parent() {
            fs.create_dir_all(parent).map_err(io(parent))?;
        }
        fs.write(&path, &file.data).map_err(io(&path))?;
        fs.set_mode(&path, file.mode).map_err(io(&path))?;
    }
    let old = fs.read_link(&dir.join(DATA)).ok();
    let tmp = dir.join(DATA_TMP);
    let _ = fs.remove_file(&tmp);
    fs.symlink(Path::new(&stamp), &tmp).map_err(io(&tmp))?;
    fs.rename(&tmp, &dir.join(DATA)).map_err(io(dir))?;

    let wanted: BTreeSet<String> = files
        .keys()
        .filter_map(|p| p.split('/').next().map(str::to_string))
        .collect();
    for name in &wanted {
        let link = dir.join(name);
        if fs.symlink_metadata(&link).is_err() {
            fs.symlink(&Path::new(DATA).join(name), &link)
                .map_err(io(&link))?;
        }
    }
    for name in fs.read_dir(dir).map_err(io(dir))? {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("..") || wanted.contains(&name) {
            continue;
        }
        let _ = fs.remove_file(&dir.join(name));
    }
    if let Some(old) = old.filter(|o| o.as_os_str() != stamp.as_str()) {
        let _ = fs.remove_dir_all(&dir.join(old));
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

    /// The checks run on the host's files and on memory files alike.
    fn on_both(check: impl Fn(&dyn Files, &Path)) {
        let dir = tempfile::tempdir().unwrap();
        check(&crate::files::HostFiles, dir.path());
        check(
            &crate::files::MemoryFiles::default(),
            Path::new("/nonexistent-skiff-root/volume"),
        );
    }

    #[test]
    fn files_appear_through_the_data_link_and_updates_swap_it() {
        on_both(|fs, dir| {
            let read = |rel: &str| String::from_utf8(fs.read(&dir.join(rel)).unwrap()).unwrap();
            let v1 = BTreeMap::from([
                ("a".to_string(), file("one", 0o644)),
                ("sub/b".to_string(), file("two", 0o400)),
            ]);
            assert!(write(fs, dir, &v1).unwrap());
            assert_eq!(read("a"), "one");
            assert_eq!(read("sub/b"), "two");
            assert_eq!(fs.metadata(&dir.join("sub/b")).unwrap().mode & 0o777, 0o400);
            let first = fs.read_link(&dir.join("..data")).unwrap();
            assert!(!write(fs, dir, &v1).unwrap(), "unchanged sets are kept");

            let v2 = BTreeMap::from([("a".to_string(), file("uno", 0o644))]);
            assert!(write(fs, dir, &v2).unwrap());
            assert_eq!(read("a"), "uno");
            assert!(!fs.exists(&dir.join("sub")), "stale names are removed");
            assert!(!fs.exists(&dir.join(&first)), "old generations go");
            assert_eq!(fs.read_link(&dir.join("a")).unwrap(), Path::new("..data/a"));
        });
    }

    #[test]
    fn escaping_paths_are_refused() {
        on_both(|fs, dir| {
            for bad in ["../x", "/etc/passwd", "a/../../x", "..data/x"] {
                let files = BTreeMap::from([(bad.to_string(), file("x", 0o644))]);
                assert!(
                    matches!(write(fs, dir, &files), Err(Error::BadPath(_))),
                    "{bad}"
                );
            }
        });
    }
}
