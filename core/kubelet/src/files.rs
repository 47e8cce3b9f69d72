//! The node agent's own files: pod directories, sandbox records, a pod's `/etc` files,
//! emptyDir and projected volumes, log directories.
//!
//! A real node keeps them on the host ([`HostFiles`]), where containers bind-mount them. A
//! simulated node runs no containers, so it keeps them in memory ([`MemoryFiles`]), as its
//! runtime keeps its containers: the code above is the same, without a simulated cluster's
//! ten thousand pods creating and deleting ten thousand directories on the host's disk.

use std::collections::{BTreeSet, HashMap, VecDeque};
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
    Dir {
        mode: u32,
        children: BTreeSet<OsString>,
    },
    File {
        data: Vec<u8>,
        mode: u32,
    },
    Link(PathBuf),
}

/// Files kept in memory, for simulated nodes. Written by hand: the in-memory filesystem
/// crates leave out symlinks and renames, which projected volumes' atomic updates use.
#[derive(Debug, Default)]
pub struct MemoryFiles {
    tree: Mutex<Tree>,
}

/// Every entry by its resolved absolute path (the root is implicit); directories list their
/// children's names.
#[derive(Debug, Default)]
struct Tree {
    nodes: HashMap<PathBuf, Node>,
    /// Where the symlinks are (resolved paths). A path with no link at or above it (and no
    /// `..`) resolves by its spelling alone, which spares a lookup per component: the links
    /// of a thousand simulated nodes' pods are in their projected volumes, away from most
    /// of the paths the kubelet touches.
    links: BTreeSet<PathBuf>,
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

fn node_meta(node: &Node) -> Meta {
    match node {
        Node::Dir { mode, .. } => Meta {
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

fn new_dir(mode: u32) -> Node {
    Node::Dir {
        mode,
        children: BTreeSet::new(),
    }
}

impl Tree {
    fn is_dir(&self, path: &Path) -> bool {
        is_root(path) || matches!(self.nodes.get(path), Some(Node::Dir { .. }))
    }

    /// What `path` resolves to when no symlink can be on the way (its last component counts
    /// when `follow`): its spelling, `..` applied. `None` when a link may be met.
    fn by_spelling(&self, path: &Path, follow: bool) -> Option<PathBuf> {
        if self.links.is_empty() {
            let mut out = PathBuf::from("/");
            for c in path.components() {
                match c {
                    Component::Normal(n) => out.push(n),
                    Component::ParentDir => {
                        out.pop();
                    }
                    _ => {}
                }
            }
            return Some(out);
        }
        if path.components().any(|c| c == Component::ParentDir) {
            return None;
        }
        // Paths order by components, and nothing lives under a link: the greatest link not
        // after `path` is the only one that can be `path` or one of its ancestors.
        let spelled: PathBuf = path.components().collect();
        let upto = (Bound::Unbounded, Bound::Included(spelled.as_path()));
        let meets = match self.links.range::<Path, _>(upto).next_back() {
            Some(link) if *link == spelled => follow,
            Some(link) => spelled.starts_with(link),
            None => false,
        };
        (!meets).then_some(spelled)
    }

    /// The path `path` leads to once symlinks are replaced by what they point to (the last
    /// component's only when `follow`). Components before the last must be directories.
    fn resolve(&self, path: &Path, follow: bool) -> io::Result<PathBuf> {
        not_absolute(path)?;
        if let Some(out) = self.by_spelling(path, follow) {
            // A directory's ancestors are directories: its parent is the one to check.
            return match out.parent() {
                Some(parent) if !self.is_dir(parent) => Err(not_found(path)),
                _ => Ok(out),
            };
        }
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
            match self.nodes.get(&next) {
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

    /// Where a new entry called like `path`'s last component goes: its parent resolved (an
    /// existing directory) joined with that name.
    fn place(&self, path: &Path) -> io::Result<PathBuf> {
        not_absolute(path)?;
        let name = path
            .file_name()
            .ok_or_else(|| error(io::ErrorKind::InvalidInput, path))?;
        let parent = self.resolve(path.parent().unwrap_or(Path::new("/")), true)?;
        if !self.is_dir(&parent) {
            return Err(not_found(path));
        }
        Ok(parent.join(name))
    }

    /// Adds or replaces the entry at a resolved path whose parent is a directory.
    fn insert(&mut self, at: PathBuf, node: Node) {
        if let (Some(parent), Some(name)) = (at.parent(), at.file_name())
            && let Some(Node::Dir { children, .. }) = self.nodes.get_mut(parent)
        {
            children.insert(name.to_os_string());
        }
        if matches!(node, Node::Link(_)) {
            self.links.insert(at.clone());
        } else if !self.links.is_empty() {
            self.links.remove(&at);
        }
        self.nodes.insert(at, node);
    }

    /// Removes the entry at a resolved path with everything under it; returns them.
    fn take(&mut self, at: &Path) -> Option<Taken> {
        let node = self.nodes.remove(at)?;
        if let (Some(parent), Some(name)) = (at.parent(), at.file_name())
            && let Some(Node::Dir { children, .. }) = self.nodes.get_mut(parent)
        {
            children.remove(name);
        }
        let mut under = Vec::new();
        match &node {
            Node::Link(_) => {
                self.links.remove(at);
            }
            Node::Dir { children, .. } => {
                for child in children {
                    under.extend(self.take(&at.join(child)).map(|t| (child.clone(), t)));
                }
            }
            Node::File { .. } => {}
        }
        Some(Taken { node, under })
    }

    /// Puts what [`Tree::take`] took at `at` (whose parent is a directory).
    fn put(&mut self, at: PathBuf, taken: Taken) {
        for (name, child) in taken.under {
            self.put(at.join(name), child);
        }
        self.insert(at, taken.node);
    }
}

/// An entry taken out of the tree with what was under it.
struct Taken {
    node: Node,
    under: Vec<(OsString, Taken)>,
}

impl MemoryFiles {
    fn tree(&self) -> std::sync::MutexGuard<'_, Tree> {
        self.tree.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn meta(&self, path: &Path, follow: bool) -> io::Result<Meta> {
        let tree = self.tree();
        let target = tree.resolve(path, follow)?;
        if is_root(&target) {
            return Ok(node_meta(&new_dir(0o755)));
        }
        tree.nodes
            .get(&target)
            .map(node_meta)
            .ok_or_else(|| not_found(path))
    }
}

impl Files for MemoryFiles {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        not_absolute(path)?;
        let mut tree = self.tree();
        if tree.resolve(path, true).is_ok_and(|p| tree.is_dir(&p)) {
            return Ok(());
        }
        let mut at = PathBuf::from("/");
        for c in path.components() {
            let Component::Normal(name) = c else {
                continue;
            };
            let next = tree.resolve(&at.join(name), true)?;
            match tree.nodes.get(&next) {
                Some(Node::Dir { .. }) => {}
                Some(_) => return Err(error(io::ErrorKind::AlreadyExists, path)),
                None => tree.insert(next.clone(), new_dir(0o755)),
            }
            at = next;
        }
        Ok(())
    }

    fn write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let mut tree = self.tree();
        let target = match tree.resolve(path, true) {
            Ok(target) if tree.nodes.contains_key(&target) => target,
            _ => tree.place(path)?,
        };
        let mode = match tree.nodes.get_mut(&target) {
            Some(Node::Dir { .. }) => return Err(error(io::ErrorKind::IsADirectory, path)),
            Some(Node::File { data: old, .. }) => {
                // Rewritten in place: the parent already lists it.
                *old = data.to_vec();
                return Ok(());
            }
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
        match tree.nodes.get(&tree.resolve(path, true)?) {
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
        let target = tree.resolve(path, true)?;
        match tree.nodes.get_mut(&target) {
            Some(Node::Dir { mode, .. } | Node::File { mode, .. }) => {
                *mode = new & 0o7777;
                Ok(())
            }
            _ => Err(not_found(path)),
        }
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<OsString>> {
        let tree = self.tree();
        let dir = tree.resolve(path, true)?;
        if is_root(&dir) {
            let mut top: Vec<OsString> = tree
                .nodes
                .keys()
                .filter(|k| k.parent().is_some_and(is_root))
                .filter_map(|k| k.file_name().map(OsString::from))
                .collect();
            top.sort();
            return Ok(top);
        }
        match tree.nodes.get(&dir) {
            Some(Node::Dir { children, .. }) => Ok(children.iter().cloned().collect()),
            Some(_) => Err(error(io::ErrorKind::NotADirectory, path)),
            None => Err(not_found(path)),
        }
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut tree = self.tree();
        let target = tree.resolve(path, false)?;
        match tree.nodes.get(&target) {
            Some(Node::File { .. } | Node::Link(_)) => {
                tree.take(&target);
                Ok(())
            }
            Some(Node::Dir { .. }) => Err(error(io::ErrorKind::IsADirectory, path)),
            None => Err(not_found(path)),
        }
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut tree = self.tree();
        let target = tree.resolve(path, false)?;
        tree.take(&target)
            .map(|_| ())
            .ok_or_else(|| not_found(path))
    }

    fn symlink(&self, target: &Path, link: &Path) -> io::Result<()> {
        let mut tree = self.tree();
        let at = tree.place(link)?;
        if tree.nodes.contains_key(&at) {
            return Err(error(io::ErrorKind::AlreadyExists, link));
        }
        tree.insert(at, Node::Link(target.to_path_buf()));
        Ok(())
    }

    fn read_link(&self, path: &Path) -> io::Result<PathBuf> {
        let tree = self.tree();
        match tree.nodes.get(&tree.resolve(path, false)?) {
            Some(Node::Link(target)) => Ok(target.clone()),
            Some(_) => Err(error(io::ErrorKind::InvalidInput, path)),
            None => Err(not_found(path)),
        }
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut tree = self.tree();
        let source = tree.resolve(from, false)?;
        if !tree.nodes.contains_key(&source) {
            return Err(not_found(from));
        }
        let dest = tree.place(to)?;
        if dest == source {
            return Ok(());
        }
        match (tree.nodes.get(&source), tree.nodes.get(&dest)) {
            (Some(Node::Dir { .. }), Some(Node::Dir { children, .. })) if !children.is_empty() => {
                return Err(error(io::ErrorKind::DirectoryNotEmpty, to));
            }
            (Some(Node::Dir { .. }), Some(Node::Dir { .. })) => {}
            (Some(Node::Dir { .. }), Some(_)) => {
                return Err(error(io::ErrorKind::NotADirectory, to));
            }
            (_, Some(Node::Dir { .. })) => return Err(error(io::ErrorKind::IsADirectory, to)),
            _ => {}
        }
        if dest.starts_with(&source) {
            return Err(error(io::ErrorKind::InvalidInput, to));
        }
        tree.take(&dest);
        if let Some(taken) = tree.take(&source) {
            tree.put(dest, taken);
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
