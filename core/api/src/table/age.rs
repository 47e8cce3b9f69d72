//! Ages and durations printed the way upstream's `HumanDuration` does (`5s`, `3m2s`, `2d3h`).

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;

/// Formats a duration like upstream's `duration.HumanDuration`: precise when short, coarser
/// as it grows, `<invalid>` for clearly negative durations (clock skew up to 1s reads `0s`).
pub fn human_duration(d: TimeDelta) -> String {
    let seconds = d.num_seconds();
    if seconds < -1 {
        return "<invalid>".to_string();
    } else if seconds < 0 {
        return "0s".to_string();
    } else if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        if s == 0 {
            return format!("{minutes}m");
        }
        return format!("{minutes}m{s}s");
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        if m == 0 {
            return format!("{hours}h");
        }
        return format!("{hours}h{m}m");
    } else if hours < 48 {
        return format!("{hours}h");
    } else if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            return format!("{}d", hours / 24);
        }
        return format!("{}d{h}h", hours / 24);
    } else if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    } else if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        if days == 0 {
            return format!("{}y", hours / 24 / 365);
        }
        return format!("{}y{days}d", hours / 24 / 365);
    }
    format!("{}y", hours / 24 / 365)
}

/// Parses an RFC 3339 timestamp (`Time` or `MicroTime`) as stored in objects.
pub fn parse_time(value: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Time since a timestamp field, `<unknown>` when absent or unreadable (upstream's
/// `translateTimestampSince`).
pub fn since(value: Option<&Value>, now: DateTime<Utc>) -> String {
    match value.and_then(Value::as_str).and_then(parse_time) {
        Some(t) => human_duration(now - t),
        None => "<unknown>".to_string(),
    }
}

/// The AGE cell of an object.
pub fn age(obj: &Value, now: DateTime<Utc>) -> Value {
    Value::String(since(obj.pointer("/metadata/creationTimestamp"), now))
}
