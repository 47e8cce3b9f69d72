//! An example native controller: each `example.skiff.dev/v1` `Website` becomes a ConfigMap
//! holding its page, and the Website's status names that ConfigMap.
//!
//! Setting the annotation `example.skiff.dev/panic: "true"` on a Website makes reconcile
//! panic, which shows (and tests) that a panicking plugin is reported, not fatal.

use std::time::Duration;

use skiff_plugin_sdk::{Action, Context, Controller, Value, json};

/// The Website controller.
#[derive(Default)]
pub struct WebsiteController;

/// Annotation that makes reconcile panic, for demonstrations and tests.
pub const PANIC_ANNOTATION: &str = "example.skiff.dev/panic";

fn render(title: &str, body: &str) -> String {
    format!(
        "<html><head><title>{title}</title></head><body><h1>{title}</h1><p>{body}</p></body></html>"
    )
}

impl Controller for WebsiteController {
    fn config(&self) -> Value {
        json!({
            "name": "example-website",
            "primary": { "apiVersion": "example.skiff.dev/v1", "kind": "Website" },
            "owns": [ { "apiVersion": "v1", "kind": "ConfigMap" } ],
            "resync_seconds": 600,
        })
    }

    fn reconcile(&self, obj: &Value, ctx: &Context<'_>) -> Result<Action, String> {
        if obj.get("deleted").and_then(Value::as_bool) == Some(true) {
            // The ConfigMap carries an ownerReference; garbage collection removes it.
            return Ok(Action::Wait);
        }
        let meta = &obj["metadata"];
        if meta["annotations"][PANIC_ANNOTATION].as_str() == Some("true") {
            panic!("asked to panic by the {PANIC_ANNOTATION} annotation");
        }
        let namespace = meta["namespace"].as_str().unwrap_or("default");
        let name = meta["name"].as_str().ok_or("website without a name")?;
        let title = obj["spec"]["title"].as_str().unwrap_or(name);
        let body = obj["spec"]["body"].as_str().unwrap_or("");
        let cm_name = format!("{name}-site");
        let data = json!({ "index.html": render(title, body) });
        let owner = json!([{
            "apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": name,
            "uid": meta["uid"], "controller": true, "blockOwnerDeletion": true,
        }]);
        let host = &ctx.host;
        let existing = host
            .get("v1", "ConfigMap", namespace, &cm_name)
            .map_err(|e| e.to_string())?;
        if existing.is_null() {
            host.create(&json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": { "name": cm_name, "namespace": namespace, "ownerReferences": owner },
                "data": data,
            }))
            .map_err(|e| e.to_string())?;
            host.event(
                obj,
                "Normal",
                "Rendered",
                &format!("created ConfigMap {cm_name}"),
            )
            .map_err(|e| e.to_string())?;
        } else if existing["data"] != data {
            host.patch(
                "v1",
                "ConfigMap",
                namespace,
                &cm_name,
                json!({ "data": data }),
            )
            .map_err(|e| e.to_string())?;
        }
        if obj["status"]["configMap"].as_str() != Some(cm_name.as_str()) {
            let mut updated = obj.clone();
            updated["status"] = json!({ "configMap": cm_name, "renderedBy": ctx.name });
            host.update_status(&updated).map_err(|e| e.to_string())?;
        }
        Ok(Action::RequeueAfter(Duration::from_secs(300)))
    }
}

skiff_plugin_sdk::export_controller!(WebsiteController);
