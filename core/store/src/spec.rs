//! Store specs as given on the command line: `embedded` or `etcd://host:port,host:port`.

use std::str::FromStr;

/// Which backend to open, parsed from a spec string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreSpec {
    /// The embedded store, in `<data dir>/store.redb`.
    Embedded,
    /// An etcd cluster; endpoints as `http://host:port`.
    Etcd { endpoints: Vec<String> },
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "invalid store spec {spec:?}: {reason} (expected \"embedded\" or \"etcd://host:port[,host:port...]\")"
    )]
    InvalidSpec { spec: String, reason: String },
    #[error("cannot open the store")]
    Open(#[source] crate::Error),
}

impl FromStr for StoreSpec {
    type Err = OpenError;

    fn from_str(spec: &str) -> Result<Self, OpenError> {
        let invalid = |reason: &str| OpenError::InvalidSpec {
            spec: spec.to_owned(),
            reason: reason.to_owned(),
        };
        if spec == "embedded" {
            return Ok(Self::Embedded);
        }
        let Some(hosts) = spec.strip_prefix("etcd://") else {
            return Err(invalid("unknown backend"));
        };
        let mut endpoints = Vec::new();
        for host in hosts.split(',') {
            let Some((name, port)) = host.rsplit_once(':') else {
                return Err(invalid(&format!("endpoint {host:?} has no port")));
            };
            if name.is_empty() || name.contains('/') {
                return Err(invalid(&format!("endpoint {host:?} has no host name")));
            }
            if port.parse::<u16>().is_err() {
                return Err(invalid(&format!("endpoint {host:?} has an invalid port")));
            }
            endpoints.push(format!("http://{host}"));
        }
        Ok(Self::Etcd { endpoints })
    }
}

#[cfg(test)]
mod tests {
    use super::{OpenError, StoreSpec};

    #[test]
    fn embedded_and_etcd_specs_parse() {
        assert_eq!(
            "embedded".parse::<StoreSpec>().unwrap(),
            StoreSpec::Embedded
        );
        assert_eq!(
            "etcd://10.0.0.1:2379,etcd-2:2379"
                .parse::<StoreSpec>()
                .unwrap(),
            StoreSpec::Etcd {
                endpoints: vec!["http://10.0.0.1:2379".into(), "http://etcd-2:2379".into()]
            }
        );
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        for (spec, reason) in [
            ("sqlite", "unknown backend"),
            ("etcd://", "has no port"),
            ("etcd://host", "has no port"),
            ("etcd://host:http", "invalid port"),
            ("etcd://a:1,:2", "no host name"),
        ] {
            let err = spec.parse::<StoreSpec>().unwrap_err();
            assert!(matches!(err, OpenError::InvalidSpec { .. }));
            assert!(err.to_string().contains(reason), "{spec}: {err}");
        }
    }
}
