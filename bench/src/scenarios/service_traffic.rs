//! `services`, traffic and DNS: HTTP/1.0 requests per second from the host through a
//! ClusterIP Service of busybox httpd replicas on the real `skiff up` node, beside the same
//! load sent straight to one pod IP in the same run; and cluster DNS lookups per second of the
//! Service's name from one client.

use super::pod_startup::{Cluster, IMAGE, LABEL};
use crate::report::Figure;
use anyhow::Context as _;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RecordType;
use hickory_resolver::{Resolver, TokioResolver};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Seconds of load on each target.
    #[arg(long, default_value_t = 5)]
    pub duration: u64,
    /// Requests in flight at any time (one connection each, HTTP/1.0).
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// httpd replicas behind the Service.
    #[arg(long, default_value_t = 3)]
    pub replicas: i32,
    /// Seconds of DNS lookups.
    #[arg(long, default_value_t = 3)]
    pub dns_duration: u64,
}

/// The Service's name, and the DNS name looked up.
const SERVICE: &str = "bench-web";
const FQDN: &str = "bench-web.default.svc.cluster.local.";

pub async fn run(args: Args) -> anyhow::Result<()> {
    let cluster = Cluster::start().await?;
    let result = measure(&cluster, &args).await;
    cluster.shutdown().await;
    let m = result?;
    for f in [
        Figure {
            bench: "services",
            metric: "cluster_ip_rps",
            value: m.cluster_ip.rps,
            unit: "req/s",
            baseline: Some(("pod_ip_rps", m.pod_ip.rps)),
        },
        Figure {
            bench: "services",
            metric: "dns_queries_per_s",
            value: m.dns_qps,
            unit: "queries/s",
            baseline: None,
        },
    ] {
        f.print();
    }
    anyhow::ensure!(
        m.cluster_ip.errors == 0 && m.pod_ip.errors == 0,
        "{} requests to the cluster IP and {} to the pod IP failed",
        m.cluster_ip.errors,
        m.pod_ip.errors
    );
    Ok(())
}

struct Measured {
    cluster_ip: Load,
    pod_ip: Load,
    dns_qps: f64,
}

async fn measure(cluster: &Cluster, args: &Args) -> anyhow::Result<Measured> {
    let client = cluster.client.clone();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    deployments
        .create(&PostParams::default(), &web_deployment(args.replicas)?)
        .await
        .context("cannot create the deployment")?;
    let service = services
        .create(&PostParams::default(), &web_service()?)
        .await
        .context("cannot create the service")?;
    let cluster_ip: IpAddr = service
        .spec
        .and_then(|s| s.cluster_ip)
        .context("the service has no cluster IP")?
        .parse()?;

    let deadline = Instant::now() + Duration::from_secs(180);
    let pod_ips = loop {
        let list = pods
            .list(&ListParams::default().labels(&format!("{LABEL}=services")))
            .await?;
        let ips: Vec<IpAddr> = list
            .items
            .iter()
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            .filter_map(|p| p.status.as_ref()?.pod_ip.as_deref()?.parse().ok())
            .collect();
        if ips.len() == args.replicas as usize {
            break ips;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {} of {} httpd pods run",
            ips.len(),
            args.replicas
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let direct = SocketAddr::new(pod_ips[0], 8080);
    let via_service = SocketAddr::new(cluster_ip, 80);
    // Every replica answers on its own, and the Service's rules reach them.
    for ip in &pod_ips {
        wait_for_answer(SocketAddr::new(*ip, 8080)).await?;
    }
    wait_for_answer(via_service).await?;

    let duration = Duration::from_secs(args.duration);
    // A short warm-up on each path (ARP, conntrack, page cache), then the timed runs.
    load(direct, Duration::from_millis(500), args.concurrency).await;
    load(via_service, Duration::from_millis(500), args.concurrency).await;
    let pod_ip = load(direct, duration, args.concurrency).await;
    let cluster_ip = load(via_service, duration, args.concurrency).await;

    let resolver = resolver(cluster.dns_ip().into())?;
    let dns_qps = dns_load(&resolver, Duration::from_secs(args.dns_duration)).await?;
    Ok(Measured {
        cluster_ip,
        pod_ip,
        dns_qps,
    })
}

fn web_deployment(replicas: i32) -> anyhow::Result<Deployment> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": SERVICE, "labels": {LABEL: "services"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": SERVICE}},
            "template": {
                "metadata": {"labels": {"app": SERVICE, LABEL: "services"}},
                "spec": {
                    "terminationGracePeriodSeconds": 0,
                    "containers": [{
                        "name": "httpd",
                        "image": IMAGE,
                        "imagePullPolicy": "Never",
                        "command": ["sh", "-c", "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www"],
                        "ports": [{"containerPort": 8080}],
                    }],
                },
            },
        },
    }))?)
}

fn web_service() -> anyhow::Result<Service> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": SERVICE, "labels": {LABEL: "services"}},
        "spec": {"selector": {"app": SERVICE}, "ports": [{"port": 80, "targetPort": 8080}]},
    }))?)
}

/// One HTTP/1.0 GET on a new connection; true for a `200` answer read to the end.
async fn get(addr: SocketAddr) -> bool {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream
            .write_all(b"GET / HTTP/1.0\r\nHost: bench\r\n\r\n")
            .await?;
        let mut response = Vec::with_capacity(256);
        stream.read_to_end(&mut response).await?;
        Ok::<_, std::io::Error>(response)
    };
    match tokio::time::timeout(Duration::from_secs(5), exchange).await {
        Ok(Ok(response)) => {
            response.starts_with(b"HTTP/1.0 200") || response.starts_with(b"HTTP/1.1 200")
        }
        _ => false,
    }
}

async fn wait_for_answer(addr: SocketAddr) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !get(addr).await {
        anyhow::ensure!(Instant::now() < deadline, "nothing answers on {addr}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// Completed and failed requests of one load run, and the rate of completed ones.
struct Load {
    rps: f64,
    errors: u64,
}

/// `concurrency` workers sending requests back to back for `duration`.
async fn load(addr: SocketAddr, duration: Duration, concurrency: usize) -> Load {
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let counter = if get(addr).await { &ok } else { &failed };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    Load {
        rps: ok.load(Ordering::Relaxed) as f64 / elapsed,
        errors: failed.load(Ordering::Relaxed),
    }
}

/// A resolver asking only the cluster DNS, over UDP, without a cache (every lookup is a
/// query on the wire).
fn resolver(dns: IpAddr) -> anyhow::Result<TokioResolver> {
    let mut udp = ConnectionConfig::udp();
    udp.port = 53;
    let config = ResolverConfig::from_parts(
        None,
        vec![],
        vec![NameServerConfig::new(dns, true, vec![udp])],
    );
    let mut opts = ResolverOpts::default();
    opts.cache_size = 0;
    opts.attempts = 1;
    opts.timeout = Duration::from_secs(2);
    Ok(
        Resolver::builder_with_config(config, TokioRuntimeProvider::default())
            .with_options(opts)
            .build()?,
    )
}

/// Sequential A lookups of the Service's name for `duration`; answered lookups per second.
async fn dns_load(resolver: &TokioResolver, duration: Duration) -> anyhow::Result<f64> {
    // The Service's record appears once the proxy synced it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while resolver.lookup(FQDN, RecordType::A).await.is_err() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "cluster DNS does not answer {FQDN}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let started = Instant::now();
    let mut answered = 0u64;
    while started.elapsed() < duration {
        let lookup = resolver
            .lookup(FQDN, RecordType::A)
            .await
            .with_context(|| format!("looking up {FQDN}"))?;
        anyhow::ensure!(!lookup.answers().is_empty(), "no answer for {FQDN}");
        answered += 1;
    }
    Ok(answered as f64 / started.elapsed().as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_web_pods_carry_the_labels_the_service_and_shutdown_select() {
        let d = web_deployment(3).unwrap();
        let spec = d.spec.unwrap();
        let labels = spec.template.metadata.unwrap().labels.unwrap();
        assert_eq!(labels["app"], SERVICE);
        assert_eq!(labels[LABEL], "services");
        assert_eq!(spec.replicas, Some(3));
        let s = web_service().unwrap();
        assert_eq!(s.spec.unwrap().selector.unwrap()["app"], SERVICE);
    }

    #[tokio::test]
    async fn load_counts_answers_of_a_local_server_and_failures_of_a_closed_port() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let mut buf = [0u8; 512];
                    let _ = s.read(&mut buf).await;
                    let _ = s.write_all(b"HTTP/1.0 200 OK\r\n\r\nok").await;
                });
            }
        });
        let served = load(addr, Duration::from_millis(300), 2).await;
        assert!(served.rps > 0.0);
        assert_eq!(served.errors, 0);

        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let closed_addr = closed.local_addr().unwrap();
        drop(closed);
        let refused = load(closed_addr, Duration::from_millis(100), 1).await;
        assert_eq!(refused.rps, 0.0);
        assert!(refused.errors > 0);
    }
}
