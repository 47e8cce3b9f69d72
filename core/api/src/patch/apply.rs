//! Server-side apply and the field ownership every other write leaves in `managedFields`.
//!
//! Written by hand: upstream's structured-merge-diff has no Rust counterpart. The applied
//! configuration is merged into the live object with the strategies of
//! [`super::strategy`]; the fields it names become the applier's, a field another manager owns
//! and the applier changes is a conflict, and fields the applier owned before and omits now are
//! removed unless someone else still owns them.

use std::fmt;

use serde_json::Value;

use super::fieldset::{self, Element, FieldSet};
use super::managed::{self, Entry, Operation};
use super::strategic::{Mode, merge_typed};
use super::strategy::TypeRef;

/// Manager that owns the fields of an object that was never applied or tracked before.
pub const BEFORE_FIRST_APPLY: &str = "before-first-apply";

/// Fields of `metadata` the server sets: nobody owns them.
const SYSTEM_METADATA: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
    "managedFields",
];

/// Why an apply was refused.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The applied configuration is not an object with `apiVersion` and `kind`.
    #[error("the applied configuration must be an object with apiVersion and kind")]
    InvalidConfiguration,
    /// The live object's `managedFields` cannot be read.
    #[error("invalid managedFields on the live object")]
    ManagedFields(#[source] managed::Error),
    /// The merge itself failed (a keyed list item without its key, ...).
    #[error("the applied configuration could not be merged")]
    Merge(#[source] super::Error),
    /// Other managers own fields the applier would change; `force` takes them over.
    #[error("{0}")]
    Conflicts(Conflicts),
}

/// A field the applier would change that another manager owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The owning manager.
    pub manager: String,
    /// How it came to own the field.
    pub operation: Operation,
    /// The apiVersion it wrote through.
    pub api_version: String,
    /// The subresource it wrote, if any.
    pub subresource: Option<String>,
    /// The field, as upstream prints it: `.spec.replicas`.
    pub path: String,
}

impl Conflict {
    /// The owner as upstream names it: `"kubectl-edit" using apps/v1` for an update,
    /// `"kubectl"` for an apply.
    pub fn owner(&self) -> String {
        let mut owner = format!("{:?}", self.manager);
        if let Some(subresource) = &self.subresource {
            owner.push_str(&format!(" with subresource {subresource:?}"));
        }
        if self.operation == Operation::Update {
            owner.push_str(&format!(" using {}", self.api_version));
        }
        owner
    }

    /// The message of this conflict's `StatusCause` (type `FieldManagerConflict`, field
    /// [`Conflict::path`]).
    pub fn message(&self) -> String {
        format!("conflict with {}", self.owner())
    }
}

/// The conflicts of one apply; displays as upstream's `Status` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflicts(pub Vec<Conflict>);

impl fmt::Display for Conflicts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let [only] = self.0.as_slice() {
            return write!(
                f,
                "Apply failed with 1 conflict: {}: {}",
                only.message(),
                only.path
            );
        }
        let mut owners: Vec<String> = self.0.iter().map(Conflict::owner).collect();
        owners.sort();
        owners.dedup();
        let mut lines = Vec::new();
        for owner in owners {
            lines.push(format!("conflicts with {owner}"));
            for conflict in self.0.iter().filter(|c| c.owner() == owner) {
                lines.push(format!("- {}", conflict.path));
            }
        }
        write!(
            f,
            "Apply failed with {} conflicts: {}",
            self.0.len(),
            lines.join("\n")
        )
    }
}

/// Applies `applied` (a full or partial configuration) for `manager` onto `live` (`None`
/// creates), and returns the new object with its `managedFields`.
///
/// `status` and the server-set metadata (uid, resourceVersion, generation, ...) are neither
/// taken from the configuration nor owned; a `resourceVersion` in the configuration is a
/// precondition the caller checks.
pub fn server_side_apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
) -> Result<Value, ApplyError> {
    let api_version = applied
        .get("apiVersion")
        .and_then(Value::as_str)
        .ok_or(ApplyError::InvalidConfiguration)?;
    if applied.get("kind").and_then(Value::as_str).is_none() {
        return Err(ApplyError::InvalidConfiguration);
    }
    let ty = TypeRef::of_object(applied);
    let mut config = applied.clone();
    strip_nulls(&mut config);
    strip_server_set(&mut config);
    let applied_set = owned_fields(&config, &ty, None);

    let Some(live) = live else {
        let mut created = config;
        let entry = Entry::new(manager, Operation::Apply, api_version, None, applied_set);
        managed::write(&mut created, vec![entry]);
        return Ok(created);
    };

    let mut entries = managed::read(live).map_err(ApplyError::ManagedFields)?;
    if entries.is_empty() {
        let live_version = live
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or(api_version);
        let everything = owned_fields(live, &ty, None);
        entries.push(Entry::new(
            BEFORE_FIRST_APPLY,
            Operation::Update,
            live_version,
            None,
            everything,
        ));
    }
    let mine = |e: &Entry| e.is(manager, Operation::Apply, api_version, None);
    let previous = entries
        .iter()
        .find(|e| mine(e))
        .map(|e| e.fields.clone())
        .unwrap_or_default();

    let mut base = live.clone();
    if let Some(metadata) = base.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("managedFields");
    }
    let current = base.clone();
    remove_abandoned(&mut base, &previous, &applied_set, &entries, &mine);
    let mut merged = merge_typed(&base, &config, &ty, Mode::Apply).map_err(ApplyError::Merge)?;

    let mut conflicts = Vec::new();
    for (path, leaf) in applied_set.members() {
        let before = fieldset::resolve(&current, &path);
        let changed = if leaf {
            before != fieldset::resolve(&merged, &path)
        } else {
            before.is_none()
        };
        if !changed {
            continue;
        }
        for (at, entry) in entries.iter().enumerate() {
            if !mine(entry) && entry.fields.contains(&path) {
                conflicts.push((path.clone(), at));
            }
        }
    }
    if !conflicts.is_empty() && !force {
        let list = conflicts
            .into_iter()
            .map(|(path, at)| {
                let owner = &entries[at];
                Conflict {
                    manager: owner.manager.clone(),
                    operation: owner.operation,
                    api_version: owner.api_version.clone(),
                    subresource: owner.subresource.clone(),
                    path: fieldset::display(&path),
                }
            })
            .collect();
        return Err(ApplyError::Conflicts(Conflicts(list)));
    }
    for (path, at) in &conflicts {
        entries[*at].fields.remove(path);
    }

    match entries.iter_mut().find(|e| mine(e)) {
        Some(entry) => {
            if entry.fields != applied_set || entry.api_version != api_version {
                entry.time = Some(managed::now());
            }
            entry.fields = applied_set;
            entry.api_version = api_version.to_owned();
        }
        None => entries.push(Entry::new(
            manager,
            Operation::Apply,
            api_version,
            None,
            applied_set,
        )),
    }
    managed::write(&mut merged, entries);
    Ok(merged)
}

/// Records a non-apply write of `new` (over `old`; `None` for a create) by `manager` on the
/// main resource: see [`track_update_subresource`].
pub fn track_update(old: Option<&Value>, new: &mut Value, manager: &str) {
    track_update_subresource(old, new, manager, None);
}

/// Records a non-apply write by `manager`: every field it changed becomes its own (operation
/// `Update`) and leaves the other managers' sets; fields it removed leave every set.
///
/// A write through the main resource ignores `status`; a write through `status` tracks only
/// `status`. A client that sends `managedFields` different from the stored ones replaces them
/// (as upstream lets it); unreadable ones are dropped.
pub fn track_update_subresource(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    subresource: Option<&str>,
) {
    let api_version = new
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let ty = TypeRef::of_object(new);
    // Sent ones replace the stored ones (when they are the same, they are taken over from the
    // new object rather than copied from the old one); without them the stored ones stay.
    let mut entries = if new.pointer("/metadata/managedFields").is_some() {
        managed::take(new).unwrap_or_default()
    } else {
        old.map(managed::read)
            .transpose()
            .unwrap_or_default()
            .unwrap_or_default()
    };
    let me = |e: &Entry| e.is(manager, Operation::Update, &api_version, subresource);

    let changed = match old {
        None => owned_fields(new, &ty, subresource),
        Some(old) => {
            // The two versions are walked side by side rather than as two sets whose paths
            // are then looked up again: this runs on every write.
            let mut gone = Vec::new();
            visit_owned(old, Some(new), &ty, subresource, &mut |m| {
                if m.counterpart.is_none() {
                    gone.push(m.path());
                    return false; // Everything below goes with it.
                }
                true
            });
            for path in &gone {
                for entry in &mut entries {
                    entry.fields.remove_subtree(path);
                }
            }
            let mut changed = FieldSet::new();
            visit_owned(new, Some(old), &ty, subresource, &mut |m| {
                let differs = if m.leaf {
                    m.counterpart != Some(m.value)
                } else {
                    m.counterpart.is_none()
                };
                if differs {
                    let path = m.path();
                    changed.insert(&path);
                    for entry in entries.iter_mut().filter(|e| !me(e)) {
                        entry.fields.remove(&path);
                    }
                }
                true
            });
            changed
        }
    };
    if !changed.is_empty() {
        match entries.iter_mut().find(|e| me(e)) {
            Some(entry) => {
                entry.fields.union(&changed);
                entry.time = Some(managed::now());
            }
            None => entries.push(Entry::new(
                manager,
                Operation::Update,
                &api_version,
                subresource,
                changed,
            )),
        }
    }
    managed::write(new, entries);
}

/// Keeps a name: of the object's top level, or of its `metadata`.
type Keep = fn(&str) -> bool;

/// Which top-level names, and which keys of `metadata`, hold the fields that can be owned
/// through `subresource`: for the main resource all but apiVersion, kind, `status` and
/// server-set metadata; for `status`, `status` alone.
fn ownable(subresource: Option<&str>) -> (Keep, Keep) {
    if subresource == Some("status") {
        (|key| key == "status", |_| true)
    } else {
        (
            |key| !matches!(key, "apiVersion" | "kind" | "status"),
            |key| !SYSTEM_METADATA.contains(&key),
        )
    }
}

/// Visits the members of [`owned_fields`] of `object`, each beside its counterpart in `other`.
fn visit_owned<'a>(
    object: &'a Value,
    other: Option<&'a Value>,
    ty: &TypeRef,
    subresource: Option<&str>,
    visit: &mut impl FnMut(fieldset::Member<'a, '_>) -> bool,
) {
    let (top, metadata) = ownable(subresource);
    fieldset::visit_members_where(object, other, ty, top, metadata, visit)
}

/// The fields of `object` that can be owned through `subresource` (see [`ownable`]).
fn owned_fields(object: &Value, ty: &TypeRef, subresource: Option<&str>) -> FieldSet {
    let (top, metadata) = ownable(subresource);
    FieldSet::of_value_where(object, ty, top, metadata)
}

/// Removes from an applied configuration what the server alone sets: `status` and the
/// server-set metadata. Name, namespace, apiVersion and kind stay: they identify the object.
fn strip_server_set(config: &mut Value) {
    let Some(root) = config.as_object_mut() else {
        return;
    };
    root.remove("status");
    if let Some(Value::Object(metadata)) = root.get_mut("metadata") {
        metadata.retain(|key, _| {
            !SYSTEM_METADATA.contains(&key.as_str()) || key == "name" || key == "namespace"
        });
    }
}

/// Drops `null`s: an applied configuration that sets nothing for a field does not own it.
fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// Removes from `object` the fields the applier owned before and no longer applies, unless
/// another manager still owns them (or something below them); parents left empty go too.
fn remove_abandoned(
    object: &mut Value,
    previous: &FieldSet,
    applied: &FieldSet,
    entries: &[Entry],
    mine: &dyn Fn(&Entry) -> bool,
) {
    let kept = |path: &[Element]| {
        applied.contains_under(path)
            || entries
                .iter()
                .any(|e| !mine(e) && e.fields.contains_under(path))
    };
    let mut abandoned: Vec<Vec<Element>> = previous
        .members()
        .into_iter()
        .map(|(path, _)| path)
        .filter(|path| !kept(path))
        .collect();
    // Outer paths first: a keyed item must go before its key field, or it can't be found.
    abandoned.sort_by_key(Vec::len);
    for path in abandoned {
        if !fieldset::remove_at(object, &path) {
            continue;
        }
        for depth in (1..path.len()).rev() {
            let parent = &path[..depth];
            let empty = match fieldset::resolve(object, parent) {
                Some(Value::Object(map)) => map.is_empty(),
                _ => false,
            };
            if !empty || kept(parent) || parent.len() == 1 && parent[0] == "f:metadata" {
                break;
            }
            fieldset::remove_at(object, parent);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deployment(replicas: u32, labels: Value) -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "labels": labels},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "nginx:1"}]},
                },
            },
        })
    }

    /// Simulates the store: the server adds its own metadata after a write.
    fn stored(mut object: Value) -> Value {
        let metadata = object["metadata"].as_object_mut().unwrap();
        metadata.insert("uid".into(), json!("u-1"));
        metadata.insert("resourceVersion".into(), json!("7"));
        object
    }

    /// The trimmed copy `owned_fields` reads without making: what no manager owns removed.
    fn strip_unowned(object: &mut Value, subresource: Option<&str>) {
        let root = object.as_object_mut().unwrap();
        if subresource == Some("status") {
            root.retain(|key, _| key == "status");
            return;
        }
        for key in ["apiVersion", "kind", "status"] {
            root.remove(key);
        }
        if let Some(Value::Object(metadata)) = root.get_mut("metadata") {
            metadata.retain(|key, _| !SYSTEM_METADATA.contains(&key.as_str()));
            if metadata.is_empty() {
                root.remove("metadata");
            }
        }
    }

    #[test]
    fn owned_fields_are_the_fields_of_the_object_without_what_no_manager_owns() {
        let mut with_labels = stored(deployment(2, json!({"app": "web"})));
        with_labels["status"] = json!({"replicas": 2, "conditions": [{"type": "Available"}]});
        let mut bare_metadata = with_labels.clone();
        bare_metadata["metadata"] = json!({"name": "web", "uid": "u-1"});
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {},
            "spec": {"containers": [{"name": "a", "ports": [{"containerPort": 80}]}]},
            "status": {"phase": "Running"}});
        for object in [with_labels, bare_metadata, pod] {
            let ty = TypeRef::of_object(&object);
            for subresource in [None, Some("status")] {
                let mut trimmed = object.clone();
                strip_unowned(&mut trimmed, subresource);
                assert_eq!(
                    owned_fields(&object, &ty, subresource).to_fields_v1(),
                    FieldSet::of_value(&trimmed, &ty).to_fields_v1(),
                    "{object} through {subresource:?}"
                );
            }
        }
    }

    fn entry<'a>(object: &'a Value, manager: &str) -> Option<&'a Value> {
        object["metadata"]["managedFields"]
            .as_array()?
            .iter()
            .find(|e| e["manager"] == manager)
    }

    fn owns(object: &Value, manager: &str, pointer: &str) -> bool {
        entry(object, manager)
            .and_then(|e| e["fieldsV1"].pointer(pointer))
            .is_some()
    }

    #[test]
    fn apply_creates_the_object_with_an_apply_entry() {
        let mut config = deployment(2, json!({"app": "web"}));
        config["status"] = json!({"replicas": 9});
        let created = server_side_apply(None, &config, "kubectl", false).unwrap();
        assert_eq!(created["spec"], config["spec"]);
        assert!(created.get("status").is_none());
        let entry = entry(&created, "kubectl").unwrap();
        assert_eq!(entry["operation"], "Apply");
        assert_eq!(entry["apiVersion"], "apps/v1");
        assert_eq!(entry["fieldsType"], "FieldsV1");
        assert!(chrono::DateTime::parse_from_rfc3339(entry["time"].as_str().unwrap()).is_ok());
        assert_eq!(
            entry["fieldsV1"],
            json!({
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {
                    "f:replicas": {},
                    "f:selector": {},
                    "f:template": {
                        "f:metadata": {"f:labels": {"f:app": {}}},
                        "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {
                            ".": {}, "f:image": {}, "f:name": {},
                        }}},
                    },
                },
            })
        );
    }

    #[test]
    fn reapplying_without_a_field_removes_it() {
        let first = deployment(2, json!({"app": "web", "tier": "front"}));
        let live = stored(server_side_apply(None, &first, "kubectl", false).unwrap());
        let second = deployment(2, json!({"app": "web"}));
        let applied = server_side_apply(Some(&live), &second, "kubectl", false).unwrap();
        assert_eq!(applied["metadata"]["labels"], json!({"app": "web"}));
        assert!(!owns(&applied, "kubectl", "/f:metadata/f:labels/f:tier"));
        assert_eq!(applied["metadata"]["uid"], "u-1");
    }

    #[test]
    fn reapplying_without_a_container_removes_the_container() {
        let mut first = deployment(1, json!({"app": "web"}));
        first["spec"]["template"]["spec"]["containers"] =
            json!([{"name": "web", "image": "a"}, {"name": "log", "image": "b"}]);
        let live = stored(server_side_apply(None, &first, "kubectl", false).unwrap());
        let second = deployment(1, json!({"app": "web"}));
        let applied = server_side_apply(Some(&live), &second, "kubectl", false).unwrap();
        assert_eq!(
            applied["spec"]["template"]["spec"]["containers"],
            json!([{"name": "web", "image": "nginx:1"}])
        );
    }

    #[test]
    fn a_field_another_manager_owns_stays_when_the_applier_drops_it() {
        let live = stored(
            server_side_apply(None, &deployment(2, json!({"app": "web"})), "a", false).unwrap(),
        );
        let both = server_side_apply(
            Some(&live),
            &deployment(2, json!({"app": "web"})),
            "b",
            false,
        )
        .unwrap();
        let mut without_replicas = deployment(2, json!({"app": "web"}));
        without_replicas["spec"]
            .as_object_mut()
            .unwrap()
            .remove("replicas");
        let applied = server_side_apply(Some(&both), &without_replicas, "a", false).unwrap();
        assert_eq!(applied["spec"]["replicas"], 2);
        assert!(owns(&applied, "b", "/f:spec/f:replicas"));
        assert!(!owns(&applied, "a", "/f:spec/f:replicas"));
    }

    #[test]
    fn a_conflict_reads_like_upstream() {
        let mut created = deployment(1, json!({"app": "web"}));
        track_update(None, &mut created, "kubectl-client-side-apply");
        let live = stored(created);
        let err = server_side_apply(
            Some(&live),
            &deployment(3, json!({"app": "web"})),
            "kubectl",
            false,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas"
        );
        let ApplyError::Conflicts(conflicts) = err else {
            panic!("not a conflict")
        };
        assert_eq!(conflicts.0[0].path, ".spec.replicas");
        assert_eq!(
            conflicts.0[0].message(),
            "conflict with \"kubectl-client-side-apply\" using apps/v1"
        );
    }

    #[test]
    fn several_conflicts_are_listed_per_manager() {
        let mut created = deployment(1, json!({"app": "web"}));
        track_update(None, &mut created, "editor");
        let mut config = deployment(3, json!({"app": "web"}));
        config["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2");
        let err = server_side_apply(Some(&created), &config, "kubectl", false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Apply failed with 2 conflicts: conflicts with \"editor\" using apps/v1\n\
             - .spec.replicas\n\
             - .spec.template.spec.containers[name=\"web\"].image"
        );
    }

    #[test]
    fn force_moves_ownership_to_the_applier() {
        let mut created = deployment(1, json!({"app": "web"}));
        track_update(None, &mut created, "kubectl-client-side-apply");
        let live = stored(created);
        let applied = server_side_apply(
            Some(&live),
            &deployment(3, json!({"app": "web"})),
            "kubectl",
            true,
        )
        .unwrap();
        assert_eq!(applied["spec"]["replicas"], 3);
        assert!(owns(&applied, "kubectl", "/f:spec/f:replicas"));
        assert!(!owns(
            &applied,
            "kubectl-client-side-apply",
            "/f:spec/f:replicas"
        ));
        assert!(owns(
            &applied,
            "kubectl-client-side-apply",
            "/f:spec/f:template"
        ));
    }

    #[test]
    fn force_takes_every_conflicting_field_of_an_owner() {
        let mut created = deployment(1, json!({"app": "web"}));
        track_update(None, &mut created, "editor");
        let mut config = deployment(3, json!({"app": "web"}));
        config["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2");
        let applied = server_side_apply(Some(&created), &config, "kubectl", true).unwrap();
        let image = "/f:spec/f:template/f:spec/f:containers/k:{\"name\":\"web\"}/f:image";
        assert!(!owns(&applied, "editor", "/f:spec/f:replicas"));
        assert!(!owns(&applied, "editor", image));
        assert!(owns(&applied, "kubectl", image));
        assert_eq!(
            applied["spec"]["template"]["spec"]["containers"][0]["image"],
            "nginx:2"
        );
    }

    #[test]
    fn managed_fields_sent_by_a_client_replace_the_stored_ones() {
        let mut created = deployment(1, json!({"app": "web"}));
        track_update(None, &mut created, "creator");
        let mut reset = created.clone();
        reset["metadata"]["managedFields"] = json!([]);
        reset["spec"]["replicas"] = json!(2);
        track_update(Some(&created), &mut reset, "editor");
        assert!(entry(&reset, "creator").is_none());
        assert_eq!(
            entry(&reset, "editor").unwrap()["fieldsV1"],
            json!({"f:spec": {"f:replicas": {}}})
        );
    }

    #[test]
    fn equal_values_make_co_owners() {
        let live = stored(
            server_side_apply(None, &deployment(2, json!({"app": "web"})), "a", false).unwrap(),
        );
        let applied = server_side_apply(
            Some(&live),
            &deployment(2, json!({"app": "web"})),
            "b",
            false,
        )
        .unwrap();
        assert!(owns(&applied, "a", "/f:spec/f:replicas"));
        assert!(owns(&applied, "b", "/f:spec/f:replicas"));
    }

    #[test]
    fn another_appliers_field_conflicts_without_a_version() {
        let live = stored(
            server_side_apply(None, &deployment(2, json!({"app": "web"})), "a", false).unwrap(),
        );
        let err = server_side_apply(
            Some(&live),
            &deployment(4, json!({"app": "web"})),
            "b",
            false,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Apply failed with 1 conflict: conflict with \"a\": .spec.replicas"
        );
    }

    #[test]
    fn an_update_then_a_reapply_conflicts() {
        let live = stored(
            server_side_apply(
                None,
                &deployment(2, json!({"app": "web"})),
                "kubectl",
                false,
            )
            .unwrap(),
        );
        let mut scaled = live.clone();
        scaled["spec"]["replicas"] = json!(5);
        track_update(Some(&live), &mut scaled, "kube-controller-manager");
        assert!(owns(
            &scaled,
            "kube-controller-manager",
            "/f:spec/f:replicas"
        ));
        assert!(!owns(&scaled, "kubectl", "/f:spec/f:replicas"));
        let err = server_side_apply(
            Some(&scaled),
            &deployment(2, json!({"app": "web"})),
            "kubectl",
            false,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Apply failed with 1 conflict: conflict with \"kube-controller-manager\" using apps/v1: .spec.replicas"
        );
    }

    #[test]
    fn applied_containers_merge_by_name_with_live_ones() {
        let live = stored(
            server_side_apply(None, &deployment(1, json!({"app": "web"})), "a", false).unwrap(),
        );
        let mut sidecar = deployment(1, json!({"app": "web"}));
        sidecar["spec"]["template"]["spec"]["containers"] =
            json!([{"name": "log", "image": "busybox"}]);
        let applied = server_side_apply(Some(&live), &sidecar, "b", false).unwrap();
        let names: Vec<&str> = applied["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["web", "log"]);
        assert!(owns(
            &applied,
            "b",
            "/f:spec/f:template/f:spec/f:containers/k:{\"name\":\"log\"}/f:image"
        ));
    }

    #[test]
    fn an_object_never_tracked_is_owned_before_the_first_apply() {
        let live = stored(deployment(1, json!({"app": "web"})));
        let err = server_side_apply(
            Some(&live),
            &deployment(2, json!({"app": "web"})),
            "kubectl",
            false,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("\"before-first-apply\" using apps/v1"),
            "{err}"
        );
    }

    #[test]
    fn a_configuration_without_kind_is_rejected() {
        let err =
            server_side_apply(None, &json!({"apiVersion": "v1"}), "kubectl", false).unwrap_err();
        assert!(matches!(err, ApplyError::InvalidConfiguration));
    }

    #[test]
    fn an_update_takes_the_fields_it_changes_and_removed_fields_leave_every_set() {
        let mut created = deployment(1, json!({"app": "web", "tier": "front"}));
        track_update(None, &mut created, "creator");
        assert!(owns(&created, "creator", "/f:metadata/f:labels/f:tier"));
        assert!(!owns(&created, "creator", "/f:metadata/f:name"));
        let mut edited = created.clone();
        edited["metadata"]["labels"] = json!({"app": "web"});
        edited["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2");
        track_update(Some(&created), &mut edited, "editor");
        assert!(!owns(&edited, "creator", "/f:metadata/f:labels/f:tier"));
        let image = "/f:spec/f:template/f:spec/f:containers/k:{\"name\":\"web\"}/f:image";
        assert!(owns(&edited, "editor", image));
        assert!(!owns(&edited, "creator", image));
        assert!(owns(&edited, "creator", "/f:spec/f:replicas"));
        assert_eq!(entry(&edited, "editor").unwrap()["operation"], "Update");
    }

    #[test]
    fn an_update_that_changes_nothing_adds_no_entry() {
        let mut created = deployment(1, json!({"app": "web"}));
        track_update(None, &mut created, "creator");
        let mut same = created.clone();
        track_update(Some(&created), &mut same, "other");
        assert!(entry(&same, "other").is_none());
        assert_eq!(same, created);
    }

    #[test]
    fn a_status_write_takes_the_list_items_it_changes_and_drops_the_ones_it_removes() {
        let pod = |conditions: Value| {
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                "spec": {"containers": [{"name": "app", "image": "busybox"}]},
                "status": {"phase": "Running", "conditions": conditions}})
        };
        let ready = |status: &str| json!({"type": "Ready", "status": status});
        let scheduled = json!({"type": "PodScheduled", "status": "True"});
        let mut first = pod(json!([scheduled.clone(), ready("False")]));
        track_update_subresource(None, &mut first, "scheduler", Some("status"));
        let mut second = pod(json!([ready("True")]));
        track_update_subresource(Some(&first), &mut second, "kubelet", Some("status"));
        let ready_status = "/f:status/f:conditions/k:{\"type\":\"Ready\"}/f:status";
        assert!(owns(&second, "kubelet", ready_status));
        assert!(!owns(&second, "scheduler", ready_status));
        // The item itself and its unchanged key field stay with the first writer.
        assert!(owns(
            &second,
            "scheduler",
            "/f:status/f:conditions/k:{\"type\":\"Ready\"}/."
        ));
        assert!(!owns(
            &second,
            "kubelet",
            "/f:status/f:conditions/k:{\"type\":\"Ready\"}/."
        ));
        let gone = "/f:status/f:conditions/k:{\"type\":\"PodScheduled\"}";
        assert!(!owns(&second, "scheduler", gone));
        assert!(owns(&second, "scheduler", "/f:status/f:phase"));
        // The same write again changes nothing.
        let mut third = second.clone();
        track_update_subresource(Some(&second), &mut third, "kubelet", Some("status"));
        assert_eq!(third, second);
    }

    #[test]
    fn status_writes_are_tracked_only_through_the_status_subresource() {
        let mut created = deployment(1, json!({"app": "web"}));
        track_update(None, &mut created, "creator");
        let mut with_status = created.clone();
        with_status["status"] = json!({"replicas": 1});
        let mut main = with_status.clone();
        track_update(Some(&created), &mut main, "writer");
        assert!(entry(&main, "writer").is_none());
        let mut status = with_status.clone();
        track_update_subresource(Some(&created), &mut status, "kubelet", Some("status"));
        let kubelet = entry(&status, "kubelet").unwrap();
        assert_eq!(kubelet["subresource"], "status");
        assert_eq!(kubelet["fieldsV1"], json!({"f:status": {"f:replicas": {}}}));
    }
}
