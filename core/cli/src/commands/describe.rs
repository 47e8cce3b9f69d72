//! `skiff describe`: an object's identity, its spec and status, and the events about it.

use crate::client::{Cluster, Context, resource_path};
use crate::printer;
use serde_json::Value;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Resource type, or TYPE/NAME.
    pub resource: String,
    /// Object names.
    pub names: Vec<String>,
}

pub async fn run(ctx: &Context, args: Args) -> anyhow::Result<()> {
    let cluster = Cluster::connect(ctx).await?;
    let (ty, mut names) = match args.resource.split_once('/') {
        Some((ty, name)) => (ty.to_string(), vec![name.to_string()]),
        None => (args.resource.clone(), Vec::new()),
    };
    names.extend(args.names);
    let info = cluster.resolve(&ty)?.clone();
    let namespace = cluster.namespace_for(&info, None).map(str::to_string);
    let objects: Vec<Value> = if names.is_empty() {
        let list = cluster
            .get(&resource_path(&info, namespace.as_deref(), None, None))
            .await?;
        list["items"].as_array().cloned().unwrap_or_default()
    } else {
        let mut out = Vec::new();
        for name in &names {
            out.push(
                cluster
                    .get(&resource_path(
                        &info,
                        namespace.as_deref(),
                        Some(name),
                        None,
                    ))
                    .await?,
            );
        }
        out
    };
    let mut first = true;
    for object in objects {
        if !first {
            println!("\n");
        }
        first = false;
        print!("{}", describe(&cluster, &object).await?);
    }
    Ok(())
}

async fn describe(cluster: &Cluster, object: &Value) -> anyhow::Result<String> {
    let meta = &object["metadata"];
    let mut lines: Vec<Vec<String>> = Vec::new();
    let field = |k: &str, v: String| vec![format!("{k}:"), v];
    lines.push(field("Name", text(&meta["name"])));
    if let Some(ns) = meta["namespace"].as_str() {
        lines.push(field("Namespace", ns.to_string()));
    }
    lines.push(field("Labels", pairs(&meta["labels"])));
    // Like kubectl, the last-applied configuration is left out: it repeats the whole object.
    let mut annotations = meta["annotations"].clone();
    if let Some(map) = annotations.as_object_mut() {
        map.remove(super::apply::LAST_APPLIED);
    }
    lines.push(field("Annotations", pairs(&annotations)));
    lines.push(field("CreationTimestamp", text(&meta["creationTimestamp"])));
    let mut out = printer::align(&lines);
    for section in ["spec", "data", "stringData", "status"] {
        if let Some(v) = object.get(section)
            && !v.is_null()
        {
            out.push_str(&format!("{}:\n", title(section)));
            for line in printer::to_yaml(v)?.lines() {
                out.push_str("  ");
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out.push_str(&events(cluster, object).await?);
    Ok(out)
}

/// The events whose involvedObject is this object, oldest first, as kubectl lists them.
async fn events(cluster: &Cluster, object: &Value) -> anyhow::Result<String> {
    let Some(uid) = object["metadata"]["uid"].as_str() else {
        return Ok("Events:  <none>\n".into());
    };
    let Ok(info) = cluster.resolve("events") else {
        return Ok("Events:  <none>\n".into());
    };
    let ns = object["metadata"]["namespace"].as_str();
    let path = format!(
        "{}?fieldSelector=involvedObject.uid%3D{uid}",
        resource_path(info, ns.or(Some("default")), None, None)
    );
    let list = cluster.get(&path).await?;
    let items = list["items"].as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        return Ok("Events:  <none>\n".into());
    }
    let mut rows = vec![vec![
        "  Type".to_string(),
        "Reason".into(),
        "From".into(),
        "Message".into(),
    ]];
    rows.push(vec![
        "  ----".to_string(),
        "------".into(),
        "----".into(),
        "-------".into(),
    ]);
    for e in items {
        rows.push(vec![
            format!("  {}", text(&e["type"])),
            text(&e["reason"]),
            text(&e["source"]["component"]),
            text(&e["message"]),
        ]);
    }
    Ok(format!("Events:\n{}", printer::align(&rows)))
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<none>".into(),
        other => other.to_string(),
    }
}

fn pairs(v: &Value) -> String {
    match v.as_object() {
        Some(m) if !m.is_empty() => m
            .iter()
            .map(|(k, v)| format!("{k}={}", text(v)))
            .collect::<Vec<_>>()
            .join("\n             "),
        _ => "<none>".into(),
    }
}

fn title(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}
