//! Storage on a real node through `skiff up`: the hostpath CSI driver it starts registers
//! with the kubelet (CSINode, topology label), a claim without a class gets the default
//! class, pods on real containers write and read a dynamically provisioned volume across pod
//! deletions, each StatefulSet replica keeps its own volume, nothing stays mounted after the
//! pods go, deleting a claim removes its volume directory, and a WaitForFirstConsumer claim
//! gets its volume on the node the scheduler picked for its first pod.

use std::path::Path;
use std::time::Duration;

use skiff_test_support::{SkiffUp, mounts_under, until};

const NODE: &str = "skiff-storage";
const DRIVER: &str = "hostpath.csi.skiff.dev";
const WAIT: Duration = Duration::from_secs(120);

const CLAIM: &str = "\
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: notes}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 64Mi}}
";

/// A pod running `script` with the claim `notes` at `/data`.
fn pod(name: &str, script: &str) -> String {
    format!(
        "\
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: skiff.local/busybox:latest
    imagePullPolicy: Never
    command: [sh, -c, '{script}']
    volumeMounts: [{{name: data, mountPath: /data}}]
  volumes: [{{name: data, persistentVolumeClaim: {{claimName: notes}}}}]
"
    )
}

const STATEFUL_SET: &str = "\
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 3
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: skiff.local/busybox:latest
        imagePullPolicy: Never
        command: [sh, -c, '[ -f /data/id ] || hostname > /data/id; exec sleep 3600']
        volumeMounts: [{name: data, mountPath: /data}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 32Mi}}
";

fn jsonpath(up: &SkiffUp, args: &[&str], path: &str) -> String {
    let out = up.kubectl(&[args, &["-o", &format!("jsonpath={path}")]].concat());
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn phase(up: &SkiffUp, pod: &str) -> String {
    jsonpath(up, &["get", "pod", pod], "{.status.phase}")
}

fn gone(up: &SkiffUp, args: &[&str]) -> bool {
    let out = up.kubectl(&[args, &["--ignore-not-found", "-o", "name"]].concat());
    out.status.success() && out.stdout.is_empty()
}

/// The mounts of the node's kubelet dir (pod volumes and staging paths).
fn kubelet_mounts(up: &SkiffUp) -> Vec<String> {
    let kubelet = up.data_dir().join("kubelet");
    let mut points = mounts_under(&kubelet.join("pods"));
    points.extend(mounts_under(&kubelet.join("plugins")));
    points
}

fn volume_dir(up: &SkiffUp, claim: &str) -> std::path::PathBuf {
    let pv = jsonpath(up, &["get", "pvc", claim], "{.spec.volumeName}");
    let handle = jsonpath(up, &["get", "pv", &pv], "{.spec.csi.volumeHandle}");
    assert!(!handle.is_empty(), "claim {claim} has no CSI volume");
    up.data_dir().join("csi/hostpath/volumes").join(handle)
}

fn run_to_completion(up: &SkiffUp, name: &str, script: &str) -> String {
    up.apply(&pod(name, script));
    until(&format!("pod {name} succeeded"), WAIT, || {
        let p = phase(up, name);
        assert_ne!(p, "Failed", "pod {name} failed: {}", up.log_tail());
        (p == "Succeeded").then_some(())
    });
    up.kubectl_ok(&["logs", name])
}

fn delete_pod(up: &SkiffUp, name: &str) {
    up.kubectl_ok(&["delete", "pod", name, "--wait=true", "--timeout=60s"]);
}

#[test]
fn volumes_are_provisioned_published_kept_and_removed_on_a_real_node() {
    let up = SkiffUp::start(&["--node-name", NODE]);
    up.build_busybox();

    // The driver registered with the kubelet: CSINode and the topology label.
    until("the driver in the node's CSINode", WAIT, || {
        let drivers = jsonpath(&up, &["get", "csinode", NODE], "{.spec.drivers[*].name}");
        (drivers == DRIVER).then_some(())
    });
    assert_eq!(
        jsonpath(
            &up,
            &["get", "csinode", NODE],
            "{.spec.drivers[0].nodeID} {.spec.drivers[0].topologyKeys[0]}"
        ),
        format!("{NODE} topology.hostpath.csi.skiff.dev/node")
    );
    until("the topology label on the node", WAIT, || {
        let labels = jsonpath(&up, &["get", "node", NODE], "{.metadata.labels}");
        labels
            .contains(&format!(
                "\"topology.hostpath.csi.skiff.dev/node\":\"{NODE}\""
            ))
            .then_some(())
    });
    let classes = up.kubectl_ok(&["get", "storageclass"]);
    assert!(
        classes.contains("skiff-hostpath (default)"),
        "no default class:\n{classes}"
    );

    // A claim without a class gets the default one and a volume.
    up.apply(CLAIM);
    assert_eq!(
        jsonpath(&up, &["get", "pvc", "notes"], "{.spec.storageClassName}"),
        "skiff-hostpath"
    );
    let written = run_to_completion(
        &up,
        "writer",
        "echo kept-across-pods > /data/note; cat /data/note",
    );
    assert_eq!(written.trim(), "kept-across-pods");
    assert_eq!(
        jsonpath(&up, &["get", "pvc", "notes"], "{.status.phase}"),
        "Bound"
    );
    let volume = volume_dir(&up, "notes");
    assert_eq!(
        std::fs::read_to_string(volume.join("note")).unwrap().trim(),
        "kept-across-pods"
    );
    delete_pod(&up, "writer");
    until("no volume mounts after the writer is gone", WAIT, || {
        kubelet_mounts(&up).is_empty().then_some(())
    });

    // A new pod on the same claim reads what the first one wrote.
    let read = run_to_completion(&up, "reader", "cat /data/note");
    assert_eq!(read.trim(), "kept-across-pods");
    delete_pod(&up, "reader");
    until("no volume mounts after the reader is gone", WAIT, || {
        kubelet_mounts(&up).is_empty().then_some(())
    });

    // Reclaim policy Delete: the claim's deletion removes the volume directory.
    let pv = jsonpath(&up, &["get", "pvc", "notes"], "{.spec.volumeName}");
    up.kubectl_ok(&["delete", "pvc", "notes", "--wait=true", "--timeout=60s"]);
    until("the volume directory removed", WAIT, || {
        (!volume.exists()).then_some(())
    });
    until("the PV removed", WAIT, || {
        gone(&up, &["get", "pv", &pv]).then_some(())
    });

    // Each StatefulSet replica keeps its own volume across the deletion of every pod.
    up.apply(STATEFUL_SET);
    let replicas = ["db-0", "db-1", "db-2"];
    let running = |up: &SkiffUp| {
        replicas
            .iter()
            .all(|p| phase(up, p) == "Running")
            .then_some(())
    };
    until("three running replicas", Duration::from_secs(240), || {
        running(&up)
    });
    let first_uids: Vec<String> = replicas
        .iter()
        .map(|p| jsonpath(&up, &["get", "pod", p], "{.metadata.uid}"))
        .collect();
    for replica in replicas {
        let id = up.kubectl_ok(&["exec", replica, "--", "cat", "/data/id"]);
        assert_eq!(id.trim(), replica);
        up.kubectl_ok(&[
            "exec",
            replica,
            "--",
            "sh",
            "-c",
            &format!("echo first-life-of-{replica} > /data/life"),
        ]);
    }
    up.kubectl_ok(&["delete", "pod", "db-0", "db-1", "db-2", "--wait=true"]);
    until(
        "three replicas running again",
        Duration::from_secs(240),
        || {
            let renewed = replicas.iter().zip(&first_uids).all(|(p, uid)| {
                let now = jsonpath(&up, &["get", "pod", p], "{.metadata.uid}");
                !now.is_empty() && now != *uid
            });
            renewed.then(|| running(&up)).flatten()
        },
    );
    for replica in replicas {
        let id = up.kubectl_ok(&["exec", replica, "--", "cat", "/data/id"]);
        assert_eq!(id.trim(), replica, "replica {replica} got another's volume");
        let life = up.kubectl_ok(&["exec", replica, "--", "cat", "/data/life"]);
        assert_eq!(life.trim(), format!("first-life-of-{replica}"));
    }
    let claims = jsonpath(
        &up,
        &["get", "pvc"],
        "{range .items[*]}{.metadata.name}={.status.phase} {end}",
    );
    assert_eq!(
        claims.trim(),
        "data-db-0=Bound data-db-1=Bound data-db-2=Bound"
    );

    // Scaled to zero, the replicas' volumes stay but nothing stays mounted.
    up.kubectl_ok(&["scale", "statefulset", "db", "--replicas=0"]);
    until("replicas gone", WAIT, || {
        replicas
            .iter()
            .all(|p| gone(&up, &["get", "pod", p]))
            .then_some(())
    });
    until("no volume mounts after scale-down", WAIT, || {
        kubelet_mounts(&up).is_empty().then_some(())
    });
    for replica in replicas {
        let dir = volume_dir(&up, &format!("data-{replica}"));
        assert!(
            Path::new(&dir).join("id").exists(),
            "{replica}'s volume lost"
        );
    }

    // WaitForFirstConsumer: no volume until a pod uses the claim; then the scheduler picks
    // the node, the provisioner creates the volume there and the pod runs on it.
    up.apply(WAITING_CLASS_AND_CLAIM);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        jsonpath(&up, &["get", "pvc", "later"], "{.status.phase}"),
        "Pending"
    );
    assert_eq!(
        jsonpath(&up, &["get", "pvc", "later"], "{.spec.volumeName}"),
        ""
    );
    up.apply(WAITING_POD);
    until("the first consumer running", WAIT, || {
        let p = phase(&up, "consumer");
        (p == "Running").then_some(())
    });
    assert_eq!(
        jsonpath(
            &up,
            &["get", "pvc", "later"],
            "{.metadata.annotations.volume\\.kubernetes\\.io/selected-node}"
        ),
        NODE
    );
    assert_eq!(
        jsonpath(&up, &["get", "pvc", "later"], "{.status.phase}"),
        "Bound"
    );
    let pv = jsonpath(&up, &["get", "pvc", "later"], "{.spec.volumeName}");
    let affinity = jsonpath(
        &up,
        &["get", "pv", &pv],
        "{.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values[0]}",
    );
    assert_eq!(affinity, NODE);
}

const WAITING_CLASS_AND_CLAIM: &str = "\
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: on-first-use}
provisioner: hostpath.csi.skiff.dev
reclaimPolicy: Delete
volumeBindingMode: WaitForFirstConsumer
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: later}
spec:
  storageClassName: on-first-use
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 16Mi}}
";

const WAITING_POD: &str = "\
apiVersion: v1
kind: Pod
metadata: {name: consumer}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: skiff.local/busybox:latest
    imagePullPolicy: Never
    command: [sh, -c, 'echo here > /data/f; exec sleep 3600']
    volumeMounts: [{name: data, mountPath: /data}]
  volumes: [{name: data, persistentVolumeClaim: {claimName: later}}]
";
