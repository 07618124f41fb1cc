//! Mutual TLS for the SFU → recorder link: a private CA, the recorder's
//! server certificate and the SFU's client certificate, as PEM files in one
//! directory (mode 0700, keys 0600). `ensure` generates the missing set on
//! first start; existing files are never replaced.
//!
//! The recorder accepts only clients whose certificate chains to `ca.pem`;
//! the SFU accepts only a recorder whose certificate chains to it and names
//! [`SERVER_NAME`].

use crate::fsutil;
use crate::protocol::ALPN;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The name the recorder's certificate carries and the SFU checks.
pub const SERVER_NAME: &str = "parley-recorder";

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot create {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "cannot read {path}: {detail} (delete the TLS directory's files to regenerate them all)"
    )]
    Read { path: PathBuf, detail: String },
    #[error("cannot generate certificates: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("TLS configuration refused: {0}")]
    Config(String),
}

/// The PEM files of the link.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

impl TlsFiles {
    /// The standard file names in `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            ca_cert: dir.join("ca.pem"),
            ca_key: dir.join("ca.key"),
            server_cert: dir.join("recorder.pem"),
            server_key: dir.join("recorder.key"),
            client_cert: dir.join("sfu.pem"),
            client_key: dir.join("sfu.key"),
        }
    }
}

fn write(path: &Path, text: &str) -> Result<(), TlsError> {
    fsutil::write_atomic(path, text.as_bytes()).map_err(|source| TlsError::Write {
        path: path.into(),
        source,
    })
}

/// Generates a CA and the two certificates it signs into `dir`, unless
/// `ca.pem` already exists there.
pub fn ensure(dir: &Path) -> Result<TlsFiles, TlsError> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let files = TlsFiles::in_dir(dir);
    if files.ca_cert.exists() {
        return Ok(files);
    }
    fsutil::create_private_dir(dir).map_err(|source| TlsError::Write {
        path: dir.into(),
        source,
    })?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.distinguished_name
        .push(DnType::CommonName, "Parley recorder link CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca.self_signed(&ca_key)?;
    let ca_pem = ca_cert.pem();
    let ca_key_pem = ca_key.serialize_pem();
    let issuer = Issuer::new(ca, ca_key);

    let leaf = |names: Vec<String>,
                cn: &str,
                usage: ExtendedKeyUsagePurpose|
     -> Result<(String, String), TlsError> {
        let mut p = CertificateParams::new(names)?;
        p.distinguished_name.push(DnType::CommonName, cn);
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![usage];
        p.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate()?;
        let cert = p.signed_by(&key, &issuer)?;
        Ok((cert.pem(), key.serialize_pem()))
    };
    let (server_pem, server_key) = leaf(
        vec![
            SERVER_NAME.into(),
            "localhost".into(),
            "127.0.0.1".into(),
            "::1".into(),
        ],
        SERVER_NAME,
        ExtendedKeyUsagePurpose::ServerAuth,
    )?;
    let (client_pem, client_key) = leaf(
        vec!["parley-sfu".into()],
        "parley-sfu",
        ExtendedKeyUsagePurpose::ClientAuth,
    )?;
    // Keys first, CA certificate last: its presence marks a complete set.
    write(&files.ca_key, &ca_key_pem)?;
    write(&files.server_cert, &server_pem)?;
    write(&files.server_key, &server_key)?;
    write(&files.client_cert, &client_pem)?;
    write(&files.client_key, &client_key)?;
    write(&files.ca_cert, &ca_pem)?;
    Ok(files)
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let read = |detail: String| TlsError::Read {
        path: path.into(),
        detail,
    };
    let list: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| read(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| read(e.to_string()))?;
    if list.is_empty() {
        return Err(read("no certificate in the file".into()));
    }
    Ok(list)
}

fn key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::Read {
        path: path.into(),
        detail: e.to_string(),
    })
}

fn roots(ca: &Path) -> Result<rustls::RootCertStore, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for c in certs(ca)? {
        roots.add(c).map_err(|e| TlsError::Read {
            path: ca.into(),
            detail: e.to_string(),
        })?;
    }
    Ok(roots)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn config_err(e: impl std::fmt::Display) -> TlsError {
    TlsError::Config(e.to_string())
}

/// The recorder's QUIC server configuration: TLS 1.3, client certificate
/// required and checked against the CA.
pub fn server_config(
    ca_cert: &Path,
    cert: &Path,
    key_file: &Path,
) -> Result<quinn::ServerConfig, TlsError> {
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots(ca_cert)?),
        provider(),
    )
    .build()
    .map_err(config_err)?;
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(config_err)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs(cert)?, key(key_file)?)
        .map_err(config_err)?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let quic = quinn::crypto::rustls::QuicServerConfig::try_from(tls).map_err(config_err)?;
    Ok(quinn::ServerConfig::with_crypto(Arc::new(quic)))
}

/// The SFU's QUIC client configuration: presents its certificate, trusts
/// only the CA.
pub fn client_config(
    ca_cert: &Path,
    cert: &Path,
    key_file: &Path,
) -> Result<quinn::ClientConfig, TlsError> {
    let mut tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(config_err)?
        .with_root_certificates(roots(ca_cert)?)
        .with_client_auth_cert(certs(cert)?, key(key_file)?)
        .map_err(config_err)?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls).map_err(config_err)?;
    let mut config = quinn::ClientConfig::new(Arc::new(quic));
    config.transport_config(Arc::new(link_transport()));
    Ok(config)
}

/// When the certificate in the PEM file `path` stops being valid: its
/// `notAfter`, in seconds since the Unix epoch.
pub fn expires_at(path: &Path) -> Result<i64, TlsError> {
    let unreadable = |detail: String| TlsError::Read {
        path: path.into(),
        detail,
    };
    let pem = std::fs::read(path).map_err(|e| unreadable(e.to_string()))?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(&pem)
        .map_err(|e| unreadable(format!("not a PEM certificate: {e}")))?;
    let cert = pem
        .parse_x509()
        .map_err(|e| unreadable(format!("not an X.509 certificate: {e}")))?;
    Ok(cert.validity().not_after.timestamp())
}

/// How often the SFU's side pings an idle link, in ms.
pub const KEEP_ALIVE_MS: u64 = 1_000;
/// How long the link may go unanswered before it counts as broken, in ms:
/// a recorder that was killed, or a network cut, is noticed within this
/// (quinn's default, 30 s, would leave the record's gap that much longer
/// before the SFU connects again).
pub const IDLE_TIMEOUT_MS: u32 = 5_000;

/// The link's QUIC transport: keep-alives, so that a quiet link stays up,
/// and an idle timeout that notices a dead recorder in seconds.
fn link_transport() -> quinn::TransportConfig {
    let mut transport = quinn::TransportConfig::default();
    transport.keep_alive_interval(Some(std::time::Duration::from_millis(KEEP_ALIVE_MS)));
    transport.max_idle_timeout(Some(quinn::VarInt::from_u32(IDLE_TIMEOUT_MS).into()));
    transport
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_certificate_expires_far_ahead_and_a_broken_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let f = ensure(dir.path()).unwrap();
        // rcgen's default validity ends in 4096.
        let year_3000 = 32_503_680_000;
        for cert in [&f.ca_cert, &f.server_cert, &f.client_cert] {
            assert!(expires_at(cert).unwrap() > year_3000);
        }
        let broken = dir.path().join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let e = expires_at(&broken).unwrap_err().to_string();
        assert!(e.contains("broken.pem"), "{e}");
    }

    #[test]
    fn generates_once_and_builds_both_configs() {
        let dir = tempfile::tempdir().unwrap();
        let f = ensure(dir.path()).unwrap();
        let ca = std::fs::read(&f.ca_cert).unwrap();
        let again = ensure(dir.path()).unwrap();
        assert_eq!(std::fs::read(&again.ca_cert).unwrap(), ca);
        server_config(&f.ca_cert, &f.server_cert, &f.server_key).unwrap();
        client_config(&f.ca_cert, &f.client_cert, &f.client_key).unwrap();
    }

    #[test]
    fn unreadable_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let f = ensure(dir.path()).unwrap();
        std::fs::write(&f.server_key, "not a key").unwrap();
        let e = server_config(&f.ca_cert, &f.server_cert, &f.server_key)
            .unwrap_err()
            .to_string();
        assert!(e.contains("recorder.key"), "{e}");
    }
}
