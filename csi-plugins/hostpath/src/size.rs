//! Byte sizes as written on the command line: `1073741824`, `512Mi`, `10Gi`, `1G`.
//!
//! Written by hand because the crates that parse sizes use other spellings ("GiB", "1 GB")
//! than the Kubernetes quantity suffixes operators already type in manifests.

/// Why a size string could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("size {0:?} is not a number with an optional Ki/Mi/Gi/Ti/Pi or k/M/G/T/P suffix")]
    Malformed(String),
    #[error("size {0:?} does not fit in 63 bits")]
    TooLarge(String),
}

/// Parses a non-negative byte count with an optional binary or decimal suffix.
pub fn parse(text: &str) -> Result<i64, Error> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (digits, suffix) = trimmed.split_at(split);
    if digits.is_empty() {
        return Err(Error::Malformed(text.to_owned()));
    }
    let multiplier: i64 = match suffix {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        "Pi" => 1 << 50,
        "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        "P" => 1_000_000_000_000_000,
        _ => return Err(Error::Malformed(text.to_owned())),
    };
    let number: i64 = digits
        .parse()
        .map_err(|_| Error::TooLarge(text.to_owned()))?;
    number
        .checked_mul(multiplier)
        .ok_or_else(|| Error::TooLarge(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_numbers_are_bytes() {
        assert_eq!(parse("4096").unwrap(), 4096);
    }

    #[test]
    fn binary_and_decimal_suffixes_multiply() {
        assert_eq!(parse("3Gi").unwrap(), 3 * 1024 * 1024 * 1024);
        assert_eq!(parse("5M").unwrap(), 5_000_000);
        assert_eq!(parse("1Ti").unwrap(), 1 << 40);
    }

    #[test]
    fn unknown_suffixes_and_overflow_are_refused() {
        assert!(matches!(parse("10GB"), Err(Error::Malformed(_))));
        assert!(matches!(parse("Gi"), Err(Error::Malformed(_))));
        assert!(matches!(parse("-1"), Err(Error::Malformed(_))));
        assert!(matches!(parse("9000000Pi"), Err(Error::TooLarge(_))));
    }
}
