//! Resource amounts the scheduler compares: what a pod requests and what a node offers.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use skiff_api::validation::quantity;

/// CPU assumed for a container without a cpu request when scoring, as upstream (0.1 core).
pub const DEFAULT_MILLI_CPU: i64 = 100;
/// Memory assumed for a container without a memory request when scoring, as upstream (200 MiB).
pub const DEFAULT_MEMORY: i64 = 200 * 1024 * 1024;

/// The resources the scheduler accounts for. `pods` counts pod slots.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    pub milli_cpu: i64,
    pub memory: i64,
    pub ephemeral_storage: i64,
    pub pods: i64,
}

impl Resources {
    /// Reads a `ResourceList` (requests, capacity or allocatable); unparsable amounts count as
    /// zero, because validation already rejected them on the way in.
    pub fn from_list(list: Option<&BTreeMap<String, Quantity>>) -> Self {
        let mut r = Resources::default();
        let Some(list) = list else { return r };
        for (name, q) in list {
            let Ok(q) = quantity::parse(&q.0) else {
                continue;
            };
            match name.as_str() {
                "cpu" => r.milli_cpu = q.millis(),
                "memory" => r.memory = q.bytes(),
                "ephemeral-storage" => r.ephemeral_storage = q.bytes(),
                "pods" => r.pods = q.value(),
                _ => {}
            }
        }
        r
    }

    pub fn add(&mut self, other: &Resources) {
        self.milli_cpu += other.milli_cpu;
        self.memory += other.memory;
        self.ephemeral_storage += other.ephemeral_storage;
        self.pods += other.pods;
    }

    pub fn sub(&mut self, other: &Resources) {
        self.milli_cpu -= other.milli_cpu;
        self.memory -= other.memory;
        self.ephemeral_storage -= other.ephemeral_storage;
        self.pods -= other.pods;
    }

    /// Per-dimension maximum.
    pub fn max(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.max(other.milli_cpu);
        self.memory = self.memory.max(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(other.ephemeral_storage);
        self.pods = self.pods.max(other.pods);
    }
}

/// What a pod asks for: exact requests for fitting, and requests with upstream's defaults for
/// unset cpu/memory used by the spreading scores.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PodRequests {
    pub exact: Resources,
    pub non_zero: Resources,
}

/// The effective requests of a pod, computed like upstream's `resourcehelper.PodRequests`:
/// the larger of (sum of app containers + restartable init containers) and the peak of the
/// init sequence, plus the pod overhead. Always one pod slot.
pub fn pod_requests(pod: &Pod) -> PodRequests {
    let Some(spec) = pod.spec.as_ref() else {
        return PodRequests {
            exact: one_pod(),
            non_zero: one_pod(),
        };
    };
    let exact = total(spec, |c| container_requests(c, false));
    let non_zero = total(spec, |c| container_requests(c, true));
    PodRequests { exact, non_zero }
}

fn one_pod() -> Resources {
    Resources {
        pods: 1,
        ..Resources::default()
    }
}

fn total(spec: &PodSpec, requests: impl Fn(&Container) -> Resources) -> Resources {
    let mut sum = Resources::default();
    for c in &spec.containers {
        sum.add(&requests(c));
    }
    let mut sidecars = Resources::default();
    let mut init_peak = Resources::default();
    for c in spec.init_containers.iter().flatten() {
        let r = requests(c);
        if c.restart_policy.as_deref() == Some("Always") {
            sidecars.add(&r);
            init_peak.max(&sidecars);
        } else {
            let mut step = sidecars;
            step.add(&r);
            init_peak.max(&step);
        }
    }
    sum.add(&sidecars);
    sum.max(&init_peak);
    sum.add(&Resources::from_list(spec.overhead.as_ref()));
    sum.pods = 1;
    sum
}

fn container_requests(c: &Container, non_zero: bool) -> Resources {
    let res = c.resources.as_ref();
    // Upstream defaults requests to limits when only limits are set; the API server's
    // defaulting does that too, this keeps pods created without defaulting consistent.
    let list = res
        .and_then(|r| r.requests.as_ref())
        .or_else(|| res.and_then(|r| r.limits.as_ref()));
    let mut r = Resources::from_list(list);
    if non_zero {
        let has = |k: &str| list.is_some_and(|l| l.contains_key(k));
        if !has("cpu") {
            r.milli_cpu = DEFAULT_MILLI_CPU;
        }
        if !has("memory") {
            r.memory = DEFAULT_MEMORY;
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": spec})).unwrap()
    }

    #[test]
    fn init_containers_count_as_their_peak_not_their_sum() {
        let p = pod(json!({
            "containers": [{"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "1Gi"}}},
                           {"name": "b", "resources": {"requests": {"cpu": "200m"}}}],
            "initContainers": [{"name": "i1", "resources": {"requests": {"cpu": "500m"}}},
                               {"name": "i2", "resources": {"requests": {"cpu": "250m", "memory": "2Gi"}}}]
        }));
        let r = pod_requests(&p).exact;
        assert_eq!(r.milli_cpu, 500);
        assert_eq!(r.memory, 2 * 1024 * 1024 * 1024);
        assert_eq!(r.pods, 1);
    }

    #[test]
    fn sidecars_add_to_the_app_containers_and_to_later_init_steps() {
        let p = pod(json!({
            "containers": [{"name": "a", "resources": {"requests": {"cpu": "100m"}}}],
            "initContainers": [{"name": "side", "restartPolicy": "Always", "resources": {"requests": {"cpu": "300m"}}},
                               {"name": "i", "resources": {"requests": {"cpu": "500m"}}}]
        }));
        assert_eq!(pod_requests(&p).exact.milli_cpu, 800);
        let p = pod(json!({
            "containers": [{"name": "a", "resources": {"requests": {"cpu": "900m"}}}],
            "initContainers": [{"name": "side", "restartPolicy": "Always", "resources": {"requests": {"cpu": "300m"}}}],
            "overhead": {"cpu": "50m"}
        }));
        assert_eq!(pod_requests(&p).exact.milli_cpu, 1250);
    }

    #[test]
    fn containers_without_requests_get_defaults_only_for_scoring() {
        let p = pod(json!({"containers": [{"name": "a"}]}));
        let r = pod_requests(&p);
        assert_eq!(r.exact.milli_cpu, 0);
        assert_eq!(r.non_zero.milli_cpu, DEFAULT_MILLI_CPU);
        assert_eq!(r.non_zero.memory, DEFAULT_MEMORY);
    }
}
