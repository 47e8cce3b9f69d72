//! Dynamic provisioning through a CSI driver, as a native skiff controller.
//!
//! A PersistentVolumeClaim whose StorageClass names the served driver as `provisioner` gets a
//! volume from the driver's CreateVolume (`volumeBindingMode: Immediate` at once,
//! `WaitForFirstConsumer` once the scheduler annotated the claim with
//! `volume.kubernetes.io/selected-node`) and a PersistentVolume pre-bound to the claim through
//! `claimRef`; the `pv-binder` script then completes the binding. Only claims the binder
//! handed over (annotation `volume.kubernetes.io/storage-provisioner` naming the driver, set
//! when no existing volume fits) are provisioned, so a static bind never races a new volume. A Released PV of this
//! driver with reclaim policy `Delete` gets DeleteVolume, then is removed: the binder leaves
//! such PVs (annotated `pv.kubernetes.io/provisioned-by`) to the provisioner, and the
//! `external-provisioner.volume.kubernetes.io/finalizer` keeps a PV deleted by hand until its
//! volume is gone. Which driver and socket: see [`settings`].

pub mod driver;
pub mod quantity;
pub mod settings;
pub mod volume;

use std::collections::HashMap;
use std::time::Duration;

use skiff_plugin_sdk::{Action, Context, Controller, Host, Value, json};

use settings::Settings;

/// Annotation the scheduler sets on a WaitForFirstConsumer claim (upstream's name).
pub const SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
/// Annotation naming the provisioner expected to serve a claim (upstream's name).
pub const STORAGE_PROVISIONER: &str = "volume.kubernetes.io/storage-provisioner";
/// The older name of [`STORAGE_PROVISIONER`], still set by upstream.
pub const BETA_STORAGE_PROVISIONER: &str = "volume.beta.kubernetes.io/storage-provisioner";
/// How soon a failed CreateVolume is tried again.
const RETRY: Duration = Duration::from_secs(5);

/// The provisioner controller.
#[derive(Default)]
pub struct CsiProvisioner;

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// The selected node's topology for `driver`: the keys its CSINode lists for the driver, else
/// the node labels under `topology.<driver>/`, with the node's values.
fn node_topology(
    host: &Host<'_>,
    node_name: &str,
    driver: &str,
) -> Option<HashMap<String, String>> {
    let node = host.get("v1", "Node", "", node_name).ok()?;
    let labels = node["metadata"]["labels"].as_object()?;
    let csi_node = host
        .get("storage.k8s.io/v1", "CSINode", "", node_name)
        .unwrap_or(Value::Null);
    let keys: Option<Vec<String>> = csi_node["spec"]["drivers"]
        .as_array()
        .and_then(|drivers| drivers.iter().find(|d| d["name"] == driver))
        .and_then(|d| d["topologyKeys"].as_array())
        .map(|keys| keys.iter().map(|k| text(k).to_string()).collect());
    let prefix = format!("topology.{driver}/");
    let segments: HashMap<String, String> = labels
        .iter()
        .filter(|(key, _)| match &keys {
            Some(keys) => keys.contains(key),
            None => key.starts_with(&prefix),
        })
        .map(|(key, value)| (key.clone(), text(value).to_string()))
        .collect();
    (!segments.is_empty()).then_some(segments)
}

impl CsiProvisioner {
    /// Deletes the volumes of Released `Delete` PVs of this driver claimed by `namespace/name`
    /// and lets go of PVs being deleted once their volume is gone.
    fn clean_up(
        &self,
        host: &Host<'_>,
        settings: &Settings,
        namespace: &str,
        name: &str,
    ) -> Result<(), String> {
        for pv in host
            .list("v1", "PersistentVolume", "", Value::Null)
            .map_err(err)?
        {
            let meta = &pv["metadata"];
            let claim = &pv["spec"]["claimRef"];
            if text(&meta["annotations"][volume::PROVISIONED_BY]) != settings.driver
                || text(&claim["namespace"]) != namespace
                || text(&claim["name"]) != name
            {
                continue;
            }
            let pv_name = text(&meta["name"]);
            let phase = text(&pv["status"]["phase"]);
            let deleting = !meta["deletionTimestamp"].is_null();
            let reclaim_delete = text(&pv["spec"]["persistentVolumeReclaimPolicy"]) == "Delete";
            let has_finalizer = meta["finalizers"]
                .as_array()
                .is_some_and(|f| f.iter().any(|f| f == volume::FINALIZER));
            let released = phase == "Released" || phase == "Failed";
            let delete_now = reclaim_delete && released && !deleting;
            let let_go = deleting && has_finalizer && phase != "Bound";
            if !delete_now && !let_go {
                continue;
            }
            if reclaim_delete {
                let handle = text(&pv["spec"]["csi"]["volumeHandle"]);
                if let Err(e) = driver::delete_volume(&settings.endpoint, handle) {
                    let message = format!(
                        "{e}: {}",
                        std::error::Error::source(&e)
                            .map(ToString::to_string)
                            .unwrap_or_default()
                    );
                    let _ = host.event(&pv, "Warning", "VolumeFailedDelete", &message);
                    return Err(message);
                }
            }
            if has_finalizer {
                let rest: Vec<Value> = meta["finalizers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|f| *f != volume::FINALIZER)
                    .cloned()
                    .collect();
                host.patch(
                    "v1",
                    "PersistentVolume",
                    "",
                    pv_name,
                    json!({"metadata": {"finalizers": rest}}),
                )
                .map_err(err)?;
            }
            if delete_now {
                host.delete("v1", "PersistentVolume", "", pv_name)
                    .map_err(err)?;
            }
        }
        Ok(())
    }

    /// Provisions a volume and its PV for a pending claim when its class is served here.
    fn provision(
        &self,
        claim: &Value,
        host: &Host<'_>,
        settings: &Settings,
    ) -> Result<Action, String> {
        let spec = &claim["spec"];
        if !text(&spec["volumeName"]).is_empty() || text(&claim["status"]["phase"]) == "Bound" {
            return Ok(Action::Wait);
        }
        // The binder names the provisioner on the claim once no existing volume fits, as
        // upstream's PV controller does; provisioning before that could race a static bind.
        let annotations = &claim["metadata"]["annotations"];
        if text(&annotations[STORAGE_PROVISIONER]) != settings.driver
            && text(&annotations[BETA_STORAGE_PROVISIONER]) != settings.driver
        {
            return Ok(Action::Wait);
        }
        let class_name = text(&spec["storageClassName"]);
        if class_name.is_empty() {
            return Ok(Action::Wait);
        }
        let class = host
            .get("storage.k8s.io/v1", "StorageClass", "", class_name)
            .map_err(err)?;
        if text(&class["provisioner"]) != settings.driver {
            return Ok(Action::Wait);
        }
        let mut requisite = None;
        if text(&class["volumeBindingMode"]) == "WaitForFirstConsumer" {
            let node = text(&claim["metadata"]["annotations"][SELECTED_NODE]);
            if node.is_empty() {
                return Ok(Action::Wait);
            }
            requisite = node_topology(host, node, &settings.driver);
        }
        let pv_name = volume::volume_name(claim);
        if !host
            .get("v1", "PersistentVolume", "", &pv_name)
            .map_err(err)?
            .is_null()
        {
            return Ok(Action::Wait);
        }
        let request = match volume::request(claim, &class, requisite) {
            Ok(request) => request,
            Err(e) => {
                host.event(claim, "Warning", "ProvisioningFailed", &e.to_string())
                    .map_err(err)?;
                return Ok(Action::Wait);
            }
        };
        let namespace = text(&claim["metadata"]["namespace"]);
        let claim_name = text(&claim["metadata"]["name"]);
        host.event(
            claim,
            "Normal",
            "Provisioning",
            &format!(
                "external provisioner is provisioning volume for claim \"{namespace}/{claim_name}\""
            ),
        )
        .map_err(err)?;
        let created = match driver::create_volume(&settings.endpoint, &request) {
            Ok(created) => created,
            Err(e) => {
                let cause = std::error::Error::source(&e)
                    .map(|s| format!(": {s}"))
                    .unwrap_or_default();
                host.event(
                    claim,
                    "Warning",
                    "ProvisioningFailed",
                    &format!(
                        "failed to provision volume with StorageClass \"{class_name}\": {e}{cause}"
                    ),
                )
                .map_err(err)?;
                return Ok(Action::RequeueAfter(RETRY));
            }
        };
        let pv = volume::persistent_volume(claim, &class, &settings.driver, &request, &created);
        host.create(&pv).map_err(err)?;
        host.event(
            claim,
            "Normal",
            "ProvisioningSucceeded",
            &format!("Successfully provisioned volume {pv_name}"),
        )
        .map_err(err)?;
        Ok(Action::Wait)
    }
}

impl Controller for CsiProvisioner {
    fn config(&self) -> Value {
        json!({
            "name": "csi-provisioner",
            "primary": { "apiVersion": "v1", "kind": "PersistentVolumeClaim" },
            "watches": [
                { "apiVersion": "v1", "kind": "PersistentVolume", "map": "claim_of_volume" },
            ],
            "resync_seconds": 60,
        })
    }

    fn reconcile(&self, obj: &Value, ctx: &Context<'_>) -> Result<Action, String> {
        let host = &ctx.host;
        let settings = Settings::load(host);
        let deleted = obj["deleted"].as_bool() == Some(true);
        let (namespace, name) = if deleted {
            (text(&obj["namespace"]), text(&obj["name"]))
        } else {
            (
                text(&obj["metadata"]["namespace"]),
                text(&obj["metadata"]["name"]),
            )
        };
        self.clean_up(host, &settings, namespace, name)?;
        if deleted || !obj["metadata"]["deletionTimestamp"].is_null() {
            return Ok(Action::Wait);
        }
        self.provision(obj, host, &settings)
    }

    fn map(
        &self,
        function: &str,
        obj: &Value,
        _host: &Host<'_>,
    ) -> Result<Vec<(String, String)>, String> {
        if function != "claim_of_volume" {
            return Err(format!("no mapping function {function}"));
        }
        let claim = &obj["spec"]["claimRef"];
        Ok(
            match (claim["namespace"].as_str(), claim["name"].as_str()) {
                (Some(ns), Some(name)) => vec![(ns.to_string(), name.to_string())],
                _ => Vec::new(),
            },
        )
    }
}

skiff_plugin_sdk::export_controller!(CsiProvisioner);
