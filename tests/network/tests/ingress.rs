//! Ingress end to end: `skiff up` starts `skiff-ingress`, which routes by host and path to
//! busybox web servers in real containers, over HTTP and HTTPS (SNI); and pods reach the API
//! server through the `kubernetes` service.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use skiff_test_support::{SkiffUp, binary, http_get, until};

/// A free port on loopback (taken back right away; the ingress binds it moments later).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// `n`-th address of a CIDR written as `A.B.C.D/LEN`.
fn nth(cidr: &str, n: u32) -> Ipv4Addr {
    let net: Ipv4Addr = cidr.split('/').next().unwrap().parse().unwrap();
    Ipv4Addr::from(u32::from(net) + n)
}

/// A busybox httpd Deployment and its Service on port 80; `files` are `(path, content)`
/// under the document root.
fn web(name: &str, files: &[(&str, &str)]) -> String {
    let mut script = String::from("set -e; ");
    for (path, content) in files {
        let dir = Path::new("/www").join(path.trim_start_matches('/'));
        script.push_str(&format!(
            "mkdir -p {}; echo {} > {}; ",
            dir.parent().unwrap().display(),
            content,
            dir.display()
        ));
    }
    script.push_str("exec httpd -f -p 80 -h /www");
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: default}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - name: web
        image: skiff.local/busybox:latest
        imagePullPolicy: Never
        command: ["sh", "-c", "{script}"]
        readinessProbe:
          tcpSocket: {{port: 80}}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: default}}
spec:
  selector: {{app: {name}}}
  ports: [{{port: 80, targetPort: 80}}]
"#
    )
}

/// The seed example: one host, `/foo` (Prefix) to foo-service and `/bar` (Exact) to
/// bar-service; no class named, so the default class (skiff's) takes it.
const SEED: &str = r#"
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: example, namespace: default}
spec:
  rules:
  - host: foo.bar.com
    http:
      paths:
      - path: /foo
        pathType: Prefix
        backend: {service: {name: foo-service, port: {number: 80}}}
      - path: /bar
        pathType: Exact
        backend: {service: {name: bar-service, port: {number: 80}}}
"#;

/// A test CA and a certificate it issued for `host`, as PEM `(ca, cert, key)`.
fn certificates(host: &str) -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    // Distinct subjects: a leaf named like its issuer would look self-signed.
    ca.distinguished_name
        .push(DnType::CommonName, "skiff ingress test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, &ca_key);
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec![host.to_string()]).unwrap();
    leaf.distinguished_name.push(DnType::CommonName, host);
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

/// `curl` over HTTPS to the ingress at `port` for `host` (SNI and Host), trusting `ca`; the
/// status and body.
fn https_get(port: u16, host: &str, path: &str, ca: &Path) -> Option<(u16, String)> {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "5", "--noproxy", "*", "--cacert"])
        .arg(ca)
        .args(["--resolve", &format!("{host}:{port}:127.0.0.1")])
        .args(["-w", "\n%{http_code}"])
        .arg(format!("https://{host}:{port}{path}"))
        .output()
        .expect("curl runs");
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n')?;
    Some((code.trim().parse().ok()?, body.to_string()))
}

/// Waits until `host` + `path` over plain HTTP answers `code` with a body containing `body`.
fn expect_http(http: &str, host: &str, path: &str, code: u16, body: &str) {
    until(
        &format!("{host}{path} to answer {code} {body:?}"),
        Duration::from_secs(60),
        || {
            let got = http_get(http, host, path)?;
            (got.0 == code && got.1.contains(body)).then_some(())
        },
    );
}

/// Whether the cluster's service proxy has rules for `ip` in the kernel.
fn proxied(up: &SkiffUp, ip: &str) -> bool {
    let table = format!("skiff-proxy-{}", up.bridge());
    Command::new("nft")
        .args(["list", "table", "ip", &table])
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains(ip))
}

#[test]
fn ingresses_route_by_host_and_path_over_http_and_https_and_report_the_node_address() {
    // The ingress runs as its own binary, found next to `skiff`.
    binary("skiff-ingress");
    let (http_port, https_port) = (free_port(), free_port());
    let http_addr = format!("127.0.0.1:{http_port}");
    let https_addr = format!("127.0.0.1:{https_port}");
    let up = SkiffUp::start(&["--ingress-http", &http_addr, "--ingress-https", &https_addr]);
    up.build_busybox();

    // The default class is there, marked default, for skiff's controller.
    let class = up.kubectl_ok(&[
        "get",
        "ingressclass",
        "skiff",
        "-o",
        "jsonpath={.spec.controller} {.metadata.annotations.ingressclass\\.kubernetes\\.io/is-default-class}",
    ]);
    assert_eq!(class, "skiff.dev/ingress true");

    up.apply(&web(
        "foo-service",
        &[
            ("/foo/index.html", "foo-index"),
            ("/foo/deep.html", "foo-deep"),
        ],
    ));
    up.apply(&web(
        "bar-service",
        &[("/bar", "bar-exact"), ("/index.html", "bar-root")],
    ));
    up.apply(SEED);

    // Host and path routing; Prefix on whole path elements, Exact only on the path itself.
    expect_http(&http_addr, "foo.bar.com", "/foo/", 200, "foo-index");
    expect_http(&http_addr, "foo.bar.com", "/foo/deep.html", 200, "foo-deep");
    expect_http(&http_addr, "foo.bar.com", "/bar", 200, "bar-exact");
    assert_eq!(
        http_get(&http_addr, "FOO.bar.com:80", "/foo/deep.html").map(|r| r.0),
        Some(200),
        "host names compare without case and port"
    );
    for (host, path) in [
        ("foo.bar.com", "/bar/x"),
        ("foo.bar.com", "/foobar"),
        ("foo.bar.com", "/"),
        ("other.example", "/foo/"),
    ] {
        let (code, body) = http_get(&http_addr, host, path).expect("the ingress answers");
        assert_eq!(code, 404, "{host}{path}: {body}");
        assert!(!body.contains("foo-"), "{host}{path} reached foo: {body}");
    }

    // The Ingress gets the node's address (the pod bridge's) in its status.
    let node_ip = nth(&up.pod_cidr(), 1).to_string();
    until("the ingress status", Duration::from_secs(30), || {
        let ip = up.kubectl_ok(&[
            "get",
            "ingress",
            "example",
            "-o",
            "jsonpath={.status.loadBalancer.ingress[0].ip}",
        ]);
        (ip == node_ip).then_some(())
    });
    let listed = up.kubectl_ok(&["get", "ingress", "example"]);
    assert!(listed.contains(&node_ip), "{listed}");
    assert!(listed.contains("foo.bar.com"), "{listed}");

    // A default backend takes what no rule matches.
    up.kubectl_ok(&[
        "patch",
        "ingress",
        "example",
        "--type=merge",
        "-p",
        r#"{"spec":{"defaultBackend":{"service":{"name":"bar-service","port":{"number":80}}}}}"#,
    ]);
    expect_http(&http_addr, "other.example", "/", 200, "bar-root");
    expect_http(&http_addr, "foo.bar.com", "/", 200, "bar-root");
    expect_http(&http_addr, "foo.bar.com", "/foo/", 200, "foo-index");

    // TLS: the certificate comes from the Secret the Ingress names for the host (by SNI).
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates("foo.bar.com");
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, ca).unwrap();
    std::fs::write(dir.path().join("tls.crt"), cert).unwrap();
    std::fs::write(dir.path().join("tls.key"), key).unwrap();
    let crt_arg = format!("--cert={}", dir.path().join("tls.crt").display());
    let key_arg = format!("--key={}", dir.path().join("tls.key").display());
    up.kubectl_ok(&["create", "secret", "tls", "foo-tls", &crt_arg, &key_arg]);
    assert_eq!(
        https_get(https_port, "foo.bar.com", "/foo/", &ca_path),
        None,
        "no certificate is served before the Ingress names it"
    );
    up.kubectl_ok(&[
        "patch",
        "ingress",
        "example",
        "--type=merge",
        "-p",
        r#"{"spec":{"tls":[{"hosts":["foo.bar.com"],"secretName":"foo-tls"}]}}"#,
    ]);
    let (code, body) = until("HTTPS to foo.bar.com", Duration::from_secs(30), || {
        https_get(https_port, "foo.bar.com", "/foo/deep.html", &ca_path)
    });
    assert_eq!((code, body.trim()), (200, "foo-deep"));
    let (code, body) = https_get(https_port, "foo.bar.com", "/bar", &ca_path).unwrap();
    assert_eq!((code, body.trim()), (200, "bar-exact"));
}

#[test]
fn pods_reach_the_api_server_through_the_kubernetes_service() {
    let up = SkiffUp::start(&["--disable", "ingress"]);
    up.build_busybox();
    let service_ip = nth(&up.service_cidr(), 1).to_string();

    // The service, its Endpoints and EndpointSlice, as upstream.
    let svc = up.kubectl_ok(&[
        "get",
        "service",
        "kubernetes",
        "-o",
        "jsonpath={.spec.clusterIP} {.spec.ports[0].port}",
    ]);
    assert_eq!(svc, format!("{service_ip} 443"));
    let ep = up.kubectl_ok(&[
        "get",
        "endpoints",
        "kubernetes",
        "-o",
        "jsonpath={.subsets[0].addresses[0].ip}",
    ]);
    assert_eq!(ep, nth(&up.pod_cidr(), 1).to_string());
    let slice = up.kubectl_ok(&[
        "get",
        "endpointslices",
        "-l",
        "kubernetes.io/service-name=kubernetes",
        "-o",
        "jsonpath={.items[*].endpoints[*].addresses[0]}",
    ]);
    assert_eq!(slice, ep);

    // From the host: TLS to the service address verifies against the cluster CA with the
    // name pods use. Only once the proxy catches the address: before, it would leave the host.
    until(
        "the proxy's rules for the service",
        Duration::from_secs(60),
        || proxied(&up, &service_ip).then_some(()),
    );
    let ca = up.data_dir().join("pki").join("ca.crt");
    assert!(ca.exists(), "cluster CA at {}", ca.display());
    let code = until(
        "HTTPS to the kubernetes service",
        Duration::from_secs(30),
        || {
            let out = Command::new("curl")
                .args([
                    "-sS",
                    "--max-time",
                    "5",
                    "--noproxy",
                    "*",
                    "-o",
                    "/dev/null",
                ])
                .args(["-w", "%{http_code}", "--cacert"])
                .arg(&ca)
                .args([
                    "--resolve",
                    &format!("kubernetes.default.svc:443:{service_ip}"),
                    "https://kubernetes.default.svc/version",
                ])
                .output()
                .unwrap();
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
        },
    );
    assert!(
        ["200", "401", "403"].contains(&code.as_str()),
        "API server answered {code}"
    );

    // From a pod: the name resolves and a TCP connection to port 443 opens.
    up.apply(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: default}
spec:
  containers:
  - name: c
    image: skiff.local/busybox:latest
    imagePullPolicy: Never
    command: ["sleep", "3600"]
"#,
    );
    up.kubectl_ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/client",
        "--timeout=120s",
    ]);
    let looked_up = until(
        "kubernetes.default.svc in DNS",
        Duration::from_secs(30),
        || {
            let out = up.kubectl(&[
                "exec",
                "client",
                "--",
                "nslookup",
                "kubernetes.default.svc.cluster.local",
            ]);
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
        },
    );
    assert!(looked_up.contains(&service_ip), "{looked_up}");
    let out = up.kubectl(&[
        "exec",
        "client",
        "--",
        "nc",
        "-w",
        "5",
        "kubernetes.default.svc.cluster.local",
        "443",
        "-e",
        "true",
    ]);
    assert!(
        out.status.success(),
        "no TCP connection from the pod: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
