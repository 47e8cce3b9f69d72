//! `pods/log`: a container's log file, whole, tailed or followed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::Value;
use skiff_apiserver::StreamRequest;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::{attempts, container_name, flag, param, query, status_response};
use crate::runtime::{ContainerRuntime, ContainerState};

/// The last `n` lines of `data`.
pub fn tail(data: &[u8], n: usize) -> &[u8] {
    if n == 0 {
        return &data[data.len()..];
    }
    let body = data.strip_suffix(b"\n").unwrap_or(data);
    let mut count = 0;
    for (i, b) in body.iter().enumerate().rev() {
        if *b == b'\n' {
            count += 1;
            if count == n {
                return &data[i + 1..];
            }
        }
    }
    data
}

/// Serves one log request.
pub async fn serve(runtime: Arc<dyn ContainerRuntime>, request: StreamRequest) -> Response {
    let q = query(&request.request);
    let name = match container_name(&request.object, &q) {
        Ok(n) => n,
        Err(resp) => return *resp,
    };
    let uid = request
        .object
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("");
    let list = attempts(runtime.as_ref(), uid, &name).await;
    let previous = flag(&q, "previous");
    let Some(container) = list.get(usize::from(previous)).cloned() else {
        let message = if previous {
            format!(
                "previous terminated container {name:?} in pod {:?} not found",
                request.pod
            )
        } else {
            format!(
                "container {name:?} in pod {:?} is waiting to start: ContainerCreating",
                request.pod
            )
        };
        return status_response(400, "BadRequest", &message);
    };
    let Some(path) = container.log_path.clone() else {
        return status_response(404, "NotFound", "the container has no log");
    };
    let mut data = tokio::fs::read(&path).await.unwrap_or_default();
    // The log format has no per-line times: sinceSeconds/sinceTime keep everything when the
    // container started after that moment and nothing older can be told apart.
    let since: Option<DateTime<Utc>> = param(&q, "sinceSeconds")
        .and_then(|s| s.parse::<i64>().ok())
        .map(|s| Utc::now() - chrono::Duration::seconds(s))
        .or_else(|| {
            param(&q, "sinceTime")
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc))
        });
    if let (Some(since), Some(finished)) = (since, container.finished_at)
        && finished < since
    {
        data.clear();
    }
    let offset = data.len() as u64;
    if let Some(n) = param(&q, "tailLines").and_then(|n| n.parse::<usize>().ok()) {
        data = tail(&data, n).to_vec();
    }
    let limit = param(&q, "limitBytes").and_then(|n| n.parse::<usize>().ok());
    if let Some(limit) = limit {
        data.truncate(limit);
    }
    let follow = flag(&q, "follow") && !previous;
    let body = if follow && limit.is_none() {
        Body::from_stream(follow_stream(
            runtime,
            container.id.clone(),
            path,
            offset,
            data,
        ))
    } else {
        Body::from(data)
    };
    Response::builder()
        .status(200)
        .header(http::header::CONTENT_TYPE, "text/plain")
        .body(body)
        .unwrap_or_default()
}

/// The already-read part, then whatever the file gains until the container ends.
fn follow_stream(
    runtime: Arc<dyn ContainerRuntime>,
    id: String,
    path: PathBuf,
    offset: u64,
    first: Vec<u8>,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> {
    futures::stream::unfold(
        (Some(first), offset, false),
        move |(first, mut offset, ended)| {
            let runtime = runtime.clone();
            let id = id.clone();
            let path = path.clone();
            async move {
                if let Some(first) = first.filter(|f| !f.is_empty()) {
                    return Some((Ok(Bytes::from(first)), (None, offset, false)));
                }
                loop {
                    let mut chunk = Vec::new();
                    if let Ok(mut f) = tokio::fs::File::open(&path).await
                        && f.seek(std::io::SeekFrom::Start(offset)).await.is_ok()
                    {
                        let _ = f.read_to_end(&mut chunk).await;
                    }
                    if !chunk.is_empty() {
                        offset += chunk.len() as u64;
                        return Some((Ok(Bytes::from(chunk)), (None, offset, ended)));
                    }
                    if ended {
                        return None;
                    }
                    let running = runtime
                        .status(&id)
                        .await
                        .is_ok_and(|s| s.state == ContainerState::Running);
                    if !running {
                        // One last read after the end, then stop.
                        return Some((Ok(Bytes::new()), (None, offset, true)));
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail(b"a\nb\nc\n", 2), b"b\nc\n");
        assert_eq!(tail(b"a\nb\nc", 1), b"c");
        assert_eq!(tail(b"a\n", 5), b"a\n");
        assert_eq!(tail(b"a\nb\n", 0), b"");
    }
}
