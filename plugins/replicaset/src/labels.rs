//! Label selectors in the spellings the Rhai `selector_matches` helper accepts, so the plugin
//! reads selectors exactly as the script does.

use std::collections::BTreeMap;

use skiff_api::selector::LabelSelector;
use skiff_plugin_sdk::Value;

/// Why a selector or a label map could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The selector does not parse.
    #[error("invalid label selector")]
    Invalid(#[source] skiff_api::selector::Error),
    /// A label map holds a non-string value.
    #[error("label {0} must be a string")]
    NotAString(String),
}

/// Reads a selector: `null` selects everything, a map with `matchLabels`/`matchExpressions`
/// is a `metav1.LabelSelector`, any other map is a label map, a string is `kubectl -l` syntax.
// Mirrors skiff-runtime's `selector::from_value`; a plugin cannot link the host crate.
pub fn selector(value: &Value) -> Result<LabelSelector, Error> {
    match value {
        Value::Null => Ok(LabelSelector::everything()),
        Value::String(text) => LabelSelector::parse(text).map_err(Error::Invalid),
        Value::Object(map)
            if map.contains_key("matchLabels") || map.contains_key("matchExpressions") =>
        {
            LabelSelector::from_json(value).map_err(Error::Invalid)
        }
        Value::Object(_) => Ok(LabelSelector::from_labels(&labels(value)?)),
        other => LabelSelector::from_json(other).map_err(Error::Invalid),
    }
}

/// A label map (`null` is empty); a non-string value is an error, as in the script helper.
pub fn labels(value: &Value) -> Result<BTreeMap<String, String>, Error> {
    let Some(map) = value.as_object() else {
        return Ok(BTreeMap::new());
    };
    map.iter()
        .map(|(key, value)| {
            value
                .as_str()
                .map(|v| (key.clone(), v.to_string()))
                .ok_or_else(|| Error::NotAString(key.clone()))
        })
        .collect()
}

/// Whether `selector` (any spelling) selects an object carrying `labels`.
pub fn matches(selector_value: &Value, labels_value: &Value) -> Result<bool, Error> {
    Ok(selector(selector_value)?.matches(&labels(labels_value)?))
}

#[cfg(test)]
mod tests {
    use skiff_plugin_sdk::json;

    use super::*;

    #[test]
    fn every_spelling_of_a_selector_is_understood() {
        let web = json!({"app": "web", "tier": "front"});
        for selector in [
            json!({"app": "web"}),
            json!({"matchLabels": {"app": "web"}}),
            json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]}),
            json!("app=web"),
        ] {
            assert!(matches(&selector, &web).unwrap(), "{selector}");
            assert!(
                !matches(&selector, &json!({"app": "db"})).unwrap(),
                "{selector}"
            );
        }
    }

    #[test]
    fn a_missing_selector_selects_everything_and_missing_labels_are_empty() {
        assert!(matches(&Value::Null, &json!({"x": "y"})).unwrap());
        assert!(!matches(&json!({"app": "web"}), &Value::Null).unwrap());
    }

    #[test]
    fn a_non_string_label_is_an_error() {
        assert!(matches(&json!({"app": "web"}), &json!({"app": 3})).is_err());
        assert!(matches(&json!("app in ("), &json!({})).is_err());
    }
}
