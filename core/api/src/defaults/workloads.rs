//! Deployment, ReplicaSet, StatefulSet and DaemonSet defaults.

use serde_json::Value;

use super::{child, items, pod, root, set};

pub fn deployment(obj: &mut Value) {
    let Some(spec) = child(root(obj), "spec") else {
        return;
    };
    set(spec, "replicas", 1);
    set(spec, "revisionHistoryLimit", 10);
    set(spec, "progressDeadlineSeconds", 600);
    if let Some(strategy) = child(spec, "strategy") {
        set(strategy, "type", "RollingUpdate");
        if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate")
            && let Some(ru) = child(strategy, "rollingUpdate")
        {
            set(ru, "maxUnavailable", "25%");
            set(ru, "maxSurge", "25%");
        }
    }
    pod::template(spec.get_mut("template"));
}

pub fn replica_set(obj: &mut Value) {
    let Some(spec) = child(root(obj), "spec") else {
        return;
    };
    set(spec, "replicas", 1);
    pod::template(spec.get_mut("template"));
}

pub fn stateful_set(obj: &mut Value) {
    let Some(spec) = child(root(obj), "spec") else {
        return;
    };
    set(spec, "replicas", 1);
    set(spec, "podManagementPolicy", "OrderedReady");
    set(spec, "revisionHistoryLimit", 10);
    if let Some(strategy) = child(spec, "updateStrategy") {
        set(strategy, "type", "RollingUpdate");
        if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate")
            && let Some(ru) = child(strategy, "rollingUpdate")
        {
            set(ru, "partition", 0);
        }
    }
    if let Some(retention) = child(spec, "persistentVolumeClaimRetentionPolicy") {
        set(retention, "whenDeleted", "Retain");
        set(retention, "whenScaled", "Retain");
    }
    for claim in items(spec, "volumeClaimTemplates") {
        set(claim, "apiVersion", "v1");
        set(claim, "kind", "PersistentVolumeClaim");
        if let Some(s) = child(claim, "spec") {
            set(s, "volumeMode", "Filesystem");
        }
        if let Some(status) = child(claim, "status") {
            set(status, "phase", "Pending");
        }
    }
    pod::template(spec.get_mut("template"));
}

pub fn daemon_set(obj: &mut Value) {
    let Some(spec) = child(root(obj), "spec") else {
        return;
    };
    set(spec, "revisionHistoryLimit", 10);
    if let Some(strategy) = child(spec, "updateStrategy") {
        set(strategy, "type", "RollingUpdate");
        if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate")
            && let Some(ru) = child(strategy, "rollingUpdate")
        {
            set(ru, "maxUnavailable", 1);
            set(ru, "maxSurge", 0);
        }
    }
    pod::template(spec.get_mut("template"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template() -> Value {
        json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}})
    }

    #[test]
    fn a_deployment_reads_back_like_from_kubernetes() {
        let mut d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template()}});
        deployment(&mut d);
        insta::assert_json_snapshot!(d);
    }

    #[test]
    fn recreate_deployments_get_no_rolling_parameters() {
        let mut d = json!({"spec": {"replicas": 0, "strategy": {"type": "Recreate"}}});
        deployment(&mut d);
        assert_eq!(d["spec"]["replicas"], 0);
        assert_eq!(d["spec"]["strategy"], json!({"type": "Recreate"}));
    }

    #[test]
    fn partial_rolling_updates_are_completed() {
        let mut d = json!({"spec": {"strategy": {"rollingUpdate": {"maxSurge": 1}}}});
        deployment(&mut d);
        assert_eq!(
            d["spec"]["strategy"],
            json!({"rollingUpdate": {"maxSurge": 1, "maxUnavailable": "25%"}, "type": "RollingUpdate"})
        );
    }

    #[test]
    fn a_stateful_set_reads_back_like_from_kubernetes() {
        let mut s = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
            "spec": {"serviceName": "db", "selector": {"matchLabels": {"app": "web"}}, "template": template(),
                "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}});
        stateful_set(&mut s);
        insta::assert_json_snapshot!(s);
    }

    #[test]
    fn a_daemon_set_reads_back_like_from_kubernetes() {
        let mut d = json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template()}});
        daemon_set(&mut d);
        insta::assert_json_snapshot!(d);
    }

    #[test]
    fn replica_sets_default_to_one_replica_and_default_their_template() {
        let mut r = json!({"spec": {"template": template()}});
        replica_set(&mut r);
        assert_eq!(r["spec"]["replicas"], 1);
        assert_eq!(r["spec"]["template"]["spec"]["dnsPolicy"], "ClusterFirst");
    }
}
