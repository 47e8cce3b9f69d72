//! Pod affinity and anti-affinity: the topology domains holding matching pods, found once per
//! pod (like upstream's PreFilter), then checked per node; preferred terms score.

use std::collections::HashMap;

use crate::affinity_term::{AffinityTerm, NamespaceLabels};
use crate::cache::Cache;
use crate::framework::Failure;
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;

pub const EXISTING_ANTI: &str = "node(s) didn't satisfy existing pods anti-affinity rules";
pub const AFFINITY: &str = "node(s) didn't match pod affinity rules";
pub const ANTI: &str = "node(s) didn't match pod anti-affinity rules";

/// Pods per topology domain: key → value → count.
type Domains = HashMap<String, HashMap<String, i64>>;

fn bump(d: &mut Domains, key: &str, value: &str, by: i64) {
    *d.entry(key.to_string())
        .or_default()
        .entry(value.to_string())
        .or_default() += by;
}

fn get(d: &Domains, key: &str, value: &str) -> i64 {
    d.get(key).and_then(|m| m.get(value)).copied().unwrap_or(0)
}

fn marked(d: &Domains, key: &str, value: &str) -> bool {
    get(d, key, value) > 0
}

fn selects(term: &AffinityTerm, pod: &PodInfo, ns: &NamespaceLabels) -> bool {
    term.matches(&pod.namespace, &pod.labels, ns)
}

/// What the filter needs, computed over every placed pod once per scheduling attempt.
#[derive(Debug, Default)]
pub struct State {
    /// Domains holding an existing pod whose required anti-affinity selects the pod.
    existing_anti: Domains,
    /// Domains holding pods that match all of the pod's required affinity terms.
    affinity: Domains,
    /// Domains holding pods that one of the pod's required anti-affinity terms selects.
    anti: Domains,
    /// The pod matches its own affinity terms (the first of a group may go anywhere).
    matches_itself: bool,
}

/// The nodes that can hold a pod `term` selects: those with a pod carrying the label the
/// term requires, or every node when it requires none.
fn candidates<'a>(cache: &'a Cache, term: &AffinityTerm) -> Vec<&'a NodeInfo> {
    match term.required_label() {
        Some((key, value)) => cache
            .labels()
            .nodes_labelled(key, value)
            .filter_map(|name| cache.node(name))
            .collect(),
        None => cache.nodes().iter().collect(),
    }
}

pub fn prefilter(pod: &PodInfo, cache: &Cache) -> Option<State> {
    let ns = &cache.namespaces;
    let any_existing = cache.nodes().iter().any(|n| n.affinity_pods > 0);
    let own = !pod.required_affinity.is_empty() || !pod.required_anti_affinity.is_empty();
    if !any_existing && !own {
        return None;
    }
    // The filter asks only whether a domain holds a matching pod, not how many, so a domain
    // once marked is not looked at again; and only the nodes the label index names are.
    let mut state = State::default();
    for name in cache.labels().nodes_with_anti_for(&pod.labels) {
        let Some(node) = cache.node(name) else {
            continue;
        };
        for other in node.pods.iter().filter(|o| o.key != pod.key) {
            for term in &other.required_anti_affinity {
                if let Some(v) = node.labels.get(&term.topology_key)
                    && !marked(&state.existing_anti, &term.topology_key, v)
                    && selects(term, pod, ns)
                {
                    bump(&mut state.existing_anti, &term.topology_key, v, 1);
                }
            }
        }
    }
    for term in &pod.required_anti_affinity {
        for node in candidates(cache, term) {
            if let Some(v) = node.labels.get(&term.topology_key)
                && !marked(&state.anti, &term.topology_key, v)
                && node
                    .pods
                    .iter()
                    .any(|o| o.key != pod.key && selects(term, o, ns))
            {
                bump(&mut state.anti, &term.topology_key, v, 1);
            }
        }
    }
    if let Some(lead) = pod.required_affinity.first() {
        // A pod every term selects carries the label of each: any term's candidates do.
        let lead = pod
            .required_affinity
            .iter()
            .find(|t| t.required_label().is_some())
            .unwrap_or(lead);
        for node in candidates(cache, lead) {
            let selected = node.pods.iter().any(|o| {
                o.key != pod.key && pod.required_affinity.iter().all(|t| selects(t, o, ns))
            });
            if selected {
                for term in &pod.required_affinity {
                    if let Some(v) = node.labels.get(&term.topology_key) {
                        bump(&mut state.affinity, &term.topology_key, v, 1);
                    }
                }
            }
        }
    }
    state.matches_itself = pod.required_affinity.iter().all(|t| selects(t, pod, ns));
    Some(state)
}

pub fn filter(state: &State, pod: &PodInfo, node: &NodeInfo) -> Result<(), Failure> {
    for (key, values) in &state.existing_anti {
        if let Some(v) = node.labels.get(key)
            && values.get(v).is_some_and(|c| *c > 0)
        {
            return Err(Failure::resolvable(EXISTING_ANTI));
        }
    }
    for term in &pod.required_anti_affinity {
        if let Some(v) = node.labels.get(&term.topology_key)
            && get(&state.anti, &term.topology_key, v) > 0
        {
            return Err(Failure::resolvable(ANTI));
        }
    }
    if !pod.required_affinity.is_empty() {
        let all_here = pod.required_affinity.iter().all(|t| {
            node.labels
                .get(&t.topology_key)
                .is_some_and(|v| get(&state.affinity, &t.topology_key, v) > 0)
        });
        if !all_here {
            // No matching pod anywhere and the pod matches its own terms: it starts the group.
            let none_anywhere = state.affinity.values().all(|m| m.values().all(|c| *c == 0));
            let has_keys = pod
                .required_affinity
                .iter()
                .all(|t| node.labels.contains_key(&t.topology_key));
            if !(none_anywhere && state.matches_itself && has_keys) {
                return Err(Failure::unresolvable(AFFINITY));
            }
        }
    }
    Ok(())
}

/// Domain weights for scoring: the pod's preferred terms over placed pods, and placed pods'
/// terms (preferred, and required affinity with weight 1) over the pod.
#[derive(Debug, Default)]
pub struct ScoreState {
    domains: Domains,
}

pub fn prescore(pod: &PodInfo, cache: &Cache) -> Option<ScoreState> {
    let ns = &cache.namespaces;
    let own = !pod.preferred_affinity.is_empty() || !pod.preferred_anti_affinity.is_empty();
    let any_existing = cache.nodes().iter().any(|n| n.affinity_pods > 0);
    if !own && !any_existing {
        return None;
    }
    let mut s = ScoreState::default();
    for node in cache.nodes() {
        if !own && node.affinity_pods == 0 {
            continue;
        }
        for other in &node.pods {
            let mut add = |term: &AffinityTerm, w: i64, target: &PodInfo| {
                if let Some(v) = node.labels.get(&term.topology_key)
                    && selects(term, target, ns)
                {
                    bump(&mut s.domains, &term.topology_key, v, w);
                }
            };
            for (w, t) in &pod.preferred_affinity {
                add(t, *w, other);
            }
            for (w, t) in &pod.preferred_anti_affinity {
                add(t, -*w, other);
            }
            for (w, t) in &other.preferred_affinity {
                add(t, *w, pod);
            }
            for (w, t) in &other.preferred_anti_affinity {
                add(t, -*w, pod);
            }
            for t in &other.required_affinity {
                add(t, 1, pod);
            }
        }
    }
    Some(s)
}

/// Raw score (may be negative; normalized over min and max).
pub fn score(state: &ScoreState, node: &NodeInfo) -> i64 {
    state
        .domains
        .iter()
        .filter_map(|(k, values)| node.labels.get(k).and_then(|v| values.get(v)))
        .sum()
}
