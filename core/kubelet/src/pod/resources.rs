//! Container resource requests and limits as runtime (cgroup) settings.

use k8s_openapi::api::core::v1::Container;
use skiff_api::validation::Quantity;

use crate::runtime::Resources;

/// The CFS period used with CPU quotas, as upstream (100 ms).
pub const CPU_PERIOD: u64 = 100_000;

/// Converts `resources.limits`/`requests` to cgroup settings: memory limit in bytes, CPU
/// quota per 100 ms period from the CPU limit, CPU shares from the request (or the limit).
pub fn of(container: &Container) -> Resources {
    let r = container.resources.as_ref();
    let get = |limits: bool, name: &str| {
        let map = if limits {
            r.and_then(|r| r.limits.as_ref())
        } else {
            r.and_then(|r| r.requests.as_ref())
        };
        map.and_then(|m| m.get(name))
            .and_then(|q| Quantity::parse(&q.0).ok())
    };
    let memory = get(true, "memory").map(|q| q.bytes());
    let cpu_limit = get(true, "cpu").map(|q| q.millis());
    let cpu_request = get(false, "cpu")
        .or_else(|| get(true, "cpu"))
        .map(|q| q.millis());
    Resources {
        memory_limit_bytes: memory,
        cpu_quota: cpu_limit.map(|m| (m * CPU_PERIOD as i64 / 1000).max(1000)),
        cpu_period: cpu_limit.map(|_| CPU_PERIOD),
        cpu_shares: Some(
            cpu_request
                .map(|m| (m as u64 * 1024 / 1000).max(2))
                .unwrap_or(2),
        ),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn limits_become_memory_bytes_and_cpu_quota_and_requests_shares() {
        let c: Container = serde_json::from_value(json!({"name": "a", "resources": {
            "limits": {"memory": "64Mi", "cpu": "500m"}, "requests": {"cpu": "250m"}}}))
        .unwrap();
        let r = of(&c);
        assert_eq!(r.memory_limit_bytes, Some(64 << 20));
        assert_eq!(r.cpu_quota, Some(50_000));
        assert_eq!(r.cpu_period, Some(100_000));
        assert_eq!(r.cpu_shares, Some(256));
    }

    #[test]
    fn no_resources_means_no_limits_and_minimal_shares() {
        let c: Container = serde_json::from_value(json!({"name": "a"})).unwrap();
        assert_eq!(
            of(&c),
            Resources {
                cpu_shares: Some(2),
                ..Default::default()
            }
        );
    }
}
