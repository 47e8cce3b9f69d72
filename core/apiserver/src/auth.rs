//! Authentication: client certificates verified by TLS, or static bearer tokens.

use std::collections::HashMap;
use std::path::Path;

use http::HeaderMap;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read token file {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("token file line {0} is not `token,user,uid[,groups]`")]
    Line(usize),
}

/// An authenticated user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub groups: Vec<String>,
}

/// The user a TLS connection proved with its client certificate, if any; the connection
/// layer puts it into every request's extensions.
#[derive(Clone, Debug, Default)]
pub struct PeerIdentity(pub Option<User>);

/// Recognises users from their client certificate or bearer token.
#[derive(Clone, Debug, Default)]
pub struct Authenticator {
    tokens: HashMap<String, User>,
}

impl Authenticator {
    /// Loads static tokens in the upstream `--token-auth-file` CSV form:
    /// `token,user,uid,"group1,group2"`.
    pub fn from_token_file(path: Option<&Path>) -> Result<Self, Error> {
        let mut tokens = HashMap::new();
        let Some(path) = path else {
            return Ok(Authenticator { tokens });
        };
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.display().to_string(),
            source,
        })?;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut parts = line.splitn(4, ',');
            let (Some(token), Some(user), Some(_uid)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(Error::Line(n + 1));
            };
            let groups = parts
                .next()
                .map(|g| {
                    g.trim_matches('"')
                        .split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            tokens.insert(
                token.trim().to_string(),
                User {
                    name: user.trim().to_string(),
                    groups,
                },
            );
        }
        Ok(Authenticator { tokens })
    }

    /// The user behind a request, or `None` when it carries no valid credentials.
    pub fn authenticate(&self, peer: Option<&PeerIdentity>, headers: &HeaderMap) -> Option<User> {
        if let Some(PeerIdentity(Some(user))) = peer {
            return Some(user.clone());
        }
        let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))?;
        self.tokens.get(token.trim()).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_from_the_file_authenticate_and_others_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tokens.csv");
        std::fs::write(&file, "s3cret,alice,1,\"dev,ops\"\n").unwrap();
        let auth = Authenticator::from_token_file(Some(&file)).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "Bearer s3cret".parse().unwrap());
        let user = auth.authenticate(None, &headers).unwrap();
        assert_eq!(user.name, "alice");
        assert_eq!(user.groups, vec!["dev", "ops"]);
        headers.insert("authorization", "Bearer wrong".parse().unwrap());
        assert!(auth.authenticate(None, &headers).is_none());
        assert!(auth.authenticate(None, &HeaderMap::new()).is_none());
    }
}
