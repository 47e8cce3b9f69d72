//! A bridge with pods: one network namespace each, a veth into the bridge, an address in
//! the test's own 10.x range and busybox httpd answering its own name.

use std::net::Ipv4Addr;
use std::process::{Child, Command, Stdio};

fn run(args: &[&str]) -> std::process::Output {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn try_run(args: &[&str]) {
    let _ = Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// A bridge `sk<tag>` with address `10.<octet>.0.1/24`; routes for `10.<octet>.0.0/16` and
/// `10.96.<octet>.0/24` point at it, so service and load balancer addresses chosen inside that range never
/// leave the machine even when no rule matches.
pub struct TestNet {
    pub tag: String,
    pub octet: u8,
    pub bridge: String,
    pub pods: Vec<Pod>,
    _web: tempfile::TempDir,
}

/// One pod: a namespace and its web server.
pub struct Pod {
    pub name: String,
    pub netns: String,
    pub ip: Ipv4Addr,
    server: Option<Child>,
}

impl TestNet {
    /// `tag`: a few letters unique to the test; `octet`: its 10.x range.
    pub fn new(tag: &str, octet: u8) -> TestNet {
        let bridge = format!("sk{tag}");
        try_run(&["ip", "link", "del", &bridge]);
        run(&["ip", "link", "add", &bridge, "type", "bridge"]);
        let net = TestNet {
            tag: tag.to_string(),
            octet,
            bridge: bridge.clone(),
            pods: Vec::new(),
            _web: tempfile::tempdir().unwrap(),
        };
        run(&[
            "ip",
            "addr",
            "add",
            &format!("{}/24", net.gateway()),
            "dev",
            &bridge,
        ]);
        run(&["ip", "link", "set", &bridge, "up"]);
        run(&[
            "ip",
            "route",
            "add",
            &format!("10.{octet}.0.0/16"),
            "dev",
            &bridge,
        ]);
        try_run(&["ip", "route", "del", &format!("10.96.{octet}.0/24")]);
        run(&[
            "ip",
            "route",
            "add",
            &format!("10.96.{octet}.0/24"),
            "dev",
            &bridge,
        ]);
        net
    }

    /// The bridge's own address: the pods' gateway and a node address.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, self.octet, 0, 1)
    }

    /// A service address of this test (`10.96.<octet>.<n>`, inside the API server's
    /// default service range and routed to this bridge).
    pub fn service_ip(&self, n: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 96, self.octet, n)
    }

    /// An address in this test's range outside the pod subnet (for services, pools).
    pub fn extra(&self, third: u8, fourth: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, self.octet, third, fourth)
    }

    /// Adds a pod answering `GET /` with its name on port 8080.
    pub fn add_pod(&mut self, name: &str) -> &Pod {
        let i = self.pods.len();
        let netns = format!("sk{}-{i}", self.tag);
        let ip = Ipv4Addr::new(10, self.octet, 0, 10 + u8::try_from(i).unwrap());
        let host_if = format!("sk{}h{i}", self.tag);
        try_run(&["ip", "netns", "del", &netns]);
        run(&["ip", "netns", "add", &netns]);
        run(&[
            "ip", "link", "add", &host_if, "type", "veth", "peer", "name", "eth0", "netns", &netns,
        ]);
        run(&["ip", "link", "set", &host_if, "master", &self.bridge, "up"]);
        // As the CNI bridge plugin's `hairpinMode`: with br_netfilter, a pod's packet to its
        // own service is DNATed on the bridge and must leave by the port it came in.
        run(&[
            "ip",
            "link",
            "set",
            &host_if,
            "type",
            "bridge_slave",
            "hairpin",
            "on",
        ]);
        let exec = |args: &[&str]| {
            let mut all = vec!["ip", "netns", "exec", &netns];
            all.extend_from_slice(args);
            run(&all);
        };
        exec(&["ip", "link", "set", "lo", "up"]);
        exec(&["ip", "addr", "add", &format!("{ip}/24"), "dev", "eth0"]);
        exec(&["ip", "link", "set", "eth0", "up"]);
        exec(&[
            "ip",
            "route",
            "add",
            "default",
            "via",
            &self.gateway().to_string(),
        ]);
        let root = self._web.path().join(name);
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("index.html"), format!("{name}\n")).unwrap();
        let server = Command::new("ip")
            .args([
                "netns", "exec", &netns, "busybox", "httpd", "-f", "-p", "8080", "-h",
            ])
            .arg(&root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.pods.push(Pod {
            name: name.to_string(),
            netns,
            ip,
            server: Some(server),
        });
        self.pods.last().unwrap()
    }
}

impl Pod {
    /// `curl` from inside this pod; the body, or `None` when the request failed.
    pub fn get(&self, url: &str) -> Option<String> {
        get_in(Some(&self.netns), url)
    }

    /// Runs a command inside the pod's namespace and returns its standard output.
    pub fn exec(&self, args: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", &self.netns])
            .args(args)
            .output()
            .unwrap()
    }
}

/// `curl` with a 2 s timeout (never through a proxy), from a namespace or (None) from the
/// host. (Debian's static busybox `wget` crashes on the host, so curl it is.)
pub fn get_in(netns: Option<&str>, url: &str) -> Option<String> {
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, "curl"]);
            c
        }
        None => Command::new("curl"),
    };
    let out = cmd
        .args(["-s", "-f", "-m", "2", "--noproxy", "*", url])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

impl Drop for Pod {
    fn drop(&mut self) {
        if let Some(mut s) = self.server.take() {
            let _ = s.kill();
            let _ = s.wait();
        }
        try_run(&["ip", "netns", "del", &self.netns]);
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        self.pods.clear();
        try_run(&["ip", "route", "del", &format!("10.{}.0.0/16", self.octet)]);
        try_run(&["ip", "route", "del", &format!("10.96.{}.0/24", self.octet)]);
        try_run(&["ip", "link", "del", &self.bridge]);
    }
}
