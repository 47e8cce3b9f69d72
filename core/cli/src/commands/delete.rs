//! `skiff delete`: by name, by label selector, or everything a manifest names.

use crate::client::{Cluster, Context, resource_path, type_name};
use crate::manifest;
use anyhow::bail;
use http::Method;
use serde_json::Value;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// TYPE NAME... or TYPE/NAME ...
    pub resources: Vec<String>,
    /// Delete what these manifests name.
    #[arg(short = 'f', long = "filename")]
    pub files: Vec<String>,
    /// Read directories recursively.
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// Delete every object of the type matching this label selector.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Delete every object of the type in the namespace.
    #[arg(long)]
    pub all: bool,
    /// Seconds the objects get to terminate (pods).
    #[arg(long)]
    pub grace_period: Option<i64>,
    /// background, foreground or orphan.
    #[arg(long, default_value = "background")]
    pub cascade: String,
    /// Treat "not found" as success.
    #[arg(long)]
    pub ignore_not_found: bool,
}

pub async fn run(ctx: &Context, args: Args) -> anyhow::Result<()> {
    let propagation = match args.cascade.as_str() {
        "background" | "true" => "Background",
        "foreground" => "Foreground",
        "orphan" | "false" => "Orphan",
        other => bail!("invalid cascade value ({other}): must be background, foreground or orphan"),
    };
    let cluster = Cluster::connect(ctx).await?;
    let mut targets: Vec<(String, Option<String>, String)> = Vec::new(); // (type, ns, name)
    if !args.files.is_empty() {
        for m in manifest::read_all(&args.files, args.recursive)? {
            let o = &m.object;
            let info = cluster.resolve_kind(
                o["apiVersion"].as_str().unwrap_or_default(),
                o["kind"].as_str().unwrap_or_default(),
            )?;
            let ns = cluster
                .namespace_for(info, o["metadata"]["namespace"].as_str())
                .map(str::to_string);
            let name = o["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            targets.push((format!("{}.{}", info.plural, info.group), ns, name));
        }
    } else if args.resources.is_empty() {
        bail!("you must provide one or more resources by argument or filename");
    } else if args.resources.iter().all(|r| r.contains('/')) {
        for r in &args.resources {
            let (ty, name) = r.split_once('/').unwrap_or_default();
            targets.push((ty.to_string(), None, name.to_string()));
        }
    } else {
        let ty = &args.resources[0];
        let info = cluster.resolve(ty)?.clone();
        let names: Vec<String> = args.resources[1..].to_vec();
        if names.is_empty() {
            if args.selector.is_none() && !args.all {
                bail!("resource(s) were provided, but no name was specified");
            }
            let ns = cluster.namespace_for(&info, None);
            let mut path = resource_path(&info, ns, None, None);
            if let Some(sel) = &args.selector {
                path = format!("{path}?labelSelector={}", sel.replace(' ', "%20"));
            }
            let list = cluster.get(&path).await?;
            for item in list["items"].as_array().into_iter().flatten() {
                targets.push((
                    ty.clone(),
                    ns.map(str::to_string),
                    item["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                ));
            }
            if targets.is_empty() {
                eprintln!("No resources found");
            }
        } else {
            for name in names {
                targets.push((ty.clone(), None, name));
            }
        }
    }

    let mut failed = false;
    for (ty, ns, name) in targets {
        let ty = ty.trim_end_matches('.');
        let info = cluster.resolve(ty)?.clone();
        let ns = cluster
            .namespace_for(&info, ns.as_deref())
            .map(str::to_string);
        let mut options = serde_json::json!({
            "kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation
        });
        if let Some(g) = args.grace_period {
            options["gracePeriodSeconds"] = Value::from(g);
        }
        let path = resource_path(&info, ns.as_deref(), Some(&name), None);
        let body = crate::client::Body {
            content_type: "application/json",
            bytes: serde_json::to_vec(&options)?,
        };
        match cluster
            .send(Method::DELETE, &path, Some(body), "application/json")
            .await
        {
            Ok(_) => println!("{} \"{name}\" deleted", type_name(&info)),
            Err(e)
                if args.ignore_not_found
                    && crate::client::describe_error(&e).contains("(NotFound)") => {}
            Err(e) => {
                failed = true;
                eprintln!("{}", crate::client::describe_error(&e));
            }
        }
    }
    if failed {
        return Err(crate::client::Reported.into());
    }
    Ok(())
}
