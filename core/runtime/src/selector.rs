//! The three spellings of a label selector a controller may pass: a label map, a
//! `metav1.LabelSelector` map, or a `kubectl -l` string.

use serde_json::Value;
use skiff_api::selector::LabelSelector;

/// Why a selector could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The selector does not parse.
    #[error("invalid label selector")]
    Invalid(#[source] skiff_api::selector::Error),
    /// A label map holds a non-string value.
    #[error("label {0} must be a string")]
    NotAString(String),
}

/// Reads a selector; `null` and `""` select everything.
pub fn from_value(selector: &Value) -> Result<LabelSelector, Error> {
    match selector {
        Value::Null => Ok(LabelSelector::everything()),
        Value::String(text) => LabelSelector::parse(text).map_err(Error::Invalid),
        Value::Object(map)
            if map.contains_key("matchLabels") || map.contains_key("matchExpressions") =>
        {
            LabelSelector::from_json(selector).map_err(Error::Invalid)
        }
        Value::Object(map) => {
            let mut labels = std::collections::BTreeMap::new();
            for (key, value) in map {
                let value = value
                    .as_str()
                    .ok_or_else(|| Error::NotAString(key.clone()))?;
                labels.insert(key.clone(), value.to_string());
            }
            Ok(LabelSelector::from_labels(&labels))
        }
        other => LabelSelector::from_json(other).map_err(Error::Invalid),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn labels(value: Value) -> std::collections::BTreeMap<String, String> {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn every_spelling_selects_the_same_objects() {
        let web = labels(json!({"app": "web", "tier": "front"}));
        let db = labels(json!({"app": "db"}));
        for selector in [
            json!({"app": "web"}),
            json!({"matchLabels": {"app": "web"}}),
            json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]}),
            json!("app=web"),
            json!("app in (web),tier"),
        ] {
            let selector = from_value(&selector).unwrap();
            assert!(selector.matches(&web), "{selector} should match web");
            assert!(!selector.matches(&db), "{selector} should not match db");
        }
    }

    #[test]
    fn null_selects_everything() {
        assert!(
            from_value(&Value::Null)
                .unwrap()
                .matches(&labels(json!({"x": "y"})))
        );
    }

    #[test]
    fn a_broken_string_is_an_error() {
        assert!(from_value(&json!("app in (")).is_err());
        assert!(from_value(&json!({"app": 3})).is_err());
    }
}
