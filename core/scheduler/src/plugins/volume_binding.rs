//! Volume placement, like upstream's VolumeBinding plugin: a pod's claims must exist and be
//! bound unless their class waits for the first consumer; a bound volume's node affinity
//! (CSI topology) must match the node; an unbound `WaitForFirstConsumer` claim needs a node
//! where a free matching volume lies or where its class may provision (`allowedTopologies`).
//! Once a node is chosen, [`plan`] says which claims to annotate with the selected node and
//! which free volumes to reserve for which claims.

use std::collections::HashSet;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{NodeSelectorRequirement, NodeSelectorTerm};
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use skiff_api::validation::quantity;

use crate::cache::Cache;
use crate::framework::Failure;
use crate::node_info::NodeInfo;
use crate::node_selector::{RequiredNodeSelector, Term};
use crate::pod_info::PodInfo;
use crate::volumes::{class_name, selected_node};

pub const UNBOUND_IMMEDIATE: &str = "pod has unbound immediate PersistentVolumeClaims";
pub const NODE_CONFLICT: &str = "node(s) had volume node affinity conflict";
pub const BIND_CONFLICT: &str = "node(s) didn't find available persistent volumes to bind";
pub const VOLUME_MISSING: &str =
    "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)";

/// The class that provisions nothing: its claims bind only to volumes made beforehand.
const NO_PROVISIONER: &str = "kubernetes.io/no-provisioner";

/// A free volume that would satisfy a waiting claim.
#[derive(Debug)]
struct Candidate {
    name: String,
    nodes: RequiredNodeSelector,
}

/// An unbound claim of a `WaitForFirstConsumer` class.
#[derive(Debug)]
struct Waiting {
    claim: Arc<PersistentVolumeClaim>,
    /// The node a scheduler already selected for it (and that still exists): the volume may
    /// be under way there, so the pod must follow.
    selected: Option<String>,
    /// Free matching volumes, the one already reserved for the claim first, then smallest.
    candidates: Vec<Candidate>,
    /// Where the class may provision; `None` when it cannot provision.
    provision: Option<RequiredNodeSelector>,
}

/// The pod's claims, resolved once per scheduling attempt.
#[derive(Debug, Default)]
pub struct State {
    /// The node affinity of every bound volume.
    bound: Vec<RequiredNodeSelector>,
    /// A claim names a volume that does not exist.
    volume_missing: bool,
    waiting: Vec<Waiting>,
}

/// What placing the pod on a node asks of its waiting claims.
#[derive(Debug, Clone)]
pub enum Action {
    /// Annotate the claim with the selected node, so the provisioner creates its volume there.
    SelectNode { claim: Arc<PersistentVolumeClaim> },
    /// Reserve the free volume for the claim (`spec.claimRef`), so the binder binds them.
    Reserve {
        volume: Arc<PersistentVolume>,
        claim: Arc<PersistentVolumeClaim>,
    },
}

/// Resolves the pod's claims; `Ok(None)` when it has none, `Err` with upstream's message when
/// the pod cannot be placed anywhere yet.
pub fn prefilter(pod: &PodInfo, cache: &Cache) -> Result<Option<State>, String> {
    if pod.claims.is_empty() {
        return Ok(None);
    }
    let objects = &cache.volumes;
    let mut state = State::default();
    let mut unbound_immediate = false;
    for (name, ephemeral) in &pod.claims {
        let Some(claim) = objects.claim(&pod.namespace, name) else {
            return Err(if *ephemeral {
                format!(
                    "waiting for ephemeral volume controller to create the persistentvolumeclaim \"{name}\""
                )
            } else {
                format!("persistentvolumeclaim \"{name}\" not found")
            });
        };
        if claim.metadata.deletion_timestamp.is_some() {
            return Err(format!("persistentvolumeclaim \"{name}\" is being deleted"));
        }
        let spec = claim.spec.clone().unwrap_or_default();
        if let Some(volume) = spec.volume_name.as_deref().filter(|v| !v.is_empty()) {
            match objects.volumes.items.get(volume) {
                Some(pv) => state.bound.push(volume_nodes(pv)),
                None => state.volume_missing = true,
            }
            continue;
        }
        let class = class_name(claim);
        let class = (!class.is_empty())
            .then(|| objects.classes.items.get(&class))
            .flatten();
        let Some(class) =
            class.filter(|c| c.volume_binding_mode.as_deref() == Some("WaitForFirstConsumer"))
        else {
            unbound_immediate = true;
            continue;
        };
        let class_name = class.metadata.name.clone().unwrap_or_default();
        let mut candidates: Vec<(bool, i64, Candidate)> = objects
            .volumes
            .items
            .values()
            .filter(|pv| satisfies(pv, claim, &class_name))
            .map(|pv| {
                let reserved = pv
                    .spec
                    .as_ref()
                    .and_then(|s| s.claim_ref.as_ref())
                    .is_some();
                let size = storage(pv.spec.as_ref().and_then(|s| s.capacity.as_ref()));
                let candidate = Candidate {
                    name: pv.metadata.name.clone().unwrap_or_default(),
                    nodes: volume_nodes(pv),
                };
                (!reserved, size, candidate)
            })
            .collect();
        candidates.sort_by(|a, b| (a.0, a.1, &a.2.name).cmp(&(b.0, b.1, &b.2.name)));
        let provision = (class.provisioner != NO_PROVISIONER).then(|| allowed_topologies(class));
        state.waiting.push(Waiting {
            selected: selected_node(claim)
                .filter(|n| cache.node(n).is_some())
                .map(str::to_string),
            claim: claim.clone(),
            candidates: candidates.into_iter().map(|c| c.2).collect(),
            provision,
        });
    }
    if unbound_immediate {
        return Err(UNBOUND_IMMEDIATE.to_string());
    }
    Ok(Some(state))
}

pub fn filter(state: &State, node: &NodeInfo) -> Result<(), Failure> {
    if state.volume_missing {
        return Err(Failure::unresolvable(VOLUME_MISSING));
    }
    if state
        .bound
        .iter()
        .any(|nodes| !nodes.matches(&node.name, &node.labels))
    {
        return Err(Failure::unresolvable(NODE_CONFLICT));
    }
    if !state.waiting.is_empty() && plan_for(state, node, |_| {}).is_none() {
        return Err(Failure::unresolvable(BIND_CONFLICT));
    }
    Ok(())
}

/// What placing the pod on `node` asks of its waiting claims (the node passed [`filter`]).
pub fn plan(state: &State, node: &NodeInfo, cache: &Cache) -> Vec<Action> {
    let mut actions = Vec::new();
    plan_for(state, node, |a| actions.push(a)).unwrap_or_default();
    // Resolve volume names to objects now: the actions outlive this attempt.
    actions
        .into_iter()
        .filter_map(|a| match a {
            Planned::Select(claim) => Some(Action::SelectNode { claim }),
            Planned::Reserve(name, claim) => {
                let volume = cache.volumes.volumes.items.get(&name)?.clone();
                let already = volume
                    .spec
                    .as_ref()
                    .and_then(|s| s.claim_ref.as_ref())
                    .is_some();
                (!already).then_some(Action::Reserve { volume, claim })
            }
        })
        .collect()
}

enum Planned {
    Select(Arc<PersistentVolumeClaim>),
    Reserve(String, Arc<PersistentVolumeClaim>),
}

/// Gives every waiting claim a volume on `node` (no volume twice) or a provisioning there;
/// `None` when one of them cannot be satisfied.
fn plan_for(state: &State, node: &NodeInfo, mut emit: impl FnMut(Planned)) -> Option<()> {
    let mut used: HashSet<&str> = HashSet::new();
    for w in &state.waiting {
        if let Some(selected) = &w.selected {
            if *selected != node.name {
                return None;
            }
            continue;
        }
        if let Some(c) = w
            .candidates
            .iter()
            .find(|c| !used.contains(c.name.as_str()) && c.nodes.matches(&node.name, &node.labels))
        {
            used.insert(&c.name);
            emit(Planned::Reserve(c.name.clone(), w.claim.clone()));
            continue;
        }
        if w.provision
            .as_ref()
            .is_some_and(|p| p.matches(&node.name, &node.labels))
        {
            emit(Planned::Select(w.claim.clone()));
            continue;
        }
        return None;
    }
    Some(())
}

/// Where a volume can be used: its `spec.nodeAffinity.required` (any node when absent).
fn volume_nodes(pv: &PersistentVolume) -> RequiredNodeSelector {
    RequiredNodeSelector {
        node_selector: Default::default(),
        terms: pv
            .spec
            .as_ref()
            .and_then(|s| s.node_affinity.as_ref())
            .and_then(|a| a.required.as_ref())
            .map(|r| r.node_selector_terms.iter().map(Term::compile).collect()),
    }
}

/// Where a class may provision: its `allowedTopologies` terms (any node when absent).
fn allowed_topologies(class: &k8s_openapi::api::storage::v1::StorageClass) -> RequiredNodeSelector {
    let terms = class
        .allowed_topologies
        .as_ref()
        .filter(|t| !t.is_empty())
        .map(|terms| {
            terms
                .iter()
                .map(|t| {
                    Term::compile(&NodeSelectorTerm {
                        match_expressions: Some(
                            t.match_label_expressions
                                .iter()
                                .flatten()
                                .map(|e| NodeSelectorRequirement {
                                    key: e.key.clone(),
                                    operator: "In".into(),
                                    values: Some(e.values.clone()),
                                })
                                .collect(),
                        ),
                        match_fields: None,
                    })
                })
                .collect()
        });
    RequiredNodeSelector {
        node_selector: Default::default(),
        terms,
    }
}

/// Bytes of `storage` in a resource list (0 when absent or unparsable).
fn storage(
    list: Option<
        &std::collections::BTreeMap<
            String,
            k8s_openapi::apimachinery::pkg::api::resource::Quantity,
        >,
    >,
) -> i64 {
    list.and_then(|l| l.get("storage"))
        .and_then(|q| quantity::parse(&q.0).ok())
        .map_or(0, |q| q.bytes())
}

/// Whether a free (or already reserved for this claim) volume of the claim's class satisfies
/// it: size, access modes and volume mode, as the binder checks.
fn satisfies(pv: &PersistentVolume, claim: &PersistentVolumeClaim, class: &str) -> bool {
    let Some(spec) = pv.spec.as_ref() else {
        return false;
    };
    let phase = pv.status.as_ref().and_then(|s| s.phase.as_deref());
    if pv.metadata.deletion_timestamp.is_some() || matches!(phase, Some("Released" | "Failed")) {
        return false;
    }
    if spec.storage_class_name.as_deref().unwrap_or("") != class {
        return false;
    }
    if let Some(r) = &spec.claim_ref {
        let same = r.namespace == claim.metadata.namespace
            && r.name == claim.metadata.name
            && (r.uid.is_none() || r.uid == claim.metadata.uid);
        if !same {
            return false;
        }
    }
    let want = claim.spec.clone().unwrap_or_default();
    let requested = storage(want.resources.as_ref().and_then(|r| r.requests.as_ref()));
    if storage(spec.capacity.as_ref()) < requested {
        return false;
    }
    let modes = spec.access_modes.clone().unwrap_or_default();
    if !want
        .access_modes
        .iter()
        .flatten()
        .all(|m| modes.contains(m))
    {
        return false;
    }
    let mode = |m: &Option<String>| m.clone().unwrap_or_else(|| "Filesystem".into());
    mode(&spec.volume_mode) == mode(&want.volume_mode)
}
