//! Node selector terms (`nodeSelectorTerms`, preferred node affinity), compiled once per pod.
//!
//! Node affinity allows `Gt`/`Lt` on integer label values and `matchFields` on
//! `metadata.name`, which label selectors do not, so matching is written here.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{NodeSelectorRequirement, NodeSelectorTerm};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    In,
    NotIn,
    Exists,
    DoesNotExist,
    Gt,
    Lt,
}

/// One `key op values` requirement on a node label or field.
#[derive(Clone, Debug)]
struct Expr {
    key: String,
    op: Op,
    values: Vec<String>,
}

impl Expr {
    fn compile(r: &NodeSelectorRequirement) -> Option<Expr> {
        let op = match r.operator.as_str() {
            "In" => Op::In,
            "NotIn" => Op::NotIn,
            "Exists" => Op::Exists,
            "DoesNotExist" => Op::DoesNotExist,
            "Gt" => Op::Gt,
            "Lt" => Op::Lt,
            _ => return None,
        };
        Some(Expr {
            key: r.key.clone(),
            op,
            values: r.values.clone().unwrap_or_default(),
        })
    }

    fn matches(&self, value: Option<&str>) -> bool {
        match self.op {
            Op::In => value.is_some_and(|v| self.values.iter().any(|x| x == v)),
            Op::NotIn => value.is_none_or(|v| !self.values.iter().any(|x| x == v)),
            Op::Exists => value.is_some(),
            Op::DoesNotExist => value.is_none(),
            Op::Gt | Op::Lt => {
                let (Some(v), [want]) = (value, self.values.as_slice()) else {
                    return false;
                };
                let (Ok(v), Ok(want)) = (v.parse::<i64>(), want.parse::<i64>()) else {
                    return false;
                };
                if self.op == Op::Gt {
                    v > want
                } else {
                    v < want
                }
            }
        }
    }
}

/// One term: all label expressions and all field expressions must hold. A term that is empty
/// or has an invalid requirement matches no node, as upstream.
#[derive(Clone, Debug)]
pub struct Term {
    labels: Vec<Expr>,
    fields: Vec<Expr>,
    valid: bool,
}

impl Term {
    pub fn compile(t: &NodeSelectorTerm) -> Term {
        let mut valid = true;
        let mut compile = |list: &Option<Vec<NodeSelectorRequirement>>| -> Vec<Expr> {
            list.iter()
                .flatten()
                .filter_map(|r| {
                    let e = Expr::compile(r);
                    valid &= e.is_some();
                    e
                })
                .collect()
        };
        let labels = compile(&t.match_expressions);
        let fields = compile(&t.match_fields);
        let fields_ok = fields.iter().all(|f| f.key == "metadata.name");
        Term {
            valid: valid && fields_ok && !(labels.is_empty() && fields.is_empty()),
            labels,
            fields,
        }
    }

    pub fn matches(&self, name: &str, labels: &BTreeMap<String, String>) -> bool {
        self.valid
            && self
                .labels
                .iter()
                .all(|e| e.matches(labels.get(&e.key).map(String::as_str)))
            && self.fields.iter().all(|e| e.matches(Some(name)))
    }
}

/// The required part of node placement: `spec.nodeSelector` and the required node affinity
/// terms (any one term must match).
#[derive(Clone, Debug, Default)]
pub struct RequiredNodeSelector {
    pub node_selector: BTreeMap<String, String>,
    pub terms: Option<Vec<Term>>,
}

impl RequiredNodeSelector {
    pub fn is_empty(&self) -> bool {
        self.node_selector.is_empty() && self.terms.is_none()
    }

    pub fn matches(&self, name: &str, labels: &BTreeMap<String, String>) -> bool {
        self.node_selector
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self
                .terms
                .as_ref()
                .is_none_or(|terms| terms.iter().any(|t| t.matches(name, labels)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn term(v: serde_json::Value) -> Term {
        Term::compile(&serde_json::from_value(v).unwrap())
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_operator_matches_like_upstream() {
        let l = labels(&[("zone", "a"), ("cores", "8")]);
        let cases = [
            (
                json!({"key": "zone", "operator": "In", "values": ["a", "b"]}),
                true,
            ),
            (
                json!({"key": "zone", "operator": "In", "values": ["b"]}),
                false,
            ),
            (
                json!({"key": "zone", "operator": "NotIn", "values": ["b"]}),
                true,
            ),
            (
                json!({"key": "zone", "operator": "NotIn", "values": ["a"]}),
                false,
            ),
            (json!({"key": "zone", "operator": "Exists"}), true),
            (json!({"key": "gpu", "operator": "Exists"}), false),
            (json!({"key": "gpu", "operator": "DoesNotExist"}), true),
            (json!({"key": "zone", "operator": "DoesNotExist"}), false),
            (
                json!({"key": "cores", "operator": "Gt", "values": ["4"]}),
                true,
            ),
            (
                json!({"key": "cores", "operator": "Gt", "values": ["8"]}),
                false,
            ),
            (
                json!({"key": "cores", "operator": "Lt", "values": ["16"]}),
                true,
            ),
            (
                json!({"key": "cores", "operator": "Lt", "values": ["2"]}),
                false,
            ),
            (
                json!({"key": "zone", "operator": "Gt", "values": ["1"]}),
                false,
            ),
            (
                json!({"key": "zone", "operator": "Bogus", "values": ["a"]}),
                false,
            ),
        ];
        for (expr, want) in cases {
            let t = term(json!({"matchExpressions": [expr.clone()]}));
            assert_eq!(t.matches("n1", &l), want, "{expr}");
        }
    }

    #[test]
    fn match_fields_select_by_node_name_and_empty_terms_match_nothing() {
        let t = term(
            json!({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}),
        );
        assert!(t.matches("n1", &BTreeMap::new()));
        assert!(!t.matches("n2", &BTreeMap::new()));
        assert!(!term(json!({})).matches("n1", &BTreeMap::new()));
        let bad = term(
            json!({"matchFields": [{"key": "metadata.uid", "operator": "In", "values": ["x"]}]}),
        );
        assert!(!bad.matches("n1", &BTreeMap::new()));
    }
}
