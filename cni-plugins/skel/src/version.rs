//! CNI spec versions: the ones skiff's plugins speak, and ordering between them.

use crate::error::{Error, ErrorCode};

/// Versions whose configuration and result formats skiff's plugins understand.
pub const SUPPORTED: &[&str] = &["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

/// The newest supported version, used when a request names none.
pub const LATEST: &str = "1.1.0";

/// Parses `major.minor.patch`; a missing patch counts as 0.
pub fn parse(version: &str) -> Option<(u32, u32, u32)> {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
    let major = parts.next()??;
    let minor = parts.next().flatten().unwrap_or(0);
    let patch = parts.next().flatten().unwrap_or(0);
    Some((major, minor, patch))
}

/// Whether `version` is at least `min` (an unparsable version is never).
pub fn at_least(version: &str, min: &str) -> bool {
    match (parse(version), parse(min)) {
        (Some(v), Some(m)) => v >= m,
        _ => false,
    }
}

/// Fails with code 1 unless `version` is one skiff's plugins speak.
pub fn ensure_supported(version: &str) -> Result<(), Error> {
    if SUPPORTED.contains(&version) {
        Ok(())
    } else {
        Err(Error::new(
            ErrorCode::IncompatibleVersion,
            format!("incompatible cni version {version:?}"),
        )
        .details(format!("supported versions: {}", SUPPORTED.join(", "))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert!(at_least("1.1.0", "1.0.0"));
        assert!(at_least("0.10.0", "0.4.0"));
        assert!(!at_least("0.4.0", "1.0.0"));
        assert!(!at_least("garbage", "0.1.0"));
    }

    #[test]
    fn unknown_versions_are_incompatible() {
        assert!(ensure_supported("1.0.0").is_ok());
        let err = ensure_supported("0.2.0").unwrap_err();
        assert_eq!(err.code, ErrorCode::IncompatibleVersion);
    }
}
