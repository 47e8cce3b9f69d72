//! `skiff get`: server-side tables like kubectl, or objects as YAML, JSON or names.

use crate::client::{Cluster, Context, resource_path, type_name};
use crate::printer;
use anyhow::bail;
use http::Method;
use serde_json::{Value, json};
use skiff_api::registry::ResourceInfo;

/// The Accept header kubectl sends to get tables, falling back to plain JSON.
pub const TABLE_ACCEPT: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// TYPE[,TYPE...] [NAME...] or TYPE/NAME ... (`all` for the common workload types).
    #[arg(required = true)]
    pub resources: Vec<String>,
    /// Output format: wide, yaml, json or name.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// Label selector, e.g. `app=web,tier!=db`.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Field selector, e.g. `status.phase=Running`.
    #[arg(long)]
    pub field_selector: Option<String>,
    /// List across all namespaces.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Leave the header line out.
    #[arg(long)]
    pub no_headers: bool,
}

/// What to fetch: a resource type and, optionally, some names of it.
struct Request<'a> {
    info: &'a ResourceInfo,
    names: Vec<String>,
}

pub async fn run(ctx: &Context, args: Args) -> anyhow::Result<()> {
    let cluster = Cluster::connect(ctx).await?;
    let requests = plan(&cluster, &args.resources)?;
    let output = args.output.as_deref().unwrap_or("");
    if !matches!(output, "" | "wide" | "yaml" | "json" | "name") {
        bail!(
            "unable to match a printer suitable for the output format \"{output}\", allowed formats are: json,name,wide,yaml"
        );
    }
    let several_types = requests.len() > 1;
    let mut objects: Vec<Value> = Vec::new();
    let mut printed_any = false;
    let mut first_table = true;
    for req in &requests {
        let namespace = if args.all_namespaces {
            None
        } else {
            cluster.namespace_for(req.info, None)
        };
        let query = query_string(&args);
        match output {
            "" | "wide" => {
                let tables = fetch(&cluster, req, namespace, &query, TABLE_ACCEPT).await?;
                for table in tables {
                    if table["rows"].as_array().is_none_or(Vec::is_empty) {
                        continue;
                    }
                    if !first_table {
                        println!();
                    }
                    first_table = false;
                    let prefix = several_types.then(|| type_name(req.info));
                    print!(
                        "{}",
                        printer::render_table(
                            &table,
                            output == "wide",
                            args.all_namespaces && req.info.namespaced(),
                            prefix.as_deref(),
                            !args.no_headers,
                        )
                    );
                    printed_any = true;
                }
            }
            _ => {
                for value in fetch(&cluster, req, namespace, &query, "application/json").await? {
                    if value["items"].is_array() {
                        for mut item in value["items"].as_array().cloned().unwrap_or_default() {
                            item["apiVersion"] = json!(req.info.api_version());
                            item["kind"] = json!(req.info.kind);
                            objects.push(item);
                        }
                    } else {
                        objects.push(value);
                    }
                }
            }
        }
    }
    match output {
        "" | "wide" => {
            if !printed_any {
                match requests.first() {
                    Some(r) if !r.info.namespaced() || args.all_namespaces => {
                        eprintln!("No resources found")
                    }
                    _ => eprintln!("No resources found in {} namespace.", cluster.namespace),
                }
            }
        }
        "name" => {
            for o in &objects {
                let info = cluster.resolve_kind(
                    o["apiVersion"].as_str().unwrap_or_default(),
                    o["kind"].as_str().unwrap_or_default(),
                )?;
                println!(
                    "{}/{}",
                    type_name(info),
                    o["metadata"]["name"].as_str().unwrap_or_default()
                );
            }
        }
        format => {
            let single = requests.iter().all(|r| r.names.len() == 1) && objects.len() == 1;
            let value = if single {
                objects.remove(0)
            } else {
                json!({"apiVersion": "v1", "kind": "List", "items": objects, "metadata": {"resourceVersion": ""}})
            };
            if format == "json" {
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                print!("{}", printer::to_yaml(&value)?);
            }
        }
    }
    Ok(())
}

/// Turns the positional arguments into typed requests (`pods web`, `po/web svc/x`, `all`).
fn plan<'a>(cluster: &'a Cluster, args: &[String]) -> anyhow::Result<Vec<Request<'a>>> {
    let mut out = Vec::new();
    if args.iter().all(|a| a.contains('/')) {
        for a in args {
            let (ty, name) = a.split_once('/').unwrap_or_default();
            out.push(Request {
                info: cluster.resolve(ty)?,
                names: vec![name.to_string()],
            });
        }
        return Ok(out);
    }
    let names: Vec<String> = args[1..].to_vec();
    for ty in args[0].split(',') {
        if ty == "all" {
            let mut infos: Vec<&ResourceInfo> = cluster
                .registry
                .all()
                .iter()
                .filter(|r| r.categories.iter().any(|c| c == "all"))
                .collect();
            infos.sort_by_key(|r| all_order(&r.plural));
            out.extend(infos.into_iter().map(|info| Request {
                info,
                names: names.clone(),
            }));
        } else {
            out.push(Request {
                info: cluster.resolve(ty)?,
                names: names.clone(),
            });
        }
    }
    Ok(out)
}

/// kubectl prints `get all` in this order.
fn all_order(plural: &str) -> usize {
    [
        "pods",
        "replicationcontrollers",
        "services",
        "daemonsets",
        "deployments",
        "replicasets",
        "statefulsets",
        "horizontalpodautoscalers",
        "cronjobs",
        "jobs",
    ]
    .iter()
    .position(|p| *p == plural)
    .unwrap_or(usize::MAX)
}

fn query_string(args: &Args) -> String {
    let mut q = Vec::new();
    if let Some(l) = &args.selector {
        q.push(format!("labelSelector={}", encode(l)));
    }
    if let Some(f) = &args.field_selector {
        q.push(format!("fieldSelector={}", encode(f)));
    }
    q.join("&")
}

/// Percent-encodes a query value (selectors contain `=`, `!`, `,`, spaces and parentheses).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn fetch(
    cluster: &Cluster,
    req: &Request<'_>,
    namespace: Option<&str>,
    query: &str,
    accept: &str,
) -> anyhow::Result<Vec<Value>> {
    let with_query = |path: String| {
        if query.is_empty() {
            path
        } else {
            format!("{path}?{query}")
        }
    };
    if req.names.is_empty() {
        let path = with_query(resource_path(req.info, namespace, None, None));
        return Ok(vec![cluster.send(Method::GET, &path, None, accept).await?]);
    }
    let mut out = Vec::new();
    for name in &req.names {
        let path = resource_path(req.info, namespace, Some(name), None);
        out.push(cluster.send(Method::GET, &path, None, accept).await?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_are_percent_encoded() {
        assert_eq!(encode("app in (a,b)"), "app%20in%20%28a%2Cb%29");
        assert_eq!(encode("tier!=db"), "tier%21%3Ddb");
    }
}
