//! Messages whose JSON form is not an object of their fields: apimachinery's custom
//! marshallers (IntOrString, Quantity, Time, MicroTime, Duration, raw JSON) and the
//! either-or types of CRD schemas. These few are written by hand: the field table cannot
//! express a custom `MarshalJSON`.

use serde_json::Value;

use super::schema::{Message, Schema};
use super::wire::{Raw, decode_fields, fields};
use super::{Error, decode_at, is_protobuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    /// `{type, intVal, strVal}` -> a number or a string.
    IntOrString,
    /// `{string}` -> the string.
    Quantity,
    /// `{seconds, nanos}` -> RFC 3339 to the second; an empty message (Go's zero time) -> null.
    Time,
    /// `{seconds, nanos}` -> RFC 3339 to the microsecond.
    MicroTime,
    /// `{duration}` in nanoseconds -> Go's duration string (`1h0m0s`).
    Duration,
    /// `{raw}` -> the JSON document (or nested protobuf object) it holds.
    RawJson,
    /// `{allows, schema}` -> the schema, else the boolean.
    SchemaOrBool,
    /// `{schema, jSONSchemas}` -> the schema, else the list of schemas.
    SchemaOrArray,
    /// `{schema, property}` -> the schema, else the list of strings.
    SchemaOrStringArray,
    /// A `+protobuf.nullable` wrapper (`ExtraValue`, `Verbs`) -> the bare list of its items.
    ListWrapper,
}

impl Special {
    /// The special form of a message, by its name in the table.
    pub fn of(name: &str) -> Option<Special> {
        let (module, short) = name.rsplit_once('.')?;
        let meta = module == "apimachinery.pkg.apis.meta.v1";
        let crd = module.starts_with("apiextensions_apiserver.");
        Some(match short {
            "IntOrString" if module == "apimachinery.pkg.util.intstr" => Special::IntOrString,
            "Quantity" | "QuantityValue" if module == "apimachinery.pkg.api.resource" => {
                Special::Quantity
            }
            "Time" if meta => Special::Time,
            "MicroTime" if meta => Special::MicroTime,
            "Duration" if meta => Special::Duration,
            "FieldsV1" if meta => Special::RawJson,
            "RawExtension" if module == "apimachinery.pkg.runtime" => Special::RawJson,
            "Json" if crd => Special::RawJson,
            "JsonSchemaPropsOrBool" if crd => Special::SchemaOrBool,
            "JsonSchemaPropsOrArray" if crd => Special::SchemaOrArray,
            "JsonSchemaPropsOrStringArray" if crd => Special::SchemaOrStringArray,
            _ => return None,
        })
    }
}

/// Reads a special message into its JSON form.
pub fn decode(
    special: Special,
    schema: &Schema,
    message: &Message,
    buf: &[u8],
    depth: u32,
) -> Result<Value, Error> {
    let wire = fields(&message.name, buf)?;
    let varint = |tag: u32| {
        wire.iter().rev().find_map(|(t, raw)| match raw {
            Raw::Varint(v) if *t == tag => Some(*v),
            _ => None,
        })
    };
    let bytes = |tag: u32| {
        wire.iter().rev().find_map(|(t, raw)| match raw {
            Raw::Bytes(b) if *t == tag => Some(*b),
            _ => None,
        })
    };
    let malformed = |reason: &str| Error::Malformed {
        message: message.name.clone(),
        reason: reason.to_string(),
    };
    let text = |tag: u32| -> Result<String, Error> {
        let b = bytes(tag).unwrap_or_default();
        Ok(std::str::from_utf8(b)
            .map_err(|_| malformed("a string is not UTF-8"))?
            .to_string())
    };
    Ok(match special {
        Special::IntOrString => {
            if varint(1) == Some(1) {
                Value::String(text(3)?)
            } else {
                Value::from(varint(2).unwrap_or(0) as i64 as i32)
            }
        }
        Special::Quantity => Value::String(text(1)?),
        Special::Time | Special::MicroTime => {
            if wire.is_empty() {
                return Ok(Value::Null);
            }
            let seconds = varint(1).unwrap_or(0) as i64;
            let nanos = varint(2).unwrap_or(0) as i64 as i32;
            Value::String(
                timestamp(special, seconds, nanos)
                    .ok_or_else(|| malformed("the time is out of range"))?,
            )
        }
        Special::Duration => Value::String(go_duration(varint(1).unwrap_or(0) as i64)),
        Special::RawJson => match bytes(1) {
            None | Some([]) => Value::Null,
            Some(raw) if is_protobuf(raw) => decode_at(raw, depth + 1)?,
            Some(raw) => serde_json::from_slice(raw).map_err(|source| Error::Json {
                message: message.name.clone(),
                source,
            })?,
        },
        Special::SchemaOrBool | Special::SchemaOrArray | Special::SchemaOrStringArray => {
            let plain = plain(schema, message, buf, depth)?;
            let field = |tag: u32| {
                message
                    .field(tag)
                    .and_then(|i| plain.get(&message.fields[i].json))
                    .cloned()
            };
            let schema_tag = if special == Special::SchemaOrBool {
                2
            } else {
                1
            };
            let other_tag = if special == Special::SchemaOrBool {
                1
            } else {
                2
            };
            match (field(schema_tag), field(other_tag)) {
                (Some(schema), _) => schema,
                (None, Some(other)) => other,
                (None, None) if special == Special::SchemaOrBool => Value::Bool(false),
                (None, None) => Value::Null,
            }
        }
        Special::ListWrapper => {
            let plain = plain(schema, message, buf, depth)?;
            plain
                .into_iter()
                .next()
                .map(|(_, items)| items)
                .unwrap_or(Value::Array(Vec::new()))
        }
    })
}

/// The message read as an ordinary object of its fields.
fn plain(
    schema: &Schema,
    message: &Message,
    buf: &[u8],
    depth: u32,
) -> Result<serde_json::Map<String, Value>, Error> {
    match decode_fields(schema, message, buf, depth)? {
        Value::Object(m) => Ok(m),
        _ => Ok(serde_json::Map::new()),
    }
}

/// `metav1.Time` keeps whole seconds (its protobuf reader drops the nanoseconds);
/// `metav1.MicroTime` keeps microseconds. Both are written in UTC.
fn timestamp(kind: Special, seconds: i64, nanos: i32) -> Option<String> {
    let nanos = u32::try_from(nanos).ok()?;
    let t = chrono::DateTime::from_timestamp(seconds, nanos)?;
    Some(if kind == Special::MicroTime {
        t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    } else {
        t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    })
}

/// Go's `time.Duration.String()`: `0s`, `1.5s`, `1m30s`, `1h0m0s`, `250ms`, `3µs`, `7ns`.
/// Written by hand: no crate formats durations Go's way, and `metav1.Duration` is JSON-encoded
/// with it.
pub fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let u = nanos.unsigned_abs();
    let (whole, frac, digits, unit) = if u < 1_000 {
        return format!("{sign}{u}ns");
    } else if u < 1_000_000 {
        (u / 1_000, u % 1_000, 3, "µs")
    } else if u < 1_000_000_000 {
        (u / 1_000_000, u % 1_000_000, 6, "ms")
    } else {
        let secs = u / 1_000_000_000;
        let frac = fraction(u % 1_000_000_000, 9);
        let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        return if h > 0 {
            format!("{sign}{h}h{m}m{s}{frac}s")
        } else if m > 0 {
            format!("{sign}{m}m{s}{frac}s")
        } else {
            format!("{sign}{s}{frac}s")
        };
    };
    format!("{sign}{whole}{}{unit}", fraction(frac, digits))
}

/// `.5` for 500 of 3 digits; empty for zero.
fn fraction(value: u64, digits: usize) -> String {
    if value == 0 {
        return String::new();
    }
    let s = format!("{value:0digits$}");
    format!(".{}", s.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_as_go_prints_them() {
        let cases = [
            (0, "0s"),
            (7, "7ns"),
            (3_000, "3µs"),
            (1_500, "1.5µs"),
            (250_000_000, "250ms"),
            (1_500_000_000, "1.5s"),
            (90_000_000_000, "1m30s"),
            (3_600_000_000_000, "1h0m0s"),
            (-2_000_000_000, "-2s"),
        ];
        for (nanos, want) in cases {
            assert_eq!(go_duration(nanos), want, "{nanos}");
        }
    }

    #[test]
    fn times_are_utc_to_the_second_and_micro_times_to_the_microsecond() {
        assert_eq!(
            timestamp(Special::Time, 1_700_000_000, 123_456_789).unwrap(),
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(
            timestamp(Special::MicroTime, 1_700_000_000, 123_456_789).unwrap(),
            "2023-11-14T22:13:20.123456Z"
        );
    }
}
