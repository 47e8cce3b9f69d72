//! Resource quantities (`100m`, `1Gi`, `2`, `1e3`): parsing and exact integer arithmetic.
//!
//! The scheduler and the kubelet compare requests and capacities with these. Values are kept
//! exactly as a count of nano-units in an `i128` (upstream's finest scale), which covers every
//! realistic quantity (up to about 10^29) without floating-point error. Written by hand: the
//! crates on offer parse only a subset of the suffixes or round through `f64`.

use std::cmp::Ordering;
use std::fmt;

/// The pattern upstream names in its error message.
pub const QUANTITY_PATTERN: &str = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("quantities must match the regular expression '{QUANTITY_PATTERN}'")]
    Format,
    #[error("unable to parse quantity's suffix")]
    Suffix,
    #[error("quantity is too large")]
    Overflow,
}

/// A parsed quantity. Equality and ordering compare the amounts, not the spelling.
#[derive(Clone, Debug)]
pub struct Quantity {
    nanos: i128,
    text: String,
}

const NANOS_PER_UNIT: i128 = 1_000_000_000;

/// Parses a quantity as Kubernetes writes them.
pub fn parse(input: &str) -> Result<Quantity, Error> {
    Quantity::parse(input)
}

impl Quantity {
    pub fn parse(input: &str) -> Result<Quantity, Error> {
        let s = input.trim();
        if s.is_empty() {
            return Err(Error::Format);
        }
        let (negative, rest) = match s.as_bytes()[0] {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, suffix) = rest.split_at(num_end);
        let (int_part, frac_part) = match number.split_once('.') {
            Some((i, f)) => (i, f),
            None => (number, ""),
        };
        if (int_part.is_empty() && frac_part.is_empty()) || frac_part.contains('.') {
            return Err(Error::Format);
        }
        let (pow10, pow2) = suffix_scale(suffix)?;
        let digits = format!("{int_part}{frac_part}");
        let mantissa: i128 = if digits.is_empty() {
            0
        } else {
            digits.parse().map_err(|_| Error::Overflow)?
        };
        // value = mantissa * 10^(pow10 - frac_len) * 2^pow2, counted in nano-units.
        let exp10 = pow10 - frac_part.len() as i32 + 9;
        let mut nanos = mantissa.checked_mul(1i128 << pow2).ok_or(Error::Overflow)?;
        if exp10 >= 0 {
            let factor = 10i128.checked_pow(exp10 as u32).ok_or(Error::Overflow)?;
            nanos = nanos.checked_mul(factor).ok_or(Error::Overflow)?;
        } else {
            // Finer than a nano-unit: round up, as upstream does.
            let divisor = 10i128.checked_pow((-exp10) as u32).ok_or(Error::Overflow)?;
            nanos = (nanos + divisor - 1) / divisor;
        }
        if negative {
            nanos = -nanos;
        }
        Ok(Quantity {
            nanos,
            text: s.to_string(),
        })
    }

    /// A quantity of whole milli-units (`250` gives `250m`).
    pub fn from_millis(millis: i64) -> Quantity {
        Quantity {
            nanos: millis as i128 * 1_000_000,
            text: if millis % 1000 == 0 {
                (millis / 1000).to_string()
            } else {
                format!("{millis}m")
            },
        }
    }

    /// A quantity of whole units, e.g. bytes.
    pub fn from_units(units: i64) -> Quantity {
        Quantity {
            nanos: units as i128 * NANOS_PER_UNIT,
            text: units.to_string(),
        }
    }

    /// The exact amount in nano-units.
    pub fn nanos(&self) -> i128 {
        self.nanos
    }

    /// Milli-units rounded up (CPU millicores), saturating at the `i64` range.
    pub fn millis(&self) -> i64 {
        saturate(div_ceil(self.nanos, 1_000_000))
    }

    /// Whole units rounded up (bytes for memory and storage, cores for CPU).
    pub fn value(&self) -> i64 {
        saturate(div_ceil(self.nanos, NANOS_PER_UNIT))
    }

    /// Whole bytes rounded up; the same as [`Quantity::value`], named for memory and storage.
    pub fn bytes(&self) -> i64 {
        self.value()
    }

    pub fn as_f64(&self) -> f64 {
        self.nanos as f64 / NANOS_PER_UNIT as f64
    }

    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    pub fn is_negative(&self) -> bool {
        self.nanos < 0
    }

    /// The spelling it was parsed from.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

fn div_ceil(a: i128, b: i128) -> i128 {
    let q = a / b;
    if a % b > 0 { q + 1 } else { q }
}

fn saturate(v: i128) -> i64 {
    v.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

/// (power of ten, power of two) a suffix multiplies by.
fn suffix_scale(suffix: &str) -> Result<(i32, u32), Error> {
    Ok(match suffix {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        s if s.starts_with(['e', 'E']) => {
            let exp = &s[1..];
            let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Error::Suffix);
            }
            (exp.parse::<i32>().map_err(|_| Error::Overflow)?, 0)
        }
        s if s.bytes().all(|b| b"eEinumkKMGTP+-0123456789".contains(&b)) => {
            return Err(Error::Suffix);
        }
        _ => return Err(Error::Format),
    })
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}

impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for Quantity {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Quantity::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_quantities_convert_to_millis() {
        assert_eq!(parse("100m").unwrap().millis(), 100);
        assert_eq!(parse("2").unwrap().millis(), 2000);
        assert_eq!(parse("0.5").unwrap().millis(), 500);
        assert_eq!(parse(".25").unwrap().millis(), 250);
        assert_eq!(parse("1500u").unwrap().millis(), 2, "rounds up");
    }

    #[test]
    fn binary_and_decimal_suffixes_scale_bytes() {
        assert_eq!(parse("1Gi").unwrap().bytes(), 1 << 30);
        assert_eq!(parse("512Mi").unwrap().bytes(), 512 << 20);
        assert_eq!(parse("1k").unwrap().bytes(), 1000);
        assert_eq!(parse("1.5Ki").unwrap().bytes(), 1536);
        assert_eq!(parse("2E").unwrap().bytes(), 2_000_000_000_000_000_000);
        assert_eq!(parse("1Ei").unwrap().bytes(), 1 << 60);
    }

    #[test]
    fn exponents_are_decimal_powers() {
        assert_eq!(parse("1e3").unwrap().value(), 1000);
        assert_eq!(parse("1E3").unwrap().value(), 1000);
        assert_eq!(parse("5e-3").unwrap().millis(), 5);
        assert_eq!(parse("1e+2").unwrap().value(), 100);
    }

    #[test]
    fn signs_and_comparison_work_on_amounts() {
        assert!(parse("-1").unwrap().is_negative());
        assert_eq!(parse("+1").unwrap().value(), 1);
        assert_eq!(parse("1000m").unwrap(), parse("1").unwrap());
        assert!(parse("1Gi").unwrap() > parse("1G").unwrap());
        assert!(parse("0").unwrap().is_zero());
        assert_eq!(parse("1Gi").unwrap().to_string(), "1Gi");
    }

    #[test]
    fn malformed_quantities_are_rejected_with_upstream_wording() {
        let e = parse("abc").unwrap_err();
        assert_eq!(
            e.to_string(),
            "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        );
        assert_eq!(parse("1Qi").unwrap_err(), Error::Format);
        assert_eq!(parse("1KK").unwrap_err(), Error::Suffix);
        assert_eq!(parse("").unwrap_err(), Error::Format);
        assert_eq!(parse("1.2.3").unwrap_err(), Error::Format);
        assert_eq!(parse("1 Gi").unwrap_err(), Error::Format);
    }

    #[test]
    fn constructors_round_trip() {
        assert_eq!(Quantity::from_millis(250).to_string(), "250m");
        assert_eq!(Quantity::from_millis(2000).to_string(), "2");
        assert_eq!(Quantity::from_units(1024).bytes(), 1024);
    }
}
