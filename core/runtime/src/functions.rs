//! Pure helper functions offered to controllers: hashes, quantities, times, cron schedules,
//! int-or-percent values.

use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde_json::Value;

/// Why a helper refused its input.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A quantity does not parse.
    #[error("invalid quantity {text:?}")]
    Quantity {
        /// The input.
        text: String,
        /// The parser's reason.
        #[source]
        source: skiff_api::validation::quantity::Error,
    },
    /// A time does not parse as RFC 3339.
    #[error("invalid time {text:?}")]
    Time {
        /// The input.
        text: String,
        /// The parser's reason.
        #[source]
        source: chrono::ParseError,
    },
    /// A cron schedule does not parse or never fires.
    #[error("invalid cron schedule {schedule:?}")]
    Cron {
        /// The input.
        schedule: String,
        /// The parser's reason.
        #[source]
        source: croner::errors::CronError,
    },
    /// An epoch time is out of range.
    #[error("time {0} is out of range")]
    OutOfRange(f64),
    /// An int-or-percent value is neither.
    #[error("invalid int-or-percent value {0}")]
    IntOrPercent(String),
}

/// FNV-1a, 32 bits (written by hand: four lines, and the one crate offering it here only has
/// the 64-bit variant).
pub fn fnv32a(data: &[u8]) -> u32 {
    data.iter().fold(0x811c_9dc5u32, |hash, byte| {
        (hash ^ u32::from(*byte)).wrapping_mul(0x0100_0193)
    })
}

/// The alphabet of upstream's generated names: no vowels, no look-alike characters.
const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Upstream's `rand.SafeEncodeString`: maps each byte to [`ALPHANUMS`], so hashes never
/// spell words.
pub fn safe_encode(text: &str) -> String {
    text.bytes()
        .map(|b| ALPHANUMS[usize::from(b) % ALPHANUMS.len()] as char)
        .collect()
}

fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let sorted: std::collections::BTreeMap<&String, Value> =
                map.iter().map(|(k, v)| (k, canonical(v))).collect();
            serde_json::to_value(sorted).unwrap_or(Value::Null)
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// A short stable hash of a value (FNV-32a of its canonical JSON, safe-encoded like
/// upstream's pod-template-hash). Map key order does not matter.
pub fn hash(value: &Value) -> String {
    let json = serde_json::to_string(&canonical(value)).unwrap_or_default();
    safe_encode(&fnv32a(json.as_bytes()).to_string())
}

/// A random string of `n` characters from the safe alphabet (for generated names).
pub fn random_suffix(n: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..n)
        .map(|_| ALPHANUMS[rng.random_range(0..ALPHANUMS.len())] as char)
        .collect()
}

/// A quantity (`100m`, `1Gi`) as a float of units.
pub fn parse_quantity(text: &str) -> Result<f64, Error> {
    skiff_api::validation::quantity::parse(text)
        .map(|q| q.as_f64())
        .map_err(|source| Error::Quantity {
            text: text.to_string(),
            source,
        })
}

/// An RFC 3339 time as epoch seconds.
pub fn parse_time(text: &str) -> Result<f64, Error> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp() as f64 + f64::from(t.timestamp_subsec_nanos()) / 1e9)
        .map_err(|source| Error::Time {
            text: text.to_string(),
            source,
        })
}

fn to_datetime(epoch_seconds: f64) -> Result<DateTime<Utc>, Error> {
    let secs = epoch_seconds.floor();
    let nanos = ((epoch_seconds - secs) * 1e9) as u32;
    Utc.timestamp_opt(secs as i64, nanos)
        .single()
        .ok_or(Error::OutOfRange(epoch_seconds))
}

/// Epoch seconds as RFC 3339 in UTC, whole seconds (the Kubernetes `Time` format).
pub fn format_time(epoch_seconds: f64) -> Result<String, Error> {
    Ok(to_datetime(epoch_seconds)?.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// The current time as epoch seconds.
pub fn now() -> f64 {
    let now = Utc::now();
    now.timestamp() as f64 + f64::from(now.timestamp_subsec_nanos()) / 1e9
}

/// The first time strictly after `after` (epoch seconds) that a standard five-field cron
/// schedule or an `@hourly`-style descriptor fires, in UTC.
pub fn cron_next(schedule: &str, after: f64) -> Result<f64, Error> {
    let trimmed = schedule.trim();
    let expanded = match trimmed {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        other => other,
    };
    let error = |source| Error::Cron {
        schedule: schedule.to_string(),
        source,
    };
    let cron = croner::Cron::from_str(expanded).map_err(error)?;
    let next = cron
        .find_next_occurrence(&to_datetime(after)?, false)
        .map_err(error)?;
    Ok(next.timestamp() as f64)
}

/// Resolves an int-or-percent (`3`, `"3"`, `"25%"`) against `total`, rounding a percentage up
/// or down, as the caller asks (surge-style limits round up, availability-style limits down).
pub fn int_or_percent(value: &Value, total: i64, round_up: bool) -> Result<i64, Error> {
    match value {
        Value::Number(n) => n.as_i64().ok_or_else(|| Error::IntOrPercent(n.to_string())),
        Value::String(text) => {
            if let Some(percent) = text.strip_suffix('%') {
                let percent: i64 = percent
                    .trim()
                    .parse()
                    .map_err(|_| Error::IntOrPercent(text.clone()))?;
                let scaled = percent * total;
                Ok(if round_up {
                    (scaled + 99).div_euclid(100)
                } else {
                    scaled.div_euclid(100)
                })
            } else {
                text.trim()
                    .parse()
                    .map_err(|_| Error::IntOrPercent(text.clone()))
            }
        }
        other => Err(Error::IntOrPercent(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn fnv32a_matches_the_reference_vectors() {
        assert_eq!(fnv32a(b""), 0x811c9dc5);
        assert_eq!(fnv32a(b"a"), 0xe40c292c);
        assert_eq!(fnv32a(b"foobar"), 0xbf9cf968);
    }

    #[test]
    fn hash_ignores_key_order_and_uses_the_safe_alphabet() {
        let a = hash(&json!({"x": 1, "y": {"b": 2, "a": 1}}));
        let b = hash(&json!({"y": {"a": 1, "b": 2}, "x": 1}));
        assert_eq!(a, b);
        assert_ne!(a, hash(&json!({"x": 2})));
        assert!(a.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
    }

    #[test]
    fn random_suffixes_have_the_asked_length_and_differ() {
        let a = random_suffix(5);
        assert_eq!(a.len(), 5);
        assert!((0..20).any(|_| random_suffix(5) != a));
    }

    #[test]
    fn quantities_parse_to_units() {
        assert_eq!(parse_quantity("100m").unwrap(), 0.1);
        assert_eq!(parse_quantity("1Ki").unwrap(), 1024.0);
        assert!(parse_quantity("abc").is_err());
    }

    #[test]
    fn times_round_trip() {
        let t = parse_time("2024-05-01T10:00:00Z").unwrap();
        assert_eq!(t, 1714557600.0);
        assert_eq!(format_time(t).unwrap(), "2024-05-01T10:00:00Z");
    }

    #[test]
    fn cron_finds_the_next_run_after_a_time() {
        let t = parse_time("2024-05-01T10:07:00Z").unwrap();
        assert_eq!(
            format_time(cron_next("*/15 * * * *", t).unwrap()).unwrap(),
            "2024-05-01T10:15:00Z"
        );
        assert_eq!(
            format_time(cron_next("@hourly", t).unwrap()).unwrap(),
            "2024-05-01T11:00:00Z"
        );
        assert_eq!(
            format_time(cron_next("@daily", t).unwrap()).unwrap(),
            "2024-05-02T00:00:00Z"
        );
        assert!(cron_next("not a schedule", t).is_err());
    }

    #[test]
    fn int_or_percent_rounds_as_asked() {
        assert_eq!(int_or_percent(&json!(3), 10, false).unwrap(), 3);
        assert_eq!(int_or_percent(&json!("25%"), 10, true).unwrap(), 3);
        assert_eq!(int_or_percent(&json!("25%"), 10, false).unwrap(), 2);
        assert!(int_or_percent(&json!("x%"), 10, false).is_err());
    }
}
