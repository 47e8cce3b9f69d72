//! Tables of representative objects of each important kind, checked cell by cell.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};

use super::{IncludeObject, human_duration, pod::summarize, to_table_at};
use crate::registry::{Registry, ResourceInfo};

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-06-01T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// An RFC 3339 timestamp `secs` seconds before [`now`].
fn ago(secs: i64) -> String {
    (now() - TimeDelta::seconds(secs))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn info(name: &str) -> ResourceInfo {
    Registry::builtin().resolve(name).unwrap().clone()
}

fn table(resource: &str, objects: &[Value]) -> Value {
    to_table_at(
        &info(resource),
        None,
        objects,
        IncludeObject::Metadata,
        now(),
    )
}

fn column_names(t: &Value) -> Vec<String> {
    t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

/// Names of the columns shown without `-o wide`.
fn default_columns(t: &Value) -> Vec<String> {
    t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["priority"] == 0)
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

fn cells(t: &Value, row: usize) -> Vec<Value> {
    t["rows"][row]["cells"].as_array().unwrap().clone()
}

fn cell(resource: &str, obj: Value, column: &str) -> Value {
    let t = table(resource, &[obj]);
    let idx = column_names(&t).iter().position(|c| c == column).unwrap();
    cells(&t, 0)[idx].clone()
}

fn meta(name: &str, age_secs: i64) -> Value {
    json!({"name": name, "namespace": "default", "creationTimestamp": ago(age_secs), "uid": "u1"})
}

#[test]
fn ages_read_like_upstream_human_durations() {
    let d = TimeDelta::seconds;
    assert_eq!(human_duration(d(-5)), "<invalid>");
    assert_eq!(human_duration(d(-1)), "0s");
    assert_eq!(human_duration(d(5)), "5s");
    assert_eq!(human_duration(d(119)), "119s");
    assert_eq!(human_duration(d(120)), "2m");
    assert_eq!(human_duration(d(3 * 60 + 2)), "3m2s");
    assert_eq!(human_duration(d(15 * 60 + 2)), "15m");
    assert_eq!(human_duration(d(4 * 3600)), "4h");
    assert_eq!(human_duration(d(4 * 3600 + 30 * 60)), "4h30m");
    assert_eq!(human_duration(d(20 * 3600)), "20h");
    assert_eq!(human_duration(d(51 * 3600)), "2d3h");
    assert_eq!(human_duration(d(3 * 86400)), "3d");
    assert_eq!(human_duration(d(45 * 86400 + 3600)), "45d");
    assert_eq!(human_duration(d(800 * 86400)), "2y70d");
    assert_eq!(human_duration(d(9 * 365 * 86400)), "9y");
}

fn pod(status: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": meta("web", 30),
        "spec": {"containers": [{"name": "app", "image": "busybox"}]},
        "status": status,
    })
}

fn container_status(state: Value, ready: bool, restarts: i64) -> Value {
    json!({"name": "app", "ready": ready, "restartCount": restarts, "state": state})
}

#[test]
fn pod_status_follows_container_states() {
    let reason = |p: Value| summarize(&p).reason;
    assert_eq!(reason(pod(json!({"phase": "Pending"}))), "Pending");
    assert_eq!(
        reason(pod(json!({"phase": "Pending", "containerStatuses": [
            container_status(json!({"waiting": {"reason": "ContainerCreating"}}), false, 0)
        ]}))),
        "ContainerCreating"
    );
    assert_eq!(
        reason(pod(json!({"phase": "Running", "containerStatuses": [
            container_status(json!({"running": {"startedAt": ago(10)}}), true, 0)
        ]}))),
        "Running"
    );
    assert_eq!(
        reason(pod(json!({"phase": "Succeeded", "containerStatuses": [
            container_status(json!({"terminated": {"exitCode": 0, "reason": "Completed"}}), false, 0)
        ]}))),
        "Completed"
    );
    assert_eq!(
        reason(pod(json!({"phase": "Failed", "containerStatuses": [
            container_status(json!({"terminated": {"exitCode": 1, "reason": "Error"}}), false, 0)
        ]}))),
        "Error"
    );
    assert_eq!(
        reason(pod(json!({"phase": "Failed", "containerStatuses": [
            container_status(json!({"terminated": {"exitCode": 137, "signal": 9}}), false, 0)
        ]}))),
        "Signal:9"
    );
    assert_eq!(
        reason(pod(json!({"phase": "Failed", "containerStatuses": [
            container_status(json!({"terminated": {"exitCode": 3}}), false, 0)
        ]}))),
        "ExitCode:3"
    );
    assert_eq!(
        reason(pod(json!({"phase": "Pending", "containerStatuses": [
            container_status(json!({"waiting": {"reason": "ImagePullBackOff"}}), false, 0)
        ]}))),
        "ImagePullBackOff"
    );
    assert_eq!(
        reason(pod(json!({"phase": "Failed", "reason": "Evicted"}))),
        "Evicted"
    );
}

#[test]
fn crash_looping_pods_show_restarts_with_the_time_of_the_last_one() {
    let mut status = container_status(json!({"waiting": {"reason": "CrashLoopBackOff"}}), false, 4);
    status["lastState"] = json!({"terminated": {"exitCode": 1, "finishedAt": ago(5)}});
    let p = pod(json!({"phase": "Running", "containerStatuses": [status]}));
    let t = table("pods", &[p]);
    let row = cells(&t, 0);
    assert_eq!(row[1], "0/1");
    assert_eq!(row[2], "CrashLoopBackOff");
    assert_eq!(row[3], "4 (5s ago)");
    assert_eq!(row[4], "30s");
}

#[test]
fn init_containers_show_their_progress() {
    let mut p = pod(json!({"phase": "Pending", "initContainerStatuses": [
        {"name": "init", "ready": false, "restartCount": 0,
         "state": {"waiting": {"reason": "PodInitializing"}}}
    ]}));
    p["spec"]["initContainers"] = json!([{"name": "init", "image": "busybox"}]);
    assert_eq!(summarize(&p).reason, "Init:0/1");

    p["status"]["initContainerStatuses"][0]["state"] =
        json!({"terminated": {"exitCode": 1, "reason": "Error"}});
    assert_eq!(summarize(&p).reason, "Init:Error");

    p["status"]["initContainerStatuses"][0]["state"] =
        json!({"waiting": {"reason": "CrashLoopBackOff"}});
    assert_eq!(summarize(&p).reason, "Init:CrashLoopBackOff");

    p["status"]["initContainerStatuses"][0]["state"] = json!({"terminated": {"exitCode": 2}});
    assert_eq!(summarize(&p).reason, "Init:ExitCode:2");
}

#[test]
fn sidecar_init_containers_count_as_containers() {
    let mut p = pod(json!({
        "phase": "Running",
        "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
        "initContainerStatuses": [{"name": "proxy", "ready": true, "started": true, "restartCount": 1,
            "state": {"running": {}}}],
        "containerStatuses": [container_status(json!({"running": {}}), true, 0)],
    }));
    p["spec"]["initContainers"] =
        json!([{"name": "proxy", "image": "x", "restartPolicy": "Always"}]);
    let s = summarize(&p);
    assert_eq!(
        (s.ready, s.total, s.reason.as_str(), s.restarts),
        (2, 2, "Running", 1)
    );
}

#[test]
fn deleted_pods_are_terminating_until_they_finish() {
    let mut p = pod(json!({"phase": "Running", "containerStatuses": [
        container_status(json!({"running": {}}), true, 0)
    ]}));
    p["metadata"]["deletionTimestamp"] = json!(ago(1));
    assert_eq!(summarize(&p).reason, "Terminating");
    p["status"]["phase"] = json!("Succeeded");
    p["status"]["containerStatuses"][0]["state"] =
        json!({"terminated": {"exitCode": 0, "reason": "Completed"}});
    assert_eq!(summarize(&p).reason, "Completed");
}

#[test]
fn pod_tables_have_upstream_columns_and_wide_cells() {
    let mut p = pod(json!({
        "phase": "Running", "podIP": "10.1.0.5", "podIPs": [{"ip": "10.1.0.5"}],
        "conditions": [{"type": "Ready", "status": "True"}, {"type": "example.com/gate", "status": "True"}],
        "containerStatuses": [container_status(json!({"running": {}}), true, 0)],
    }));
    p["spec"]["nodeName"] = json!("node-1");
    p["spec"]["readinessGates"] = json!([{"conditionType": "example.com/gate"}]);
    let t = table("po", &[p]);
    assert_eq!(t["kind"], "Table");
    assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(
        default_columns(&t),
        ["Name", "Ready", "Status", "Restarts", "Age"]
    );
    assert_eq!(
        column_names(&t),
        [
            "Name",
            "Ready",
            "Status",
            "Restarts",
            "Age",
            "IP",
            "Node",
            "Nominated Node",
            "Readiness Gates"
        ]
    );
    assert_eq!(t["columnDefinitions"][0]["format"], "name");
    assert_eq!(
        cells(&t, 0),
        [
            json!("web"),
            json!("1/1"),
            json!("Running"),
            json!("0"),
            json!("30s"),
            json!("10.1.0.5"),
            json!("node-1"),
            json!("<none>"),
            json!("1/1")
        ]
    );
}

#[test]
fn rows_carry_metadata_the_whole_object_or_nothing() {
    let p = pod(json!({"phase": "Pending"}));
    let pods = info("pods");
    let with = |inc| to_table_at(&pods, None, std::slice::from_ref(&p), inc, now());
    let md = with(IncludeObject::Metadata);
    assert_eq!(md["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    assert_eq!(md["rows"][0]["object"]["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(md["rows"][0]["object"]["metadata"]["name"], "web");
    assert!(md["rows"][0]["object"].get("spec").is_none());
    assert_eq!(with(IncludeObject::Object)["rows"][0]["object"], p);
    assert!(with(IncludeObject::None)["rows"][0].get("object").is_none());
    assert_eq!(
        IncludeObject::from_query("Object"),
        Some(IncludeObject::Object)
    );
    assert_eq!(IncludeObject::from_query("bogus"), None);
}

fn pod_template() -> Value {
    json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
        {"name": "app", "image": "busybox:1"}, {"name": "side", "image": "pause:3"}
    ]}})
}

#[test]
fn deployments_show_ready_up_to_date_and_available() {
    let d = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("web", 3 * 60 + 2),
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web", "tier": "fe"},
            "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]}]},
            "template": pod_template()},
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
    });
    let t = table("deploy", &[d]);
    assert_eq!(
        default_columns(&t),
        ["Name", "Ready", "Up-to-date", "Available", "Age"]
    );
    assert_eq!(
        cells(&t, 0),
        [
            json!("web"),
            json!("2/3"),
            json!(3),
            json!(2),
            json!("3m2s"),
            json!("app,side"),
            json!("busybox:1,pause:3"),
            json!("app=web,env in (dev,prod),tier=fe")
        ]
    );
}

#[test]
fn replica_sets_stateful_sets_and_daemon_sets_count_their_pods() {
    let rs = json!({"metadata": meta("web-abc", 60), "spec": {"replicas": 3,
        "selector": {"matchLabels": {"app": "web"}}, "template": pod_template()},
        "status": {"replicas": 3, "readyReplicas": 1}});
    assert_eq!(
        cells(&table("rs", &[rs]), 0)[..5],
        [json!("web-abc"), json!(3), json!(3), json!(1), json!("60s")]
    );

    let sts = json!({"metadata": meta("db", 60), "spec": {"replicas": 2, "template": pod_template()},
        "status": {"readyReplicas": 2}});
    let t = table("sts", &[sts]);
    assert_eq!(default_columns(&t), ["Name", "Ready", "Age"]);
    assert_eq!(cells(&t, 0)[1], "2/2");

    let ds = json!({"metadata": meta("agent", 60), "spec": {"selector": {"matchLabels": {"app": "agent"}},
        "template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"}, "containers": [{"name": "a", "image": "b"}]}}},
        "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2,
            "updatedNumberScheduled": 3, "numberAvailable": 2}});
    let t = table("ds", &[ds]);
    assert_eq!(
        default_columns(&t),
        [
            "Name",
            "Desired",
            "Current",
            "Ready",
            "Up-to-date",
            "Available",
            "Node Selector",
            "Age"
        ]
    );
    assert_eq!(
        cells(&t, 0)[..8],
        [
            json!("agent"),
            json!(3),
            json!(3),
            json!(2),
            json!(3),
            json!(2),
            json!("kubernetes.io/os=linux"),
            json!("60s")
        ]
    );
}

#[test]
fn jobs_show_status_completions_and_duration() {
    let mut job = json!({"metadata": meta("pi", 600), "spec": {"completions": 3, "template": pod_template()},
        "status": {"succeeded": 1, "startTime": ago(300)}});
    let t = table("jobs", &[job.clone()]);
    assert_eq!(
        default_columns(&t),
        ["Name", "Status", "Completions", "Duration", "Age"]
    );
    assert_eq!(
        cells(&t, 0)[..5],
        [
            json!("pi"),
            json!("Running"),
            json!("1/3"),
            json!("5m"),
            json!("10m")
        ]
    );
    job["status"] = json!({"succeeded": 3, "startTime": ago(300), "completionTime": ago(280),
        "conditions": [{"type": "Complete", "status": "True"}]});
    let row = cells(&table("jobs", &[job.clone()]), 0);
    assert_eq!(row[1..4], [json!("Complete"), json!("3/3"), json!("20s")]);
    job["spec"] = json!({"parallelism": 2, "template": pod_template()});
    job["status"] = json!({"conditions": [{"type": "Failed", "status": "True"}]});
    let row = cells(&table("jobs", &[job]), 0);
    assert_eq!(row[1..4], [json!("Failed"), json!("0/1 of 2"), json!("")]);
}

#[test]
fn cron_jobs_show_schedule_and_last_run() {
    let cj = json!({"metadata": meta("nightly", 7200), "spec": {"schedule": "0 3 * * *", "suspend": false,
        "jobTemplate": {"spec": {"template": pod_template()}}},
        "status": {"active": [{"name": "nightly-1"}], "lastScheduleTime": ago(65)}});
    let t = table("cj", &[cj]);
    assert_eq!(
        default_columns(&t),
        [
            "Name",
            "Schedule",
            "Timezone",
            "Suspend",
            "Active",
            "Last Schedule",
            "Age"
        ]
    );
    assert_eq!(
        cells(&t, 0)[..7],
        [
            json!("nightly"),
            json!("0 3 * * *"),
            json!("<none>"),
            json!("False"),
            json!(1),
            json!("65s"),
            json!("120m")
        ]
    );
}

#[test]
fn services_show_type_ips_and_ports() {
    let svc = |spec: Value, status: Value| json!({"metadata": meta("web", 60), "spec": spec, "status": status});
    let t = table(
        "svc",
        &[
            svc(
                json!({"type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
                "selector": {"k8s-app": "dns"}}),
                json!({}),
            ),
            svc(
                json!({"type": "NodePort", "clusterIP": "10.96.0.11",
                "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]}),
                json!({}),
            ),
            svc(
                json!({"type": "LoadBalancer", "clusterIP": "10.96.0.12", "ports": [{"port": 443, "protocol": "TCP", "nodePort": 31443}]}),
                json!({}),
            ),
            svc(
                json!({"type": "LoadBalancer", "clusterIP": "10.96.0.13", "ports": [{"port": 80, "protocol": "TCP"}]}),
                json!({"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}),
            ),
            svc(
                json!({"type": "ExternalName", "externalName": "db.example.com"}),
                json!({}),
            ),
            svc(
                json!({"type": "ClusterIP", "clusterIP": "None", "ports": [{"port": 80, "protocol": "TCP"}]}),
                json!({}),
            ),
        ],
    );
    assert_eq!(
        column_names(&t),
        [
            "Name",
            "Type",
            "Cluster-IP",
            "External-IP",
            "Port(s)",
            "Age",
            "Selector"
        ]
    );
    assert_eq!(
        cells(&t, 0),
        [
            json!("web"),
            json!("ClusterIP"),
            json!("10.96.0.10"),
            json!("<none>"),
            json!("53/UDP,53/TCP"),
            json!("60s"),
            json!("k8s-app=dns")
        ]
    );
    assert_eq!(cells(&t, 1)[3..5], [json!("<none>"), json!("80:30080/TCP")]);
    assert_eq!(cells(&t, 1)[6], "<none>");
    assert_eq!(
        cells(&t, 2)[3..5],
        [json!("<pending>"), json!("443:31443/TCP")]
    );
    assert_eq!(cells(&t, 3)[3], "192.0.2.1");
    assert_eq!(
        cells(&t, 4)[1..5],
        [
            json!("ExternalName"),
            json!("<none>"),
            json!("db.example.com"),
            json!("<none>")
        ]
    );
    assert_eq!(cells(&t, 5)[2], "None");
}

#[test]
fn endpoints_and_slices_list_a_few_addresses() {
    let ep = json!({"metadata": meta("web", 60), "subsets": [{"addresses": [
        {"ip": "10.1.0.1"}, {"ip": "10.1.0.2"}, {"ip": "10.1.0.3"}, {"ip": "10.1.0.4"}],
        "ports": [{"port": 8080}]}]});
    assert_eq!(
        cell("ep", ep, "Endpoints"),
        "10.1.0.1:8080,10.1.0.2:8080,10.1.0.3:8080 + 1 more..."
    );
    let empty = json!({"metadata": meta("none", 60)});
    assert_eq!(cell("ep", empty, "Endpoints"), "<none>");

    let slice = json!({"metadata": meta("web-x1", 60), "addressType": "IPv4",
        "ports": [{"port": 8080, "name": "http"}],
        "endpoints": [{"addresses": ["10.1.0.1"]}, {"addresses": ["10.1.0.2"]}]});
    let slices = info("endpointslices");
    let t = to_table_at(&slices, None, &[slice], IncludeObject::None, now());
    assert_eq!(
        cells(&t, 0),
        [
            json!("web-x1"),
            json!("IPv4"),
            json!("8080"),
            json!("10.1.0.1,10.1.0.2"),
            json!("60s")
        ]
    );
}

#[test]
fn nodes_show_status_roles_and_version() {
    let node = json!({"metadata": {"name": "n1", "creationTimestamp": ago(4 * 3600),
        "labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/hostname": "n1"}},
        "spec": {"unschedulable": true},
        "status": {"conditions": [{"type": "Ready", "status": "True"}],
            "addresses": [{"type": "InternalIP", "address": "192.168.1.10"}, {"type": "Hostname", "address": "n1"}],
            "nodeInfo": {"kubeletVersion": "v1.32.0-skiff", "osImage": "Debian GNU/Linux 13",
                "kernelVersion": "6.1.0", "containerRuntimeVersion": "containerd://2.0.0"}}});
    let t = table("nodes", &[node]);
    assert_eq!(
        default_columns(&t),
        ["Name", "Status", "Roles", "Age", "Version"]
    );
    assert_eq!(
        cells(&t, 0),
        [
            json!("n1"),
            json!("Ready,SchedulingDisabled"),
            json!("control-plane"),
            json!("4h"),
            json!("v1.32.0-skiff"),
            json!("192.168.1.10"),
            json!("<none>"),
            json!("Debian GNU/Linux 13"),
            json!("6.1.0"),
            json!("containerd://2.0.0")
        ]
    );
    let bare = json!({"metadata": {"name": "n2", "creationTimestamp": ago(1)}});
    assert_eq!(
        cells(&table("nodes", &[bare]), 0)[1..3],
        [json!("Unknown"), json!("<none>")]
    );
}

#[test]
fn config_kinds_count_their_entries() {
    let ns = json!({"metadata": {"name": "kube-system", "creationTimestamp": ago(86400 * 2 + 3600 * 3)},
        "status": {"phase": "Active"}});
    assert_eq!(
        cells(&table("ns", &[ns]), 0),
        [json!("kube-system"), json!("Active"), json!("2d3h")]
    );
    let cm = json!({"metadata": meta("cfg", 5), "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}});
    assert_eq!(
        cells(&table("cm", &[cm]), 0),
        [json!("cfg"), json!(3), json!("5s")]
    );
    let secret = json!({"metadata": meta("tls", 5), "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}});
    let t = table("secrets", &[secret]);
    assert_eq!(default_columns(&t), ["Name", "Type", "Data", "Age"]);
    assert_eq!(
        cells(&t, 0),
        [
            json!("tls"),
            json!("kubernetes.io/tls"),
            json!(2),
            json!("5s")
        ]
    );
    let sa = json!({"metadata": meta("default", 5)});
    assert_eq!(
        cells(&table("sa", &[sa]), 0),
        [json!("default"), json!(0), json!("5s")]
    );
}

#[test]
fn events_show_when_what_and_where() {
    let ev = json!({"metadata": meta("web.1", 100), "type": "Warning", "reason": "BackOff",
        "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{app}"},
        "source": {"component": "kubelet", "host": "n1"}, "message": "Back-off restarting\n",
        "firstTimestamp": ago(100), "lastTimestamp": ago(10), "count": 7});
    let t = table("events", &[ev]);
    assert_eq!(
        default_columns(&t),
        ["Last Seen", "Type", "Reason", "Object", "Message"]
    );
    assert_eq!(
        cells(&t, 0),
        [
            json!("10s"),
            json!("Warning"),
            json!("BackOff"),
            json!("pod/web"),
            json!("spec.containers{app}"),
            json!("kubelet, n1"),
            json!("Back-off restarting"),
            json!("100s"),
            json!(7),
            json!("web.1")
        ]
    );
}

#[test]
fn volumes_and_claims_show_binding_and_capacity() {
    let pv = json!({"metadata": {"name": "pv1", "creationTimestamp": ago(60)},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Delete", "storageClassName": "hostpath",
            "claimRef": {"namespace": "default", "name": "data"}, "volumeMode": "Filesystem"},
        "status": {"phase": "Bound"}});
    let t = table("pv", &[pv]);
    assert_eq!(
        default_columns(&t),
        [
            "Name",
            "Capacity",
            "Access Modes",
            "Reclaim Policy",
            "Status",
            "Claim",
            "StorageClass",
            "VolumeAttributesClass",
            "Reason",
            "Age"
        ]
    );
    assert_eq!(
        cells(&t, 0),
        [
            json!("pv1"),
            json!("1Gi"),
            json!("RWO,RWX"),
            json!("Delete"),
            json!("Bound"),
            json!("default/data"),
            json!("hostpath"),
            json!("<unset>"),
            json!(""),
            json!("60s"),
            json!("Filesystem")
        ]
    );
    let pvc = json!({"metadata": meta("data", 60),
        "spec": {"volumeName": "pv1", "storageClassName": "hostpath", "accessModes": ["ReadWriteOnce"]},
        "status": {"phase": "Bound", "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"]}});
    let t = table("pvc", &[pvc]);
    assert_eq!(
        default_columns(&t),
        [
            "Name",
            "Status",
            "Volume",
            "Capacity",
            "Access Modes",
            "StorageClass",
            "VolumeAttributesClass",
            "Age"
        ]
    );
    assert_eq!(
        cells(&t, 0)[..8],
        [
            json!("data"),
            json!("Bound"),
            json!("pv1"),
            json!("1Gi"),
            json!("RWO"),
            json!("hostpath"),
            json!("<unset>"),
            json!("60s")
        ]
    );
    let pending = json!({"metadata": meta("wait", 1), "spec": {"storageClassName": "slow"},
        "status": {"phase": "Pending"}});
    assert_eq!(
        cells(&table("pvc", &[pending]), 0)[1..6],
        [
            json!("Pending"),
            json!(""),
            json!(""),
            json!(""),
            json!("slow")
        ]
    );
    let sc = json!({"metadata": {"name": "hostpath", "creationTimestamp": ago(60),
        "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "hostpath.csi.skiff.dev", "volumeBindingMode": "WaitForFirstConsumer"});
    assert_eq!(
        cells(&table("sc", &[sc]), 0),
        [
            json!("hostpath (default)"),
            json!("hostpath.csi.skiff.dev"),
            json!("Delete"),
            json!("WaitForFirstConsumer"),
            json!("false"),
            json!("60s")
        ]
    );
}

#[test]
fn ingresses_leases_and_autoscalers_have_their_columns() {
    let ing = json!({"metadata": meta("web", 60), "spec": {"ingressClassName": "nginx",
        "rules": [{"host": "a.example.com"}, {"host": "b.example.com"}], "tls": [{"hosts": ["a.example.com"]}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.7"}]}}});
    assert_eq!(
        cells(&table("ing", &[ing]), 0),
        [
            json!("web"),
            json!("nginx"),
            json!("a.example.com,b.example.com"),
            json!("192.0.2.7"),
            json!("80, 443"),
            json!("60s")
        ]
    );
    let lease =
        json!({"metadata": meta("kube-scheduler", 60), "spec": {"holderIdentity": "node-1_abc"}});
    assert_eq!(
        cells(&table("leases", &[lease]), 0),
        [json!("kube-scheduler"), json!("node-1_abc"), json!("60s")]
    );
    let hpa = json!({"metadata": meta("web", 60), "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"},
        "minReplicas": 1, "maxReplicas": 5,
        "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]},
        "status": {"currentReplicas": 2, "currentMetrics": [{"type": "Resource",
            "resource": {"name": "cpu", "current": {"averageUtilization": 12}}}]}});
    let t = table("hpa", std::slice::from_ref(&hpa));
    assert_eq!(
        default_columns(&t),
        [
            "Name",
            "Reference",
            "Targets",
            "MinPods",
            "MaxPods",
            "Replicas",
            "Age"
        ]
    );
    assert_eq!(
        cells(&t, 0),
        [
            json!("web"),
            json!("Deployment/web"),
            json!("cpu: 12%/50%"),
            json!("1"),
            json!(5),
            json!(2),
            json!("60s")
        ]
    );
    let mut fresh = hpa;
    fresh["status"] = json!({});
    assert_eq!(cell("hpa", fresh, "Targets"), "cpu: <unknown>/50%");
}

#[test]
fn kinds_without_a_printer_show_name_and_creation_time() {
    let crd = json!({"metadata": {"name": "websites.example.com", "creationTimestamp": "2025-05-01T10:00:00Z"}});
    let t = table("crd", &[crd]);
    assert_eq!(column_names(&t), ["Name", "Created At"]);
    assert_eq!(t["columnDefinitions"][1]["type"], "date");
    assert_eq!(
        cells(&t, 0),
        [json!("websites.example.com"), json!("2025-05-01T10:00:00Z")]
    );
}

fn website_info() -> ResourceInfo {
    let mut info = info("deploy");
    info.group = "example.com".into();
    info.kind = "Website".into();
    info.plural = "websites".into();
    info.singular = "website".into();
    info
}

#[test]
fn custom_resources_use_the_crd_printer_columns() {
    let columns = vec![
        json!({"name": "URL", "type": "string", "jsonPath": ".spec.url"}),
        json!({"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"}),
        json!({"name": "Ready", "type": "string", "jsonPath": ".status.conditions[0].status", "priority": 1}),
        json!({"name": "Ports", "type": "string", "jsonPath": ".spec.ports", "description": "Ports served."}),
        json!({"name": "Published", "type": "date", "jsonPath": ".status.publishedAt"}),
    ];
    let site = json!({"apiVersion": "example.com/v1", "kind": "Website", "metadata": meta("blog", 90),
        "spec": {"url": "https://blog.example.com", "replicas": 2, "ports": [80, 443]},
        "status": {"conditions": [{"type": "Ready", "status": "True"}], "publishedAt": ago(3 * 3600)}});
    let empty =
        json!({"apiVersion": "example.com/v1", "kind": "Website", "metadata": meta("new", 1)});
    let t = to_table_at(
        &website_info(),
        Some(&columns),
        &[site, empty],
        IncludeObject::Metadata,
        now(),
    );
    assert_eq!(
        column_names(&t),
        [
            "Name",
            "URL",
            "Replicas",
            "Ready",
            "Ports",
            "Published",
            "Age"
        ]
    );
    assert_eq!(t["columnDefinitions"][3]["priority"], 1);
    assert_eq!(t["columnDefinitions"][2]["type"], "integer");
    assert_eq!(t["columnDefinitions"][4]["description"], "Ports served.");
    assert_eq!(
        t["columnDefinitions"][1]["description"],
        "Custom resource definition column (in JSONPath format): .spec.url"
    );
    assert_eq!(
        cells(&t, 0),
        [
            json!("blog"),
            json!("https://blog.example.com"),
            json!(2),
            json!("True"),
            json!("[80,443]"),
            json!("3h"),
            json!("90s")
        ]
    );
    assert_eq!(
        cells(&t, 1),
        [
            json!("new"),
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            json!("1s")
        ]
    );
}

#[test]
fn custom_resources_get_no_second_age_column() {
    let columns = vec![
        json!({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}),
        json!({"name": "Phase", "type": "string", "jsonPath": ".status.phase"}),
    ];
    let site = json!({"metadata": meta("blog", 90), "status": {"phase": "Live"}});
    let t = to_table_at(
        &website_info(),
        Some(&columns),
        std::slice::from_ref(&site),
        IncludeObject::None,
        now(),
    );
    assert_eq!(column_names(&t), ["Name", "Age", "Phase"]);
    assert_eq!(cells(&t, 0), [json!("blog"), json!("90s"), json!("Live")]);
    let t = to_table_at(
        &website_info(),
        Some(&[]),
        &[site],
        IncludeObject::None,
        now(),
    );
    assert_eq!(column_names(&t), ["Name", "Age"]);
}

#[test]
fn every_builtin_resource_renders_a_row_per_object() {
    let obj = json!({"metadata": meta("x", 10)});
    for info in Registry::builtin().all() {
        let t = to_table_at(
            info,
            None,
            &[obj.clone(), obj.clone()],
            IncludeObject::Metadata,
            now(),
        );
        let width = t["columnDefinitions"].as_array().unwrap().len();
        assert!(width >= 2, "{} has {width} columns", info.kind);
        for row in t["rows"].as_array().unwrap() {
            assert_eq!(
                row["cells"].as_array().unwrap().len(),
                width,
                "{} row width",
                info.kind
            );
        }
        assert_eq!(t["rows"].as_array().unwrap().len(), 2);
    }
}
