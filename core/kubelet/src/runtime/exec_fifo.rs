//! Wiring an exec'd process to the caller through named pipes, the way containerd clients do:
//! the shim opens the pipes' other ends when the process is created.

use std::path::{Path, PathBuf};

use containerd_client::services::v1::{
    CloseIoRequest, StartRequest, WaitRequest, tasks_client::TasksClient,
};
use containerd_client::tonic::transport::Channel;
use nix::sys::stat::Mode;
use tokio::net::unix::pipe;

use super::Error;
use super::containerd::{delete_process, exec_request};
use super::exec::{ExecRequest, ExecSession, Reader};
use crate::image::store::request;

/// The caller's end of an exec's stdin. Closing it (shutdown or drop) also asks the shim to
/// close its own handle on the pipe, without which the process never sees the end of input.
struct Stdin {
    pipe: Option<pipe::Sender>,
    close: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Stdin {
    fn close(&mut self) {
        self.pipe = None;
        if let Some(close) = self.close.take() {
            let _ = close.send(());
        }
    }
}

impl Drop for Stdin {
    fn drop(&mut self) {
        self.close();
    }
}

impl tokio::io::AsyncWrite for Stdin {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.pipe.as_mut() {
            Some(pipe) => std::pin::Pin::new(pipe).poll_write(cx, buf),
            None => std::task::Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into())),
        }
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.pipe.as_mut() {
            Some(pipe) => std::pin::Pin::new(pipe).poll_flush(cx),
            None => std::task::Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.close();
        std::task::Poll::Ready(Ok(()))
    }
}

/// Removes an exec's pipe directory when the exec ends (or fails to start).
struct PipeDir(PathBuf);

impl Drop for PipeDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn io(context: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::backend(context.to_string(), e)
}

fn mkfifo(path: &Path) -> Result<(), Error> {
    nix::unistd::mkfifo(path, Mode::S_IRUSR | Mode::S_IWUSR)
        .map_err(|e| Error::backend(format!("making pipe {}", path.display()), e))
}

/// Opens the read end of a pipe in the background: the open completes once the shim opened
/// the write end, so reads see the end of the stream when the shim closes it.
fn open_reader(path: PathBuf) -> tokio::task::JoinHandle<std::io::Result<std::fs::File>> {
    tokio::task::spawn_blocking(move || std::fs::OpenOptions::new().read(true).open(path))
}

/// Unblocks a pending [`open_reader`] whose writer will never come.
fn release_reader(path: &Path) {
    let _ = pipe::OpenOptions::new().read_write(true).open_sender(path);
}

async fn reader(
    handle: tokio::task::JoinHandle<std::io::Result<std::fs::File>>,
) -> Result<Reader, Error> {
    let file = handle
        .await
        .map_err(|e| Error::backend("opening exec output", e))?
        .map_err(io("opening exec output"))?;
    let receiver = pipe::Receiver::from_file(file).map_err(io("opening exec output"))?;
    Ok(Box::pin(receiver))
}

/// Creates, wires and starts an exec'd process.
pub(crate) async fn run(
    channel: Channel,
    namespace: String,
    fifo_root: &Path,
    id: &str,
    process: prost_types::Any,
    exec: &ExecRequest,
) -> Result<ExecSession, Error> {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let exec_id = format!(
        "exec-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let dir = PipeDir(fifo_root.join(format!("{id}-{exec_id}")));
    std::fs::create_dir_all(&dir.0).map_err(io("making the exec pipe dir"))?;
    let stdout_path = dir.0.join("stdout");
    let stderr_path = dir.0.join("stderr");
    let stdin_path = dir.0.join("stdin");
    mkfifo(&stdout_path)?;
    let with_stderr = !exec.tty;
    if with_stderr {
        mkfifo(&stderr_path)?;
    }
    let stdin = if exec.stdin {
        mkfifo(&stdin_path)?;
        // Read-write so the open never waits; closing it is the process's end of input.
        let sender = pipe::OpenOptions::new()
            .read_write(true)
            .open_sender(&stdin_path)
            .map_err(io("opening exec input"))?;
        Some(sender)
    } else {
        None
    };
    let stdout_open = open_reader(stdout_path.clone());
    let stderr_open = with_stderr.then(|| open_reader(stderr_path.clone()));

    let path_str = |p: &Path, on: bool| {
        if on {
            p.to_string_lossy().into_owned()
        } else {
            String::new()
        }
    };
    let mut tasks = TasksClient::new(channel.clone());
    let created = tasks
        .exec(request(
            &namespace,
            None,
            exec_request(
                id,
                &exec_id,
                process,
                exec.tty,
                &path_str(&stdin_path, exec.stdin),
                &path_str(&stdout_path, true),
                &path_str(&stderr_path, with_stderr),
            ),
        ))
        .await;
    let started = match created {
        Ok(_) => tasks
            .start(request(
                &namespace,
                None,
                StartRequest {
                    container_id: id.into(),
                    exec_id: exec_id.clone(),
                },
            ))
            .await
            .map(|_| ()),
        Err(status) => Err(status),
    };
    if let Err(status) = started {
        release_reader(&stdout_path);
        if with_stderr {
            release_reader(&stderr_path);
        }
        delete_process(channel, &namespace, id, &exec_id).await;
        return Err(Error::backend(format!("exec in container {id}"), status));
    }

    let stdout = reader(stdout_open).await?;
    let stderr = match stderr_open {
        Some(handle) => Some(reader(handle).await?),
        None => None,
    };
    let (channel_for_stdin, namespace_for_stdin, exec_id_for_stdin) =
        (channel.clone(), namespace.clone(), exec_id.clone());
    let container_id = id.to_string();
    let exit = async move {
        let _dir = dir;
        let waited = TasksClient::new(channel.clone())
            .wait(request(
                &namespace,
                None,
                WaitRequest {
                    container_id: container_id.clone(),
                    exec_id: exec_id.clone(),
                },
            ))
            .await;
        delete_process(channel, &namespace, &container_id, &exec_id).await;
        waited
            .map(|r| r.into_inner().exit_status as i32)
            .map_err(|status| Error::backend(format!("waiting for exec in {container_id}"), status))
    };
    let stdin = stdin.map(|pipe| {
        let (close, closed) = tokio::sync::oneshot::channel();
        let (channel, namespace, id, exec_id) = (
            channel_for_stdin.clone(),
            namespace_for_stdin.clone(),
            id.to_string(),
            exec_id_for_stdin.clone(),
        );
        tokio::spawn(async move {
            if closed.await.is_ok() {
                let _ = TasksClient::new(channel)
                    .close_io(request(
                        &namespace,
                        None,
                        CloseIoRequest {
                            container_id: id,
                            exec_id,
                            stdin: true,
                        },
                    ))
                    .await;
            }
        });
        Box::pin(Stdin {
            pipe: Some(pipe),
            close: Some(close),
        }) as super::exec::Writer
    });
    Ok(ExecSession {
        stdin,
        stdout,
        stderr,
        exit: Box::pin(exit),
    })
}
