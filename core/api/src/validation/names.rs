//! Name and key syntaxes (RFC 1123/1035 names, qualified names, label values, ports, env vars).
//!
//! Each check returns the list of upstream-worded problems (empty when valid), so callers can
//! wrap them in a field error with the path they know.

use std::sync::LazyLock;

use regex::Regex;

const DNS1123_LABEL: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_SUBDOMAIN: &str = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1035_LABEL: &str = "[a-z]([-a-z0-9]*[a-z0-9])?";
const QUALIFIED_NAME: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const LABEL_VALUE: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const CONFIG_KEY: &str = "[-._a-zA-Z0-9]+";
const ENV_VAR_NAME: &str = "[-._a-zA-Z][-._a-zA-Z0-9]*";

fn anchored(pattern: &str) -> Regex {
    Regex::new(&format!("^{pattern}$")).expect("built-in pattern compiles")
}

static DNS1123_LABEL_RE: LazyLock<Regex> = LazyLock::new(|| anchored(DNS1123_LABEL));
static DNS1123_SUBDOMAIN_RE: LazyLock<Regex> = LazyLock::new(|| anchored(DNS1123_SUBDOMAIN));
static DNS1035_LABEL_RE: LazyLock<Regex> = LazyLock::new(|| anchored(DNS1035_LABEL));
static QUALIFIED_NAME_RE: LazyLock<Regex> = LazyLock::new(|| anchored(QUALIFIED_NAME));
static LABEL_VALUE_RE: LazyLock<Regex> = LazyLock::new(|| anchored(LABEL_VALUE));
static CONFIG_KEY_RE: LazyLock<Regex> = LazyLock::new(|| anchored(CONFIG_KEY));
static ENV_VAR_NAME_RE: LazyLock<Regex> = LazyLock::new(|| anchored(ENV_VAR_NAME));
static PORT_NAME_CHARS_RE: LazyLock<Regex> = LazyLock::new(|| anchored("[-a-z0-9]+"));
static PORT_NAME_LETTER_RE: LazyLock<Regex> = LazyLock::new(|| Regex::new("[a-z]").unwrap());

/// Upstream's `regex used for validation is '...'` tail with its examples.
fn regex_error(what: &str, pattern: &str, examples: &[&str]) -> String {
    let examples: Vec<String> = examples.iter().map(|e| format!("'{e}'")).collect();
    format!(
        "{what} (e.g. {}, regex used for validation is '{pattern}')",
        examples.join(",  or ")
    )
}

pub fn max_len(max: usize) -> String {
    format!("must be no more than {max} characters")
}

/// RFC 1123 label: most object names that become DNS labels (namespaces, container names).
pub fn dns1123_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push(max_len(63));
    }
    if !DNS1123_LABEL_RE.is_match(value) {
        errs.push(regex_error(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
            DNS1123_LABEL,
            &["my-name", "123-abc"],
        ));
    }
    errs
}

/// RFC 1123 subdomain: the name rule of most kinds.
pub fn dns1123_subdomain(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 253 {
        errs.push(max_len(253));
    }
    if !DNS1123_SUBDOMAIN_RE.is_match(value) {
        errs.push(regex_error(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
            DNS1123_SUBDOMAIN,
            &["example.com"],
        ));
    }
    errs
}

/// RFC 1035 label: names that must start with a letter (services, CRD version names).
pub fn dns1035_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push(max_len(63));
    }
    if !DNS1035_LABEL_RE.is_match(value) {
        errs.push(regex_error(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character",
            DNS1035_LABEL,
            &["my-name", "abc-123"],
        ));
    }
    errs
}

/// `[prefix/]name`: label keys, annotation keys, finalizers.
pub fn qualified_name(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                for e in dns1123_subdomain(prefix) {
                    errs.push(format!("prefix part {e}"));
                }
            }
            *name
        }
        _ => {
            errs.push(regex_error(
                "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
                QUALIFIED_NAME,
                &["MyName", "my.name", "123-abc"],
            ) + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')");
            return errs;
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        errs.push(format!("name part {}", max_len(63)));
    }
    if !QUALIFIED_NAME_RE.is_match(name) {
        errs.push(format!(
            "name part {}",
            regex_error(
                "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
                QUALIFIED_NAME,
                &["MyName", "my.name", "123-abc"],
            )
        ));
    }
    errs
}

/// A label value: empty, or up to 63 characters of a restricted alphabet.
pub fn label_value(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push(max_len(63));
    }
    if !LABEL_VALUE_RE.is_match(value) {
        errs.push(regex_error(
            "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
            LABEL_VALUE,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errs
}

/// A key of a ConfigMap or Secret (it becomes a file name in volumes).
pub fn config_map_key(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 253 {
        errs.push(max_len(253));
    }
    if !CONFIG_KEY_RE.is_match(value) {
        errs.push(regex_error(
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
            CONFIG_KEY,
            &["key.name", "KEY_NAME", "key-name"],
        ));
    }
    if value == "." {
        errs.push("must not be '.'".into());
    } else if value == ".." {
        errs.push("must not be '..'".into());
    } else if value.starts_with("..") {
        errs.push("must not start with '..'".into());
    }
    errs
}

/// An environment variable name.
pub fn env_var_name(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if !ENV_VAR_NAME_RE.is_match(value) {
        errs.push(regex_error(
            "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit",
            ENV_VAR_NAME,
            &["my.env-name", "MY_ENV.NAME", "MyEnvName1"],
        ));
    }
    errs
}

/// A named port (`IANA_SVC_NAME`): at most 15 characters, lowercase, at least one letter.
pub fn port_name(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 15 {
        errs.push(max_len(15));
    }
    if !PORT_NAME_CHARS_RE.is_match(value) {
        errs.push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".into());
    }
    if !PORT_NAME_LETTER_RE.is_match(value) {
        errs.push("must contain at least one letter (a-z)".into());
    }
    if value.contains("--") {
        errs.push("must not contain consecutive hyphens".into());
    }
    if value.starts_with('-') || value.ends_with('-') {
        errs.push("must not begin or end with a hyphen".into());
    }
    errs
}

/// A name usable as one URL path segment (RBAC objects allow almost anything else).
pub fn path_segment(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value == "." || value == ".." {
        errs.push(format!("may not be '{value}'"));
    }
    for bad in ["/", "%"] {
        if value.contains(bad) {
            errs.push(format!("may not contain '{bad}'"));
        }
    }
    errs
}

/// A port number in 1..=65535.
pub fn port_number(port: i64) -> Vec<String> {
    if (1..=65535).contains(&port) {
        Vec::new()
    } else {
        vec!["must be between 1 and 65535, inclusive".into()]
    }
}

/// An IPv4 or IPv6 address.
pub fn ip_address(value: &str) -> Vec<String> {
    if value.parse::<std::net::IpAddr>().is_ok() {
        Vec::new()
    } else {
        vec!["must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)".into()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomains_accept_dotted_lowercase_names() {
        assert!(dns1123_subdomain("web-1.example.com").is_empty());
        assert!(dns1123_subdomain("0abc").is_empty());
        let errs = dns1123_subdomain("Bad_Name");
        assert_eq!(errs.len(), 1);
        assert!(errs[0].starts_with("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]"));
        assert!(!dns1123_subdomain("a-").is_empty());
        assert_eq!(
            dns1123_subdomain(&"a".repeat(254))[0],
            "must be no more than 253 characters"
        );
    }

    #[test]
    fn labels_reject_dots_and_long_names() {
        assert!(dns1123_label("my-ns").is_empty());
        assert!(!dns1123_label("my.ns").is_empty());
        assert_eq!(
            dns1123_label(&"a".repeat(64))[0],
            "must be no more than 63 characters"
        );
        assert!(dns1123_label(&"a".repeat(63)).is_empty());
    }

    #[test]
    fn dns1035_labels_must_start_with_a_letter() {
        assert!(dns1035_label("web").is_empty());
        assert!(dns1035_label("1web")[0].starts_with("a DNS-1035 label must consist"));
    }

    #[test]
    fn qualified_names_allow_one_subdomain_prefix() {
        assert!(qualified_name("app.kubernetes.io/name").is_empty());
        assert!(qualified_name("My_Key.1").is_empty());
        assert_eq!(qualified_name("/x"), vec!["prefix part must be non-empty"]);
        assert!(
            qualified_name("Example.com/x")[0]
                .starts_with("prefix part a lowercase RFC 1123 subdomain")
        );
        assert_eq!(qualified_name("a/")[0], "name part must be non-empty");
        assert!(
            qualified_name("bad key")[0]
                .starts_with("name part must consist of alphanumeric characters")
        );
        assert!(qualified_name("a/b/c")[0].starts_with("a qualified name must consist"));
        assert!(
            qualified_name(&"k".repeat(64))[0] == "name part must be no more than 63 characters"
        );
    }

    #[test]
    fn label_values_may_be_empty_but_not_slashed() {
        assert!(label_value("").is_empty());
        assert!(label_value("v1.2_3-a").is_empty());
        assert!(!label_value("a/b").is_empty());
        assert!(!label_value("-a").is_empty());
    }

    #[test]
    fn config_keys_allow_dots_but_not_dot_dot() {
        assert!(config_map_key("app.properties").is_empty());
        assert!(config_map_key(".hidden").is_empty());
        assert_eq!(config_map_key(".."), vec!["must not be '..'"]);
        assert!(!config_map_key("a/b").is_empty());
        assert_eq!(config_map_key("..x"), vec!["must not start with '..'"]);
    }

    #[test]
    fn env_names_must_not_start_with_a_digit() {
        assert!(env_var_name("MY_VAR.x-1").is_empty());
        assert!(!env_var_name("1VAR").is_empty());
    }

    #[test]
    fn port_names_need_a_letter_and_no_double_hyphen() {
        assert!(port_name("http").is_empty());
        assert!(port_name("h2-c").is_empty());
        assert_eq!(
            port_name("8080"),
            vec!["must contain at least one letter (a-z)"]
        );
        assert_eq!(
            port_name("a--b"),
            vec!["must not contain consecutive hyphens"]
        );
        assert!(!port_name("averyveryverylongname").is_empty());
        assert!(!port_name("HTTP").is_empty());
    }

    #[test]
    fn path_segments_forbid_slashes_and_dots() {
        assert!(path_segment("system:admin").is_empty());
        assert_eq!(path_segment(".."), vec!["may not be '..'"]);
        assert_eq!(path_segment("a/b"), vec!["may not contain '/'"]);
    }

    #[test]
    fn ports_and_addresses_are_range_checked() {
        assert!(port_number(1).is_empty());
        assert!(port_number(65535).is_empty());
        assert!(!port_number(0).is_empty());
        assert!(!port_number(65536).is_empty());
        assert!(ip_address("10.0.0.1").is_empty());
        assert!(ip_address("fd00::1").is_empty());
        assert!(!ip_address("10.0.0").is_empty());
    }
}
