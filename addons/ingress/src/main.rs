//! `skiff-ingress`: routes HTTP(S) by Ingress rules to the pods behind Services.
//!
//! Watches Ingresses, IngressClasses, Services, EndpointSlices and Secrets; rebuilds the
//! routing table on every change; proxies straight to endpoint pod addresses; and writes
//! its address to the `status.loadBalancer` of the Ingresses it serves.

mod routes;
mod server;
mod tls;
mod watch;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;

/// Command-line flags.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Kubeconfig of the cluster (default: the usual kube-rs discovery).
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: Option<std::path::PathBuf>,
    /// Plain HTTP listen address.
    #[arg(long, default_value = "0.0.0.0:80")]
    http: SocketAddr,
    /// HTTPS listen address (certificates by SNI from the Ingress tls secrets).
    #[arg(long, default_value = "0.0.0.0:443")]
    https: SocketAddr,
    /// The IngressClass name served.
    #[arg(long, default_value = "skiff")]
    class: String,
    /// Address written to the Ingresses' status (default: the HTTP listen address, or
    /// 127.0.0.1 when listening on every address).
    #[arg(long)]
    status_address: Option<IpAddr>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse();
    let client = match &args.kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path).context("reading the kubeconfig")?;
            let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
            kube::Client::try_from(config)?
        }
        None => kube::Client::try_default().await?,
    };
    let http = tokio::net::TcpListener::bind(args.http)
        .await
        .with_context(|| format!("listening on {}", args.http))?;
    let https = tokio::net::TcpListener::bind(args.https)
        .await
        .with_context(|| format!("listening on {}", args.https))?;
    let http_addr = server::local(&http).context("http address")?;
    let https_addr = server::local(&https).context("https address")?;
    // One line on stdout that starters (and tests) read to learn the ports.
    println!("listening http={http_addr} https={https_addr}");
    let status_ip = args.status_address.unwrap_or_else(|| {
        if http_addr.ip().is_unspecified() {
            IpAddr::from([127, 0, 0, 1])
        } else {
            http_addr.ip()
        }
    });
    let shared = server::Shared::new();
    let sni = Arc::new(tls::SniResolver::default());
    let tls_config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_cert_resolver(sni.clone());
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls_config));
    tokio::spawn(server::serve(http, None, shared.clone()));
    tokio::spawn(server::serve(https, Some(acceptor), shared.clone()));
    watch::run(client, args.class, shared, sni, status_ip).await
}
