//! CustomResourceDefinitions: turning a CRD into served resources, its status conditions,
//! and reloading every CRD from the store at start.

use serde_json::{Value, json};
use skiff_api::registry::STANDARD_VERBS;
use skiff_api::{ResourceInfo, Scope, Status, StatusCause, meta};
use skiff_store::ListOptions;

use crate::objects;
use crate::state::{ApiState, CustomVersion};

/// The resources (one per served version) a CRD defines, or the problems with it.
pub fn resources(crd: &Value) -> Result<Vec<(ResourceInfo, CustomVersion)>, Vec<StatusCause>> {
    let mut causes = Vec::new();
    let spec = &crd["spec"];
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    let group = s(&spec["group"]);
    let names = &spec["names"];
    let plural = s(&names["plural"]);
    let kind = s(&names["kind"]);
    let singular = names["singular"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| kind.to_ascii_lowercase());
    if group.is_empty() {
        causes.push(StatusCause::required("spec.group"));
    }
    if plural.is_empty() {
        causes.push(StatusCause::required("spec.names.plural"));
    }
    if kind.is_empty() {
        causes.push(StatusCause::required("spec.names.kind"));
    }
    if let Some(name) = meta::name(crd)
        && !group.is_empty()
        && !plural.is_empty()
        && name != format!("{plural}.{group}")
    {
        causes.push(StatusCause::invalid(
            "metadata.name",
            format!("Invalid value: {name:?}: must be spec.names.plural+\".\"+spec.group"),
        ));
    }
    let scope = match spec["scope"].as_str() {
        Some("Namespaced") => Scope::Namespaced,
        Some("Cluster") => Scope::Cluster,
        other => {
            causes.push(StatusCause::invalid(
                "spec.scope",
                format!(
                    "Unsupported value: {:?}: supported values: \"Cluster\", \"Namespaced\"",
                    other.unwrap_or("")
                ),
            ));
            Scope::Namespaced
        }
    };
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    if versions.is_empty() {
        causes.push(StatusCause::required("spec.versions"));
    }
    let storage = versions
        .iter()
        .filter(|v| v["storage"] == json!(true))
        .count();
    if !versions.is_empty() && storage != 1 {
        causes.push(StatusCause::invalid(
            "spec.versions",
            "Invalid value: must have exactly one version marked as storage version",
        ));
    }
    if !causes.is_empty() {
        return Err(causes);
    }
    let list = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    for v in versions.iter().filter(|v| v["served"] != json!(false)) {
        let mut subresources = Vec::new();
        if v.pointer("/subresources/status").is_some() {
            subresources.push("status".to_string());
        }
        let scale = v.pointer("/subresources/scale").cloned();
        if scale.is_some() {
            subresources.push("scale".to_string());
        }
        let info = ResourceInfo {
            group: group.clone(),
            version: s(&v["name"]),
            kind: kind.clone(),
            plural: plural.clone(),
            singular: singular.clone(),
            scope,
            short_names: list(&names["shortNames"]),
            categories: list(&names["categories"]),
            subresources,
            verbs: STANDARD_VERBS.iter().map(|s| s.to_string()).collect(),
        };
        let custom = CustomVersion {
            schema: v.pointer("/schema/openAPIV3Schema").cloned(),
            printer_columns: v["additionalPrinterColumns"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
            scale,
        };
        out.push((info, custom));
    }
    Ok(out)
}

/// Checks a CRD and sets its status: names accepted and established at once, since the
/// server starts serving it in the same request.
pub fn prepare(crd: &mut Value) -> Result<(), Status> {
    if let Err(causes) = resources(crd) {
        return Err(Status::invalid(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            meta::name(crd).unwrap_or(""),
            causes,
        ));
    }
    let now = meta::now();
    let condition = |t: &str, reason: &str, message: &str| json!({"type": t, "status": "True", "lastTransitionTime": now, "reason": reason, "message": message});
    let stored: Vec<Value> = crd["spec"]["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["storage"] == json!(true))
        .map(|v| v["name"].clone())
        .collect();
    crd["status"] = json!({
        "conditions": [
            condition("NamesAccepted", "NoConflicts", "no conflicts found"),
            condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
        "acceptedNames": crd["spec"]["names"].clone(),
        "storedVersions": stored,
    });
    if crd["status"]["acceptedNames"].get("singular").is_none() {
        let singular = crd["spec"]["names"]["kind"]
            .as_str()
            .unwrap_or("")
            .to_ascii_lowercase();
        crd["status"]["acceptedNames"]["singular"] = json!(singular);
    }
    Ok(())
}

/// Starts serving a CRD's resources (replacing what an older version of it served).
pub fn register(state: &ApiState, crd: &Value) {
    unregister(state, crd);
    let Ok(resources) = resources(crd) else {
        return;
    };
    let mut registry = state.registry_mut();
    let mut custom = state.custom.write().unwrap_or_else(|e| e.into_inner());
    for (info, version) in resources {
        custom.insert(
            (
                info.group.clone(),
                info.version.clone(),
                info.plural.clone(),
            ),
            std::sync::Arc::new(version),
        );
        registry.upsert(info);
    }
}

/// Stops serving every resource of a CRD.
pub fn unregister(state: &ApiState, crd: &Value) {
    let group = crd["spec"]["group"].as_str().unwrap_or("");
    let plural = crd["spec"]["names"]["plural"].as_str().unwrap_or("");
    let mut registry = state.registry_mut();
    let mut custom = state.custom.write().unwrap_or_else(|e| e.into_inner());
    let served: Vec<String> = registry
        .all()
        .iter()
        .filter(|r| r.group == group && r.plural == plural)
        .map(|r| r.version.clone())
        .collect();
    for v in served {
        registry.remove(group, &v, plural);
        custom.remove(&(group.to_string(), v, plural.to_string()));
    }
}

/// Registers every stored CRD (at start).
pub async fn load_all(state: &ApiState) -> Result<usize, skiff_store::Error> {
    let Some(info) = crd_info(state) else {
        return Ok(0);
    };
    let page = state
        .store
        .list(&info.key_prefix(), ListOptions::default())
        .await?;
    let mut n = 0;
    for kv in page.items {
        if let Ok(crd) = objects::decode(&kv) {
            register(state, &crd);
            n += 1;
        }
    }
    Ok(n)
}

fn crd_info(state: &ApiState) -> Option<ResourceInfo> {
    state
        .registry()
        .by_plural("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        .cloned()
}

/// Whether a resource is the CRD resource itself.
pub fn is_crd(info: &ResourceInfo) -> bool {
    info.group == "apiextensions.k8s.io" && info.plural == "customresourcedefinitions"
}

/// Deletes every object of a CRD's resource (when the CRD goes).
pub async fn delete_objects(state: &ApiState, crd: &Value) -> Result<(), skiff_store::Error> {
    let group = crd["spec"]["group"].as_str().unwrap_or("");
    let plural = crd["spec"]["names"]["plural"].as_str().unwrap_or("");
    if group.is_empty() || plural.is_empty() {
        return Ok(());
    }
    let prefix = format!("/registry/{group}/{plural}/");
    let page = state.store.list(&prefix, ListOptions::default()).await?;
    for kv in page.items {
        match state.store.delete(&kv.key, None).await {
            Ok(_) | Err(skiff_store::Error::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crd() -> Value {
        json!({"metadata": {"name": "websites.example.com"}, "spec": {
        "group": "example.com", "scope": "Namespaced",
        "names": {"plural": "websites", "kind": "Website", "shortNames": ["ws"]},
        "versions": [
            {"name": "v1", "served": true, "storage": true,
             "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}},
             "additionalPrinterColumns": [{"name": "URL", "type": "string", "jsonPath": ".spec.url"}]},
            {"name": "v1beta1", "served": false, "storage": false}
        ]}})
    }

    #[test]
    fn a_crd_serves_each_served_version_with_its_subresources() {
        let res = resources(&crd()).unwrap();
        assert_eq!(res.len(), 1);
        let (info, custom) = &res[0];
        assert_eq!(
            (info.kind.as_str(), info.singular.as_str()),
            ("Website", "website")
        );
        assert_eq!(info.subresources, vec!["status", "scale"]);
        assert_eq!(custom.printer_columns.len(), 1);
        assert!(custom.scale.is_some());
    }

    #[test]
    fn a_crd_with_a_wrong_name_is_invalid() {
        let mut bad = crd();
        bad["metadata"]["name"] = json!("sites.example.com");
        let err = prepare(&mut bad).unwrap_err();
        assert_eq!(err.code, 422);
        assert_eq!(err.causes[0].field, "metadata.name");
    }

    #[test]
    fn prepared_crds_are_established() {
        let mut c = crd();
        prepare(&mut c).unwrap();
        let types: Vec<&str> = c["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["type"].as_str().unwrap())
            .collect();
        assert_eq!(types, vec!["NamesAccepted", "Established"]);
        assert_eq!(c["status"]["acceptedNames"]["singular"], "website");
    }
}
