//! ConfigMap and Secret checks: keys, values, total size, and the typed Secret layouts.

use base64::Engine as _;
use serde_json::Value;

use super::field::{self, Path};
use super::names;
use crate::status::StatusCause;

/// Upstream's cap on the data of one ConfigMap or Secret.
pub const MAX_DATA_SIZE: usize = 1024 * 1024;

fn check_keys(map: Option<&Value>, path: &Path, causes: &mut Vec<StatusCause>) -> Vec<String> {
    let mut keys = Vec::new();
    let Some(map) = map.and_then(Value::as_object) else {
        return keys;
    };
    for (k, v) in map {
        let p = path.key(k);
        causes.extend(field::invalid_each(&p, k, names::config_map_key(k)));
        if !v.is_string() {
            causes.push(field::invalid(&p, v, "must be a string"));
        }
        keys.push(k.clone());
    }
    keys
}

fn size_of(map: Option<&Value>, decode: bool) -> usize {
    map.and_then(Value::as_object)
        .map(|m| {
            m.values()
                .filter_map(Value::as_str)
                .map(|s| if decode { s.len() / 4 * 3 } else { s.len() })
                .sum()
        })
        .unwrap_or(0)
}

pub fn validate_config_map(obj: &Value) -> Vec<StatusCause> {
    let mut causes = Vec::new();
    let data = check_keys(obj.get("data"), &Path::new("data"), &mut causes);
    let binary = check_keys(obj.get("binaryData"), &Path::new("binaryData"), &mut causes);
    for k in &data {
        if binary.contains(k) {
            causes.push(field::invalid_str(
                &Path::new("data").key(k),
                k,
                "duplicate of key present in binaryData",
            ));
        }
    }
    check_base64(obj.get("binaryData"), &Path::new("binaryData"), &mut causes);
    if size_of(obj.get("data"), false) + size_of(obj.get("binaryData"), true) > MAX_DATA_SIZE {
        causes.push(field::too_long(&Path::new("data"), MAX_DATA_SIZE));
    }
    causes
}

fn check_base64(map: Option<&Value>, path: &Path, causes: &mut Vec<StatusCause>) {
    let Some(map) = map.and_then(Value::as_object) else {
        return;
    };
    for (k, v) in map {
        if let Some(s) = v.as_str()
            && let Err(e) = base64::engine::general_purpose::STANDARD.decode(s)
        {
            causes.push(field::invalid_str(
                &path.key(k),
                s,
                &format!("illegal base64 data: {e}"),
            ));
        }
    }
}

pub fn validate_secret(obj: &Value) -> Vec<StatusCause> {
    let mut causes = Vec::new();
    let mut keys = check_keys(obj.get("data"), &Path::new("data"), &mut causes);
    check_base64(obj.get("data"), &Path::new("data"), &mut causes);
    keys.extend(check_keys(
        obj.get("stringData"),
        &Path::new("stringData"),
        &mut causes,
    ));
    if size_of(obj.get("data"), true) + size_of(obj.get("stringData"), false) > MAX_DATA_SIZE {
        causes.push(field::too_long(&Path::new("data"), MAX_DATA_SIZE));
    }
    let required: &[&str] = match obj.get("type").and_then(Value::as_str) {
        Some("kubernetes.io/tls") => &["tls.crt", "tls.key"],
        Some("kubernetes.io/dockerconfigjson") => &[".dockerconfigjson"],
        Some("kubernetes.io/dockercfg") => &[".dockercfg"],
        Some("kubernetes.io/ssh-auth") => &["ssh-privatekey"],
        _ => &[],
    };
    for key in required {
        if !keys.iter().any(|k| k == key) {
            causes.push(field::required(&Path::new("data").key(key), ""));
        }
    }
    if obj.get("type").and_then(Value::as_str) == Some("kubernetes.io/service-account-token")
        && obj
            .pointer("/metadata/annotations/kubernetes.io~1service-account.name")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
    {
        causes.push(field::required(
            &Path::new("metadata")
                .child("annotations")
                .key("kubernetes.io/service-account.name"),
            "",
        ));
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
    fn config_map_keys_must_be_file_names() {
        assert!(validate_config_map(&json!({"data": {"app.conf": "x", "KEY_1": "y"}})).is_empty());
        let m = messages(validate_config_map(&json!({"data": {"a/b": "x", "n": 1}})));
        assert_eq!(m.len(), 2, "{m:?}");
        assert!(m[0].starts_with("data[a/b]: Invalid value: \"a/b\": a valid config key must consist of alphanumeric characters"));
        assert_eq!(m[1], "data[n]: Invalid value: 1: must be a string");
    }

    #[test]
    fn config_map_keys_may_not_repeat_across_data_and_binary_data() {
        let m = messages(validate_config_map(
            &json!({"data": {"k": "x"}, "binaryData": {"k": "eA=="}}),
        ));
        assert_eq!(
            m,
            vec!["data[k]: Invalid value: \"k\": duplicate of key present in binaryData"]
        );
    }

    #[test]
    fn config_maps_are_capped_at_one_mebibyte() {
        let m = messages(validate_config_map(
            &json!({"data": {"k": "x".repeat(MAX_DATA_SIZE + 1)}}),
        ));
        assert_eq!(
            m,
            vec!["data: Too long: may not be more than 1048576 bytes"]
        );
    }

    #[test]
    fn secret_data_must_be_base64() {
        assert!(validate_secret(&json!({"data": {"password": "c2VjcmV0"}})).is_empty());
        let m = messages(validate_secret(
            &json!({"data": {"password": "not base64!"}}),
        ));
        assert_eq!(m.len(), 1);
        assert!(
            m[0].starts_with("data[password]: Invalid value: \"not base64!\": illegal base64 data")
        );
    }

    #[test]
    fn typed_secrets_need_their_keys() {
        let m = messages(validate_secret(
            &json!({"type": "kubernetes.io/tls", "data": {"tls.crt": "eA=="}}),
        ));
        assert_eq!(m, vec!["data[tls.key]: Required value"]);
        assert!(validate_secret(&json!({"type": "kubernetes.io/tls", "data": {"tls.crt": "eA=="}, "stringData": {"tls.key": "k"}})).is_empty());
        let m = messages(validate_secret(
            &json!({"type": "kubernetes.io/service-account-token"}),
        ));
        assert_eq!(
            m,
            vec!["metadata.annotations[kubernetes.io/service-account.name]: Required value"]
        );
    }
}
