//! The cluster PKI (a CA, a serving certificate, an admin client certificate) and the rustls
//! configuration that serves HTTPS and verifies client certificates against the CA.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot generate certificates")]
    Generate(#[source] rcgen::Error),
    #[error("cannot read or write {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid pem data in {0}")]
    Pem(String),
    #[error("invalid tls configuration")]
    Rustls(#[source] rustls::Error),
    #[error("invalid client verifier")]
    Verifier(#[source] rustls::server::VerifierBuilderError),
}

/// The PEM files of the cluster PKI, kept in `<data-dir>/pki/`.
#[derive(Clone, Debug)]
pub struct Pki {
    pub ca_cert: String,
    pub ca_key: String,
    pub server_cert: String,
    pub server_key: String,
    pub admin_cert: String,
    pub admin_key: String,
}

/// The user and group of the admin client certificate (and of the in-process API).
pub const ADMIN_USER: &str = "admin";
pub const ADMIN_GROUP: &str = "system:masters";

const FILES: [&str; 6] = [
    "ca.crt",
    "ca.key",
    "apiserver.crt",
    "apiserver.key",
    "admin.crt",
    "admin.key",
];

impl Pki {
    /// Reads the PKI from `dir`, generating all of it on first start. A restart reuses the
    /// same files, so kubeconfigs handed out before keep working.
    pub fn load_or_create(dir: &Path, extra_sans: &[String]) -> Result<Pki, Error> {
        if FILES.iter().all(|f| dir.join(f).exists()) {
            let read = |f: &str| {
                std::fs::read_to_string(dir.join(f)).map_err(|source| Error::Io {
                    path: dir.join(f),
                    source,
                })
            };
            return Ok(Pki {
                ca_cert: read(FILES[0])?,
                ca_key: read(FILES[1])?,
                server_cert: read(FILES[2])?,
                server_key: read(FILES[3])?,
                admin_cert: read(FILES[4])?,
                admin_key: read(FILES[5])?,
            });
        }
        let pki = generate(extra_sans).map_err(Error::Generate)?;
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let contents = [
            &pki.ca_cert,
            &pki.ca_key,
            &pki.server_cert,
            &pki.server_key,
            &pki.admin_cert,
            &pki.admin_key,
        ];
        for (file, data) in FILES.iter().zip(contents) {
            let path = dir.join(file);
            std::fs::write(&path, data).map_err(|source| Error::Io { path, source })?;
        }
        Ok(pki)
    }

    /// A rustls server configuration: the serving certificate, HTTP/2 and HTTP/1.1 over
    /// ALPN, and client certificates verified against the CA but optional, so that bearer
    /// tokens work too.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for cert in certs(&self.ca_cert)? {
            roots.add(cert).map_err(Error::Rustls)?;
        }
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .allow_unauthenticated()
                .build()
                .map_err(Error::Verifier)?;
        let key = PrivateKeyDer::from_pem_slice(self.server_key.as_bytes())
            .map_err(|_| Error::Pem("apiserver.key".into()))?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(Error::Rustls)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs(&self.server_cert)?, key)
            .map_err(Error::Rustls)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

use rustls::pki_types::pem::PemObject;

fn certs(pem: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| Error::Pem("certificate".into()))
}

fn name(cn: &str, org: Option<&str>) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    if let Some(o) = org {
        dn.push(DnType::OrganizationName, o);
    }
    dn
}

fn generate(extra_sans: &[String]) -> Result<Pki, rcgen::Error> {
    // rcgen's default validity (1975 to 4096) is kept on purpose: a local cluster must
    // not stop working because its certificates expired.
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::default();
    ca_params.distinguished_name = name("skiff-ca", None);
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, &ca_key);

    let server_key = KeyPair::generate()?;
    let mut server_params = CertificateParams::default();
    server_params.distinguished_name = name("skiff-apiserver", None);
    let mut sans = vec![
        "127.0.0.1".to_string(),
        "::1".to_string(),
        "localhost".to_string(),
        "kubernetes".to_string(),
        "kubernetes.default".to_string(),
        "kubernetes.default.svc".to_string(),
    ];
    if let Ok(host) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let host = host.trim();
        if !host.is_empty() {
            sans.push(host.to_string());
        }
    }
    sans.extend(extra_sans.iter().cloned());
    sans.dedup();
    for san in sans {
        let entry = match san.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(san.try_into()?),
        };
        if !server_params.subject_alt_names.contains(&entry) {
            server_params.subject_alt_names.push(entry);
        }
    }
    server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = server_params.signed_by(&server_key, &issuer)?;

    let admin_key = KeyPair::generate()?;
    let mut admin_params = CertificateParams::default();
    admin_params.distinguished_name = name(ADMIN_USER, Some(ADMIN_GROUP));
    admin_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let admin_cert = admin_params.signed_by(&admin_key, &issuer)?;

    Ok(Pki {
        ca_cert: ca_cert.pem(),
        ca_key: ca_key.serialize_pem(),
        server_cert: server_cert.pem(),
        server_key: server_key.serialize_pem(),
        admin_cert: admin_cert.pem(),
        admin_key: admin_key.serialize_pem(),
    })
}

/// Reads the user of a verified client certificate: CN is the name, O entries the groups.
pub fn client_identity(cert: &CertificateDer<'_>) -> Option<(String, Vec<String>)> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let subject = parsed.subject();
    let cn = subject
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())?
        .to_string();
    let groups = subject
        .iter_organization()
        .filter_map(|a| a.as_str().ok().map(str::to_string))
        .collect();
    Some((cn, groups))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pki_is_generated_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = Pki::load_or_create(dir.path(), &["skiff.example".into()]).unwrap();
        let again = Pki::load_or_create(dir.path(), &[]).unwrap();
        assert_eq!(first.ca_cert, again.ca_cert);
        assert_eq!(first.admin_key, again.admin_key);
        first.server_config().unwrap();
    }

    #[test]
    fn the_admin_certificate_names_admin_in_system_masters() {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::load_or_create(dir.path(), &[]).unwrap();
        let cert = certs(&pki.admin_cert).unwrap().remove(0);
        let (user, groups) = client_identity(&cert).unwrap();
        assert_eq!(user, "admin");
        assert_eq!(groups, vec!["system:masters".to_string()]);
    }
}
