//! The scheduler's writes to the API: bindings, the `PodScheduled` condition and nominated
//! node, events, and deleting preemption victims.

use chrono::Utc;
use k8s_openapi::api::core::v1::{Event, PersistentVolume, PersistentVolumeClaim, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::plugins::volume_binding::Action;
use crate::pod_info::PodInfo;
use crate::volumes::{SELECTED_NODE, claim_ref};

/// Component name in events, as upstream.
const COMPONENT: &str = "default-scheduler";

fn pods(client: &kube::Client, pod: &PodInfo) -> Api<Pod> {
    Api::namespaced(client.clone(), &pod.namespace)
}

/// POSTs a `Binding` to `pods/binding`.
pub async fn bind(client: &kube::Client, pod: &PodInfo, node: &str) -> Result<(), kube::Error> {
    let binding = json!({
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": pod.name, "namespace": pod.namespace, "uid": pod.uid},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    });
    pods(client, pod)
        .create_subresource::<_, serde_json::Value>(
            "binding",
            &pod.name,
            &PostParams::default(),
            &binding,
        )
        .await
        .map(|_| ())
}

/// Does what placing a pod on `node` asks of one of its claims: annotates a waiting claim
/// with the selected node (the provisioner creates the volume there), or reserves a free
/// volume for it through `spec.claimRef` (the binder then binds the two). The reservation is
/// conditional on the volume's resourceVersion, so a volume taken meanwhile is not stolen.
pub async fn prepare_volume(
    client: &kube::Client,
    action: &Action,
    node: &str,
) -> Result<(), kube::Error> {
    match action {
        Action::SelectNode { claim } => {
            let api: Api<PersistentVolumeClaim> = Api::namespaced(
                client.clone(),
                claim.metadata.namespace.as_deref().unwrap_or("default"),
            );
            let patch = json!({"metadata": {"annotations": {SELECTED_NODE: node}}});
            api.patch(
                claim.metadata.name.as_deref().unwrap_or(""),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .map(|_| ())
        }
        Action::Reserve { volume, claim } => {
            let api: Api<PersistentVolume> = Api::all(client.clone());
            let patch = json!({
                "metadata": {"resourceVersion": volume.metadata.resource_version},
                "spec": {"claimRef": claim_ref(claim)},
            });
            api.patch(
                volume.metadata.name.as_deref().unwrap_or(""),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .map(|_| ())
        }
    }
}

/// Whether the pod already carries this exact `PodScheduled=False` condition.
fn has_condition(pod: &PodInfo, message: &str) -> bool {
    pod.pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "PodScheduled"))
        .is_some_and(|c| {
            c.status == "False"
                && c.reason.as_deref() == Some("Unschedulable")
                && c.message.as_deref() == Some(message)
        })
}

/// Sets `PodScheduled=False` (reason `Unschedulable`) and, after preemption, the nominated
/// node. Skipped when nothing would change, so failed attempts do not churn the pod.
pub async fn mark_unschedulable(
    client: &kube::Client,
    pod: &PodInfo,
    message: &str,
    nominated: Option<&str>,
) -> Result<(), kube::Error> {
    let nominated_same = nominated.is_none_or(|n| pod.nominated_node.as_deref() == Some(n));
    if has_condition(pod, message) && nominated_same {
        return Ok(());
    }
    let mut status = json!({"conditions": [{
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": message,
        "lastProbeTime": null,
        "lastTransitionTime": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }]});
    if let Some(n) = nominated {
        status["nominatedNodeName"] = json!(n);
    }
    pods(client, pod)
        .patch_status(
            &pod.name,
            &PatchParams::default(),
            &Patch::Strategic(json!({"status": status})),
        )
        .await
        .map(|_| ())
}

/// Records an event about the pod.
pub async fn event(
    client: &kube::Client,
    pod: &PodInfo,
    type_: &str,
    reason: &str,
    message: &str,
) -> Result<(), kube::Error> {
    let now = Utc::now();
    let event = json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": format!("{}.{:x}", pod.name, now.timestamp_nanos_opt().unwrap_or_default()),
            "namespace": pod.namespace,
        },
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": pod.name,
            "namespace": pod.namespace, "uid": pod.uid},
        "type": type_,
        "reason": reason,
        "message": message,
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": COMPONENT,
        "action": if reason == "Scheduled" { "Binding" } else { "Scheduling" },
        "firstTimestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "lastTimestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "count": 1,
    });
    // One event per placed pod: written as JSON and only its outcome asked for (RFC 7240's
    // `return=minimal`), rather than typed on the way out and answered back for nothing.
    let api = Api::<Event>::namespaced(client.clone(), &pod.namespace);
    let body = serde_json::to_vec(&event).map_err(kube::Error::SerdeError)?;
    let mut request = kube::core::Request::new(api.resource_url())
        .create(&PostParams::default(), body)
        .map_err(kube::Error::BuildRequest)?;
    request.headers_mut().insert(
        http::header::HeaderName::from_static("prefer"),
        http::HeaderValue::from_static("return=minimal"),
    );
    client.request_text(request).await.map(|_| ())
}

/// Deletes a preemption victim (only the pod with this UID).
pub async fn delete_victim(
    client: &kube::Client,
    victim: &PodInfo,
    grace: Option<i64>,
) -> Result<(), kube::Error> {
    let mut params = DeleteParams::default();
    if let Some(g) = grace {
        params = params.grace_period(g.max(0) as u32);
    }
    params.preconditions = Some(kube::api::Preconditions {
        uid: Some(victim.uid.clone()),
        resource_version: None,
    });
    match pods(client, victim).delete(&victim.name, &params).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}
