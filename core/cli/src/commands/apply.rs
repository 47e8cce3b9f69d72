//! `skiff apply`: create or update objects from manifests, client-side (three-way merge with
//! the last-applied annotation, as kubectl does) or server-side.

use crate::client::{Body, Cluster, Context, resource_path, type_name};
use crate::manifest;
use anyhow::bail;
use http::Method;
use serde_json::{Map, Value, json};

/// Where kubectl keeps the configuration it applied last; skiff uses the same annotation so
/// both tools can take turns on one object.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Files, directories or `-` for stdin.
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<String>,
    /// Read directories recursively.
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// Let the server merge (server-side apply) instead of computing a patch here.
    #[arg(long)]
    pub server_side: bool,
    /// With --server-side: take over fields other managers own.
    #[arg(long)]
    pub force_conflicts: bool,
    /// Field manager name recorded by the server.
    #[arg(long, default_value = "skiff")]
    pub field_manager: String,
    /// `none` or `server` (the server validates and answers without persisting).
    #[arg(long, default_value = "none")]
    pub dry_run: String,
}

pub async fn run(ctx: &Context, args: Args) -> anyhow::Result<()> {
    let dry_run = match args.dry_run.as_str() {
        "none" => false,
        "server" => true,
        other => bail!("invalid dry-run value ({other}): must be \"none\" or \"server\""),
    };
    let manifests = manifest::read_all(&args.files, args.recursive)?;
    let cluster = Cluster::connect(ctx).await?;
    let mut failed = false;
    for m in manifests {
        match apply_one(&cluster, &args, dry_run, m.object).await {
            Ok(line) => println!("{line}"),
            Err(e) => {
                failed = true;
                let doing = format!("error when applying \"{}\"", m.source);
                eprintln!("{}", crate::client::describe_error_while(&e, Some(&doing)));
            }
        }
    }
    if failed {
        return Err(crate::client::Reported.into());
    }
    Ok(())
}

async fn apply_one(
    cluster: &Cluster,
    args: &Args,
    dry_run: bool,
    mut object: Value,
) -> anyhow::Result<String> {
    let api_version = object["apiVersion"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let kind = object["kind"].as_str().unwrap_or_default().to_string();
    let info = cluster.resolve_kind(&api_version, &kind)?.clone();
    let Some(name) = object["metadata"]["name"].as_str().map(str::to_string) else {
        bail!("error when applying a {kind}: metadata.name is required");
    };
    let explicit_ns = object["metadata"]["namespace"].as_str().map(str::to_string);
    let namespace = cluster
        .namespace_for(&info, explicit_ns.as_deref())
        .map(str::to_string);
    if let Some(ns) = &namespace {
        object["metadata"]["namespace"] = json!(ns);
    }
    let label = format!("{}/{name}", type_name(&info));
    let suffix = if dry_run { " (server dry run)" } else { "" };
    let mut query = vec![format!("fieldManager={}", args.field_manager)];
    if dry_run {
        query.push("dryRun=All".into());
    }

    if args.server_side {
        if args.force_conflicts {
            query.push("force=true".into());
        }
        let path = format!(
            "{}?{}",
            resource_path(&info, namespace.as_deref(), Some(&name), None),
            query.join("&")
        );
        let body = Body {
            content_type: "application/apply-patch+yaml",
            bytes: serde_json::to_vec(&object)?,
        };
        cluster
            .send(Method::PATCH, &path, Some(body), "application/json")
            .await?;
        return Ok(format!("{label} serverside-applied{suffix}"));
    }

    // Client-side apply: the applied configuration (without the annotation itself) is
    // recorded in the object so the next apply can tell which fields the user removed.
    let mut applied = object.clone();
    if let Some(meta) = applied.get_mut("metadata").and_then(Value::as_object_mut)
        && let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_object_mut)
    {
        annotations.remove(LAST_APPLIED);
        if annotations.is_empty() {
            meta.remove("annotations");
        }
    }
    let applied_text = serde_json::to_string(&applied)?;
    let mut modified = applied.clone();
    modified["metadata"]["annotations"][LAST_APPLIED] = json!(applied_text);

    let object_path = resource_path(&info, namespace.as_deref(), Some(&name), None);
    let current = match cluster.get(&object_path).await {
        Ok(current) => Some(current),
        Err(e) if is_not_found(&e) => None,
        Err(e) => return Err(e),
    };
    let Some(current) = current else {
        let path = format!(
            "{}?{}",
            resource_path(&info, namespace.as_deref(), None, None),
            query.join("&")
        );
        let body = Body {
            content_type: "application/json",
            bytes: serde_json::to_vec(&modified)?,
        };
        cluster
            .send(Method::POST, &path, Some(body), "application/json")
            .await?;
        return Ok(format!("{label} created{suffix}"));
    };

    let original = current["metadata"]["annotations"][LAST_APPLIED]
        .as_str()
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        .unwrap_or(Value::Object(Map::new()));
    let patch = three_way_merge_patch(&original, &modified, &current);
    if patch.as_object().is_none_or(Map::is_empty) {
        return Ok(format!("{label} unchanged{suffix}"));
    }
    let path = format!("{object_path}?{}", query.join("&"));
    let body = Body {
        content_type: "application/merge-patch+json",
        bytes: serde_json::to_vec(&patch)?,
    };
    cluster
        .send(Method::PATCH, &path, Some(body), "application/json")
        .await?;
    Ok(format!("{label} configured{suffix}"))
}

fn is_not_found(e: &anyhow::Error) -> bool {
    e.chain().any(
        |c| matches!(c.downcast_ref::<kube::Error>(), Some(kube::Error::Api(s)) if s.code == 404),
    )
}

/// A JSON merge patch (RFC 7386) taking `current` to `modified`: fields that were in the last
/// applied configuration (`original`) and are gone from `modified` are deleted; fields of
/// `modified` that differ from `current` are set; fields only the server or other writers set
/// in `current` are left alone.
///
/// Written here because no crate computes three-way merge patches. Lists are atomic (as in
/// JSON merge patch), but a list is left out of the patch when every item of `modified` is
/// already contained in the matching item of `current`: the server fills defaults into list
/// items (container `imagePullPolicy`, port `protocol`), which must not make every re-apply
/// look like a change.
pub fn three_way_merge_patch(original: &Value, modified: &Value, current: &Value) -> Value {
    let mut patch = Map::new();
    let (Some(m), Some(c)) = (modified.as_object(), current.as_object()) else {
        return modified.clone();
    };
    if let Some(o) = original.as_object() {
        for key in o.keys() {
            if !m.contains_key(key) && c.contains_key(key) {
                patch.insert(key.clone(), Value::Null);
            }
        }
    }
    for (key, mv) in m {
        let cv = c.get(key).unwrap_or(&Value::Null);
        let ov = original.get(key).unwrap_or(&Value::Null);
        match (mv, cv) {
            (Value::Object(_), Value::Object(_)) => {
                let sub = three_way_merge_patch(ov, mv, cv);
                if sub.as_object().is_some_and(|s| !s.is_empty()) {
                    patch.insert(key.clone(), sub);
                }
            }
            _ if contained_in(mv, cv) => {}
            _ => {
                patch.insert(key.clone(), mv.clone());
            }
        }
    }
    Value::Object(patch)
}

/// Whether everything `wanted` says is already true of `actual` (maps may hold more keys).
fn contained_in(wanted: &Value, actual: &Value) -> bool {
    match (wanted, actual) {
        (Value::Object(w), Value::Object(a)) => w
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|av| contained_in(v, av))),
        (Value::Array(w), Value::Array(a)) => {
            w.len() == a.len() && w.iter().zip(a).all(|(wv, av)| contained_in(wv, av))
        }
        _ => wanted == actual,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removed_fields_are_deleted_and_changed_fields_set() {
        let original = json!({"spec": {"replicas": 2, "paused": false}, "data": {"a": "1"}});
        let modified = json!({"spec": {"replicas": 3}, "data": {"a": "1"}});
        let current =
            json!({"spec": {"replicas": 2, "paused": false, "strategy": {}}, "data": {"a": "1"}});
        assert_eq!(
            three_way_merge_patch(&original, &modified, &current),
            json!({"spec": {"replicas": 3, "paused": null}})
        );
    }

    #[test]
    fn server_defaults_inside_list_items_are_not_a_change() {
        let config = json!({"spec": {"containers": [{"name": "web", "image": "busybox"}]}});
        let current = json!({"spec": {"containers": [
            {"name": "web", "image": "busybox", "imagePullPolicy": "Always"}
        ], "restartPolicy": "Always"}});
        assert_eq!(three_way_merge_patch(&config, &config, &current), json!({}));
        let changed = json!({"spec": {"containers": [{"name": "web", "image": "nginx"}]}});
        assert_eq!(
            three_way_merge_patch(&config, &changed, &current),
            json!({"spec": {"containers": [{"name": "web", "image": "nginx"}]}})
        );
    }

    #[test]
    fn fields_other_writers_added_are_kept() {
        let config = json!({"metadata": {"labels": {"app": "web"}}});
        let current = json!({"metadata": {"labels": {"app": "web", "team": "x"}}});
        assert_eq!(three_way_merge_patch(&config, &config, &current), json!({}));
    }
}
