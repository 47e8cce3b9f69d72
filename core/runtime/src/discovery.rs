//! The resources the server serves, as controllers see them through `api_resources()`:
//! discovered once and discovered again whenever the set of CustomResourceDefinitions changes.
//!
//! Controllers that act on every kind (the garbage collector, namespace deletion) need to know
//! which kinds exist, custom ones included, instead of a fixed list. Discovery is a handful of
//! requests, so its answer is kept and only redone when the CRD cache shows another set of
//! definitions (or other versions of them) than the one the kept answer was made under.

use std::collections::BTreeMap;
use std::sync::Arc;

use kube::Client;
use kube::discovery::Scope;
use serde::Serialize;
use serde_json::Value;

/// Why discovery failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server did not answer discovery.
    #[error("discovery failed")]
    Discovery(#[source] kube::Error),
}

/// One served resource, at the most stable version its group serves it in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServedResource {
    /// API group (`""` for the core group).
    pub group: String,
    /// Version, such as `v1`.
    pub version: String,
    /// `apiVersion` of objects of this resource (`v1`, `apps/v1`).
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// The plural resource name used in URLs.
    pub resource: String,
    /// The kind of its objects.
    pub kind: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// The verbs the server allows on it (`get`, `list`, `watch`, `delete`, ...).
    pub verbs: Vec<String>,
}

impl ServedResource {
    /// Whether the server allows `verb` on this resource.
    pub fn supports(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }
}

/// The set of CRDs a discovery answer was made under: name → resourceVersion.
pub type CrdFingerprint = BTreeMap<String, String>;

/// The fingerprint of the CRDs in a cache.
pub fn fingerprint(crds: &[Arc<Value>]) -> CrdFingerprint {
    crds.iter()
        .map(|crd| {
            let meta = &crd["metadata"];
            (
                meta["name"].as_str().unwrap_or_default().to_string(),
                meta["resourceVersion"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

/// Whether every established CRD in `crds` appears in `served` (a CRD registered by the
/// server a moment after its watch event would otherwise be missed until the next change).
pub fn covers(served: &[ServedResource], crds: &[Arc<Value>]) -> bool {
    crds.iter().all(|crd| {
        let established = crd["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Established" && c["status"] == "True")
        });
        if !established {
            return true;
        }
        let group = crd["spec"]["group"].as_str().unwrap_or_default();
        let plural = crd["spec"]["names"]["plural"].as_str().unwrap_or_default();
        served
            .iter()
            .any(|r| r.group == group && r.resource == plural)
    })
}

struct Snapshot {
    crds: CrdFingerprint,
    resources: Arc<Vec<ServedResource>>,
}

/// Kept discovery answers, shared by every controller of a host.
pub struct Discovery {
    client: Client,
    kept: tokio::sync::Mutex<Option<Snapshot>>,
}

impl Discovery {
    /// Discovery through `client`; nothing is asked until the first call.
    pub fn new(client: Client) -> Self {
        Discovery {
            client,
            kept: tokio::sync::Mutex::new(None),
        }
    }

    /// The served resources, given the CRDs the caller's cache holds now: the kept answer
    /// when it was made under the same CRDs, a fresh one otherwise.
    pub async fn resources(&self, crds: &[Arc<Value>]) -> Result<Arc<Vec<ServedResource>>, Error> {
        let wanted = fingerprint(crds);
        let mut kept = self.kept.lock().await;
        if let Some(snapshot) = kept.as_ref()
            && snapshot.crds == wanted
        {
            return Ok(snapshot.resources.clone());
        }
        let resources = Arc::new(self.discover().await?);
        // An answer that misses an established CRD is used but not kept: the next call asks
        // again, by which time the server serves it.
        *kept = covers(&resources, crds).then(|| Snapshot {
            crds: wanted,
            resources: resources.clone(),
        });
        Ok(resources)
    }

    async fn discover(&self) -> Result<Vec<ServedResource>, Error> {
        let discovery = kube::Discovery::new(self.client.clone())
            .run()
            .await
            .map_err(Error::Discovery)?;
        let mut served: Vec<ServedResource> = discovery
            .groups()
            .flat_map(|group| group.resources_by_stability())
            .map(|(resource, capabilities)| ServedResource {
                group: resource.group,
                version: resource.version,
                api_version: resource.api_version,
                resource: resource.plural,
                kind: resource.kind,
                namespaced: capabilities.scope == Scope::Namespaced,
                verbs: capabilities.operations,
            })
            .collect();
        served.sort_by(|a, b| (&a.group, &a.resource).cmp(&(&b.group, &b.resource)));
        Ok(served)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn crd(name: &str, rv: &str, group: &str, plural: &str, established: bool) -> Arc<Value> {
        Arc::new(json!({
            "metadata": {"name": name, "resourceVersion": rv},
            "spec": {"group": group, "names": {"plural": plural}},
            "status": {"conditions": [{"type": "Established", "status": if established { "True" } else { "False" }}]},
        }))
    }

    fn served(group: &str, resource: &str) -> ServedResource {
        ServedResource {
            group: group.into(),
            version: "v1".into(),
            api_version: format!("{group}/v1"),
            resource: resource.into(),
            kind: "Thing".into(),
            namespaced: true,
            verbs: vec!["list".into()],
        }
    }

    #[test]
    fn fingerprints_differ_when_a_crd_changes_or_appears() {
        let one = [crd("a.x", "1", "x", "as", true)];
        let changed = [crd("a.x", "2", "x", "as", true)];
        let more = [
            crd("a.x", "1", "x", "as", true),
            crd("b.x", "3", "x", "bs", true),
        ];
        assert_eq!(fingerprint(&one), fingerprint(&one));
        assert_ne!(fingerprint(&one), fingerprint(&changed));
        assert_ne!(fingerprint(&one), fingerprint(&more));
    }

    #[test]
    fn an_answer_missing_an_established_crd_does_not_cover_it() {
        let crds = [
            crd("a.x", "1", "x", "as", true),
            crd("b.x", "1", "x", "bs", false),
        ];
        assert!(covers(&[served("x", "as")], &crds));
        assert!(!covers(&[served("x", "bs")], &crds));
    }

    #[test]
    fn verbs_are_checked_by_name() {
        let r = served("x", "as");
        assert!(r.supports("list"));
        assert!(!r.supports("delete"));
    }
}
