//! Byte quantities in the Kubernetes notation (`1Gi`, `500M`, `1e9`), both ways: parsing is
//! skiff-api's exact quantity arithmetic; printing picks the largest binary unit.

use skiff_api::validation::Quantity;

/// Why a quantity could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("quantity {text:?} is not a number of bytes")]
    Invalid {
        text: String,
        #[source]
        source: Option<skiff_api::validation::quantity::Error>,
    },
}

/// Bytes in a quantity, rounded up to a whole byte.
pub fn parse_bytes(text: &str) -> Result<i64, Error> {
    let quantity = Quantity::parse(text).map_err(|source| Error::Invalid {
        text: text.to_string(),
        source: Some(source),
    })?;
    let bytes = quantity.bytes();
    if bytes < 0 {
        return Err(Error::Invalid {
            text: text.to_string(),
            source: None,
        });
    }
    Ok(bytes)
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
