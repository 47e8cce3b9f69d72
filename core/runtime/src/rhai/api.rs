//! The functions a script may call: cluster reads and writes (through the context of the
//! running reconcile) and pure helpers.

use std::borrow::Borrow;
use std::sync::Arc;

use rhai::{Array, Dynamic, Engine, EvalAltResult, FLOAT, INT, Map};
use serde_json::Value;

use super::engine::current_context;
use crate::cluster::{self, DeleteOptions};
use crate::controller::{KindRef, ObjectKey};
use crate::functions;

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

/// JSON to a script value.
///
/// Written out rather than through `rhai::serde`: every object a script is handed goes
/// through here, and the generic serializer builds each map and string in steps. The
/// result is the same: null is `()`, integers that fit are `INT`, other numbers `FLOAT`.
pub fn to_dynamic(value: &Value) -> Dynamic {
    match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Dynamic::from_int(i),
            None => Dynamic::from_float(n.as_f64().unwrap_or(FLOAT::NAN)),
        },
        Value::String(s) => Dynamic::from(rhai::ImmutableString::from(s.as_str())),
        Value::Array(items) => Dynamic::from_array(items.iter().map(to_dynamic).collect()),
        Value::Object(members) => Dynamic::from_map(
            members
                .iter()
                .map(|(k, v)| (k.as_str().into(), to_dynamic(v)))
                .collect(),
        ),
    }
}

/// A script value to JSON.
///
/// Written out for the values JSON has, as [`to_dynamic`]; anything else (blobs, characters,
/// values shared by closures) goes through `rhai::serde`, which also names what cannot be
/// converted.
pub fn to_json(value: &Dynamic) -> Result<Value> {
    if value.is_shared() {
        return rhai::serde::from_dynamic(value);
    }
    if value.is_unit() {
        return Ok(Value::Null);
    }
    if let Ok(b) = value.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Ok(i) = value.as_int() {
        return Ok(Value::from(i));
    }
    if let Ok(f) = value.as_float() {
        // As serde_json's own visitor: a number JSON cannot hold becomes null.
        return Ok(serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number));
    }
    if let Ok(s) = value.as_immutable_string_ref() {
        return Ok(Value::String(s.as_str().to_owned()));
    }
    if let Ok(items) = value.as_array_ref() {
        return items
            .iter()
            .map(to_json)
            .collect::<Result<_>>()
            .map(Value::Array);
    }
    if let Ok(members) = value.as_map_ref() {
        return members
            .iter()
            .map(|(k, v)| Ok((k.to_string(), to_json(v)?)))
            .collect::<Result<_>>()
            .map(Value::Object);
    }
    rhai::serde::from_dynamic(value)
}

fn fail(error: impl std::fmt::Display) -> Box<EvalAltResult> {
    error.to_string().into()
}

fn optional(value: Option<Value>) -> Result<Dynamic> {
    Ok(value.map_or(Dynamic::UNIT, |v| to_dynamic(&v)))
}

fn array<V: Borrow<Value>>(values: &[V]) -> Result<Dynamic> {
    Ok(Dynamic::from_array(
        values.iter().map(|v| to_dynamic(v.borrow())).collect(),
    ))
}

/// Each object with only the dotted paths in `fields` (and its type), or whole without them.
fn projected<V: Borrow<Value>>(values: &[V], fields: Option<&[String]>) -> Result<Dynamic> {
    let Some(fields) = fields else {
        return array(values);
    };
    Ok(Dynamic::from_array(
        values
            .iter()
            .map(|v| Dynamic::from_map(crate::projection::project_into(v.borrow(), fields)))
            .collect(),
    ))
}

/// Objects a script walks one at a time (`for pod in scan(...)`): each becomes a script value
/// when the loop reaches it. The sandbox's size limits count every map entry, array item and
/// string byte of a value, and measure it again at each change, so a namespace of ten
/// thousand pods as one array is past them (and slow to build); the scan holds only the
/// cache's shared objects.
#[derive(Clone)]
pub struct Scan {
    objects: Arc<[Arc<Value>]>,
    fields: Option<Arc<[String]>>,
}

impl Scan {
    fn new(objects: Vec<Arc<Value>>, fields: Option<Vec<String>>) -> Self {
        Scan {
            objects: objects.into(),
            fields: fields.map(Into::into),
        }
    }

    fn item(&self, object: &Value) -> Dynamic {
        match &self.fields {
            Some(fields) => Dynamic::from_map(crate::projection::project_into(object, fields)),
            None => to_dynamic(object),
        }
    }
}

impl IntoIterator for Scan {
    type Item = Dynamic;
    type IntoIter = ScanIter;

    fn into_iter(self) -> ScanIter {
        ScanIter {
            scan: self,
            next: 0,
        }
    }
}

/// The walk of a [`Scan`].
pub struct ScanIter {
    scan: Scan,
    next: usize,
}

impl Iterator for ScanIter {
    type Item = Dynamic;

    fn next(&mut self) -> Option<Dynamic> {
        let object = self.scan.objects.get(self.next)?;
        self.next += 1;
        Some(self.scan.item(object))
    }
}

/// Projections straight into a script's map.
impl crate::projection::Target for Map {
    fn put(&mut self, name: &str, value: &Value) {
        self.insert(name.into(), to_dynamic(value));
    }
    fn take_map(&mut self, name: &str) -> Self {
        match self.remove(name) {
            Some(inner) if inner.is_map() => inner.cast::<Map>(),
            _ => Map::new(),
        }
    }
    fn put_map(&mut self, name: &str, map: Self) {
        self.insert(name.into(), Dynamic::from_map(map));
    }
    fn is_empty(&self) -> bool {
        Map::is_empty(self)
    }
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

/// What a read hands the script: the objects it found and the fields asked for, if any.
type Make<T> = fn(Vec<Arc<Value>>, Option<Vec<String>>) -> Result<T>;

/// Registers `name(apiVersion, kind, namespace[, selector[, fields]])`: the cached objects of
/// a namespace (`""` = all) that the selector matches, handed to `make`.
fn register_selection<T: Clone + Send + Sync + 'static>(
    engine: &mut Engine,
    name: &str,
    make: Make<T>,
) {
    let select = move |api_version: &str,
                       k: &str,
                       namespace: &str,
                       selector: Dynamic,
                       fields: Option<Vec<String>>|
          -> Result<T> {
        let ctx = current_context()?;
        let selector = to_json(&selector)?;
        let objects = ctx
            .cluster
            .list(&kind(api_version, k), namespace, &selector)
            .map_err(fail)?;
        make(objects, fields)
    };
    engine.register_fn(
        name,
        move |api_version: &str, k: &str, namespace: &str, selector: Dynamic, fields: Array| {
            select(
                api_version,
                k,
                namespace,
                selector,
                Some(field_list(fields)?),
            )
        },
    );
    engine.register_fn(
        name,
        move |api_version: &str, k: &str, namespace: &str, selector: Dynamic| {
            select(api_version, k, namespace, selector, None)
        },
    );
    engine.register_fn(name, move |api_version: &str, k: &str, namespace: &str| {
        select(api_version, k, namespace, Dynamic::UNIT, None)
    });
}

/// Registers `name(owner, apiVersion, kind[, fields])`: the cached objects of that kind in
/// the owner's namespace whose controller ownerReference is the owner, handed to `make`.
fn register_children<T: Clone + Send + Sync + 'static>(
    engine: &mut Engine,
    name: &str,
    make: Make<T>,
) {
    let children = move |owner: Map, api_version: &str, k: &str, fields: Option<Vec<String>>| {
        let ctx = current_context()?;
        // Only the owner's uid and namespace are read: converting all of it (a set with its
        // pod template) for them cost more than the lookup.
        let meta = |key: &str| {
            owner
                .get("metadata")
                .and_then(|m| m.read_lock::<Map>())
                .and_then(|m| m.get(key).and_then(|v| v.clone().into_string().ok()))
                .unwrap_or_default()
        };
        let objects = ctx
            .cluster
            .children(&meta("uid"), &meta("namespace"), &kind(api_version, k))
            .map_err(fail)?;
        make(objects, fields)
    };
    engine.register_fn(name, move |owner: Map, api_version: &str, k: &str| {
        children(owner, api_version, k, None)
    });
    engine.register_fn(
        name,
        move |owner: Map, api_version: &str, k: &str, fields: Array| {
            children(owner, api_version, k, Some(field_list(fields)?))
        },
    );
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
    engine.register_type_with_name::<Scan>("Scan");
    engine.register_iterator::<Scan>();
    engine.register_fn("len", |scan: &mut Scan| scan.objects.len() as INT);
    register_selection(engine, "list", |objects, fields| {
        projected(&objects, fields.as_deref())
    });
    register_selection(engine, "scan", |objects, fields| {
        Ok(Scan::new(objects, fields))
    });
    register_children(engine, "children", |objects, fields| {
        projected(&objects, fields.as_deref())
    });
    register_children(engine, "scan_children", |objects, fields| {
        Ok(Scan::new(objects, fields))
    });
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
        Ok(to_dynamic(
            &ctx.cluster
                .create(&to_json(&Dynamic::from_map(obj))?)
                .map_err(fail)?,
        ))
    });
    engine.register_fn("create_all", |objects: Array| -> Result<Dynamic> {
        let ctx = current_context()?;
        let objects: Vec<Value> = objects.iter().map(to_json).collect::<Result<_>>()?;
        array(&ctx.cluster.create_all(&objects).map_err(fail)?)
    });
    engine.register_fn("update", |obj: Map| -> Result<Dynamic> {
        let ctx = current_context()?;
        Ok(to_dynamic(
            &ctx.cluster
                .update(&to_json(&Dynamic::from_map(obj))?)
                .map_err(fail)?,
        ))
    });
    engine.register_fn("update_status", |obj: Map| -> Result<Dynamic> {
        let ctx = current_context()?;
        Ok(to_dynamic(
            &ctx.cluster
                .update_status(&to_json(&Dynamic::from_map(obj))?)
                .map_err(fail)?,
        ))
    });
    engine.register_fn("finalize", |obj: Map| -> Result<Dynamic> {
        let ctx = current_context()?;
        Ok(to_dynamic(
            &ctx.cluster
                .finalize(&to_json(&Dynamic::from_map(obj))?)
                .map_err(fail)?,
        ))
    });
    engine.register_fn(
        "patch",
        |api_version: &str, k: &str, namespace: &str, name: &str, patch: Map| -> Result<Dynamic> {
            let ctx = current_context()?;
            let patch = to_json(&Dynamic::from_map(patch))?;
            Ok(to_dynamic(
                &ctx.cluster
                    .patch(&kind(api_version, k), namespace, name, &patch)
                    .map_err(fail)?,
            ))
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
        Ok(to_dynamic(
            &cluster::with_owner(child, &owner).map_err(fail)?,
        ))
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sample() -> Value {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-1", "labels": {"app": "web"}, "deletionTimestamp": null},
            "spec": {"nodeName": "sim-3", "priority": -7, "ratio": 0.25, "big": 18446744073709551615u64,
                "hostNetwork": false, "containers": [{"name": "c", "ports": [{"containerPort": 80}]}],
                "empty": {}, "none": []},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
        })
    }

    #[test]
    fn conversions_agree_with_rhai_serde() {
        let obj = sample();
        let ours = to_dynamic(&obj);
        let theirs = rhai::serde::to_dynamic(&obj).unwrap();
        // Compared through their printed form: Dynamic has no deep equality.
        assert_eq!(format!("{ours:?}"), format!("{theirs:?}"));
        let mut back = obj.clone();
        // Past INT, a number is a float in a script, as with rhai's own conversion.
        back["spec"]["big"] = json!(u64::MAX as f64);
        assert_eq!(to_json(&ours).unwrap(), back);
        assert_eq!(
            to_json(&ours).unwrap(),
            rhai::serde::from_dynamic::<Value>(&theirs).unwrap()
        );
    }

    #[test]
    fn script_values_without_a_json_form_convert_or_fail() {
        assert_eq!(to_json(&Dynamic::from_char('x')).unwrap(), json!("x"));
        assert_eq!(
            to_json(&Dynamic::from_float(FLOAT::NAN)).unwrap(),
            json!(null)
        );
        assert_eq!(to_json(&Dynamic::from_int(-3)).unwrap(), json!(-3));
        assert!(to_json(&Dynamic::from(std::time::Instant::now())).is_err());
    }

    #[test]
    fn projections_into_script_maps_match_projected_json() {
        let obj = sample();
        for fields in [
            vec!["metadata", "spec.nodeName"],
            vec!["metadata.labels", "metadata", "status.phase.x", "nothing"],
            vec!["spec.containers", "spec.empty", "status.conditions"],
        ] {
            let direct =
                Dynamic::from_map(crate::projection::project_into::<Map, _>(&obj, &fields));
            let via_json = to_dynamic(&crate::projection::project(&obj, &fields));
            assert_eq!(format!("{direct:?}"), format!("{via_json:?}"), "{fields:?}");
        }
    }
}
