//! The per-pod `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf`.

use std::path::Path;

use k8s_openapi::api::core::v1::Pod;

use crate::config::ClusterDns;
use crate::files::Files;

/// The pod's hostname: `spec.hostname` or the pod name (at most 63 characters).
pub fn hostname(pod: &Pod) -> String {
    let name = pod
        .spec
        .as_ref()
        .and_then(|s| s.hostname.clone())
        .or_else(|| pod.metadata.name.clone())
        .unwrap_or_default();
    name.chars().take(63).collect()
}

/// `/etc/hosts` content: localhost entries, the pod's own address and `hostAliases`.
pub fn hosts(pod: &Pod, ips: &[String], cluster_domain: Option<&str>) -> String {
    let mut out = String::from(
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n",
    );
    let host = hostname(pod);
    let spec = pod.spec.as_ref();
    let fqdn = match (spec.and_then(|s| s.subdomain.as_deref()), cluster_domain) {
        (Some(sub), Some(domain)) if !sub.is_empty() => Some(format!(
            "{host}.{sub}.{}.svc.{domain}",
            pod.metadata.namespace.as_deref().unwrap_or("default")
        )),
        _ => None,
    };
    for ip in ips {
        match &fqdn {
            Some(f) => out.push_str(&format!("{ip}\t{f}\t{host}\n")),
            None => out.push_str(&format!("{ip}\t{host}\n")),
        }
    }
    for alias in spec
        .and_then(|s| s.host_aliases.as_ref())
        .into_iter()
        .flatten()
    {
        out.push_str(&format!(
            "\n# Entries added by HostAliases.\n{}\t{}\n",
            alias.ip,
            alias.hostnames.clone().unwrap_or_default().join("\t")
        ));
    }
    out
}

/// `/etc/resolv.conf` content for the pod's `dnsPolicy` and `dnsConfig`.
pub fn resolv_conf(pod: &Pod, cluster: Option<&ClusterDns>, host_resolv: &str) -> String {
    let spec = pod.spec.as_ref();
    let policy = spec
        .and_then(|s| s.dns_policy.as_deref())
        .unwrap_or("ClusterFirst");
    let host_network = spec.and_then(|s| s.host_network).unwrap_or(false);
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let mut servers: Vec<String> = Vec::new();
    let mut searches: Vec<String> = Vec::new();
    let mut options: Vec<String> = Vec::new();
    let host = || {
        let mut s = Vec::new();
        let mut d = Vec::new();
        let mut o = Vec::new();
        for line in host_resolv.lines() {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => s.extend(words.map(str::to_string)),
                Some("search") => d.extend(words.map(str::to_string)),
                Some("options") => o.extend(words.map(str::to_string)),
                _ => {}
            }
        }
        (s, d, o)
    };
    let cluster_first =
        policy == "ClusterFirst" && !host_network || policy == "ClusterFirstWithHostNet";
    match (policy, cluster) {
        ("None", _) => {}
        (_, Some(dns)) if cluster_first => {
            servers.push(dns.server.to_string());
            searches = vec![
                format!("{ns}.svc.{}", dns.domain),
                format!("svc.{}", dns.domain),
                dns.domain.clone(),
            ];
            let (_, host_search, _) = host();
            searches.extend(host_search);
            options.push("ndots:5".into());
        }
        _ => (servers, searches, options) = host(),
    }
    if let Some(config) = spec.and_then(|s| s.dns_config.as_ref()) {
        servers.extend(config.nameservers.clone().unwrap_or_default());
        searches.extend(config.searches.clone().unwrap_or_default());
        for o in config.options.iter().flatten() {
            let name = o.name.clone().unwrap_or_default();
            options.retain(|x| x.split(':').next() != Some(name.as_str()));
            options.push(match &o.value {
                Some(v) => format!("{name}:{v}"),
                None => name,
            });
        }
    }
    let mut out = String::new();
    for s in &servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    if !searches.is_empty() {
        out.push_str(&format!("search {}\n", searches.join(" ")));
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}

/// Writes the three files into `dir`, only when their content changed.
pub fn write_all(
    files: &dyn Files,
    dir: &Path,
    hosts: &str,
    hostname: &str,
    resolv: &str,
) -> std::io::Result<()> {
    files.create_dir_all(dir)?;
    for (name, content) in [
        ("hosts", hosts.to_string()),
        ("hostname", format!("{hostname}\n")),
        ("resolv.conf", resolv.to_string()),
    ] {
        let path = dir.join(name);
        if files.read(&path).ok().as_deref() != Some(content.as_bytes()) {
            files.write(&path, content.as_bytes())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(spec: serde_json::Value) -> Pod {
        let mut spec = spec;
        spec["containers"] = json!([{"name": "a"}]);
        serde_json::from_value(
            json!({"metadata": {"name": "web", "namespace": "shop"}, "spec": spec}),
        )
        .unwrap()
    }

    const HOST: &str = "nameserver 192.0.2.53\nsearch example.org\noptions edns0\n";

    #[test]
    fn cluster_first_uses_the_cluster_dns_with_namespace_searches() {
        let dns = ClusterDns {
            server: "10.96.0.10".parse().unwrap(),
            domain: "cluster.local".into(),
        };
        let text = resolv_conf(&pod(json!({})), Some(&dns), HOST);
        assert_eq!(
            text,
            "nameserver 10.96.0.10\nsearch shop.svc.cluster.local svc.cluster.local cluster.local example.org\noptions ndots:5\n"
        );
    }

    #[test]
    fn without_cluster_dns_and_with_default_policy_the_host_resolver_is_used() {
        assert_eq!(resolv_conf(&pod(json!({})), None, HOST), HOST);
        let dns = ClusterDns {
            server: "10.96.0.10".parse().unwrap(),
            domain: "cluster.local".into(),
        };
        assert_eq!(
            resolv_conf(&pod(json!({"dnsPolicy": "Default"})), Some(&dns), HOST),
            HOST
        );
    }

    #[test]
    fn policy_none_takes_only_the_dns_config() {
        let p = pod(
            json!({"dnsPolicy": "None", "dnsConfig": {"nameservers": ["1.2.3.4"],
            "searches": ["a.b"], "options": [{"name": "ndots", "value": "2"}]}}),
        );
        assert_eq!(
            resolv_conf(&p, None, HOST),
            "nameserver 1.2.3.4\nsearch a.b\noptions ndots:2\n"
        );
    }

    #[test]
    fn hosts_lists_the_pod_address_and_aliases() {
        let p = pod(json!({"hostAliases": [{"ip": "10.0.0.9", "hostnames": ["db", "db.local"]}]}));
        let text = hosts(&p, &["10.1.0.4".to_string()], None);
        assert!(text.contains("127.0.0.1\tlocalhost\n"));
        assert!(text.contains("10.1.0.4\tweb\n"));
        assert!(text.contains("10.0.0.9\tdb\tdb.local\n"));
    }
}
