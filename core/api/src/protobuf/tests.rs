//! Bodies encoded with prost from k8s-pb's types, as a Go client encodes them, read back and
//! compared with the JSON of the same object.

use k8s_pb::api::{apps, batch, core, policy};
use k8s_pb::apiextensions_apiserver::pkg::apis::apiextensions::v1 as crd;
use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime;
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use prost::Message;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::*;

/// The body a Go client sends: the prefix and an envelope with empty strings written out,
/// as gogo-protobuf writes every non-pointer string.
fn body(api_version: &str, kind: &str, object: &impl Message) -> Vec<u8> {
    let unknown = runtime::Unknown {
        type_meta: Some(runtime::TypeMeta {
            api_version: Some(api_version.into()),
            kind: Some(kind.into()),
        }),
        raw: Some(object.encode_to_vec()),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    let mut out = MAGIC.to_vec();
    out.extend(unknown.encode_to_vec());
    out
}

/// Compares every field path, so a failure names the field that differs.
fn assert_same(got: &Value, want: &Value) {
    fn walk(path: &str, got: &Value, want: &Value, diffs: &mut Vec<String>) {
        match (got, want) {
            (Value::Object(g), Value::Object(w)) => {
                for k in g.keys().chain(w.keys()) {
                    let (a, b) = (g.get(k), w.get(k));
                    match (a, b) {
                        (Some(a), Some(b)) => walk(&format!("{path}.{k}"), a, b, diffs),
                        _ => diffs.push(format!("{path}.{k}: got {a:?}, want {b:?}")),
                    }
                }
            }
            (Value::Array(g), Value::Array(w)) if g.len() == w.len() => {
                for (i, (a, b)) in g.iter().zip(w).enumerate() {
                    walk(&format!("{path}[{i}]"), a, b, diffs);
                }
            }
            _ if got != want => diffs.push(format!("{path}: got {got}, want {want}")),
            _ => {}
        }
    }
    let mut diffs = Vec::new();
    walk("", got, want, &mut diffs);
    diffs.dedup();
    assert!(diffs.is_empty(), "differences:\n{}", diffs.join("\n"));
}

/// The decoded JSON is what k8s-openapi reads and writes back unchanged: every name is one
/// the API knows (k8s-openapi drops unknown fields) and every value has the API's shape.
fn assert_api_json<T: DeserializeOwned + Serialize>(decoded: &Value) {
    let typed: T = serde_json::from_value(decoded.clone()).expect("k8s-openapi reads it");
    assert_same(&serde_json::to_value(typed).unwrap(), decoded);
}

fn q(s: &str) -> Option<Quantity> {
    Some(Quantity {
        string: Some(s.into()),
    })
}

fn int(i: i32) -> Option<IntOrString> {
    Some(IntOrString {
        r#type: Some(0),
        int_val: Some(i),
        str_val: Some(String::new()),
    })
}

fn string(s: &str) -> Option<IntOrString> {
    Some(IntOrString {
        r#type: Some(1),
        int_val: Some(0),
        str_val: Some(s.into()),
    })
}

fn labels(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Object metadata as kubectl fills it: unset strings written empty and a zero
/// creationTimestamp written as an empty message.
fn metadata(name: &str, namespace: &str) -> Option<meta::ObjectMeta> {
    Some(meta::ObjectMeta {
        name: Some(name.into()),
        generate_name: Some(String::new()),
        namespace: Some(namespace.into()),
        self_link: Some(String::new()),
        uid: Some(String::new()),
        resource_version: Some(String::new()),
        generation: Some(0),
        creation_timestamp: Some(meta::Time::default()),
        ..Default::default()
    })
}

#[test]
fn a_deployment_reads_as_its_json_with_probes_ports_resources_and_volumes() {
    let container = core::v1::Container {
        name: Some("web".into()),
        image: Some("busybox".into()),
        command: vec!["sh".into(), "-c".into(), "httpd -f".into()],
        ports: vec![core::v1::ContainerPort {
            name: Some("http".into()),
            container_port: Some(80),
            protocol: Some("TCP".into()),
            ..Default::default()
        }],
        env: vec![core::v1::EnvVar {
            name: Some("PASSWORD".into()),
            value_from: Some(core::v1::EnvVarSource {
                secret_key_ref: Some(core::v1::SecretKeySelector {
                    local_object_reference: Some(core::v1::LocalObjectReference {
                        name: Some("creds".into()),
                    }),
                    key: Some("password".into()),
                    optional: Some(false),
                }),
                ..Default::default()
            }),
            ..Default::default()
        }],
        resources: Some(core::v1::ResourceRequirements {
            limits: [("cpu".to_string(), q("500m").unwrap())].into(),
            requests: [
                ("cpu".to_string(), q("250m").unwrap()),
                ("memory".to_string(), q("64Mi").unwrap()),
            ]
            .into(),
            ..Default::default()
        }),
        liveness_probe: Some(core::v1::Probe {
            handler: Some(core::v1::ProbeHandler {
                http_get: Some(core::v1::HttpGetAction {
                    path: Some("/healthz".into()),
                    port: int(8080),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            initial_delay_seconds: Some(3),
            period_seconds: Some(10),
            ..Default::default()
        }),
        readiness_probe: Some(core::v1::Probe {
            handler: Some(core::v1::ProbeHandler {
                tcp_socket: Some(core::v1::TcpSocketAction {
                    port: string("http"),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        volume_mounts: vec![core::v1::VolumeMount {
            name: Some("config".into()),
            mount_path: Some("/etc/web".into()),
            read_only: Some(true),
            ..Default::default()
        }],
        ..Default::default()
    };
    let deployment = apps::v1::Deployment {
        metadata: metadata("web", "default").map(|m| meta::ObjectMeta {
            labels: labels(&[("app", "web")]),
            annotations: labels(&[("note", "x")]),
            ..m
        }),
        spec: Some(apps::v1::DeploymentSpec {
            // A pointer field set to zero stays: absent would mean one replica.
            replicas: Some(0),
            selector: Some(meta::LabelSelector {
                match_labels: labels(&[("app", "web")]),
                match_expressions: vec![meta::LabelSelectorRequirement {
                    key: Some("tier".into()),
                    operator: Some("In".into()),
                    values: vec!["a".into(), "b".into()],
                }],
            }),
            template: Some(core::v1::PodTemplateSpec {
                metadata: Some(meta::ObjectMeta {
                    labels: labels(&[("app", "web")]),
                    creation_timestamp: Some(meta::Time::default()),
                    ..Default::default()
                }),
                spec: Some(core::v1::PodSpec {
                    containers: vec![container],
                    volumes: vec![core::v1::Volume {
                        name: Some("config".into()),
                        volume_source: Some(core::v1::VolumeSource {
                            config_map: Some(core::v1::ConfigMapVolumeSource {
                                local_object_reference: Some(core::v1::LocalObjectReference {
                                    name: Some("web-config".into()),
                                }),
                                default_mode: Some(0o644),
                                ..Default::default()
                            }),
                            ..Default::default()
                        }),
                    }],
                    termination_grace_period_seconds: Some(0),
                    host_network: Some(false),
                    ..Default::default()
                }),
            }),
            strategy: Some(apps::v1::DeploymentStrategy {
                r#type: Some("RollingUpdate".into()),
                rolling_update: Some(apps::v1::RollingUpdateDeployment {
                    max_unavailable: int(0),
                    max_surge: string("25%"),
                }),
            }),
            ..Default::default()
        }),
        status: Some(apps::v1::DeploymentStatus::default()),
    };
    let decoded = decode(&body("apps/v1", "Deployment", &deployment)).unwrap();
    let want = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "generation": 0,
            "labels": {"app": "web"},
            "annotations": {"note": "x"}
        },
        "spec": {
            "replicas": 0,
            "selector": {
                "matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]
            },
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "volumes": [{
                        "name": "config",
                        "configMap": {"name": "web-config", "defaultMode": 420}
                    }],
                    "containers": [{
                        "name": "web",
                        "image": "busybox",
                        "command": ["sh", "-c", "httpd -f"],
                        "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}],
                        "env": [{
                            "name": "PASSWORD",
                            "valueFrom": {
                                "secretKeyRef": {"name": "creds", "key": "password", "optional": false}
                            }
                        }],
                        "resources": {
                            "limits": {"cpu": "500m"},
                            "requests": {"cpu": "250m", "memory": "64Mi"}
                        },
                        "volumeMounts": [{"name": "config", "readOnly": true, "mountPath": "/etc/web"}],
                        "livenessProbe": {
                            "httpGet": {"path": "/healthz", "port": 8080},
                            "initialDelaySeconds": 3,
                            "periodSeconds": 10
                        },
                        "readinessProbe": {"tcpSocket": {"port": "http"}}
                    }],
                    "terminationGracePeriodSeconds": 0,
                    "hostNetwork": false
                }
            },
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}
            }
        },
        "status": {}
    });
    assert_same(&decoded, &want);
    assert_api_json::<k8s_openapi::api::apps::v1::Deployment>(&decoded);
}

#[test]
fn secret_bytes_read_as_base64_and_string_data_as_text() {
    let secret = core::v1::Secret {
        metadata: metadata("s", "default"),
        immutable: Some(true),
        data: [
            ("p".to_string(), b"q".to_vec()),
            ("bin".to_string(), vec![0, 0xff, 0x10]),
            ("empty".to_string(), Vec::new()),
        ]
        .into(),
        string_data: labels(&[("plain", "text")]),
        r#type: Some("Opaque".into()),
    };
    let decoded = decode(&body("v1", "Secret", &secret)).unwrap();
    let want = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s", "namespace": "default", "generation": 0},
        "immutable": true,
        "data": {"bin": "AP8Q", "empty": "", "p": "cQ=="},
        "stringData": {"plain": "text"},
        "type": "Opaque"
    });
    assert_same(&decoded, &want);
    assert_api_json::<k8s_openapi::api::core::v1::Secret>(&decoded);
}

#[test]
fn service_target_ports_read_as_numbers_or_names() {
    let service = core::v1::Service {
        metadata: metadata("x", "default"),
        spec: Some(core::v1::ServiceSpec {
            ports: vec![
                core::v1::ServicePort {
                    name: Some("80-8080".into()),
                    protocol: Some("TCP".into()),
                    port: Some(80),
                    target_port: int(8080),
                    node_port: Some(0),
                    ..Default::default()
                },
                core::v1::ServicePort {
                    name: Some("https".into()),
                    port: Some(443),
                    target_port: string("https"),
                    ..Default::default()
                },
            ],
            selector: labels(&[("app", "x")]),
            cluster_ip: Some("None".into()),
            cluster_ips: vec!["None".into()],
            r#type: Some("ClusterIP".into()),
            session_affinity: Some("ClientIP".into()),
            session_affinity_config: Some(core::v1::SessionAffinityConfig {
                client_ip: Some(core::v1::ClientIpConfig {
                    timeout_seconds: Some(600),
                }),
            }),
            external_ips: vec!["192.0.2.1".into()],
            ..Default::default()
        }),
        status: Some(core::v1::ServiceStatus::default()),
    };
    let decoded = decode(&body("v1", "Service", &service)).unwrap();
    let want = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "x", "namespace": "default", "generation": 0},
        "spec": {
            "ports": [
                {"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080, "nodePort": 0},
                {"name": "https", "port": 443, "targetPort": "https"}
            ],
            "selector": {"app": "x"},
            "clusterIP": "None",
            "clusterIPs": ["None"],
            "type": "ClusterIP",
            "externalIPs": ["192.0.2.1"],
            "sessionAffinity": "ClientIP",
            "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 600}}
        },
        "status": {}
    });
    assert_same(&decoded, &want);
    assert_api_json::<k8s_openapi::api::core::v1::Service>(&decoded);
}

#[test]
fn a_job_keeps_zero_limits_repeated_numbers_and_times() {
    let job = batch::v1::Job {
        metadata: metadata("j", "default"),
        spec: Some(batch::v1::JobSpec {
            backoff_limit: Some(0),
            completions: Some(1),
            active_deadline_seconds: Some(600),
            ttl_seconds_after_finished: Some(100),
            pod_failure_policy: Some(batch::v1::PodFailurePolicy {
                rules: vec![batch::v1::PodFailurePolicyRule {
                    action: Some("FailJob".into()),
                    on_exit_codes: Some(batch::v1::PodFailurePolicyOnExitCodesRequirement {
                        operator: Some("In".into()),
                        values: vec![1, 42, -3],
                        ..Default::default()
                    }),
                    ..Default::default()
                }],
            }),
            template: Some(core::v1::PodTemplateSpec {
                metadata: Some(meta::ObjectMeta {
                    creation_timestamp: Some(meta::Time::default()),
                    ..Default::default()
                }),
                spec: Some(core::v1::PodSpec {
                    containers: vec![core::v1::Container {
                        name: Some("j".into()),
                        image: Some("busybox".into()),
                        ..Default::default()
                    }],
                    restart_policy: Some("Never".into()),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        }),
        status: Some(batch::v1::JobStatus {
            start_time: Some(meta::Time {
                seconds: Some(1_700_000_000),
                nanos: Some(0),
            }),
            ..Default::default()
        }),
    };
    let decoded = decode(&body("batch/v1", "Job", &job)).unwrap();
    let want = json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "j", "namespace": "default", "generation": 0},
        "spec": {
            "completions": 1,
            "activeDeadlineSeconds": 600,
            "podFailurePolicy": {
                "rules": [{
                    "action": "FailJob",
                    "onExitCodes": {"operator": "In", "values": [1, 42, -3]}
                }]
            },
            "backoffLimit": 0,
            "template": {
                "metadata": {},
                "spec": {
                    "containers": [{"name": "j", "image": "busybox"}],
                    "restartPolicy": "Never"
                }
            },
            "ttlSecondsAfterFinished": 100
        },
        "status": {"startTime": "2023-11-14T22:13:20Z"}
    });
    assert_same(&decoded, &want);
    assert_api_json::<k8s_openapi::api::batch::v1::Job>(&decoded);
}

#[test]
fn an_eviction_carries_its_delete_options() {
    let eviction = policy::v1::Eviction {
        metadata: metadata("p", "default"),
        delete_options: Some(meta::DeleteOptions {
            grace_period_seconds: Some(0),
            preconditions: Some(meta::Preconditions {
                uid: Some("1234".into()),
                resource_version: Some("7".into()),
            }),
            propagation_policy: Some("Foreground".into()),
            dry_run: vec!["All".into()],
            ..Default::default()
        }),
    };
    let decoded = decode(&body("policy/v1", "Eviction", &eviction)).unwrap();
    let want = json!({
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": "p", "namespace": "default", "generation": 0},
        "deleteOptions": {
            "gracePeriodSeconds": 0,
            "preconditions": {"uid": "1234", "resourceVersion": "7"},
            "propagationPolicy": "Foreground",
            "dryRun": ["All"]
        }
    });
    assert_same(&decoded, &want);
    assert_api_json::<k8s_openapi::api::policy::v1::Eviction>(&decoded);
}

#[test]
fn delete_options_are_read_under_any_group_version() {
    let options = meta::DeleteOptions {
        grace_period_seconds: Some(5),
        propagation_policy: Some("Background".into()),
        ..Default::default()
    };
    for api_version in ["v1", "apps/v1", "meta.k8s.io/v1"] {
        let decoded = decode(&body(api_version, "DeleteOptions", &options)).unwrap();
        assert_eq!(
            decoded,
            json!({
                "apiVersion": api_version,
                "kind": "DeleteOptions",
                "gracePeriodSeconds": 5,
                "propagationPolicy": "Background"
            })
        );
    }
}

#[test]
fn a_namespace_and_a_config_map_read_as_their_json() {
    let namespace = core::v1::Namespace {
        metadata: metadata("n", "").map(|m| meta::ObjectMeta {
            labels: labels(&[("team", "a")]),
            ..m
        }),
        spec: Some(core::v1::NamespaceSpec {
            finalizers: vec!["kubernetes".into()],
        }),
        status: Some(core::v1::NamespaceStatus::default()),
    };
    let decoded = decode(&body("v1", "Namespace", &namespace)).unwrap();
    let want = json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "n", "generation": 0, "labels": {"team": "a"}},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {}
    });
    assert_same(&decoded, &want);
    assert_api_json::<k8s_openapi::api::core::v1::Namespace>(&decoded);

    let config_map = core::v1::ConfigMap {
        metadata: metadata("c", "default"),
        immutable: Some(false),
        data: labels(&[("a", "b"), ("empty", "")]),
        binary_data: [("raw".to_string(), b"\x01\x02".to_vec())].into(),
    };
    let decoded = decode(&body("v1", "ConfigMap", &config_map)).unwrap();
    let want = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "default", "generation": 0},
        "immutable": false,
        "data": {"a": "b", "empty": ""},
        "binaryData": {"raw": "AQI="}
    });
    assert_same(&decoded, &want);
    assert_api_json::<k8s_openapi::api::core::v1::ConfigMap>(&decoded);
}

#[test]
fn raw_extensions_micro_times_and_durations_take_their_json_forms() {
    let revision = apps::v1::ControllerRevision {
        metadata: metadata("r", "default"),
        data: Some(runtime::RawExtension {
            raw: Some(br#"{"spec":{"replicas":3}}"#.to_vec()),
        }),
        revision: Some(2),
    };
    let decoded = decode(&body("apps/v1", "ControllerRevision", &revision)).unwrap();
    assert_eq!(decoded["data"], json!({"spec": {"replicas": 3}}));
    assert_eq!(decoded["revision"], json!(2));
    assert_api_json::<k8s_openapi::api::apps::v1::ControllerRevision>(&decoded);

    let event = k8s_pb::api::events::v1::Event {
        metadata: metadata("e", "default"),
        event_time: Some(meta::MicroTime {
            seconds: Some(1_700_000_000),
            nanos: Some(123_456_789),
        }),
        reason: Some("Started".into()),
        ..Default::default()
    };
    let decoded = decode(&body("events.k8s.io/v1", "Event", &event)).unwrap();
    assert_eq!(decoded["eventTime"], json!("2023-11-14T22:13:20.123456Z"));
    assert_api_json::<k8s_openapi::api::events::v1::Event>(&decoded);

    let lease = k8s_pb::api::coordination::v1::Lease {
        metadata: metadata("l", "default"),
        spec: Some(k8s_pb::api::coordination::v1::LeaseSpec {
            holder_identity: Some("me".into()),
            lease_duration_seconds: Some(15),
            renew_time: Some(meta::MicroTime {
                seconds: Some(0),
                nanos: Some(5_000),
            }),
            ..Default::default()
        }),
    };
    let metrics = k8s_pb::metrics::pkg::apis::metrics::v1beta1::PodMetrics {
        metadata: metadata("m", "default"),
        window: Some(meta::Duration {
            duration: Some(90_000_000_000),
        }),
        ..Default::default()
    };
    // metrics.k8s.io is served by an aggregated server, so it is read here by message name.
    let schema = schema::get().unwrap();
    let message = schema
        .message("metrics.pkg.apis.metrics.v1beta1.PodMetrics")
        .unwrap();
    let decoded = wire::decode_message(schema, message, &metrics.encode_to_vec(), 0).unwrap();
    assert_eq!(decoded["window"], json!("1m30s"));

    let decoded = decode(&body("coordination.k8s.io/v1", "Lease", &lease)).unwrap();
    assert_eq!(
        decoded["spec"],
        json!({"holderIdentity": "me", "leaseDurationSeconds": 15, "renewTime": "1970-01-01T00:00:00.000005Z"})
    );
}

#[test]
fn crd_schemas_read_with_their_either_or_forms() {
    let props = |ty: &str| crd::JsonSchemaProps {
        r#type: Some(ty.into()),
        ..Default::default()
    };
    let definition = crd::CustomResourceDefinition {
        metadata: metadata("widgets.example.com", ""),
        spec: Some(crd::CustomResourceDefinitionSpec {
            group: Some("example.com".into()),
            names: Some(crd::CustomResourceDefinitionNames {
                plural: Some("widgets".into()),
                kind: Some("Widget".into()),
                ..Default::default()
            }),
            scope: Some("Namespaced".into()),
            versions: vec![crd::CustomResourceDefinitionVersion {
                name: Some("v1".into()),
                served: Some(true),
                storage: Some(true),
                schema: Some(crd::CustomResourceValidation {
                    open_apiv3_schema: Some(crd::JsonSchemaProps {
                        r#type: Some("object".into()),
                        properties: [
                            (
                                "tags".to_string(),
                                crd::JsonSchemaProps {
                                    items: Some(Box::new(crd::JsonSchemaPropsOrArray {
                                        schema: Some(Box::new(props("string"))),
                                        ..Default::default()
                                    })),
                                    ..props("array")
                                },
                            ),
                            (
                                "labels".to_string(),
                                crd::JsonSchemaProps {
                                    additional_properties: Some(Box::new(
                                        crd::JsonSchemaPropsOrBool {
                                            allows: Some(true),
                                            schema: Some(Box::new(props("string"))),
                                        },
                                    )),
                                    ..props("object")
                                },
                            ),
                            (
                                "free".to_string(),
                                crd::JsonSchemaProps {
                                    x_kubernetes_preserve_unknown_fields: Some(true),
                                    default: Some(crd::Json {
                                        raw: Some(br#"{"a":1}"#.to_vec()),
                                    }),
                                    additional_properties: Some(Box::new(
                                        crd::JsonSchemaPropsOrBool {
                                            allows: Some(false),
                                            schema: None,
                                        },
                                    )),
                                    ..props("object")
                                },
                            ),
                        ]
                        .into(),
                        required: vec!["tags".into()],
                        ..Default::default()
                    }),
                }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        status: None,
    };
    let decoded = decode(&body(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        &definition,
    ))
    .unwrap();
    let schema = &decoded["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    assert_same(
        schema,
        &json!({
            "type": "object",
            "required": ["tags"],
            "properties": {
                "free": {
                    "type": "object",
                    "additionalProperties": false,
                    "default": {"a": 1},
                    "x-kubernetes-preserve-unknown-fields": true
                },
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "tags": {"type": "array", "items": {"type": "string"}}
            }
        }),
    );
    assert_api_json::<
        k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    >(&decoded);
}

#[test]
fn an_autoscaling_v1_autoscaler_reads_as_kubectl_autoscale_sends_it() {
    use k8s_pb::api::autoscaling::v1 as hpa;
    let autoscaler = hpa::HorizontalPodAutoscaler {
        metadata: metadata("web", "default"),
        spec: Some(hpa::HorizontalPodAutoscalerSpec {
            scale_target_ref: Some(hpa::CrossVersionObjectReference {
                kind: Some("Deployment".into()),
                name: Some("web".into()),
                api_version: Some("apps/v1".into()),
            }),
            min_replicas: Some(1),
            max_replicas: Some(4),
            target_cpu_utilization_percentage: Some(60),
        }),
        status: Some(hpa::HorizontalPodAutoscalerStatus {
            current_replicas: Some(0),
            desired_replicas: Some(0),
            ..Default::default()
        }),
    };
    let decoded = decode(&body(
        "autoscaling/v1",
        "HorizontalPodAutoscaler",
        &autoscaler,
    ))
    .unwrap();
    let want = json!({
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "default", "generation": 0},
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"},
            "minReplicas": 1,
            "maxReplicas": 4,
            "targetCPUUtilizationPercentage": 60
        },
        "status": {"currentReplicas": 0, "desiredReplicas": 0}
    });
    assert_same(&decoded, &want);
    assert_api_json::<k8s_openapi::api::autoscaling::v1::HorizontalPodAutoscaler>(&decoded);
}

#[test]
fn list_wrappers_read_as_bare_lists() {
    let review = k8s_pb::api::authorization::v1::SubjectAccessReview {
        metadata: metadata("", ""),
        spec: Some(k8s_pb::api::authorization::v1::SubjectAccessReviewSpec {
            user: Some("alice".into()),
            extra: [(
                "scopes".to_string(),
                k8s_pb::api::authorization::v1::ExtraValue {
                    items: vec!["a".into(), "b".into()],
                },
            )]
            .into(),
            ..Default::default()
        }),
        status: None,
    };
    let decoded = decode(&body(
        "authorization.k8s.io/v1",
        "SubjectAccessReview",
        &review,
    ))
    .unwrap();
    assert_eq!(decoded["spec"]["extra"], json!({"scopes": ["a", "b"]}));
}

#[test]
fn packed_repeated_numbers_and_unknown_fields_are_read() {
    // PodFailurePolicyOnExitCodesRequirement.values (tag 3) packed, plus a field 99 the
    // table does not know.
    let mut raw = Vec::new();
    prost::encoding::string::encode(2, &"In".to_string(), &mut raw);
    prost::encoding::int32::encode_packed(3, &[5, 6, 7], &mut raw);
    prost::encoding::string::encode(99, &"future".to_string(), &mut raw);
    let schema = schema::get().unwrap();
    let message = schema
        .message("api.batch.v1.PodFailurePolicyOnExitCodesRequirement")
        .unwrap();
    let decoded = wire::decode_message(schema, message, &raw, 0).unwrap();
    assert_eq!(decoded, json!({"operator": "In", "values": [5, 6, 7]}));
}

#[test]
fn custom_resources_and_unknown_versions_are_unknown_kinds() {
    let err = decode(&body("example.com/v1", "Widget", &meta::Status::default())).unwrap_err();
    assert!(err.is_unknown_kind(), "{err}");
    let err = decode(&body("v1", "Deployment", &meta::Status::default())).unwrap_err();
    assert!(err.is_unknown_kind(), "{err}");
}

#[test]
fn malformed_bodies_are_errors_not_unknown_kinds() {
    let good = body("v1", "ConfigMap", &core::v1::ConfigMap::default());
    assert!(matches!(decode(b"{\"kind\":\"Pod\"}"), Err(Error::NoMagic)));
    assert!(matches!(
        decode(&good[..good.len() - 1]),
        Err(Error::Envelope(_))
    ));

    let mut no_kind = MAGIC.to_vec();
    no_kind.extend(runtime::Unknown::default().encode_to_vec());
    assert!(matches!(decode(&no_kind), Err(Error::NoKind)));

    // A ConfigMap whose data entry is cut short.
    let mut truncated = core::v1::ConfigMap {
        data: labels(&[("a", "b")]),
        ..Default::default()
    }
    .encode_to_vec();
    truncated.pop();
    let unknown = runtime::Unknown {
        type_meta: Some(runtime::TypeMeta {
            api_version: Some("v1".into()),
            kind: Some("ConfigMap".into()),
        }),
        raw: Some(truncated),
        ..Default::default()
    };
    let mut body = MAGIC.to_vec();
    body.extend(unknown.encode_to_vec());
    let err = decode(&body).unwrap_err();
    assert!(!err.is_unknown_kind());
    assert!(err.to_string().contains("api.core.v1.ConfigMap"), "{err}");
}

#[test]
fn nesting_past_the_limit_is_refused() {
    let mut props = crd::JsonSchemaProps::default();
    for _ in 0..(MAX_DEPTH + 5) {
        props = crd::JsonSchemaProps {
            not: Some(Box::new(props)),
            ..Default::default()
        };
    }
    let schema = schema::get().unwrap();
    let message = schema
        .message("apiextensions_apiserver.pkg.apis.apiextensions.v1.JsonSchemaProps")
        .unwrap();
    let err = wire::decode_message(schema, message, &props.encode_to_vec(), 0).unwrap_err();
    assert!(matches!(err, Error::TooDeep), "{err}");
}
