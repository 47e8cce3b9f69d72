//! Running an extra process in a running container (`kubectl exec`, exec probes).

use std::pin::Pin;

use futures::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

use super::Error;

/// What to run.
#[derive(Debug, Clone, Default)]
pub struct ExecRequest {
    pub command: Vec<String>,
    /// Extra environment on top of the container's.
    pub env: Vec<(String, String)>,
    /// Allocate a terminal (stdout and stderr then come together on `stdout`).
    pub tty: bool,
    /// Give the process a stdin the caller writes to.
    pub stdin: bool,
}

/// An async byte source.
pub type Reader = Pin<Box<dyn AsyncRead + Send>>;
/// An async byte sink.
pub type Writer = Pin<Box<dyn AsyncWrite + Send>>;

/// A running exec'd process: its streams and its exit code.
pub struct ExecSession {
    /// Present when asked for; dropping (or shutting down) it closes the process's stdin.
    pub stdin: Option<Writer>,
    pub stdout: Reader,
    /// Absent with a terminal.
    pub stderr: Option<Reader>,
    /// Resolves to the exit code once the process ended and its output was delivered.
    pub exit: BoxFuture<'static, Result<i32, Error>>,
}

impl std::fmt::Debug for ExecSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecSession")
            .field("stdin", &self.stdin.is_some())
            .field("stderr", &self.stderr.is_some())
            .finish_non_exhaustive()
    }
}

/// Everything an exec printed, with its exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exit_code: i32,
}

impl ExecSession {
    /// Closes stdin, reads both streams to their end and waits for the exit code (for probes
    /// and tests; streaming callers use the fields).
    pub async fn output(self) -> Result<ExecOutput, Error> {
        drop(self.stdin);
        let mut stdout = self.stdout;
        let read_stdout = async move {
            let mut buf = Vec::new();
            stdout.read_to_end(&mut buf).await.map(|_| buf)
        };
        let stderr = self.stderr;
        let read_stderr = async move {
            let mut buf = Vec::new();
            if let Some(mut stderr) = stderr {
                stderr.read_to_end(&mut buf).await?;
            }
            Ok::<_, std::io::Error>(buf)
        };
        let (stdout, stderr, exit) = tokio::join!(read_stdout, read_stderr, self.exit);
        let io = |e| Error::backend("reading exec output", e);
        Ok(ExecOutput {
            stdout: stdout.map_err(io)?,
            stderr: stderr.map_err(io)?,
            exit_code: exit?,
        })
    }
}
