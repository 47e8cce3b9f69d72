//! Pod affinity terms (`podAffinity`, `podAntiAffinity`), compiled once per pod.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::PodAffinityTerm;
use skiff_api::selector::LabelSelector;

/// Labels of every namespace, for `namespaceSelector`.
pub type NamespaceLabels = HashMap<String, BTreeMap<String, String>>;

/// One compiled term: which pods it selects and over which topology domain.
#[derive(Clone, Debug)]
pub struct AffinityTerm {
    pub selector: LabelSelector,
    pub namespaces: Vec<String>,
    pub namespace_selector: Option<LabelSelector>,
    pub topology_key: String,
}

impl AffinityTerm {
    /// Compiles a term of a pod in `own_namespace`. A term without namespaces and without a
    /// namespace selector covers the pod's own namespace, as upstream. A selector that cannot
    /// be parsed selects nothing.
    pub fn compile(t: &PodAffinityTerm, own_namespace: &str) -> AffinityTerm {
        let selector = t
            .label_selector
            .as_ref()
            .map(|s| {
                serde_json::to_value(s)
                    .ok()
                    .and_then(|v| LabelSelector::from_json(&v).ok())
                    .unwrap_or_else(LabelSelector::nothing)
            })
            .unwrap_or_else(LabelSelector::nothing);
        let namespace_selector = t.namespace_selector.as_ref().map(|s| {
            serde_json::to_value(s)
                .ok()
                .and_then(|v| LabelSelector::from_json(&v).ok())
                .unwrap_or_else(LabelSelector::nothing)
        });
        let mut namespaces = t.namespaces.clone().unwrap_or_default();
        if namespaces.is_empty() && namespace_selector.is_none() {
            namespaces.push(own_namespace.to_string());
        }
        AffinityTerm {
            selector,
            namespaces,
            namespace_selector,
            topology_key: t.topology_key.clone(),
        }
    }

    /// A label (key and value) every pod this term selects carries, when its selector
    /// requires one: the key under which placed pods are looked up instead of walking all.
    pub fn required_label(&self) -> Option<(&str, &str)> {
        use skiff_api::selector::Operator;
        self.selector
            .requirements()
            .iter()
            .find_map(|r| match (r.operator, &r.values[..]) {
                (Operator::Equals | Operator::DoubleEquals | Operator::In, [value]) => {
                    Some((r.key.as_str(), value.as_str()))
                }
                _ => None,
            })
    }

    /// Whether a pod in `namespace` with `labels` is selected by this term.
    pub fn matches(
        &self,
        namespace: &str,
        labels: &BTreeMap<String, String>,
        ns_labels: &NamespaceLabels,
    ) -> bool {
        let in_namespace = self.namespaces.iter().any(|n| n == namespace)
            || self.namespace_selector.as_ref().is_some_and(|sel| {
                sel.is_everything() || ns_labels.get(namespace).is_some_and(|l| sel.matches(l))
            });
        in_namespace && self.selector.matches(labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn term(v: serde_json::Value) -> AffinityTerm {
        AffinityTerm::compile(&serde_json::from_value(v).unwrap(), "default")
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn terms_cover_the_own_namespace_unless_told_otherwise() {
        let t = term(json!({"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "h"}));
        let ns = NamespaceLabels::new();
        assert!(t.matches("default", &labels(&[("app", "web")]), &ns));
        assert!(!t.matches("other", &labels(&[("app", "web")]), &ns));
        assert!(!t.matches("default", &labels(&[("app", "db")]), &ns));
    }

    #[test]
    fn namespace_selectors_match_namespace_labels_and_empty_means_all() {
        let mut ns = NamespaceLabels::new();
        ns.insert("prod".into(), labels(&[("env", "prod")]));
        ns.insert("dev".into(), labels(&[("env", "dev")]));
        let t = term(
            json!({"labelSelector": {}, "namespaceSelector": {"matchLabels": {"env": "prod"}}, "topologyKey": "h"}),
        );
        assert!(t.matches("prod", &BTreeMap::new(), &ns));
        assert!(!t.matches("dev", &BTreeMap::new(), &ns));
        assert!(!t.matches("default", &BTreeMap::new(), &ns));
        let all = term(json!({"labelSelector": {}, "namespaceSelector": {}, "topologyKey": "h"}));
        assert!(all.matches("dev", &BTreeMap::new(), &ns));
        let none = term(json!({"topologyKey": "h"}));
        assert!(!none.matches("default", &BTreeMap::new(), &ns));
    }
}
