//! Namespace, Node and HorizontalPodAutoscaler checks.

use serde_json::Value;

use super::field::{self, Path};
use super::pod::check_enum;
use super::{as_array, check_min, names, str_of};
use crate::status::StatusCause;

pub fn validate_namespace(obj: &Value) -> Vec<StatusCause> {
    let mut causes = Vec::new();
    let path = Path::new("spec").child("finalizers");
    for (i, f) in as_array(obj.pointer("/spec/finalizers")).iter().enumerate() {
        let p = path.index(i);
        match f.as_str() {
            Some(s) => causes.extend(field::invalid_each(&p, s, names::qualified_name(s))),
            None => causes.push(field::invalid(&p, f, "must be a string")),
        }
    }
    causes
}

pub fn validate_node(obj: &Value) -> Vec<StatusCause> {
    let mut causes = Vec::new();
    let path = Path::new("spec").child("taints");
    for (i, t) in as_array(obj.pointer("/spec/taints")).iter().enumerate() {
        let p = path.index(i);
        let key = str_of(t, "key");
        if key.is_empty() {
            causes.push(field::required(&p.child("key"), ""));
        } else {
            causes.extend(field::invalid_each(
                &p.child("key"),
                key,
                names::qualified_name(key),
            ));
        }
        let value = str_of(t, "value");
        causes.extend(field::invalid_each(
            &p.child("value"),
            value,
            names::label_value(value),
        ));
        match t.get("effect").filter(|v| !v.is_null()) {
            None => causes.push(field::required(&p.child("effect"), "")),
            Some(e) => check_enum(
                e,
                &p.child("effect"),
                &["NoExecute", "NoSchedule", "PreferNoSchedule"],
                &mut causes,
            ),
        }
    }
    for (key, cidrs) in [
        (
            "podCIDR",
            obj.pointer("/spec/podCIDR").into_iter().collect::<Vec<_>>(),
        ),
        (
            "podCIDRs",
            as_array(obj.pointer("/spec/podCIDRs")).iter().collect(),
        ),
    ] {
        for c in cidrs {
            let s = c.as_str().unwrap_or_default();
            if !s.is_empty() && !is_cidr(s) {
                causes.push(field::invalid_str(
                    &Path::new("spec").child(key),
                    s,
                    "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
                ));
            }
        }
    }
    causes
}

fn is_cidr(s: &str) -> bool {
    let Some((ip, bits)) = s.split_once('/') else {
        return false;
    };
    let Ok(ip) = ip.parse::<std::net::IpAddr>() else {
        return false;
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    bits.parse::<u8>().is_ok_and(|b| b <= max)
}

pub fn validate_hpa(obj: &Value) -> Vec<StatusCause> {
    let mut causes = Vec::new();
    let path = Path::new("spec");
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    let target = spec.get("scaleTargetRef").unwrap_or(&Value::Null);
    for key in ["kind", "name"] {
        if str_of(target, key).is_empty() {
            causes.push(field::required(
                &path.child("scaleTargetRef").child(key),
                "",
            ));
        }
    }
    check_min(spec, "minReplicas", &path, 1, &mut causes);
    match spec.get("maxReplicas").and_then(Value::as_i64) {
        None => causes.push(field::required(&path.child("maxReplicas"), "")),
        Some(max) => {
            let min = spec.get("minReplicas").and_then(Value::as_i64).unwrap_or(1);
            if max < 1 {
                causes.push(field::invalid(
                    &path.child("maxReplicas"),
                    &Value::from(max),
                    "must be greater than or equal to 1",
                ));
            } else if max < min {
                causes.push(field::invalid(
                    &path.child("maxReplicas"),
                    &Value::from(max),
                    "must be greater than or equal to `minReplicas`",
                ));
            }
        }
    }
    causes
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(causes: Vec<StatusCause>) -> Vec<String> {
        causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    #[test]
    fn namespace_finalizers_are_qualified_names() {
        assert!(validate_namespace(&json!({"spec": {"finalizers": ["kubernetes"]}})).is_empty());
        assert_eq!(
            validate_namespace(&json!({"spec": {"finalizers": ["a b"]}}))[0].field,
            "spec.finalizers[0]"
        );
    }

    #[test]
    fn node_taints_need_a_key_and_a_known_effect() {
        assert!(validate_node(&json!({"spec": {"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}], "podCIDR": "10.244.0.0/24"}})).is_empty());
        assert_eq!(
            messages(validate_node(
                &json!({"spec": {"taints": [{"effect": "Evict"}], "podCIDR": "10.244.0.0/33"}})
            )),
            vec![
                "spec.taints[0].key: Required value",
                "spec.taints[0].effect: Unsupported value: \"Evict\": supported values: \"NoExecute\", \"NoSchedule\", \"PreferNoSchedule\"",
                "spec.podCIDR: Invalid value: \"10.244.0.0/33\": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
            ]
        );
    }

    #[test]
    fn autoscalers_need_a_target_and_sane_bounds() {
        let ok = json!({"spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 1, "maxReplicas": 5}});
        assert!(validate_hpa(&ok).is_empty());
        assert_eq!(
            messages(validate_hpa(
                &json!({"spec": {"minReplicas": 3, "maxReplicas": 2}})
            )),
            vec![
                "spec.scaleTargetRef.kind: Required value",
                "spec.scaleTargetRef.name: Required value",
                "spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`",
            ]
        );
        assert_eq!(
            messages(validate_hpa(
                &json!({"spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 0, "maxReplicas": 2}})
            )),
            vec!["spec.minReplicas: Invalid value: 0: must be greater than or equal to 1"]
        );
    }
}
