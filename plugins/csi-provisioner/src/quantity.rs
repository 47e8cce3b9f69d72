//! Byte quantities in the Kubernetes notation (`1Gi`, `500M`, `1e9`), both ways.
//!
//! Written by hand: k8s-openapi's `Quantity` is only a string, and the plugin needs byte
//! counts for CSI's `CapacityRange` and back.

/// Why a quantity could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("quantity {0:?} is not a number of bytes")]
    Invalid(String),
}

const SUFFIXES: &[(&str, f64)] = &[
    ("Ki", 1024.0),
    ("Mi", 1_048_576.0),
    ("Gi", 1_073_741_824.0),
    ("Ti", 1_099_511_627_776.0),
    ("Pi", 1_125_899_906_842_624.0),
    ("Ei", 1_152_921_504_606_846_976.0),
    ("k", 1e3),
    ("M", 1e6),
    ("G", 1e9),
    ("T", 1e12),
    ("P", 1e15),
    ("E", 1e18),
    ("m", 1e-3),
];

/// Bytes in a quantity, rounded up to a whole byte.
pub fn parse_bytes(text: &str) -> Result<i64, Error> {
    let text = text.trim();
    let invalid = || Error::Invalid(text.to_string());
    let (number, factor) = SUFFIXES
        .iter()
        .find_map(|(suffix, factor)| text.strip_suffix(suffix).map(|n| (n, *factor)))
        .unwrap_or((text, 1.0));
    let value: f64 = number.parse().map_err(|_| invalid())?;
    if !value.is_finite() || value < 0.0 {
        return Err(invalid());
    }
    Ok((value * factor).ceil() as i64)
}

/// A byte count in the largest binary unit that divides it (`1Gi`, `1536Mi`, `1000`).
pub fn format_bytes(bytes: i64) -> String {
    for (suffix, factor) in [
        ("Ei", 60),
        ("Pi", 50),
        ("Ti", 40),
        ("Gi", 30),
        ("Mi", 20),
        ("Ki", 10),
    ] {
        let unit = 1i64 << factor;
        if bytes >= unit && bytes % unit == 0 {
            return format!("{}{suffix}", bytes / unit);
        }
    }
    bytes.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_and_decimal_suffixes_give_bytes() {
        assert_eq!(parse_bytes("1Gi").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("500M").unwrap(), 500_000_000);
        assert_eq!(parse_bytes("1.5Ki").unwrap(), 1536);
        assert_eq!(parse_bytes("1e3").unwrap(), 1000);
        assert_eq!(parse_bytes("42").unwrap(), 42);
    }

    #[test]
    fn garbage_is_not_a_quantity() {
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("-1Gi").is_err());
    }

    #[test]
    fn byte_counts_print_in_the_largest_dividing_unit() {
        assert_eq!(format_bytes(1 << 30), "1Gi");
        assert_eq!(format_bytes(1536 << 20), "1536Mi");
        assert_eq!(format_bytes(1000), "1000");
    }
}
