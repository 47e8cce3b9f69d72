//! On-disk reservations for one network: one file per address, guarded by an exclusive flock.
//!
//! The layout matches the reference host-local plugin: a file named after each reserved
//! address holding `<container id>\r\n<ifname>`, and `last_reserved_ip.<set>` per range set.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

/// Errors reading or writing the reservation directory.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file operation failed.
    #[error("failed to {action} {path}")]
    Io {
        /// What was attempted.
        action: &'static str,
        /// On which path.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// Taking the lock failed.
    #[error("failed to lock {path}")]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: nix::Error,
    },
}

/// One reservation: an address held by a container's interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reservation {
    /// The address.
    pub ip: IpAddr,
    /// The holder's container id.
    pub container_id: String,
    /// The holder's interface name.
    pub ifname: String,
}

/// The reservation directory, locked for as long as this value lives.
pub struct Store {
    dir: PathBuf,
    _lock: Flock<File>,
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Io {
        action,
        path,
        source,
    }
}

impl Store {
    /// Opens (creating if needed) and locks the directory; blocks while another process holds it.
    pub fn open(dir: &Path) -> Result<Self, Error> {
        std::fs::create_dir_all(dir).map_err(io("create", dir))?;
        let lock_path = dir.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io("open", &lock_path))?;
        let lock =
            Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, source)| Error::Lock {
                path: lock_path,
                source,
            })?;
        Ok(Self {
            dir: dir.to_path_buf(),
            _lock: lock,
        })
    }

    /// Every reservation in the directory.
    pub fn reservations(&self) -> Result<Vec<Reservation>, Error> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io("read", &self.dir))? {
            let entry = entry.map_err(io("read", &self.dir))?;
            let Some(ip) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<IpAddr>().ok())
            else {
                continue;
            };
            let path = entry.path();
            let content = match std::fs::read_to_string(&path) {
                Ok(content) => content,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(io("read", &path)(e)),
            };
            let mut lines = content.lines().map(str::trim);
            let container_id = lines.next().unwrap_or_default().to_string();
            let ifname = lines.next().unwrap_or_default().to_string();
            out.push(Reservation {
                ip,
                container_id,
                ifname,
            });
        }
        out.sort_by_key(|r| r.ip);
        Ok(out)
    }

    /// Reserves `ip` for the attachment; false if it is already taken.
    pub fn reserve(&self, ip: IpAddr, container_id: &str, ifname: &str) -> Result<bool, Error> {
        let path = self.dir.join(ip.to_string());
        let mut file = match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::AlreadyExists => return Ok(false),
            Err(e) => return Err(io("create", &path)(e)),
        };
        write!(file, "{container_id}\r\n{ifname}").map_err(io("write", &path))?;
        file.sync_all().map_err(io("sync", &path))?;
        Ok(true)
    }

    /// Releases one address; releasing a free address is not an error.
    pub fn release(&self, ip: IpAddr) -> Result<(), Error> {
        let path = self.dir.join(ip.to_string());
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(io("remove", &path)(e)),
            _ => Ok(()),
        }
    }

    /// The last address reserved from range set `set`, where round-robin allocation resumes.
    pub fn last_reserved(&self, set: usize) -> Option<IpAddr> {
        std::fs::read_to_string(self.dir.join(format!("last_reserved_ip.{set}")))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Records the last address reserved from range set `set`.
    pub fn set_last_reserved(&self, set: usize, ip: IpAddr) -> Result<(), Error> {
        let path = self.dir.join(format!("last_reserved_ip.{set}"));
        std::fs::write(&path, ip.to_string()).map_err(io("write", &path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_cannot_be_reserved_twice() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let ip: IpAddr = "10.8.0.2".parse().unwrap();
        assert!(store.reserve(ip, "c1", "eth0").unwrap());
        assert!(!store.reserve(ip, "c2", "eth0").unwrap());
        let held = store.reservations().unwrap();
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].container_id, "c1");
        assert_eq!(held[0].ifname, "eth0");
        store.release(ip).unwrap();
        store.release(ip).unwrap();
        assert!(store.reservations().unwrap().is_empty());
    }

    #[test]
    fn the_last_reserved_address_is_remembered_per_set() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.last_reserved(0), None);
        store
            .set_last_reserved(1, "10.8.0.9".parse().unwrap())
            .unwrap();
        assert_eq!(store.last_reserved(1), Some("10.8.0.9".parse().unwrap()));
        assert_eq!(store.last_reserved(0), None);
    }
}
