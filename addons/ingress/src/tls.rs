//! TLS: certificates picked by SNI from the Secrets the Ingress `tls` sections name.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use k8s_openapi::api::core::v1::Secret;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// Certificates by host name, swapped whole when Secrets or Ingresses change.
#[derive(Debug, Default)]
pub struct SniResolver {
    certs: RwLock<BTreeMap<String, Arc<CertifiedKey>>>,
}

impl SniResolver {
    /// Loads `tls.crt`/`tls.key` of each host's secret; hosts whose secret is missing or
    /// unreadable are left out (their handshakes fail) and logged.
    pub fn update(&self, hosts: &BTreeMap<String, (String, String)>, secrets: &[Secret]) {
        let mut out = BTreeMap::new();
        for (host, (ns, name)) in hosts {
            let Some(secret) = secrets.iter().find(|s| {
                s.metadata.namespace.as_deref() == Some(ns)
                    && s.metadata.name.as_deref() == Some(name)
            }) else {
                tracing::warn!(%host, secret = %name, "tls secret not found");
                continue;
            };
            match certified_key(secret) {
                Some(key) => {
                    out.insert(host.clone(), Arc::new(key));
                }
                None => tracing::warn!(%host, secret = %name, "tls secret unusable"),
            }
        }
        *self.certs.write().unwrap_or_else(|e| e.into_inner()) = out;
    }
}

fn certified_key(secret: &Secret) -> Option<CertifiedKey> {
    let data = secret.data.as_ref()?;
    let cert_pem = &data.get("tls.crt")?.0;
    let key_pem = &data.get("tls.key")?.0;
    let certs: Vec<_> = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<_, _>>()
        .ok()?;
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice()).ok()??;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key).ok()?;
    Some(CertifiedKey::new(certs, signing))
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name()?.to_ascii_lowercase();
        let certs = self.certs.read().unwrap_or_else(|e| e.into_inner());
        certs.get(&name).cloned().or_else(|| {
            let (_, rest) = name.split_once('.')?;
            certs.get(&format!("*.{rest}")).cloned()
        })
    }
}
