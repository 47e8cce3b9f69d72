//! The program containerd's shim runs to write a container's output to its log file
//! (a `binary://` stdio URI, containerd's shim logging).
//!
//! With a `file://` URI the containerd 1.6 shim writes the file itself, but the copier of
//! stdout closes the file it shares with the copier of stderr as soon as stdout ends: what a
//! container writes to stderr just before it exits can be lost (`kubectl logs` then misses
//! its last error). This program copies both streams to the file until both have ended.
//!
//! The shim starts it with the streams' read ends as fds 3 and 4 and waits until it reads a
//! byte (or the end) from fd 5. The file descriptors are reached through `/proc/self/fd`, as
//! the project has no unsafe code to adopt them with.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

/// The subcommand (and URI query key) that runs the copier: the shim passes each query
/// parameter as two arguments, name then value.
pub const SUBCOMMAND: &str = "container-log";

/// Characters escaped in the program's path (a URL path).
const PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// The stdio URI that has the shim run `program` to write into `log`.
pub fn uri(program: &Path, log: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair(SUBCOMMAND, log)
        .finish();
    let path = utf8_percent_encode(&program.to_string_lossy(), PATH).to_string();
    format!("binary://{path}?{query}")
}

/// Copies the container's stdout and stderr to the end of `log` until both have ended.
pub fn run(log: &Path) -> io::Result<()> {
    let file = OpenOptions::new().create(true).append(true).open(log)?;
    let stdout = File::open("/proc/self/fd/3")?;
    let stderr = File::open("/proc/self/fd/4")?;
    // Ready: the shim starts the container once it has read this.
    OpenOptions::new()
        .write(true)
        .open("/proc/self/fd/5")?
        .write_all(b"r")?;
    let other = file.try_clone()?;
    let err_copy = std::thread::spawn(move || copy(stderr, other));
    let out = copy(stdout, file);
    let err = err_copy
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("the stderr copier panicked")));
    out.and(err)
}

/// Appends what `from` gives to `to`, a read at a time (each read is one write to the file,
/// so the lines of the two streams do not interleave within a read).
fn copy(mut from: File, mut to: File) -> io::Result<()> {
    let mut buf = vec![0; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => to.write_all(&buf[..n])?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_uri_names_the_program_and_the_log_as_the_shim_reads_them() {
        assert_eq!(
            uri(Path::new("/usr/local/bin/skiff"), "/var/log/pods/a b/0.log"),
            "binary:///usr/local/bin/skiff?container-log=%2Fvar%2Flog%2Fpods%2Fa+b%2F0.log"
        );
        assert_eq!(
            uri(Path::new("/opt/my skiff/skiff"), "/l"),
            "binary:///opt/my%20skiff/skiff?container-log=%2Fl"
        );
    }
}
