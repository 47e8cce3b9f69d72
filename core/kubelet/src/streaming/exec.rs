//! `pods/exec` over WebSocket with the Kubernetes channel protocol (`v5.channel.k8s.io`,
//! `v4.channel.k8s.io`): each binary message starts with its channel — 0 stdin, 1 stdout,
//! 2 stderr, 3 the final `Status`, 4 terminal resize, 255 close (v5: `[255, 0]` ends stdin).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use skiff_apiserver::StreamRequest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::{attempts, container_name, flag, query, status_response};
use crate::runtime::{ContainerRuntime, ContainerState, ExecRequest, exec::Reader};

/// The subprotocols served, preferred first.
pub const PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const CLOSE: u8 = 255;

/// The `Status` sent on the error channel when the process ended.
pub fn exit_status(code: Result<i32, String>) -> Value {
    match code {
        Ok(0) => json!({"metadata": {}, "status": "Success"}),
        Ok(code) => json!({
            "metadata": {}, "status": "Failure",
            "message": format!("command terminated with non-zero exit code: exit status {code}"),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
        }),
        Err(message) => json!({
            "metadata": {}, "status": "Failure", "message": message,
            "reason": "InternalError", "code": 500,
        }),
    }
}

/// Serves one exec request (answers the WebSocket upgrade).
pub async fn serve(runtime: Arc<dyn ContainerRuntime>, request: StreamRequest) -> Response {
    let q = query(&request.request);
    let name = match container_name(&request.object, &q) {
        Ok(n) => n,
        Err(resp) => return *resp,
    };
    let command: Vec<String> = q
        .iter()
        .filter(|(k, _)| k == "command")
        .map(|(_, v)| v.clone())
        .collect();
    if command.is_empty() {
        return status_response(400, "BadRequest", "you must specify at least 1 command");
    }
    let uid = request
        .object
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("");
    let running = attempts(runtime.as_ref(), uid, &name)
        .await
        .into_iter()
        .find(|c| c.state == ContainerState::Running);
    let Some(container) = running else {
        return status_response(
            400,
            "BadRequest",
            &format!("container {name} is not running in pod {}", request.pod),
        );
    };
    let exec = ExecRequest {
        command,
        env: Vec::new(),
        tty: flag(&q, "tty"),
        stdin: flag(&q, "stdin"),
    };
    let (mut parts, _body) = request.request.into_parts();
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(u) => u,
        Err(rejection) => {
            return status_response(
                400,
                "BadRequest",
                &format!(
                    "exec needs a websocket upgrade ({}): {}",
                    PROTOCOLS.join(", "),
                    rejection.body_text()
                ),
            );
        }
    };
    let id = container.id.clone();
    upgrade
        .protocols(PROTOCOLS)
        .on_upgrade(move |socket| session(socket, runtime, id, exec))
        .into_response()
}

async fn pump(mut reader: Reader, channel: u8, tx: mpsc::Sender<Message>) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let mut frame = Vec::with_capacity(n + 1);
                frame.push(channel);
                frame.extend_from_slice(&buf[..n]);
                if tx.send(Message::Binary(Bytes::from(frame))).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn session(
    socket: WebSocket,
    runtime: Arc<dyn ContainerRuntime>,
    id: String,
    exec: ExecRequest,
) {
    let (mut sink, mut incoming) = socket.split();
    let (tx, mut rx) = mpsc::channel::<Message>(64);
    let writer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            if sink.send(m).await.is_err() {
                break;
            }
        }
        // A normal closure (1000): kubectl reports a close without a status as an error.
        let _ = sink
            .send(Message::Close(Some(CloseFrame {
                code: 1000,
                reason: "".into(),
            })))
            .await;
        let _ = sink.close().await;
    });
    let session = match runtime.exec(&id, exec).await {
        Ok(s) => s,
        Err(e) => {
            let status = exit_status(Err(e.to_string()));
            let mut frame = vec![ERROR];
            frame.extend_from_slice(status.to_string().as_bytes());
            let _ = tx.send(Message::Binary(Bytes::from(frame))).await;
            drop(tx);
            let _ = writer.await;
            return;
        }
    };
    let out = tokio::spawn(pump(session.stdout, STDOUT, tx.clone()));
    let err = session
        .stderr
        .map(|r| tokio::spawn(pump(r, STDERR, tx.clone())));
    let mut stdin = session.stdin;
    let input = tokio::spawn(async move {
        while let Some(Ok(message)) = incoming.next().await {
            let data = match message {
                Message::Binary(b) => b.to_vec(),
                Message::Text(t) => t.as_bytes().to_vec(),
                Message::Close(_) => break,
                _ => continue,
            };
            match data.first() {
                Some(&STDIN) => {
                    if let Some(w) = stdin.as_mut()
                        && w.write_all(&data[1..]).await.is_err()
                    {
                        stdin = None;
                    }
                    if let Some(w) = stdin.as_mut() {
                        let _ = w.flush().await;
                    }
                }
                Some(&CLOSE) if data.get(1) == Some(&STDIN) => {
                    if let Some(mut w) = stdin.take() {
                        let _ = w.shutdown().await;
                    }
                }
                // Resize (4) needs terminal control the runtime does not offer: ignored.
                _ => {}
            }
        }
        if let Some(mut w) = stdin.take() {
            let _ = w.shutdown().await;
        }
    });
    let code = session.exit.await.map_err(|e| e.to_string());
    let _ = out.await;
    if let Some(e) = err {
        let _ = e.await;
    }
    input.abort();
    let mut frame = vec![ERROR];
    frame.extend_from_slice(exit_status(code).to_string().as_bytes());
    let _ = tx.send(Message::Binary(Bytes::from(frame))).await;
    drop(tx);
    let _ = writer.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_zero_exits_carry_the_code_like_upstream() {
        let s = exit_status(Ok(3));
        assert_eq!(s["reason"], "NonZeroExitCode");
        assert_eq!(s["details"]["causes"][0]["message"], "3");
        assert_eq!(exit_status(Ok(0))["status"], "Success");
    }
}
