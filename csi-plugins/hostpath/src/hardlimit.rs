//! Hard size limits: a volume backed by an ext4 image of exactly its capacity, loop-mounted on
//! its directory, so writes beyond the capacity fail with ENOSPC instead of filling the node.
//!
//! The image is made by `mkfs.ext4` and attached with `mount -o loop`, which sets up the loop
//! device and marks it to be released on unmount; both are the standard tools for this and
//! need no unsafe ioctls here.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::mount;

/// Why an image could not be made, attached or removed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot create image {path}")]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot run {tool}")]
    Spawn {
        tool: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{tool} failed: {stderr}")]
    Tool { tool: &'static str, stderr: String },
    #[error("cannot open up the mounted image at {path}")]
    Permissions {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot detach image")]
    Detach(#[source] mount::Error),
    #[error("cannot remove image {path}")]
    Remove {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn run(tool: &'static str, command: &mut Command) -> Result<(), Error> {
    let output = command
        .output()
        .map_err(|source| Error::Spawn { tool, source })?;
    if !output.status.success() {
        return Err(Error::Tool {
            tool,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(())
}

/// Creates a sparse image of `size` bytes at `image` and formats it as ext4.
///
/// No blocks are reserved for root (`-m 0`): the volume's owner should get all of its capacity.
pub fn create(image: &Path, size: i64) -> Result<(), Error> {
    let err = |source| Error::Create {
        path: image.to_owned(),
        source,
    };
    let file = fs::File::create(image).map_err(err)?;
    file.set_len(size as u64).map_err(err)?;
    drop(file);
    run(
        "mkfs.ext4",
        Command::new("mkfs.ext4")
            .args(["-q", "-F", "-m", "0"])
            .arg(image),
    )
}

/// Loop-mounts `image` on `dir` and lets any container user write to its root.
pub fn attach(image: &Path, dir: &Path) -> Result<(), Error> {
    run(
        "mount",
        Command::new("mount")
            .args(["-t", "ext4", "-o", "loop"])
            .arg(image)
            .arg(dir),
    )?;
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o777)).map_err(|source| {
        Error::Permissions {
            path: dir.to_owned(),
            source,
        }
    })
}

/// Grows the image attached on `dir` to `size` bytes, and its filesystem with it.
///
/// Offline when nothing else holds the mount (`in_use` false): detach, check, resize the
/// image file, attach again, which needs nothing from the kernel beyond loop mounts. Online
/// otherwise: the loop device is told the new file size (`losetup -c`) and ext4 grows while
/// mounted (`resize2fs` on the device), which some kernels and sandboxes refuse.
pub fn grow(image: &Path, dir: &Path, size: i64, in_use: bool) -> Result<(), Error> {
    let device = if in_use {
        Some(loop_device(dir)?)
    } else {
        None
    };
    if device.is_none() {
        detach(dir)?;
    }
    let grown = fs::OpenOptions::new()
        .write(true)
        .open(image)
        .and_then(|f| f.set_len(size as u64))
        .map_err(|source| Error::Create {
            path: image.to_owned(),
            source,
        })
        .and_then(|()| match &device {
            Some(device) => run("losetup", Command::new("losetup").arg("-c").arg(device))
                .and_then(|()| run("resize2fs", Command::new("resize2fs").arg(device))),
            None => run(
                "e2fsck",
                Command::new("e2fsck").args(["-f", "-p"]).arg(image),
            )
            .and_then(|()| run("resize2fs", Command::new("resize2fs").arg(image))),
        });
    if device.is_none() {
        // Attach again even when growing failed: the volume must stay usable at its old size.
        attach(image, dir)?;
    }
    grown
}

/// The loop device mounted on `dir`.
fn loop_device(dir: &Path) -> Result<String, Error> {
    let output = Command::new("findmnt")
        .args(["-n", "-o", "SOURCE", "--mountpoint"])
        .arg(dir)
        .output()
        .map_err(|source| Error::Spawn {
            tool: "findmnt",
            source,
        })?;
    let device = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if !output.status.success() || !device.starts_with("/dev/loop") {
        return Err(Error::Tool {
            tool: "findmnt",
            stderr: format!("no loop device mounted on {}", dir.display()),
        });
    }
    Ok(device)
}

/// Whether the image is mounted on `dir` now.
pub fn is_attached(dir: &Path) -> bool {
    matches!(mount::find(dir), Ok(Some(_)))
}

/// Unmounts `dir`, which releases the loop device.
pub fn detach(dir: &Path) -> Result<(), Error> {
    mount::unmount(dir).map_err(Error::Detach)
}

/// Deletes the image file; a missing one is fine.
pub fn remove(image: &Path) -> Result<(), Error> {
    match fs::remove_file(image) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::Remove {
            path: image.to_owned(),
            source: e,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attached_image_stops_writes_at_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("v.img");
        let mnt = dir.path().join("v");
        fs::create_dir(&mnt).unwrap();
        create(&image, 8 << 20).unwrap();
        attach(&image, &mnt).unwrap();
        let guard = Detacher(mnt.clone());
        assert!(is_attached(&mnt));
        let chunk = vec![7u8; 1 << 20];
        let mut written = 0;
        let full = loop {
            match fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(mnt.join("fill"))
                .and_then(|mut f| std::io::Write::write_all(&mut f, &chunk))
            {
                Ok(()) => written += 1,
                Err(e) => break e,
            }
            assert!(written < 16, "wrote past the image size");
        };
        assert_eq!(full.raw_os_error(), Some(nix::libc::ENOSPC));
        let before = nix::sys::statvfs::statvfs(&mnt).unwrap().blocks_available();
        grow(&image, &mnt, 16 << 20, false).unwrap();
        assert!(is_attached(&mnt));
        let after = nix::sys::statvfs::statvfs(&mnt).unwrap().blocks_available();
        assert!(
            after > before,
            "growing freed no space: {before} -> {after}"
        );
        fs::write(mnt.join("more"), &chunk).unwrap();
        assert_eq!(fs::read(mnt.join("more")).unwrap(), chunk);
        drop(guard);
        assert!(!is_attached(&mnt));
        remove(&image).unwrap();
        remove(&image).unwrap();
        assert!(!image.exists());
    }

    /// Detaches on drop, so a failed assertion leaves no mount behind.
    struct Detacher(PathBuf);

    impl Drop for Detacher {
        fn drop(&mut self) {
            let _ = detach(&self.0);
        }
    }
}
