//! The labels a runtime keeps with each container, so a restarted kubelet can adopt it.

use std::collections::BTreeMap;

use super::{ContainerConfig, PodRef};

pub const POD_UID: &str = "io.skiff.pod.uid";
pub const POD_NAME: &str = "io.skiff.pod.name";
pub const POD_NAMESPACE: &str = "io.skiff.pod.namespace";
pub const CONTAINER_NAME: &str = "io.skiff.container.name";
/// The container's log file, so its logs can be found without the kubelet's memory.
pub const LOG_PATH: &str = "io.skiff.log-path";
/// When the container was last started (RFC 3339); containerd does not record it.
pub const STARTED_AT: &str = "io.skiff.started-at";
/// The container's cgroups path, to read OOM kills after the fact.
pub const CGROUPS_PATH: &str = "io.skiff.cgroups-path";

/// The labels of a new container: the caller's extra labels plus the pod identity.
pub fn for_config(config: &ContainerConfig) -> BTreeMap<String, String> {
    let mut labels = config.labels.clone();
    labels.insert(POD_UID.into(), config.pod.uid.clone());
    labels.insert(POD_NAME.into(), config.pod.name.clone());
    labels.insert(POD_NAMESPACE.into(), config.pod.namespace.clone());
    labels.insert(CONTAINER_NAME.into(), config.name.clone());
    labels.insert(
        LOG_PATH.into(),
        config.log_path.to_string_lossy().into_owned(),
    );
    labels.insert(CGROUPS_PATH.into(), config.cgroups_path());
    labels
}

/// Reads the pod identity back from a container's labels.
pub fn pod_of(labels: &BTreeMap<String, String>) -> PodRef {
    let get = |key: &str| labels.get(key).cloned().unwrap_or_default();
    PodRef {
        uid: get(POD_UID),
        name: get(POD_NAME),
        namespace: get(POD_NAMESPACE),
    }
}
