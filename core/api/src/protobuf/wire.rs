//! The generic protobuf wire reader: one message's bytes to JSON, following the field table.
//!
//! Written by hand over prost's varint and key primitives: prost itself only decodes into
//! types known at compile time, and the reflection crates need descriptors k8s-pb does not
//! ship.

use base64::Engine;
use prost::encoding::{WireType, decode_key, decode_varint};
use serde_json::{Map, Value};

use super::schema::{FieldType, Message, Schema};
use super::{Error, MAX_DEPTH, special};

/// One field value as it appears on the wire.
#[derive(Debug, Clone, Copy)]
pub enum Raw<'a> {
    Varint(u64),
    Fixed64(u64),
    /// No Kubernetes field is 32-bit fixed; such values are read only to be skipped.
    Fixed32,
    Bytes(&'a [u8]),
}

/// Splits a message into its (tag, value) pairs, in wire order.
pub fn fields<'a>(message: &str, mut buf: &'a [u8]) -> Result<Vec<(u32, Raw<'a>)>, Error> {
    let wire = |source| Error::Wire {
        message: message.to_string(),
        source,
    };
    let short = || Error::Malformed {
        message: message.to_string(),
        reason: "truncated field".into(),
    };
    let mut out = Vec::new();
    while !buf.is_empty() {
        let (tag, wire_type) = decode_key(&mut buf).map_err(wire)?;
        let value = match wire_type {
            WireType::Varint => Raw::Varint(decode_varint(&mut buf).map_err(wire)?),
            WireType::SixtyFourBit => {
                let (head, rest) = buf.split_first_chunk::<8>().ok_or_else(short)?;
                buf = rest;
                Raw::Fixed64(u64::from_le_bytes(*head))
            }
            WireType::ThirtyTwoBit => {
                let (_, rest) = buf.split_first_chunk::<4>().ok_or_else(short)?;
                buf = rest;
                Raw::Fixed32
            }
            WireType::LengthDelimited => {
                let len =
                    usize::try_from(decode_varint(&mut buf).map_err(wire)?).map_err(|_| short())?;
                if len > buf.len() {
                    return Err(short());
                }
                let (head, rest) = buf.split_at(len);
                buf = rest;
                Raw::Bytes(head)
            }
            WireType::StartGroup | WireType::EndGroup => {
                return Err(Error::Malformed {
                    message: message.to_string(),
                    reason: "groups are not used by kubernetes".into(),
                });
            }
        };
        out.push((tag, value));
    }
    Ok(out)
}

/// Reads a message into its JSON form: an object of the fields present on the wire, in the
/// order of the Go struct, or the special form of types with their own JSON encoding.
pub fn decode_message(
    schema: &Schema,
    message: &Message,
    buf: &[u8],
    depth: u32,
) -> Result<Value, Error> {
    if depth > MAX_DEPTH {
        return Err(Error::TooDeep);
    }
    match message.special {
        Some(special) => special::decode(special, schema, message, buf, depth),
        None => decode_fields(schema, message, buf, depth),
    }
}

/// Reads a message as an object of its fields, whatever its special form.
pub fn decode_fields(
    schema: &Schema,
    message: &Message,
    buf: &[u8],
    depth: u32,
) -> Result<Value, Error> {
    let mut slots: Vec<Option<Value>> = vec![None; message.fields.len()];
    for (tag, raw) in fields(&message.name, buf)? {
        // Fields newer than the table are skipped, as protobuf readers do.
        let Some(i) = message.field(tag) else {
            continue;
        };
        let field = &message.fields[i];
        let ctx = Ctx {
            schema,
            message,
            json: &field.json,
            depth,
        };
        if let FieldType::Map(value_type) = &field.ty {
            let Raw::Bytes(entry) = raw else {
                return Err(ctx.malformed("a map entry is not length-delimited"));
            };
            let (key, value) = ctx.map_entry(value_type, entry)?;
            let map = slots[i].get_or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(map) = map {
                map.insert(key, value);
            }
        } else if field.repeated {
            let list = slots[i].get_or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(list) = list {
                ctx.repeated(&field.ty, raw, list)?;
            }
        } else {
            slots[i] = Some(ctx.value(&field.ty, raw)?);
        }
    }
    let mut object = Map::new();
    for (field, slot) in message.fields.iter().zip(slots) {
        match slot {
            // A Go zero time (`creationTimestamp: null`) and empty strings, which Go's JSON
            // encoding omits (`omitempty`) but gogo-protobuf always writes.
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.is_empty() && field.ty == FieldType::String => {}
            Some(Value::Object(inner)) if field.json.is_empty() => object.extend(inner),
            Some(v) => {
                object.insert(field.json.clone(), v);
            }
        }
    }
    Ok(Value::Object(object))
}

/// Where a value is being read, for error messages and nested messages.
struct Ctx<'a> {
    schema: &'a Schema,
    message: &'a Message,
    json: &'a str,
    depth: u32,
}

impl Ctx<'_> {
    fn malformed(&self, reason: &str) -> Error {
        Error::Malformed {
            message: format!("{}.{}", self.message.name, self.json),
            reason: reason.to_string(),
        }
    }

    /// One value of a singular field, or one element of a repeated one.
    fn value(&self, ty: &FieldType, raw: Raw<'_>) -> Result<Value, Error> {
        Ok(match (ty, raw) {
            (FieldType::String, Raw::Bytes(b)) => Value::String(
                std::str::from_utf8(b)
                    .map_err(|_| self.malformed("a string is not UTF-8"))?
                    .to_string(),
            ),
            (FieldType::Bytes, Raw::Bytes(b)) => {
                Value::String(base64::engine::general_purpose::STANDARD.encode(b))
            }
            (FieldType::Bool, Raw::Varint(v)) => Value::Bool(v != 0),
            // int32 values are sign-extended to 64 bits on the wire.
            (FieldType::Int32, Raw::Varint(v)) => Value::from(v as i64 as i32),
            (FieldType::Int64, Raw::Varint(v)) => Value::from(v as i64),
            (FieldType::Double, Raw::Fixed64(v)) => serde_json::Number::from_f64(f64::from_bits(v))
                .map(Value::Number)
                .ok_or_else(|| self.malformed("a number is not finite"))?,
            (FieldType::Message(name), Raw::Bytes(b)) => {
                let nested = self
                    .schema
                    .message(name)
                    .ok_or_else(|| self.malformed("the table has no such message"))?;
                decode_message(self.schema, nested, b, self.depth + 1)?
            }
            _ => return Err(self.malformed("the wire type does not match the field type")),
        })
    }

    /// Elements of a repeated field: one per occurrence, or several packed in one.
    fn repeated(&self, ty: &FieldType, raw: Raw<'_>, list: &mut Vec<Value>) -> Result<(), Error> {
        let numeric = matches!(
            ty,
            FieldType::Bool | FieldType::Int32 | FieldType::Int64 | FieldType::Double
        );
        match raw {
            Raw::Bytes(mut packed) if numeric => {
                while !packed.is_empty() {
                    let element = if *ty == FieldType::Double {
                        let (head, rest) = packed
                            .split_first_chunk::<8>()
                            .ok_or_else(|| self.malformed("truncated packed double"))?;
                        packed = rest;
                        Raw::Fixed64(u64::from_le_bytes(*head))
                    } else {
                        Raw::Varint(decode_varint(&mut packed).map_err(|source| Error::Wire {
                            message: format!("{}.{}", self.message.name, self.json),
                            source,
                        })?)
                    };
                    list.push(self.value(ty, element)?);
                }
            }
            _ => list.push(self.value(ty, raw)?),
        }
        Ok(())
    }

    /// A map entry: a message with the key at tag 1 and the value at tag 2.
    fn map_entry(&self, value_type: &FieldType, entry: &[u8]) -> Result<(String, Value), Error> {
        let mut key = String::new();
        let mut value = None;
        for (tag, raw) in fields(&self.message.name, entry)? {
            match tag {
                1 => match self.value(&FieldType::String, raw)? {
                    Value::String(k) => key = k,
                    _ => return Err(self.malformed("a map key is not a string")),
                },
                2 => value = Some(self.value(value_type, raw)?),
                _ => {}
            }
        }
        // An absent value is the zero value of its type.
        let value = match value {
            Some(v) => v,
            None => match value_type {
                FieldType::String | FieldType::Bytes => Value::String(String::new()),
                FieldType::Bool => Value::Bool(false),
                FieldType::Int32 | FieldType::Int64 | FieldType::Double => Value::from(0),
                FieldType::Message(_) => self.value(value_type, Raw::Bytes(&[]))?,
                FieldType::Map(_) => Value::Object(Map::new()),
            },
        };
        Ok((key, value))
    }
}
