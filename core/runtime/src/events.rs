//! Recording core/v1 Events, with the controller's name as the source component.

use k8s_openapi::api::core::v1::{Event, EventSource, Namespace, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::PostParams;
use kube::{Api, Client};
use serde_json::Value;

/// Why an Event could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server refused or could not be reached.
    #[error("recording event")]
    Api(#[source] kube::Error),
}

/// Where host-level Events (a controller script failed to load or reload) are recorded: the
/// `kube-system` namespace, about an object of kind `Controller` named after the controller
/// (`kubectl get events -n kube-system --field-selector involvedObject.kind=Controller`).
pub const HOST_EVENTS_NAMESPACE: &str = "kube-system";

/// The `apiVersion` of the `Controller` objects host-level Events are about.
pub const CONTROLLER_API_VERSION: &str = "runtime.skiff.dev/v1";

/// Records Events for one component.
#[derive(Clone)]
pub struct EventRecorder {
    client: Client,
    component: String,
}

impl EventRecorder {
    /// A recorder whose Events say they come from `component`.
    pub fn new(client: Client, component: impl Into<String>) -> Self {
        EventRecorder {
            client,
            component: component.into(),
        }
    }

    /// Records an Event about `obj` (`event_type` is `Normal` or `Warning`).
    pub async fn record(
        &self,
        obj: &Value,
        event_type: &str,
        reason: &str,
        message: &str,
    ) -> Result<(), Error> {
        let meta = &obj["metadata"];
        let involved = ObjectReference {
            api_version: obj["apiVersion"].as_str().map(str::to_string),
            kind: obj["kind"].as_str().map(str::to_string),
            name: meta["name"].as_str().map(str::to_string),
            namespace: meta["namespace"].as_str().map(str::to_string),
            uid: meta["uid"].as_str().map(str::to_string),
            resource_version: meta["resourceVersion"].as_str().map(str::to_string),
            field_path: None,
        };
        // Cluster-scoped objects get their Events in `default`, as upstream does.
        let namespace = involved
            .namespace
            .clone()
            .filter(|ns| !ns.is_empty())
            .unwrap_or_else(|| "default".to_string());
        let now = Time(k8s_openapi::jiff::Timestamp::now());
        let event = Event {
            metadata: ObjectMeta {
                // Named like upstream's recorder: the object's name and the time in hex.
                name: Some(format!(
                    "{}.{:x}",
                    involved.name.as_deref().unwrap_or("object"),
                    k8s_openapi::jiff::Timestamp::now().as_nanosecond()
                )),
                namespace: Some(namespace.clone()),
                ..Default::default()
            },
            involved_object: involved,
            type_: Some(event_type.to_string()),
            reason: Some(reason.to_string()),
            message: Some(message.to_string()),
            source: Some(EventSource {
                component: Some(self.component.clone()),
                host: None,
            }),
            reporting_component: Some(self.component.clone()),
            count: Some(1),
            first_timestamp: Some(now.clone()),
            last_timestamp: Some(now),
            ..Default::default()
        };
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        api.create(&PostParams::default(), &event)
            .await
            .map(drop)
            .map_err(Error::Api)
    }

    /// Records an Event about a controller itself (see [`HOST_EVENTS_NAMESPACE`]).
    pub async fn record_for_controller(
        &self,
        controller: &str,
        event_type: &str,
        reason: &str,
        message: &str,
    ) -> Result<(), Error> {
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        if namespaces
            .get_opt(HOST_EVENTS_NAMESPACE)
            .await
            .map_err(Error::Api)?
            .is_none()
        {
            let namespace = Namespace {
                metadata: ObjectMeta {
                    name: Some(HOST_EVENTS_NAMESPACE.to_string()),
                    ..Default::default()
                },
                ..Default::default()
            };
            match namespaces.create(&PostParams::default(), &namespace).await {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.code == 409 => {}
                Err(error) => return Err(Error::Api(error)),
            }
        }
        let subject = serde_json::json!({
            "apiVersion": CONTROLLER_API_VERSION,
            "kind": "Controller",
            "metadata": { "name": controller, "namespace": HOST_EVENTS_NAMESPACE },
        });
        self.record(&subject, event_type, reason, message).await
    }
}
