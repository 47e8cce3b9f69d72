//! The functions a script may call: cluster reads and writes (through the context of the
//! running reconcile) and pure helpers.

use std::borrow::Borrow;

use rhai::{Array, Dynamic, Engine, EvalAltResult, FLOAT, INT, Map};
use serde_json::Value;

use super::engine::current_context;
use crate::cluster::{self, DeleteOptions};
use crate::controller::{KindRef, ObjectKey};
use crate::functions;

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

/// JSON to a script value.
pub fn to_dynamic(value: &Value) -> Result<Dynamic> {
    rhai::serde::to_dynamic(value)
}

/// A script value to JSON.
pub fn to_json(value: &Dynamic) -> Result<Value> {
    rhai::serde::from_dynamic(value)
}

fn fail(error: impl std::fmt::Display) -> Box<EvalAltResult> {
    error.to_string().into()
}

fn optional(value: Option<Value>) -> Result<Dynamic> {
    value.map_or(Ok(Dynamic::UNIT), |v| to_dynamic(&v))
}

fn array<V: Borrow<Value>>(values: &[V]) -> Result<Dynamic> {
    let items: Result<Array> = values.iter().map(|v| to_dynamic(v.borrow())).collect();
    Ok(Dynamic::from_array(items?))
}

/// Each object with only the dotted paths in `fields` (and its type), or whole without them.
fn projected<V: Borrow<Value>>(values: &[V], fields: Option<&[String]>) -> Result<Dynamic> {
    let Some(fields) = fields else {
        return array(values);
    };
    let items: Result<Array> = values
        .iter()
        .map(|v| to_dynamic(&crate::projection::project(v.borrow(), fields)))
        .collect();
    Ok(Dynamic::from_array(items?))
}

/// A script's `fields` argument: an array of dotted paths.
fn field_list(fields: Array) -> Result<Vec<String>> {
    let fields: Vec<String> = fields
        .into_iter()
        .map(|f| {
            f.into_string()
                .map_err(|t| fail(format!("fields must be strings, not {t}")))
        })
        .collect::<Result<_>>()?;
    crate::projection::check(&fields).map_err(fail)?;
    Ok(fields)
}

fn kind(api_version: &str, kind: &str) -> KindRef {
    KindRef::new(api_version, kind)
}

fn delete_options(options: &Map) -> Result<DeleteOptions> {
    let options = to_json(&Dynamic::from_map(options.clone()))?;
    Ok(DeleteOptions {
        propagation_policy: options["propagationPolicy"].as_str().map(str::to_string),
        grace_period_seconds: options["gracePeriodSeconds"].as_u64().map(|s| s as u32),
        preconditions: options
            .get("preconditions")
            .filter(|p| p.is_object())
            .cloned(),
    })
}

fn epoch(value: Dynamic) -> Result<f64> {
    if let Ok(f) = value.as_float() {
        Ok(f)
    } else if let Ok(i) = value.as_int() {
        Ok(i as f64)
    } else {
        Err(fail(format!(
            "expected a number of seconds, found {}",
            value.type_name()
        )))
    }
}

fn log_line(parts: &[Dynamic]) {
    let text: Vec<String> = parts.iter().map(|p| p.to_string()).collect();
    let name = current_context().map(|c| c.name).unwrap_or_default();
    tracing::info!(controller = %name, "{}", text.join(" "));
}

/// Registers every script function on `engine`.
pub fn register(engine: &mut Engine) {
    // reads from the shared caches
    engine.register_fn(
        "get",
        |api_version: &str, k: &str, namespace: &str, name: &str| -> Result<Dynamic> {
            let ctx = current_context()?;
            optional(
                ctx.cluster
                    .get(&kind(api_version, k), namespace, name)
                    .map_err(fail)?,
            )
        },
    );
    let list = |api_version: &str,
                k: &str,
                namespace: &str,
                selector: Dynamic,
                fields: Option<&[String]>|
     -> Result<Dynamic> {
        let ctx = current_context()?;
        let selector = to_json(&selector)?;
        projected(
            &ctx.cluster
                .list(&kind(api_version, k), namespace, &selector)
                .map_err(fail)?,
            fields,
        )
    };
    engine.register_fn(
        "list",
        move |api_version: &str, k: &str, namespace: &str, selector: Dynamic, fields: Array| {
            list(
                api_version,
                k,
                namespace,
                selector,
                Some(&field_list(fields)?),
            )
        },
    );
    engine.register_fn(
        "list",
        move |api_version: &str, k: &str, namespace: &str, selector: Dynamic| {
            list(api_version, k, namespace, selector, None)
        },
    );
    engine.register_fn(
        "list",
        move |api_version: &str, k: &str, namespace: &str| {
            list(api_version, k, namespace, Dynamic::UNIT, None)
        },
    );
    let children = |owner: Map, api_version: &str, k: &str, fields: Option<&[String]>| {
        let ctx = current_context()?;
        let owner = to_json(&Dynamic::from_map(owner))?;
        projected(
            &ctx.cluster
                .children(&owner, &kind(api_version, k))
                .map_err(fail)?,
            fields,
        )
    };
    engine.register_fn("children", move |owner: Map, api_version: &str, k: &str| {
        children(owner, api_version, k, None)
    });
    engine.register_fn(
        "children",
        move |owner: Map, api_version: &str, k: &str, fields: Array| {
            children(owner, api_version, k, Some(&field_list(fields)?))
        },
    );
    engine.register_fn(
        "get",
        |api_version: &str,
         k: &str,
         namespace: &str,
         name: &str,
         fields: Array|
         -> Result<Dynamic> {
            let ctx = current_context()?;
            let fields = field_list(fields)?;
            optional(
                ctx.cluster
                    .get_fields(&kind(api_version, k), namespace, name, &fields)
                    .map_err(fail)?,
            )
        },
    );
    engine.register_fn(
        "get_meta",
        |api_version: &str, k: &str, namespace: &str, name: &str| -> Result<Dynamic> {
            let ctx = current_context()?;
            optional(
                ctx.cluster
                    .get_meta(&kind(api_version, k), namespace, name)
                    .map_err(fail)?,
            )
        },
    );
    engine.register_fn(
        "list_meta",
        |api_version: &str, k: &str, namespace: &str| -> Result<Dynamic> {
            let ctx = current_context()?;
            array(
                &ctx.cluster
                    .list_meta(&kind(api_version, k), namespace)
                    .map_err(fail)?,
            )
        },
    );
    engine.register_fn(
        "namespaced",
        |api_version: &str, k: &str| -> Result<Dynamic> {
            let ctx = current_context()?;
            Ok(ctx
                .cluster
                .is_namespaced(api_version, k)
                .map_err(fail)?
                .map_or(Dynamic::UNIT, Dynamic::from_bool))
        },
    );
    engine.register_fn("api_resources", || -> Result<Dynamic> {
        let ctx = current_context()?;
        let served = ctx.cluster.api_resources().map_err(fail)?;
        let items: Result<Array> = served.iter().map(rhai::serde::to_dynamic).collect();
        Ok(Dynamic::from_array(items?))
    });
    // Read in place, as `cluster::controller_of` does on JSON: scripts call this for every
    // pod they look at, and converting a whole pod to JSON for it cost more than the rest.
    engine.register_fn("owner_of", |obj: Map| -> Dynamic {
        let references = obj
            .get("metadata")
            .and_then(|m| m.read_lock::<Map>())
            .and_then(|m| m.get("ownerReferences").cloned());
        references
            .and_then(|r| r.into_array().ok())
            .and_then(|refs| {
                refs.into_iter().find(|r| {
                    r.read_lock::<Map>()
                        .and_then(|r| r.get("controller").and_then(|c| c.as_bool().ok()))
                        == Some(true)
                })
            })
            .unwrap_or(Dynamic::UNIT)
    });

    // writes through the API
    engine.register_fn("create", |obj: Map| -> Result<Dynamic> {
        let ctx = current_context()?;
        to_dynamic(
            &ctx.cluster
                .create(&to_json(&Dynamic::from_map(obj))?)
                .map_err(fail)?,
        )
    });
    engine.register_fn("create_all", |objects: Array| -> Result<Dynamic> {
        let ctx = current_context()?;
        let objects: Vec<Value> = objects.iter().map(to_json).collect::<Result<_>>()?;
        array(&ctx.cluster.create_all(&objects).map_err(fail)?)
    });
    engine.register_fn("update", |obj: Map| -> Result<Dynamic> {
        let ctx = current_context()?;
        to_dynamic(
            &ctx.cluster
                .update(&to_json(&Dynamic::from_map(obj))?)
                .map_err(fail)?,
        )
    });
    engine.register_fn("update_status", |obj: Map| -> Result<Dynamic> {
        let ctx = current_context()?;
        to_dynamic(
            &ctx.cluster
                .update_status(&to_json(&Dynamic::from_map(obj))?)
                .map_err(fail)?,
        )
    });
    engine.register_fn("finalize", |obj: Map| -> Result<Dynamic> {
        let ctx = current_context()?;
        to_dynamic(
            &ctx.cluster
                .finalize(&to_json(&Dynamic::from_map(obj))?)
                .map_err(fail)?,
        )
    });
    engine.register_fn(
        "patch",
        |api_version: &str, k: &str, namespace: &str, name: &str, patch: Map| -> Result<Dynamic> {
            let ctx = current_context()?;
            let patch = to_json(&Dynamic::from_map(patch))?;
            to_dynamic(
                &ctx.cluster
                    .patch(&kind(api_version, k), namespace, name, &patch)
                    .map_err(fail)?,
            )
        },
    );
    engine.register_fn(
        "delete",
        |api_version: &str, k: &str, namespace: &str, name: &str| -> Result<Dynamic> {
            let ctx = current_context()?;
            optional(
                ctx.cluster
                    .delete(
                        &kind(api_version, k),
                        namespace,
                        name,
                        &DeleteOptions::default(),
                    )
                    .map_err(fail)?,
            )
        },
    );
    engine.register_fn(
        "delete_with",
        |api_version: &str,
         k: &str,
         namespace: &str,
         name: &str,
         options: Map|
         -> Result<Dynamic> {
            let ctx = current_context()?;
            let options = delete_options(&options)?;
            optional(
                ctx.cluster
                    .delete(&kind(api_version, k), namespace, name, &options)
                    .map_err(fail)?,
            )
        },
    );
    engine.register_fn("evict", |namespace: &str, name: &str| -> Result<()> {
        let ctx = current_context()?;
        ctx.cluster.evict(namespace, name).map_err(fail)
    });

    // controller helpers
    engine.register_fn(
        "sync_children",
        |owner: Map, desired: Array| -> Result<Dynamic> {
            let ctx = current_context()?;
            let owner = to_json(&Dynamic::from_map(owner))?;
            let desired: Vec<Value> = desired.iter().map(to_json).collect::<Result<_>>()?;
            array(&ctx.cluster.sync_children(&owner, &desired).map_err(fail)?)
        },
    );
    engine.register_fn("set_owner", |child: Map, owner: Map| -> Result<Dynamic> {
        let child = to_json(&Dynamic::from_map(child))?;
        let owner = to_json(&Dynamic::from_map(owner))?;
        to_dynamic(&cluster::with_owner(child, &owner).map_err(fail)?)
    });
    engine.register_fn(
        "event",
        |obj: Map, event_type: &str, reason: &str, message: &str| -> Result<()> {
            let ctx = current_context()?;
            let obj = to_json(&Dynamic::from_map(obj))?;
            ctx.cluster
                .event(&obj, event_type, reason, message)
                .map_err(fail)
        },
    );
    engine.register_fn("hash", |value: Dynamic| -> Result<String> {
        Ok(functions::hash(&to_json(&value)?))
    });
    engine.register_fn("random_suffix", |n: INT| {
        functions::random_suffix(n.clamp(0, 64) as usize)
    });
    engine.register_fn(
        "selector_matches",
        |selector: Dynamic, labels: Dynamic| -> Result<bool> {
            let selector = crate::selector::from_value(&to_json(&selector)?).map_err(fail)?;
            let labels: std::collections::BTreeMap<String, String> = match to_json(&labels)? {
                Value::Null => Default::default(),
                labels => serde_json::from_value(labels).map_err(fail)?,
            };
            Ok(selector.matches(&labels))
        },
    );
    engine.register_fn("parse_quantity", |text: &str| -> Result<FLOAT> {
        functions::parse_quantity(text).map_err(fail)
    });
    engine.register_fn("parse_time", |text: &str| -> Result<FLOAT> {
        functions::parse_time(text).map_err(fail)
    });
    engine.register_fn("format_time", |epoch_seconds: Dynamic| -> Result<String> {
        functions::format_time(epoch(epoch_seconds)?).map_err(fail)
    });
    engine.register_fn("now", functions::now);
    engine.register_fn(
        "cron_next",
        |schedule: &str, after: Dynamic| -> Result<FLOAT> {
            functions::cron_next(schedule, epoch(after)?).map_err(fail)
        },
    );
    engine.register_fn(
        "int_or_percent",
        |value: Dynamic, total: INT, round_up: bool| -> Result<INT> {
            functions::int_or_percent(&to_json(&value)?, total, round_up).map_err(fail)
        },
    );
    engine.register_fn("json", |value: Dynamic| -> Result<String> {
        Ok(to_json(&value)?.to_string())
    });
    engine.register_fn("log", |a: Dynamic| log_line(&[a]));
    engine.register_fn("log", |a: Dynamic, b: Dynamic| log_line(&[a, b]));
    engine.register_fn("log", |a: Dynamic, b: Dynamic, c: Dynamic| {
        log_line(&[a, b, c])
    });
    engine.register_fn("log", |a: Dynamic, b: Dynamic, c: Dynamic, d: Dynamic| {
        log_line(&[a, b, c, d])
    });
}

/// Reads the keys a mapping function returned (`[#{namespace, name}]`, or one map).
pub fn keys(value: &Dynamic) -> Result<Vec<ObjectKey>> {
    let value = to_json(value)?;
    let items = match value {
        Value::Null => Vec::new(),
        Value::Array(items) => items,
        one @ Value::Object(_) => vec![one],
        other => {
            return Err(fail(format!(
                "a mapping function must return an array of #{{namespace, name}}, not {other}"
            )));
        }
    };
    items
        .into_iter()
        .map(|item| serde_json::from_value(item).map_err(fail))
        .collect()
}
