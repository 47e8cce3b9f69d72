//! `api`: create, get, list and watch delivery through the API server (kube-rs client, over
//! HTTPS or in-process), each beside the same operation on the bare embedded store in the same
//! run; and requests that do nothing, for the transport's own ceiling.

use crate::report::Figure;
use crate::stats::percentile_ms;
use anyhow::Context;
use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use skiff_store::{EmbeddedConfig, EmbeddedStore, ListOptions, Store};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Objects created (and then listed).
    #[arg(long, default_value_t = 1000)]
    pub objects: usize,
    /// Concurrent writers for the create phase.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Sequential GETs timed.
    #[arg(long, default_value_t = 1000)]
    pub gets: usize,
    /// Full lists of all objects timed.
    #[arg(long, default_value_t = 20)]
    pub lists: usize,
    /// Writes whose watch delivery is timed.
    #[arg(long, default_value_t = 300)]
    pub watch_events: usize,
    /// Node watchers in the fan-out figure (each follows one node's pods, as a kubelet does).
    #[arg(long, default_value_t = 500)]
    pub node_watchers: usize,
    /// Pods written in each round of the fan-out figure.
    #[arg(long, default_value_t = 2000)]
    pub fanout_pods: usize,
    /// How the client reaches the server: `https` (a TLS connection, as kubectl does) or
    /// `in-process` (the server's router called directly, as `skiff up`'s own components do).
    #[arg(long, value_enum, default_value_t = Transport::Https)]
    pub transport: Transport,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Https,
    InProcess,
}

/// The figures of one layer (store or API).
struct Layer {
    create_per_s: f64,
    /// Writes per durable commit in the create phase: group commit batches fewer writes
    /// when they arrive more slowly, and each commit costs the store's writer CPU too.
    writes_per_commit: f64,
    get_p99_ms: f64,
    list_p99_ms: f64,
    watch_p99_ms: f64,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let store_dir = tempfile::tempdir()?;
    let store = open_embedded(store_dir.path()).await?;
    let base = measure_store(store, &args).await?;

    let api_dir = tempfile::tempdir()?;
    let mut config = skiff_apiserver::Config::new(api_dir.path());
    config.listen = "127.0.0.1:0".parse()?;
    let api_store = open_embedded(api_dir.path()).await?;
    config.store = Some(api_store.clone());
    let server = skiff_apiserver::start(config)
        .await
        .context("cannot start the API server")?;
    let client = match args.transport {
        Transport::Https => {
            let kubeconfig = kube::config::Kubeconfig::read_from(server.kubeconfig_path())?;
            let client_config =
                kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
            kube::Client::try_from(client_config)?
        }
        Transport::InProcess => kube::Client::new(server.local_service(), "default"),
    };
    let floor = measure_request_floor(&client, &args).await?;
    let api = measure_api(client.clone(), api_store, &args).await?;
    let fanout = measure_fanout(client, &args).await?;
    server.shutdown().await;

    let figures = [
        (
            "create_per_s",
            api.create_per_s,
            "store_create_per_s",
            base.create_per_s,
            "ops/s",
        ),
        (
            "version_get_per_s",
            floor,
            "store_create_per_s",
            base.create_per_s,
            "ops/s",
        ),
        (
            "create_writes_per_commit",
            api.writes_per_commit,
            "store_create_writes_per_commit",
            base.writes_per_commit,
            "writes",
        ),
        (
            "get_p99_ms",
            api.get_p99_ms,
            "store_get_p99_ms",
            base.get_p99_ms,
            "ms",
        ),
        (
            "list_p99_ms",
            api.list_p99_ms,
            "store_list_p99_ms",
            base.list_p99_ms,
            "ms",
        ),
        (
            "watch_delivery_p99_ms",
            api.watch_p99_ms,
            "store_watch_delivery_p99_ms",
            base.watch_p99_ms,
            "ms",
        ),
        (
            "pod_writes_per_s_node_watchers_by_field",
            fanout.by_field,
            "pod_writes_per_s_node_watchers_by_label",
            fanout.by_label,
            "ops/s",
        ),
    ];
    for (metric, value, baseline_metric, baseline, unit) in figures {
        Figure {
            bench: match args.transport {
                Transport::Https => "api",
                Transport::InProcess => "api_in_process",
            },
            metric,
            value,
            unit,
            baseline: Some((baseline_metric, baseline)),
        }
        .print();
    }
    Ok(())
}

/// The embedded store as `skiff_store::open("embedded", dir)` opens it, kept concrete so the
/// bench can read its commit counter.
async fn open_embedded(dir: &std::path::Path) -> anyhow::Result<Arc<EmbeddedStore>> {
    let config = EmbeddedConfig::new(dir.join("store.redb"));
    Ok(Arc::new(
        tokio::task::spawn_blocking(move || EmbeddedStore::open(config)).await??,
    ))
}

fn config_map(name: &str) -> ConfigMap {
    ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some("bench".into()),
            labels: Some(BTreeMap::from([("app".to_string(), "bench".to_string())])),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("settings".to_string(), "x".repeat(200))])),
        ..Default::default()
    }
}

async fn measure_store(store: Arc<EmbeddedStore>, args: &Args) -> anyhow::Result<Layer> {
    let key = |i: usize| format!("/registry/core/configmaps/bench/cm-{i:05}");
    let value = |i: usize| serde_json::to_vec(&config_map(&format!("cm-{i:05}")));

    let commits = store.commits();
    let started = Instant::now();
    stream::iter(0..args.objects)
        .map(|i| {
            let store = store.clone();
            async move {
                store
                    .create(&key(i), value(i)?)
                    .await
                    .map_err(anyhow::Error::from)
            }
        })
        .buffer_unordered(args.concurrency)
        .try_collect::<Vec<_>>()
        .await?;
    let create_per_s = args.objects as f64 / started.elapsed().as_secs_f64();
    let writes_per_commit = args.objects as f64 / (store.commits() - commits).max(1) as f64;

    let mut gets = Vec::with_capacity(args.gets);
    for i in 0..args.gets {
        let t = Instant::now();
        store
            .get(&key(i % args.objects))
            .await?
            .context("a created key is missing")?;
        gets.push(t.elapsed());
    }

    let mut lists = Vec::with_capacity(args.lists);
    for _ in 0..args.lists {
        let t = Instant::now();
        let page = store
            .list("/registry/core/configmaps/bench/", ListOptions::default())
            .await?;
        // The API server decodes what it lists; so does the baseline, to compare like with like.
        for kv in &page.items {
            let _: serde_json::Value = serde_json::from_slice(&kv.value)?;
        }
        lists.push(t.elapsed());
    }

    let from = store.current_revision().await?;
    let mut watch = store
        .watch("/registry/core/configmaps/watch/", from)
        .await?;
    let mut delivery = Vec::with_capacity(args.watch_events);
    for i in 0..args.watch_events {
        let t = Instant::now();
        let k = format!("/registry/core/configmaps/watch/w-{i:05}");
        store.create(&k, value(i)?).await?;
        let event = tokio::time::timeout(Duration::from_secs(10), watch.next())
            .await
            .context("watch event not delivered")?
            .context("watch ended")??;
        anyhow::ensure!(
            event.kv.key == k,
            "watch delivered {} for {k}",
            event.kv.key
        );
        delivery.push(t.elapsed());
    }

    Ok(Layer {
        create_per_s,
        writes_per_commit,
        get_p99_ms: percentile_ms(&mut gets, 99.0),
        list_p99_ms: percentile_ms(&mut lists, 99.0),
        watch_p99_ms: percentile_ms(&mut delivery, 99.0),
    })
}

/// Requests per second that do no work at all (`GET /version`), sent by the same client at
/// the same concurrency as the creates: what the transport (TLS, HTTP, the client's own
/// encoding) allows on this machine before any handler, admission or store write.
async fn measure_request_floor(client: &kube::Client, args: &Args) -> anyhow::Result<f64> {
    let started = Instant::now();
    stream::iter(0..args.objects)
        .map(|_| async move {
            client
                .apiserver_version()
                .await
                .map_err(anyhow::Error::from)
        })
        .buffer_unordered(args.concurrency)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(args.objects as f64 / started.elapsed().as_secs_f64())
}

async fn measure_api(
    client: kube::Client,
    store: Arc<EmbeddedStore>,
    args: &Args,
) -> anyhow::Result<Layer> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let mut ns = Namespace::default();
    ns.metadata.name = Some("bench".into());
    namespaces.create(&PostParams::default(), &ns).await?;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "bench");

    let commits = store.commits();
    let started = Instant::now();
    stream::iter(0..args.objects)
        .map(|i| {
            let api = api.clone();
            async move {
                api.create(&PostParams::default(), &config_map(&format!("cm-{i:05}")))
                    .await
                    .map_err(anyhow::Error::from)
            }
        })
        .buffer_unordered(args.concurrency)
        .try_collect::<Vec<_>>()
        .await?;
    let create_per_s = args.objects as f64 / started.elapsed().as_secs_f64();
    let writes_per_commit = args.objects as f64 / (store.commits() - commits).max(1) as f64;

    let mut gets = Vec::with_capacity(args.gets);
    for i in 0..args.gets {
        let t = Instant::now();
        api.get(&format!("cm-{:05}", i % args.objects)).await?;
        gets.push(t.elapsed());
    }

    let mut lists = Vec::with_capacity(args.lists);
    for _ in 0..args.lists {
        let t = Instant::now();
        let list = api.list(&ListParams::default().labels("app=bench")).await?;
        anyhow::ensure!(
            list.items.len() == args.objects,
            "list returned {} objects",
            list.items.len()
        );
        lists.push(t.elapsed());
    }

    // Watch delivery: the time from sending a create to the watcher seeing it.
    let rv = api
        .list_metadata(&ListParams::default().limit(1))
        .await?
        .metadata
        .resource_version
        .unwrap_or_default();
    let mut watch = api
        .watch(&WatchParams::default().labels("bench=watch"), &rv)
        .await?
        .boxed();
    let mut delivery = Vec::with_capacity(args.watch_events);
    for i in 0..args.watch_events {
        let name = format!("w-{i:05}");
        let mut cm = config_map(&name);
        cm.metadata
            .labels
            .get_or_insert_default()
            .insert("bench".into(), "watch".into());
        let t = Instant::now();
        api.create(&PostParams::default(), &cm).await?;
        loop {
            let event = tokio::time::timeout(Duration::from_secs(10), watch.next())
                .await
                .context("watch event not delivered")?
                .context("watch ended")??;
            if let WatchEvent::Added(obj) = event
                && obj.metadata.name.as_deref() == Some(name.as_str())
            {
                delivery.push(t.elapsed());
                break;
            }
        }
    }

    Ok(Layer {
        create_per_s,
        writes_per_commit,
        get_p99_ms: percentile_ms(&mut gets, 99.0),
        list_p99_ms: percentile_ms(&mut lists, 99.0),
        watch_p99_ms: percentile_ms(&mut delivery, 99.0),
    })
}

/// Pod writes per second while node watchers are connected.
struct Fanout {
    /// Watchers pinned by `fieldSelector=spec.nodeName=<node>`, as kubelets watch: the server
    /// indexes that field and shows each change only to the watchers of its node.
    by_field: f64,
    /// The same watchers pinned by a label instead (the baseline): every change is shown to
    /// every watcher, which filters it.
    by_label: f64,
}

async fn measure_fanout(client: kube::Client, args: &Args) -> anyhow::Result<Fanout> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let mut ns = Namespace::default();
    ns.metadata.name = Some("fanout".into());
    namespaces.create(&PostParams::default(), &ns).await?;
    let pods: Api<Pod> = Api::namespaced(client, "fanout");
    let by_label = fanout_round(&pods, "label", args).await?;
    let by_field = fanout_round(&pods, "field", args).await?;
    Ok(Fanout { by_field, by_label })
}

/// One round: the watchers start, the pods are written, and the round ends when every
/// watcher has seen its node's pods.
async fn fanout_round(pods: &Api<Pod>, round: &str, args: &Args) -> anyhow::Result<f64> {
    let nodes = args.node_watchers.max(1);
    let per_node = (args.fanout_pods / nodes).max(1);
    let rv = pods
        .list_metadata(&ListParams::default().limit(1))
        .await?
        .metadata
        .resource_version
        .unwrap_or_default();
    let node = |n: usize| format!("{round}-{n}");
    let mut watchers = tokio::task::JoinSet::new();
    for n in 0..nodes {
        let params = match round {
            "field" => WatchParams::default().fields(&format!("spec.nodeName={}", node(n))),
            _ => WatchParams::default().labels(&format!("node={}", node(n))),
        };
        let mut events = pods.watch(&params, &rv).await?.boxed();
        watchers.spawn(async move {
            let mut seen = 0;
            while seen < per_node {
                let event = tokio::time::timeout(Duration::from_secs(120), events.try_next())
                    .await
                    .context("a node watcher waited too long")??
                    .context("a node watch ended")?;
                match event {
                    WatchEvent::Added(_) => seen += 1,
                    WatchEvent::Error(e) => anyhow::bail!("node watch failed: {}", e.message),
                    _ => {}
                }
            }
            Ok(())
        });
    }
    let total = nodes * per_node;
    let started = Instant::now();
    stream::iter(0..total)
        .map(|i| {
            let pods = pods.clone();
            let pod = serde_json::from_value::<Pod>(serde_json::json!({
                "metadata": {"name": format!("{round}-{i:05}"), "labels": {"node": node(i % nodes)}},
                "spec": {"nodeName": node(i % nodes), "containers": [{"name": "c", "image": "busybox"}]},
            }));
            async move {
                pods.create(&PostParams::default(), &pod?)
                    .await
                    .map_err(anyhow::Error::from)
            }
        })
        .buffer_unordered(args.concurrency)
        .try_collect::<Vec<_>>()
        .await?;
    while let Some(done) = watchers.join_next().await {
        done??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}
