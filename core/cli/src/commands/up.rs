//! `skiff up`: the all-in-one cluster in the foreground — store, API server, the controller
//! host with the built-in controllers, the scheduler, and a node (containerd, CNI, kubelet,
//! service proxy and cluster DNS), plus any number of simulated nodes.

use anyhow::Context as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin_controllers.rs"));
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Where the store, certificates and kubeconfig live.
    #[arg(long, default_value = "/var/lib/skiff")]
    pub data_dir: PathBuf,
    /// `embedded` (durable, in-process) or `etcd://HOST:PORT[,HOST:PORT...]`.
    #[arg(long, default_value = "embedded")]
    pub store: String,
    /// Address the API server listens on (`127.0.0.1:0` picks a free port).
    #[arg(long, default_value = "127.0.0.1:6443")]
    pub listen: SocketAddr,
    /// Which controllers run: `*` for all, `-name` to disable one, `name` to enable one
    /// (e.g. `*,-cronjob`).
    #[arg(long, default_value = "*")]
    pub controllers: String,
    /// More directories of `*.rhai` controllers (hot-reloaded).
    #[arg(long)]
    pub controllers_dir: Vec<PathBuf>,
    /// Run the built-in controllers from this directory instead of the copies embedded in
    /// the binary (to hot-edit them in a checkout).
    #[arg(long)]
    pub builtin_controllers_dir: Option<PathBuf>,
    /// The only directory native controller plugins (`*.so`) load from.
    #[arg(long)]
    pub plugins_dir: Option<PathBuf>,
    /// Where the controller host serves Prometheus metrics (e.g. `127.0.0.1:9090`).
    #[arg(long)]
    pub metrics_addr: Option<SocketAddr>,
    /// Directory of Rhai scheduler filter/score plugins.
    #[arg(long)]
    pub scheduler_plugins_dir: Option<PathBuf>,
    /// Components not to start: any of `controllers`, `scheduler`, `kubelet`, `proxy`,
    /// `ingress`.
    #[arg(long, value_delimiter = ',')]
    pub disable: Vec<String>,
    /// Where the ingress controller serves plain HTTP.
    #[arg(long, default_value = "0.0.0.0:80")]
    pub ingress_http: SocketAddr,
    /// Where the ingress controller serves HTTPS (certificates from the Ingresses' TLS
    /// secrets, by SNI).
    #[arg(long, default_value = "0.0.0.0:443")]
    pub ingress_https: SocketAddr,
    /// This node's name (default: the host name).
    #[arg(long)]
    pub node_name: Option<String>,
    /// Pod addresses of this node; the first one is the bridge's and the gateway's.
    #[arg(long, default_value = "10.88.0.0/16")]
    pub pod_cidr: ipnet::Ipv4Net,
    /// Service cluster IPs; the first is `kubernetes`, the tenth the cluster DNS.
    #[arg(long, default_value = "10.96.0.0/16")]
    pub service_cidr: ipnet::Ipv4Net,
    /// Node ports, as `FIRST-LAST`.
    #[arg(long, default_value = "30000-32767")]
    pub node_port_range: String,
    /// Addresses handed to LoadBalancer services (reachable on this machine).
    #[arg(long, default_value = "10.89.0.0/24")]
    pub load_balancer_pool: ipnet::Ipv4Net,
    /// Name of the pod bridge.
    #[arg(long, default_value = "skiff0")]
    pub bridge: String,
    /// Use this containerd instead of starting a private one.
    #[arg(long)]
    pub containerd_socket: Option<PathBuf>,
    /// Also run this many simulated nodes (`sim-0` …), whose pods run on a simulated runtime.
    #[arg(long, default_value_t = 0)]
    pub sim_nodes: usize,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create data dir {}", args.data_dir.display()))?;
    for name in &args.disable {
        anyhow::ensure!(
            matches!(
                name.as_str(),
                "controllers" | "scheduler" | "kubelet" | "proxy" | "ingress"
            ),
            "unknown component {name:?} in --disable (known: controllers, scheduler, kubelet, proxy, ingress)"
        );
    }
    let enabled = |c: &str| !args.disable.iter().any(|d| d == c);

    let store = skiff_store::open(&args.store, &args.data_dir)
        .await
        .with_context(|| format!("cannot open store {}", args.store))?;
    let (first_port, last_port) = args
        .node_port_range
        .split_once('-')
        .and_then(|(a, b)| Some((a.trim().parse::<u16>().ok()?, b.trim().parse::<u16>().ok()?)))
        .filter(|(a, b)| a <= b)
        .context("invalid --node-port-range: expected FIRST-LAST, e.g. 30000-32767")?;
    skiff_apiserver::set_service_ranges(skiff_apiserver::ServiceRanges {
        cidr: ipnet::IpNet::V4(args.service_cidr),
        node_ports: first_port..=last_port,
    });
    // Pod logs and exec are served by the nodes' kubelets; they register here once started.
    let router = Arc::new(skiff_kubelet::streaming::StreamingRouter::default());
    let mut config = skiff_apiserver::Config::new(args.data_dir.clone());
    config.listen = args.listen;
    config.store = Some(store);
    config.streaming = Some(router.clone());
    // Pods reach the API server as `kubernetes.default.svc` at the service's address.
    config.extra_sans = vec![
        crate::addons::kubernetes_service_ip(args.service_cidr).to_string(),
        crate::node::gateway_of(args.pod_cidr).to_string(),
    ];
    let server = skiff_apiserver::start(config)
        .await
        .context("cannot start the API server")?;
    // Everything this process runs reaches the API in-process, as the admin; none of it
    // reads field ownership, so its watches and lists come without it. Each component is
    // named, so what it writes is owned by it in `managedFields`.
    let local_service = server.local_service().lean();
    let client_as =
        |agent: &'static str| kube::Client::new(local_service.clone().user_agent(agent), "default");
    let client = client_as("skiff");
    let controllers_client = client_as("skiff-controller-manager");
    let scheduler_client = client_as("skiff-scheduler");
    let kubelet_client = client_as("skiff-kubelet");

    let host = if enabled("controllers") {
        let builtin_dir = match &args.builtin_controllers_dir {
            Some(dir) => dir.clone(),
            None => install_builtin_controllers(&args.data_dir)?,
        };
        let mut host_config = skiff_runtime::HostConfig {
            controller_dirs: std::iter::once(builtin_dir)
                .chain(args.controllers_dir.iter().cloned())
                .collect(),
            // The node's storage needs the CSI provisioner plugin loaded.
            plugins_dir: if enabled("kubelet") {
                crate::storage::plugins_dir(args.plugins_dir.as_deref(), &args.data_dir)?
            } else {
                args.plugins_dir.clone()
            },
            enable: skiff_runtime::EnableList::parse(&args.controllers),
            metrics_addr: args.metrics_addr,
            ..Default::default()
        };
        // Several `skiff up` processes may share one etcd: only one may reconcile.
        if args.store.starts_with("etcd://") {
            host_config.leader_election = Some(skiff_runtime::LeaderElection::default());
        }
        let host = std::sync::Arc::new(
            skiff_runtime::Host::start(controllers_client.clone(), host_config)
                .await
                .context("cannot start the controller host")?,
        );
        let publisher = tokio::spawn(super::controllers::publish(
            controllers_client.clone(),
            host.clone(),
        ));
        Some((host, publisher))
    } else {
        None
    };

    let scheduler = if enabled("scheduler") {
        let scheduler_config = skiff_scheduler::SchedulerConfig {
            plugin_dir: args.scheduler_plugins_dir.clone(),
            ..Default::default()
        };
        Some(
            skiff_scheduler::Scheduler::start(scheduler_client, scheduler_config)
                .context("cannot start the scheduler")?,
        )
    } else {
        None
    };

    let node_name = match &args.node_name {
        Some(n) => n.clone(),
        None => host_name(),
    };
    let mut storage = None;
    let local = if enabled("kubelet") {
        ensure_dns_service(&client, args.service_cidr).await?;
        let started = crate::storage::start(&client, &args.data_dir, &node_name).await?;
        let volume_plugins = started.volume_plugins();
        storage = Some(started);
        let settings = crate::node::NodeSettings {
            name: node_name,
            data_dir: args.data_dir.clone(),
            pod_cidr: args.pod_cidr,
            service_cidr: args.service_cidr,
            bridge: args.bridge.clone(),
            containerd_socket: args.containerd_socket.clone(),
            load_balancer_pool: Some(args.load_balancer_pool),
            proxy: enabled("proxy"),
            volume_plugins,
        };
        Some(crate::node::start_local(kubelet_client.clone(), &router, &settings).await?)
    } else {
        None
    };
    let addons = crate::addons::start(
        &client,
        crate::addons::AddonSettings {
            api: server.local_addr(),
            kubeconfig: server.kubeconfig_path().to_path_buf(),
            service_cidr: args.service_cidr,
            node_ip: local
                .is_some()
                .then(|| crate::node::gateway_of(args.pod_cidr)),
            ingress: (local.is_some() && enabled("proxy") && enabled("ingress")).then_some(
                crate::addons::IngressListen {
                    http: args.ingress_http,
                    https: args.ingress_https,
                },
            ),
        },
    )
    .await?;
    let simulated =
        crate::node::start_simulated(kubelet_client, &router, &args.data_dir, args.sim_nodes)
            .await?;

    println!(
        "skiff is up: API server at https://{}; use it with: kubectl --kubeconfig {}",
        server.local_addr(),
        server.kubeconfig_path().display()
    );
    wait_for_signal().await?;
    tracing::info!("shutting down");
    addons.stop().await;
    for node in simulated {
        node.stop().await;
    }
    if let Some(node) = local {
        node.stop().await;
    }
    if let Some(storage) = storage {
        storage.stop().await;
    }
    if let Some(s) = scheduler {
        s.shutdown().await;
    }
    if let Some((host, publisher)) = host {
        publisher.abort();
        let _ = publisher.await;
        match std::sync::Arc::try_unwrap(host) {
            Ok(host) => host.shutdown().await,
            Err(_) => tracing::warn!("controller host still in use at shutdown"),
        }
    }
    server.shutdown().await;
    Ok(())
}

/// `kube-system/kube-dns`: the cluster DNS's service address, which pods use as their
/// nameserver (the proxy sends it to the DNS server on the node).
async fn ensure_dns_service(
    client: &kube::Client,
    service_cidr: ipnet::Ipv4Net,
) -> anyhow::Result<()> {
    use k8s_openapi::api::core::v1::Service;
    use kube::api::{Api, Patch, PatchParams};
    let ip = crate::node::dns_service_ip(service_cidr).to_string();
    let body = serde_json::json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kube-dns", "namespace": "kube-system",
            "labels": {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}},
        "spec": {"clusterIP": ip, "ports": [
            {"name": "dns", "port": 53, "protocol": "UDP"},
            {"name": "dns-tcp", "port": 53, "protocol": "TCP"}
        ]}
    });
    let api: Api<Service> = Api::namespaced(client.clone(), "kube-system");
    if api.get_opt("kube-dns").await?.is_none() {
        api.patch(
            "kube-dns",
            &PatchParams::apply("skiff-up"),
            &Patch::Apply(&body),
        )
        .await
        .context("cannot create the kube-dns service")?;
    }
    Ok(())
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_ascii_lowercase())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "skiff".into())
}

/// Writes the built-in controller scripts embedded in this binary to
/// `DATA/controllers/builtin`, leaving files that already exist alone so a user's edits
/// survive restarts (delete a file to get the shipped version back).
fn install_builtin_controllers(data_dir: &Path) -> anyhow::Result<PathBuf> {
    let dir = data_dir.join("controllers").join("builtin");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (name, source) in builtin::SCRIPTS {
        let path = dir.join(name);
        if !path.exists() {
            std::fs::write(&path, source)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    Ok(dir)
}

/// Resolves on SIGINT or SIGTERM.
async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
