//! Cluster add-ons `skiff up` runs beside the core components: the `kubernetes` service that
//! leads pods to the API server, and the ingress controller (`skiff-ingress`), supervised.

use anyhow::Context as _;
use k8s_openapi::api::core::v1::{Endpoints, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::IngressClass;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::AsyncBufReadExt as _;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Field manager of what `skiff up` writes here.
const MANAGER: &str = "skiff-up";
/// The IngressClass `skiff up` creates and `skiff-ingress` serves.
pub const INGRESS_CLASS: &str = "skiff";
/// The controller value of that class (what `skiff-ingress` recognises).
const INGRESS_CONTROLLER: &str = "skiff.dev/ingress";
const INGRESS_BINARY: &str = "skiff-ingress";

/// What the add-ons need to know about the cluster `skiff up` runs.
pub struct AddonSettings {
    /// The API server's own listen address.
    pub api: SocketAddr,
    /// The admin kubeconfig (handed to `skiff-ingress`).
    pub kubeconfig: PathBuf,
    /// Service cluster IPs: the first one is the `kubernetes` service's.
    pub service_cidr: ipnet::Ipv4Net,
    /// This node's address (the pod bridge's), when the local node runs: pods reach the API
    /// server there, and Ingress status shows it.
    pub node_ip: Option<Ipv4Addr>,
    /// Where the ingress controller listens; `None` runs none.
    pub ingress: Option<IngressListen>,
}

/// The ingress controller's listen addresses.
#[derive(Clone, Copy, Debug)]
pub struct IngressListen {
    pub http: SocketAddr,
    pub https: SocketAddr,
}

/// What runs for the add-ons; stopped by [`Addons::stop`].
pub struct Addons {
    relay: Option<JoinHandle<()>>,
    ingress: Option<Supervised>,
}

impl Addons {
    pub async fn stop(self) {
        if let Some(ingress) = self.ingress {
            ingress.stop().await;
        }
        if let Some(relay) = self.relay {
            relay.abort();
            let _ = relay.await;
        }
    }
}

/// The `kubernetes` service's address: the first of the service range, as upstream.
pub fn kubernetes_service_ip(service_cidr: ipnet::Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(service_cidr.network()) + 1)
}

/// Creates the `kubernetes` service with its endpoints, and starts the ingress controller.
pub async fn start(client: &kube::Client, settings: AddonSettings) -> anyhow::Result<Addons> {
    let (endpoint, relay) = api_endpoint(settings.api, settings.node_ip).await?;
    ensure_kubernetes_service(client, settings.service_cidr, endpoint).await?;
    let ingress = match settings.ingress {
        None => None,
        Some(listen) => match ingress_binary() {
            None => {
                tracing::warn!(
                    "{INGRESS_BINARY} not found next to the skiff binary: Ingresses are not served"
                );
                None
            }
            Some(binary) => {
                ensure_ingress_class(client).await?;
                let mut args = vec![
                    "--kubeconfig".into(),
                    settings.kubeconfig.display().to_string(),
                    "--http".into(),
                    listen.http.to_string(),
                    "--https".into(),
                    listen.https.to_string(),
                    "--class".into(),
                    INGRESS_CLASS.into(),
                ];
                if let Some(ip) = settings.node_ip {
                    args.extend(["--status-address".into(), ip.to_string()]);
                }
                Some(supervise(binary, args))
            }
        },
    };
    Ok(Addons { relay, ingress })
}

/// Where pods reach the API server. It usually listens on loopback only, which pods cannot
/// reach (`route_localnet` stays off), so a relay on the node's address forwards to it.
async fn api_endpoint(
    api: SocketAddr,
    node_ip: Option<Ipv4Addr>,
) -> anyhow::Result<(SocketAddr, Option<JoinHandle<()>>)> {
    let Some(node_ip) = node_ip else {
        return Ok((api, None));
    };
    if api.ip().is_unspecified() || api.ip() == IpAddr::V4(node_ip) {
        return Ok((SocketAddr::new(node_ip.into(), api.port()), None));
    }
    let listener = match tokio::net::TcpListener::bind((node_ip, api.port())).await {
        Ok(l) => l,
        // Another cluster on this machine may use the same port on its own bridge address.
        Err(_) => tokio::net::TcpListener::bind((node_ip, 0))
            .await
            .with_context(|| format!("cannot listen on {node_ip} for the API relay"))?,
    };
    let local = listener.local_addr()?;
    Ok((local, Some(tokio::spawn(relay(listener, api)))))
}

/// Forwards every connection on `listener` to `to`, bytes unchanged (TLS ends at the API
/// server). Written by hand: a plain TCP relay is a few lines over tokio's copy.
async fn relay(listener: tokio::net::TcpListener, to: SocketAddr) {
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        tokio::spawn(async move {
            if let Ok(mut outbound) = tokio::net::TcpStream::connect(to).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}

/// `default/kubernetes` (port 443 → `endpoint`) with its Endpoints and EndpointSlice, as
/// upstream's API server keeps them; rewritten on every start since the address may change.
async fn ensure_kubernetes_service(
    client: &kube::Client,
    service_cidr: ipnet::Ipv4Net,
    endpoint: SocketAddr,
) -> anyhow::Result<()> {
    let labels = json!({"component": "apiserver", "provider": "kubernetes"});
    let service = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": labels},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": kubernetes_service_ip(service_cidr).to_string(),
            "sessionAffinity": "None",
            "ports": [{"name": "https", "port": 443, "protocol": "TCP",
                "targetPort": endpoint.port()}],
        }
    });
    let ip = endpoint.ip().to_string();
    let endpoints = json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": "kubernetes", "namespace": "default",
            "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": ip}],
            "ports": [{"name": "https", "port": endpoint.port(), "protocol": "TCP"}]}]
    });
    let slice = json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "kubernetes", "namespace": "default",
            "labels": {"kubernetes.io/service-name": "kubernetes",
                "endpointslice.kubernetes.io/managed-by": MANAGER}},
        "addressType": if endpoint.is_ipv4() { "IPv4" } else { "IPv6" },
        "endpoints": [{"addresses": [ip], "conditions": {"ready": true}}],
        "ports": [{"name": "https", "port": endpoint.port(), "protocol": "TCP"}]
    });
    let params = PatchParams::apply(MANAGER).force();
    Api::<Service>::namespaced(client.clone(), "default")
        .patch("kubernetes", &params, &Patch::Apply(&service))
        .await
        .context("cannot write the kubernetes service")?;
    Api::<Endpoints>::namespaced(client.clone(), "default")
        .patch("kubernetes", &params, &Patch::Apply(&endpoints))
        .await
        .context("cannot write the kubernetes endpoints")?;
    Api::<EndpointSlice>::namespaced(client.clone(), "default")
        .patch("kubernetes", &params, &Patch::Apply(&slice))
        .await
        .context("cannot write the kubernetes endpoint slice")?;
    Ok(())
}

/// The default IngressClass `skiff`, unless a class of that name exists (a user's edits to it
/// are kept).
async fn ensure_ingress_class(client: &kube::Client) -> anyhow::Result<()> {
    let api: Api<IngressClass> = Api::all(client.clone());
    if api.get_opt(INGRESS_CLASS).await?.is_some() {
        return Ok(());
    }
    let class: IngressClass = serde_json::from_value(json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
        "metadata": {"name": INGRESS_CLASS,
            "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"}},
        "spec": {"controller": INGRESS_CONTROLLER}
    }))?;
    match api.create(&PostParams::default(), &class).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(e).context("cannot create the skiff IngressClass"),
    }
}

/// `skiff-ingress` next to the running `skiff` executable (they are built and installed
/// together).
fn ingress_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.join(INGRESS_BINARY);
    path.is_file().then_some(path)
}

/// A child process restarted whenever it ends, until stopped.
struct Supervised {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Supervised {
    /// Kills the child and waits for it.
    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Restart delays grow from 1 s to 30 s while the child keeps failing; a run of a minute
/// resets them.
fn supervise(binary: PathBuf, args: Vec<String>) -> Supervised {
    let (stop, mut stopped) = oneshot::channel();
    let task = tokio::spawn(async move {
        let mut delay = Duration::from_secs(1);
        loop {
            let started = Instant::now();
            match spawn(&binary, &args) {
                Ok(mut child) => {
                    tokio::select! {
                        status = child.wait() => {
                            tracing::warn!(binary = %binary.display(), ?status, "add-on exited; restarting");
                        }
                        _ = &mut stopped => {
                            let _ = child.kill().await;
                            return;
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(binary = %binary.display(), error = %e, "cannot start add-on")
                }
            }
            if started.elapsed() > Duration::from_secs(60) {
                delay = Duration::from_secs(1);
            }
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = &mut stopped => return,
            }
            delay = (delay * 2).min(Duration::from_secs(30));
        }
    });
    Supervised { stop, task }
}

/// Starts the child with its stdout logged line by line (its stderr is ours).
fn spawn(binary: &Path, args: &[String]) -> std::io::Result<tokio::process::Child> {
    let mut child = tokio::process::Command::new(binary)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    if let Some(out) = child.stdout.take() {
        let name = binary
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(out).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::info!(addon = %name, "{line}");
            }
        });
    }
    Ok(child)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kubernetes_service_takes_the_first_service_address() {
        assert_eq!(
            kubernetes_service_ip("10.96.0.0/16".parse().unwrap()),
            Ipv4Addr::new(10, 96, 0, 1)
        );
    }

    #[tokio::test]
    async fn the_relay_forwards_bytes_both_ways() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let to = upstream.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = upstream.accept().await.unwrap();
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).await.unwrap();
            buf.reverse();
            s.write_all(&buf).await.unwrap();
        });
        let front = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let front_addr = front.local_addr().unwrap();
        let task = tokio::spawn(relay(front, to));
        let mut c = tokio::net::TcpStream::connect(front_addr).await.unwrap();
        c.write_all(b"abcd").await.unwrap();
        let mut back = [0u8; 4];
        c.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"dcba");
        task.abort();
    }

    #[tokio::test]
    async fn a_supervised_child_is_restarted_after_it_exits_and_killed_on_stop() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("runs");
        let script = format!("echo run >> {}; sleep 0.2", log.display());
        let sup = supervise("/bin/sh".into(), vec!["-c".into(), script]);
        let start = Instant::now();
        let runs = |p: &Path| {
            std::fs::read_to_string(p)
                .map(|s| s.lines().count())
                .unwrap_or(0)
        };
        while runs(&log) < 2 {
            assert!(start.elapsed() < Duration::from_secs(10), "not restarted");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        sup.stop().await;
        let after = runs(&log);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(runs(&log), after, "ran again after stop");
    }
}
