//! The node agent's own files: pod directories, sandbox records, a pod's `/etc` files,
//! emptyDir and projected volumes, log directories.
//!
//! A real node keeps them on the host ([`HostFiles`]), where containers bind-mount them. A
//! simulated node runs no containers, so it keeps them in memory ([`MemoryFiles`]), as its
//! runtime keeps its containers: the code above is the same, without a simulated cluster's
//! ten thousand pods creating and deleting ten thousand directories on the host's disk.

use std::collections::{BTreeMap, VecDeque};
use std::ffi::OsString;
use std::io;
use std::ops::Bound;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

/// What a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
    Symlink,
    Socket,
    CharDevice,
    BlockDevice,
    /// A fifo or anything else.
    Other,
}

/// What [`Files::metadata`] tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub kind: Kind,
    /// Permission bits (`0o7777`).
    pub mode: u32,
}

/// File operations the node agent needs, with `std::fs` semantics: paths are absolute, a
/// missing parent is an error, symlinks are followed except where the name says otherwise.
pub trait Files: Send + Sync {
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Creates or truncates a file (mode 0644 when new).
    fn write(&self, path: &Path, data: &[u8]) -> io::Result<()>;
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    fn metadata(&self, path: &Path) -> io::Result<Meta>;
    /// As [`Files::metadata`], about a symlink itself rather than what it points to.
    fn symlink_metadata(&self, path: &Path) -> io::Result<Meta>;
    fn set_mode(&self, path: &Path, mode: u32) -> io::Result<()>;
    /// The names in a directory, in no particular order.
    fn read_dir(&self, path: &Path) -> io::Result<Vec<OsString>>;
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Removes a directory and everything under it (a symlink itself, not its target).
    fn remove_dir_all(&self, path: &Path) -> io::Result<()>;
    fn symlink(&self, target: &Path, link: &Path) -> io::Result<()>;
    fn read_link(&self, path: &Path) -> io::Result<PathBuf>;
    /// Moves `from` to `to`, replacing a file or symlink there.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Mounts a tmpfs (an emptyDir of medium `Memory`) at `path` unless one is there;
    /// `options` as for mount(8), e.g. `size=1048576`.
    fn mount_tmpfs(&self, path: &Path, options: Option<&str>) -> Result<(), nix::Error>;
    /// Detaches whatever is mounted right at `path`, if anything.
    fn unmount(&self, path: &Path);

    /// Whether `path` names anything (following symlinks).
    fn exists(&self, path: &Path) -> bool {
        self.metadata(path).is_ok()
    }
}

/// The host's filesystem.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostFiles;

fn meta_of(m: std::fs::Metadata) -> Meta {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let t = m.file_type();
    let kind = if t.is_dir() {
        Kind::Dir
    } else if t.is_file() {
        Kind::File
    } else if t.is_symlink() {
        Kind::Symlink
    } else if t.is_socket() {
        Kind::Socket
    } else if t.is_char_device() {
        Kind::CharDevice
    } else if t.is_block_device() {
        Kind::BlockDevice
    } else {
        Kind::Other
    };
    Meta {
        kind,
        mode: m.permissions().mode() & 0o7777,
    }
}

/// Whether something is mounted right at `path` on the host.
pub fn is_mount_point(path: &Path) -> bool {
    let shown = path.to_string_lossy();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(shown.as_ref()))
}

impl Files for HostFiles {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }

    fn write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        std::fs::write(path, data)
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }

    fn metadata(&self, path: &Path) -> io::Result<Meta> {
        std::fs::metadata(path).map(meta_of)
    }

    fn symlink_metadata(&self, path: &Path) -> io::Result<Meta> {
        std::fs::symlink_metadata(path).map(meta_of)
    }

    fn set_mode(&self, path: &Path, mode: u32) -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<OsString>> {
        std::fs::read_dir(path)?
            .map(|e| e.map(|e| e.file_name()))
            .collect()
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_dir_all(path)
    }

    fn symlink(&self, target: &Path, link: &Path) -> io::Result<()> {
        std::os::unix::fs::symlink(target, link)
    }

    fn read_link(&self, path: &Path) -> io::Result<PathBuf> {
        std::fs::read_link(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn mount_tmpfs(&self, path: &Path, options: Option<&str>) -> Result<(), nix::Error> {
        if is_mount_point(path) {
            return Ok(());
        }
        nix::mount::mount(
            Some("tmpfs"),
            path,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            options,
        )
    }

    fn unmount(&self, path: &Path) {
        if is_mount_point(path) {
            let _ = nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

#[derive(Debug, Clone)]
enum Node {
    Dir { mode: u32 },
    File { data: Vec<u8>, mode: u32 },
    Link(PathBuf),
}

/// Files kept in memory, for simulated nodes. Written by hand: the in-memory filesystem
/// crates leave out symlinks and renames, which projected volumes' atomic updates use.
#[derive(Debug, Default)]
pub struct MemoryFiles {
    /// By resolved absolute path; a directory's descendants sort right after it.
    nodes: Mutex<BTreeMap<PathBuf, Node>>,
}

/// Upstream Linux's limit on symlinks followed in one lookup.
const MAX_LINKS: usize = 40;

fn error(kind: io::ErrorKind, path: &Path) -> io::Error {
    io::Error::new(kind, format!("{}", path.display()))
}

fn not_found(path: &Path) -> io::Error {
    error(io::ErrorKind::NotFound, path)
}

fn not_absolute(path: &Path) -> io::Result<()> {
    if path.is_absolute() {
        Ok(())
    } else {
        Err(error(io::ErrorKind::InvalidInput, path))
    }
}

type Tree = BTreeMap<PathBuf, Node>;

/// Puts the names and `..`s of `path` in front of `pending`.
fn push_front(pending: &mut VecDeque<OsString>, path: &Path) {
    for c in path.components().rev() {
        match c {
            Component::Normal(n) => pending.push_front(n.to_os_string()),
            Component::ParentDir => pending.push_front(OsString::from("..")),
            _ => {}
        }
    }
}

/// The path `path` leads to once symlinks are replaced by what they point to (the last
/// component's only when `follow`). Components before the last must exist.
fn resolve(tree: &Tree, path: &Path, follow: bool) -> io::Result<PathBuf> {
    not_absolute(path)?;
    let mut out = PathBuf::from("/");
    let mut links = 0;
    // Owned components, so a link's target can be spliced in front of what is left.
    let mut pending: VecDeque<OsString> = VecDeque::new();
    push_front(&mut pending, path);
    while let Some(name) = pending.pop_front() {
        if name == ".." {
            out.pop();
            continue;
        }
        let next = out.join(&name);
        let last = pending.is_empty();
        match tree.get(&next) {
            Some(Node::Link(target)) if follow || !last => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(io::Error::other(format!(
                        "too many levels of symbolic links: {}",
                        path.display()
                    )));
                }
                if target.is_absolute() {
                    out = PathBuf::from("/");
                }
                push_front(&mut pending, target);
            }
            Some(Node::File { .. }) if !last => return Err(not_found(path)),
            None if !last => return Err(not_found(path)),
            _ => out = next,
        }
    }
    Ok(out)
}

fn node_meta(node: &Node) -> Meta {
    match node {
        Node::Dir { mode } => Meta {
            kind: Kind::Dir,
            mode: *mode,
        },
        Node::File { mode, .. } => Meta {
            kind: Kind::File,
            mode: *mode,
        },
        Node::Link(_) => Meta {
            kind: Kind::Symlink,
            mode: 0o777,
        },
    }
}

fn is_root(path: &Path) -> bool {
    path.parent().is_none()
}

fn is_dir(tree: &Tree, path: &Path) -> bool {
    is_root(path) || matches!(tree.get(path), Some(Node::Dir { .. }))
}

/// Where a new entry called like `path`'s last component goes: its parent resolved (an
/// existing directory) joined with that name.
fn place(tree: &Tree, path: &Path) -> io::Result<PathBuf> {
    not_absolute(path)?;
    let name = path
        .file_name()
        .ok_or_else(|| error(io::ErrorKind::InvalidInput, path))?;
    let parent = resolve(tree, path.parent().unwrap_or(Path::new("/")), true)?;
    if !is_dir(tree, &parent) {
        return Err(not_found(path));
    }
    Ok(parent.join(name))
}

/// The paths at and under `path`.
fn subtree(tree: &Tree, path: &Path) -> Vec<PathBuf> {
    tree.range::<Path, _>((Bound::Included(path), Bound::Unbounded))
        .take_while(|(k, _)| k.starts_with(path))
        .map(|(k, _)| k.clone())
        .collect()
}

impl MemoryFiles {
    fn tree(&self) -> std::sync::MutexGuard<'_, Tree> {
        self.nodes.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn meta(&self, path: &Path, follow: bool) -> io::Result<Meta> {
        let tree = self.tree();
        let target = resolve(&tree, path, follow)?;
        if is_root(&target) {
            return Ok(node_meta(&Node::Dir { mode: 0o755 }));
        }
        tree.get(&target)
            .map(node_meta)
            .ok_or_else(|| not_found(path))
    }
}

impl Files for MemoryFiles {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        not_absolute(path)?;
        let mut tree = self.tree();
        let mut at = PathBuf::from("/");
        for c in path.components() {
            let Component::Normal(name) = c else {
                continue;
            };
            let next = resolve(&tree, &at.join(name), true)?;
            match tree.get(&next) {
                Some(Node::Dir { .. }) => {}
                Some(_) => return Err(error(io::ErrorKind::AlreadyExists, path)),
                None => {
                    tree.insert(next.clone(), Node::Dir { mode: 0o755 });
                }
            }
            at = next;
        }
        Ok(())
    }

    fn write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let mut tree = self.tree();
        let target = match resolve(&tree, path, true) {
            Ok(target) if tree.contains_key(&target) => target,
            _ => place(&tree, path)?,
        };
        let mode = match tree.get(&target) {
            Some(Node::Dir { .. }) => return Err(error(io::ErrorKind::IsADirectory, path)),
            Some(Node::File { mode, .. }) => *mode,
            _ => 0o644,
        };
        tree.insert(
            target,
            Node::File {
                data: data.to_vec(),
                mode,
            },
        );
        Ok(())
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let tree = self.tree();
        match tree.get(&resolve(&tree, path, true)?) {
            Some(Node::File { data, .. }) => Ok(data.clone()),
            Some(_) => Err(error(io::ErrorKind::IsADirectory, path)),
            None => Err(not_found(path)),
        }
    }

    fn metadata(&self, path: &Path) -> io::Result<Meta> {
        self.meta(path, true)
    }

    fn symlink_metadata(&self, path: &Path) -> io::Result<Meta> {
        self.meta(path, false)
    }

    fn set_mode(&self, path: &Path, new: u32) -> io::Result<()> {
        let mut tree = self.tree();
        let target = resolve(&tree, path, true)?;
        match tree.get_mut(&target) {
            Some(Node::Dir { mode } | Node::File { mode, .. }) => {
                *mode = new & 0o7777;
                Ok(())
            }
            _ => Err(not_found(path)),
        }
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<OsString>> {
        let tree = self.tree();
        let dir = resolve(&tree, path, true)?;
        if !is_dir(&tree, &dir) {
            return Err(if tree.contains_key(&dir) {
                error(io::ErrorKind::NotADirectory, path)
            } else {
                not_found(path)
            });
        }
        Ok(tree
            .range::<Path, _>((Bound::Excluded(dir.as_path()), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(&dir))
            .filter(|(k, _)| k.parent() == Some(dir.as_path()))
            .filter_map(|(k, _)| k.file_name().map(OsString::from))
            .collect())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut tree = self.tree();
        let target = resolve(&tree, path, false)?;
        match tree.get(&target) {
            Some(Node::File { .. } | Node::Link(_)) => {
                tree.remove(&target);
                Ok(())
            }
            Some(Node::Dir { .. }) => Err(error(io::ErrorKind::IsADirectory, path)),
            None => Err(not_found(path)),
        }
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut tree = self.tree();
        let target = resolve(&tree, path, false)?;
        if !tree.contains_key(&target) {
            return Err(not_found(path));
        }
        for key in subtree(&tree, &target) {
            tree.remove(&key);
        }
        Ok(())
    }

    fn symlink(&self, target: &Path, link: &Path) -> io::Result<()> {
        let mut tree = self.tree();
        let at = place(&tree, link)?;
        if tree.contains_key(&at) {
            return Err(error(io::ErrorKind::AlreadyExists, link));
        }
        tree.insert(at, Node::Link(target.to_path_buf()));
        Ok(())
    }

    fn read_link(&self, path: &Path) -> io::Result<PathBuf> {
        let tree = self.tree();
        match tree.get(&resolve(&tree, path, false)?) {
            Some(Node::Link(target)) => Ok(target.clone()),
            Some(_) => Err(error(io::ErrorKind::InvalidInput, path)),
            None => Err(not_found(path)),
        }
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut tree = self.tree();
        let source = resolve(&tree, from, false)?;
        let Some(moved) = tree.get(&source).cloned() else {
            return Err(not_found(from));
        };
        let dest = place(&tree, to)?;
        if dest == source {
            return Ok(());
        }
        match (&moved, tree.get(&dest)) {
            (Node::Dir { .. }, Some(Node::Dir { .. })) if subtree(&tree, &dest).len() > 1 => {
                return Err(error(io::ErrorKind::DirectoryNotEmpty, to));
            }
            (Node::Dir { .. }, Some(Node::Dir { .. })) => {}
            (Node::Dir { .. }, Some(_)) => return Err(error(io::ErrorKind::NotADirectory, to)),
            (_, Some(Node::Dir { .. })) => return Err(error(io::ErrorKind::IsADirectory, to)),
            _ => {}
        }
        if dest.starts_with(&source) {
            return Err(error(io::ErrorKind::InvalidInput, to));
        }
        tree.remove(&dest);
        for key in subtree(&tree, &source) {
            if let Some(node) = tree.remove(&key) {
                let rel = key.strip_prefix(&source).unwrap_or(Path::new(""));
                let new = if rel.as_os_str().is_empty() {
                    dest.clone()
                } else {
                    dest.join(rel)
                };
                tree.insert(new, node);
            }
        }
        Ok(())
    }

    fn mount_tmpfs(&self, _path: &Path, _options: Option<&str>) -> Result<(), nix::Error> {
        Ok(())
    }

    fn unmount(&self, _path: &Path) {}
}

#[cfg(test)]
mod tests;
