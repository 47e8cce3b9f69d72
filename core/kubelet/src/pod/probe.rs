//! Container probes (liveness, readiness, startup): exec through the runtime, HTTP GET and
//! TCP connects from inside the pod's network namespace.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::runtime::{ContainerRuntime, ExecRequest};

/// Where a probe connects: the pod's namespace and address.
#[derive(Debug, Clone)]
pub struct Target {
    pub container_id: String,
    pub netns: Option<PathBuf>,
    pub pod_ip: Option<IpAddr>,
}

/// The running count of one probe of one container.
#[derive(Debug, Clone)]
pub struct ProbeState {
    pub successes: i32,
    pub failures: i32,
    /// The probe's verdict so far (initially false for readiness/startup).
    pub passing: bool,
    pub last_run: Option<Instant>,
}

impl ProbeState {
    pub fn new(initial: bool) -> Self {
        ProbeState {
            successes: 0,
            failures: 0,
            passing: initial,
            last_run: None,
        }
    }

    /// Whether the probe is due: after the initial delay, once per period.
    pub fn due(&self, probe: &Probe, started: Instant) -> bool {
        let delay = Duration::from_secs(probe.initial_delay_seconds.unwrap_or(0).max(0) as u64);
        let period = Duration::from_secs(probe.period_seconds.unwrap_or(10).max(1) as u64);
        started.elapsed() >= delay && self.last_run.is_none_or(|t| t.elapsed() >= period)
    }

    /// Records one result; returns whether the verdict changed.
    pub fn record(&mut self, probe: &Probe, ok: bool) -> bool {
        self.last_run = Some(Instant::now());
        let before = self.passing;
        if ok {
            self.successes += 1;
            self.failures = 0;
            if self.successes >= probe.success_threshold.unwrap_or(1).max(1) {
                self.passing = true;
            }
        } else {
            self.failures += 1;
            self.successes = 0;
            if self.failures >= probe.failure_threshold.unwrap_or(3).max(1) {
                self.passing = false;
            }
        }
        before != self.passing
    }
}

fn port_of(port: &IntOrString, container: &Container) -> Option<u16> {
    match port {
        IntOrString::Int(p) => u16::try_from(*p).ok(),
        IntOrString::String(name) => container
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .and_then(|p| u16::try_from(p.container_port).ok())
            .or_else(|| name.parse().ok()),
    }
}

/// HTTP status of `GET path` on `addr` (by hand: a one-line request needs no HTTP client,
/// and it runs on a thread that lives in another network namespace).
fn http_get(
    addr: SocketAddr,
    host: &str,
    path: &str,
    headers: &[(String, String)],
    timeout: Duration,
) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: kube-probe/1.32\r\nAccept: */*\r\nConnection: close\r\n"
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    let mut head = [0u8; 64];
    let mut n = 0;
    while n < 12 {
        let read = stream.read(&mut head[n..])?;
        if read == 0 {
            break;
        }
        n += read;
    }
    let text = String::from_utf8_lossy(&head[..n]);
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other("malformed http response"))
}

fn in_netns<T: Send>(netns: Option<&Path>, f: impl FnOnce() -> T + Send) -> Option<T> {
    match netns {
        Some(path) => skiff_cni_skel::netns::run_in(path, f).ok(),
        None => Some(f()),
    }
}

/// Runs `probe` once against `container`; true on success.
pub async fn run(
    runtime: &Arc<dyn ContainerRuntime>,
    probe: &Probe,
    container: &Container,
    target: &Target,
) -> bool {
    let timeout = Duration::from_secs(probe.timeout_seconds.unwrap_or(1).max(1) as u64);
    if let Some(exec) = &probe.exec {
        let request = ExecRequest {
            command: exec.command.clone().unwrap_or_default(),
            ..Default::default()
        };
        let run = async {
            let session = runtime.exec(&target.container_id, request).await.ok()?;
            session.output().await.ok()
        };
        return matches!(
            tokio::time::timeout(timeout, run).await,
            Ok(Some(out)) if out.exit_code == 0
        );
    }
    let (host, port) = if let Some(http) = &probe.http_get {
        (http.host.clone(), port_of(&http.port, container))
    } else if let Some(tcp) = &probe.tcp_socket {
        (tcp.host.clone(), port_of(&tcp.port, container))
    } else {
        // gRPC probes are not supported: they count as passing rather than killing pods.
        return true;
    };
    let Some(port) = port else { return false };
    let ip = host
        .and_then(|h| h.parse::<IpAddr>().ok())
        .or(target.pod_ip)
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let addr = SocketAddr::new(ip, port);
    let netns = target.netns.clone();
    let http = probe.http_get.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        in_netns(netns.as_deref(), move || match &http {
            Some(h) => {
                let path = h.path.clone().unwrap_or_else(|| "/".into());
                let headers: Vec<(String, String)> = h
                    .http_headers
                    .iter()
                    .flatten()
                    .map(|x| (x.name.clone(), x.value.clone()))
                    .collect();
                http_get(addr, &addr.to_string(), &path, &headers, timeout)
                    .is_ok_and(|code| (200..400).contains(&code))
            }
            None => TcpStream::connect_timeout(&addr, timeout).is_ok(),
        })
        .unwrap_or(false)
    })
    .await;
    outcome.unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(success: i32, failure: i32) -> Probe {
        Probe {
            success_threshold: Some(success),
            failure_threshold: Some(failure),
            ..Default::default()
        }
    }

    #[test]
    fn a_verdict_flips_only_after_its_threshold() {
        let p = probe(2, 3);
        let mut s = ProbeState::new(false);
        assert!(!s.record(&p, true));
        assert!(s.record(&p, true), "two successes make it pass");
        assert!(!s.record(&p, false));
        assert!(!s.record(&p, false));
        assert!(s.record(&p, false), "the third failure fails it");
        assert!(!s.passing);
    }

    #[test]
    fn http_probes_read_the_status_code() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for code in [200, 503] {
                let (mut s, _) = listener.accept().unwrap();
                let mut buf = [0u8; 512];
                let _ = s.read(&mut buf);
                let _ = write!(s, "HTTP/1.1 {code} X\r\nContent-Length: 0\r\n\r\n");
            }
        });
        let t = Duration::from_secs(2);
        assert_eq!(http_get(addr, "h", "/", &[], t).unwrap(), 200);
        assert_eq!(http_get(addr, "h", "/", &[], t).unwrap(), 503);
    }
}
