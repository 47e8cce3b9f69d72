//! Bind mounts: how a volume directory appears at a staging or target path.

use std::fs;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};

/// Why a mount operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot bind {source_dir} onto {target}")]
    Bind {
        source_dir: PathBuf,
        target: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("cannot make the mount at {target} read-only")]
    Remount {
        target: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("cannot unmount {target}")]
    Unmount {
        target: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("cannot read the mount table")]
    Table(#[source] std::io::Error),
}

/// A mount found in the mount table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// Whether the mount itself is read-only (per-mount `ro`, not the superblock's).
    pub read_only: bool,
}

/// Bind-mounts `source` onto `target`; with `read_only`, remounts the bind read-only.
///
/// A bind mount ignores `MS_RDONLY` on the first call, so a read-only bind takes two mount
/// calls; if the second fails the first is undone, so no writable mount is left where a
/// read-only one was asked for.
pub fn bind(source: &Path, target: &Path, read_only: bool) -> Result<(), Error> {
    nix::mount::mount(
        Some(source),
        target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| Error::Bind {
        source_dir: source.to_owned(),
        target: target.to_owned(),
        source: e,
    })?;
    if read_only {
        let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        if let Err(e) = nix::mount::mount(None::<&str>, target, None::<&str>, flags, None::<&str>) {
            let _ = unmount(target);
            return Err(Error::Remount {
                target: target.to_owned(),
                source: e,
            });
        }
    }
    Ok(())
}

/// Unmounts `target`; a target that is not mounted is not an error.
pub fn unmount(target: &Path) -> Result<(), Error> {
    match nix::mount::umount2(target, MntFlags::empty()) {
        Ok(()) | Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => Ok(()),
        Err(source) => Err(Error::Unmount {
            target: target.to_owned(),
            source,
        }),
    }
}

/// The topmost mount at exactly `path`, if `path` is a mount point.
pub fn find(path: &Path) -> Result<Option<Mount>, Error> {
    let table = fs::read_to_string("/proc/self/mountinfo").map_err(Error::Table)?;
    let wanted = fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    Ok(parse_mountinfo(&table)
        .into_iter()
        .rev()
        .find(|m| m.mount_point == wanted))
}

/// Reads the mount point and per-mount options of each line of `/proc/<pid>/mountinfo`.
///
/// Parsed by hand: only two fields are needed, and the format is fixed by the kernel
/// (`proc(5)`): field 5 is the mount point with space, tab, newline and backslash written as
/// octal escapes, field 6 the per-mount options.
fn parse_mountinfo(table: &str) -> Vec<Mount> {
    table
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let mount_point = fields.nth(4)?;
            let options = fields.next()?;
            Some(Mount {
                mount_point: PathBuf::from(unescape(mount_point)),
                read_only: options.split(',').any(|o| o == "ro"),
            })
        })
        .collect()
}

/// Undoes the kernel's `\ooo` octal escapes in a mountinfo path.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d[0] <= b'3' && d.iter().all(|b| (b'0'..=b'7').contains(b)));
        if let (b'\\', Some(d)) = (bytes[i], octal) {
            let value = (d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0');
            out.push(value);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
90 22 8:1 /var/lib/vol /mnt/my\\040vol ro,relatime shared:1 - ext4 /dev/sda1 rw
91 22 8:1 /var/lib/vol /mnt/data rw,nosuid shared:1 - ext4 /dev/sda1 rw
";

    #[test]
    fn mountinfo_lines_give_mount_points_and_read_only_flags() {
        let mounts = parse_mountinfo(TABLE);
        assert_eq!(mounts.len(), 3);
        assert_eq!(mounts[1].mount_point, PathBuf::from("/mnt/my vol"));
        assert!(mounts[1].read_only);
        assert_eq!(mounts[2].mount_point, PathBuf::from("/mnt/data"));
        assert!(!mounts[2].read_only);
    }

    #[test]
    fn backslashes_not_followed_by_octal_digits_are_kept() {
        assert_eq!(unescape("a\\b"), "a\\b");
        assert_eq!(unescape("tab\\011end"), "tab\tend");
        assert_eq!(unescape("end\\"), "end\\");
    }

    #[test]
    fn a_read_only_bind_is_found_read_only_and_refuses_writes() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("src");
        let target = dir.path().join("dst");
        fs::create_dir(&source).unwrap();
        fs::create_dir(&target).unwrap();
        fs::write(source.join("f"), b"x").unwrap();
        bind(&source, &target, true).unwrap();
        let guard = Unmounter(target.clone());
        let found = find(&target).unwrap().unwrap();
        assert!(found.read_only);
        assert_eq!(fs::read(target.join("f")).unwrap(), b"x");
        assert!(fs::write(target.join("g"), b"y").is_err());
        drop(guard);
        assert_eq!(find(&target).unwrap(), None);
    }

    #[test]
    fn unmounting_what_is_not_mounted_succeeds() {
        let dir = tempfile::tempdir().unwrap();
        unmount(dir.path()).unwrap();
        unmount(&dir.path().join("missing")).unwrap();
    }

    /// Unmounts on drop, so a failed assertion leaves no mount behind.
    struct Unmounter(PathBuf);

    impl Drop for Unmounter {
        fn drop(&mut self) {
            let _ = unmount(&self.0);
        }
    }
}
