//! TLS client configuration for the TLS and RELP-over-TLS transports (rustls with the
//! aws-lc-rs provider).
//!
//! Server verification is always on: there is deliberately no "insecure" switch. The
//! minimum version is TLS 1.2. Roots come from the operating system, the Mozilla set
//! compiled in, or a CA bundle; a client certificate can be added for mutual TLS.
//!
//! **Pinning.** A receiver often has a self-signed certificate made with `openssl req -x509`,
//! which marks it CA:TRUE; WebPKI refuses a CA certificate as a server certificate
//! (`CaUsedAsEndEntity`) even when it is the very certificate the user trusts. So when the CA
//! bundle contains, byte for byte, the certificate the server presents, that certificate is
//! accepted as pinned, still within its validity dates and valid for the server name (and the
//! handshake still proves the server holds its key). Anything else goes through WebPKI with
//! the bundle as roots; a CA certificate presented as a server certificate then gets an error
//! that says how to fix it ([`crate::TransportError::ServerCertificateIsCa`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ResolvesClientCert, WebPkiServerVerifier};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::error::ConfigError;

/// PEM material, either in a file or inline (e.g. fetched from a secret store).
#[derive(Clone, PartialEq, Eq)]
pub enum Pem {
    /// Read from this file when the sender is built.
    File(PathBuf),
    /// Inline PEM text.
    Inline(Vec<u8>),
}

impl std::fmt::Debug for Pem {
    // Inline PEM may be a private key: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(p) => f.debug_tuple("File").field(p).finish(),
            Self::Inline(b) => write!(f, "Inline(<{} bytes redacted>)", b.len()),
        }
    }
}

impl Pem {
    fn load(&self, what: &'static str) -> Result<(Vec<u8>, String), ConfigError> {
        match self {
            Self::File(p) => std::fs::read(p)
                .map(|b| (b, p.display().to_string()))
                .map_err(|e| ConfigError::Pem {
                    what,
                    path: p.display().to_string(),
                    reason: e.to_string(),
                }),
            Self::Inline(b) => Ok((b.clone(), "inline PEM".into())),
        }
    }
}

/// Which certificate authorities are trusted to sign the receiver's certificate.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Roots {
    /// The operating system's store (via `rustls-native-certs`; honours `SSL_CERT_FILE`).
    #[default]
    System,
    /// The Mozilla root set compiled into the binary (for minimal images without a store).
    Mozilla,
    /// Only the CAs in this PEM bundle (typical for a private SIEM CA).
    Bundle(Pem),
}

/// Client certificate and key for mutual TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// PEM certificate chain, leaf first.
    pub cert_chain: Pem,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1). Never logged.
    pub key: Pem,
}

/// TLS settings of a destination.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsConfig {
    /// Trusted roots.
    pub roots: Roots,
    /// Name checked against the receiver's certificate; defaults to the host part of the
    /// destination address.
    pub server_name: Option<String>,
    /// Client certificate for mutual TLS.
    pub client_identity: Option<ClientIdentity>,
}

impl TlsConfig {
    /// Builds what connections need (once, at sender construction).
    pub(crate) fn client(&self, address: &str) -> Result<TlsClient, ConfigError> {
        let (config, asked) = self.build()?;
        Ok(TlsClient {
            connector: tokio_rustls::TlsConnector::from(config),
            server_name: self.server_name(address)?,
            asked_for_certificate: asked,
        })
    }

    /// The rustls configuration, and without a client identity, the flag a server's request
    /// for a client certificate sets.
    fn build(&self) -> Result<(Arc<ClientConfig>, Option<Arc<AtomicBool>>), ConfigError> {
        let mut store = rustls::RootCertStore::empty();
        let mut pinned = Vec::new();
        match &self.roots {
            Roots::System => {
                let found = rustls_native_certs::load_native_certs();
                let (added, _ignored) = store.add_parsable_certificates(found.certs);
                if added == 0 {
                    let why = found
                        .errors
                        .first()
                        .map_or("store is empty".to_owned(), |e| e.to_string());
                    return Err(ConfigError::NoRoots(format!("system store: {why}")));
                }
            }
            Roots::Mozilla => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            Roots::Bundle(pem) => {
                let (bytes, path) = pem.load("CA bundle")?;
                let certs = CertificateDer::pem_slice_iter(&bytes)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| ConfigError::Pem {
                        what: "CA bundle",
                        path: path.clone(),
                        reason: e.to_string(),
                    })?;
                pinned.clone_from(&certs);
                let (added, _) = store.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(ConfigError::NoRoots(format!(
                        "no usable certificate in {path}"
                    )));
                }
            }
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let versions = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?;
        let builder = if pinned.is_empty() {
            versions.with_root_certificates(store)
        } else {
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider)
                .build()
                .map_err(|e| ConfigError::NoRoots(e.to_string()))?;
            versions
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(PinnedOrWebPki { pinned, webpki }))
        };
        let mut asked = None;
        let config = match &self.client_identity {
            None => {
                let flag = Arc::new(AtomicBool::new(false));
                asked = Some(flag.clone());
                builder.with_client_cert_resolver(Arc::new(NoClientCertificate(flag)))
            }
            Some(id) => {
                let (chain_pem, chain_path) = id.cert_chain.load("client certificate")?;
                let chain = CertificateDer::pem_slice_iter(&chain_pem)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| ConfigError::Pem {
                        what: "client certificate",
                        path: chain_path.clone(),
                        reason: e.to_string(),
                    })?;
                if chain.is_empty() {
                    return Err(ConfigError::Pem {
                        what: "client certificate",
                        path: chain_path,
                        reason: "no certificate found".into(),
                    });
                }
                let (key_pem, key_path) = id.key.load("client key")?;
                // The parse error never contains key bytes, only the kind of failure.
                let key =
                    PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| ConfigError::Pem {
                        what: "client key",
                        path: key_path,
                        reason: e.to_string(),
                    })?;
                builder.with_client_auth_cert(chain, key)?
            }
        };
        Ok((Arc::new(config), asked))
    }

    /// The name to verify: configured, or the host of `host:port`.
    pub(crate) fn server_name(&self, address: &str) -> Result<ServerName<'static>, ConfigError> {
        let name = match &self.server_name {
            Some(n) => n.clone(),
            None => crate::transport::split_host(address)?.to_owned(),
        };
        ServerName::try_from(name.clone()).map_err(|_| ConfigError::InvalidServerName(name))
    }
}

/// What a connection needs to run TLS to one destination.
#[derive(Clone)]
pub(crate) struct TlsClient {
    pub(crate) connector: tokio_rustls::TlsConnector,
    pub(crate) server_name: ServerName<'static>,
    /// Set once the destination asked for a client certificate and none is configured.
    asked_for_certificate: Option<Arc<AtomicBool>>,
}

impl TlsClient {
    /// Whether the server asked for a client certificate that is not configured. A server that
    /// requires one (mutual TLS) usually completes the TLS 1.3 handshake, and drops the
    /// connection only after its own check: its kernel may have acknowledged a whole batch by
    /// then. (Many servers ask without requiring; rsyslog's gtls driver always asks.)
    pub(crate) fn client_certificate_missing(&self) -> bool {
        self.asked_for_certificate
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed))
    }
}

/// Without a configured client identity: answers a server's request for a client certificate
/// with none, and remembers that it was asked.
#[derive(Debug)]
struct NoClientCertificate(Arc<AtomicBool>);

impl ResolvesClientCert for NoClientCertificate {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        self.0.store(true, Ordering::Relaxed);
        None
    }

    fn has_certs(&self) -> bool {
        false
    }
}

/// Accepts the server certificate when it is byte for byte one of the CA bundle's certificates
/// (within its dates, valid for the name); verifies it by WebPKI against the bundle otherwise.
#[derive(Debug)]
struct PinnedOrWebPki {
    pinned: Vec<CertificateDer<'static>>,
    webpki: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for PinnedOrWebPki {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if !self
            .pinned
            .iter()
            .any(|p| p.as_ref() == end_entity.as_ref())
        {
            return self.webpki.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            );
        }
        check_dates(end_entity, now)?;
        webpki::EndEntityCert::try_from(end_entity)
            .map_err(|_| CertificateError::BadEncoding)?
            .verify_is_valid_for_subject_name(server_name)
            .map_err(|_| CertificateError::NotValidForName)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// `now` within the certificate's notBefore..=notAfter.
fn check_dates(cert: &CertificateDer<'_>, now: UnixTime) -> Result<(), CertificateError> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|_| CertificateError::BadEncoding)?;
    let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    let validity = parsed.validity();
    if now < validity.not_before.timestamp() {
        return Err(CertificateError::NotValidYet);
    }
    if now > validity.not_after.timestamp() {
        return Err(CertificateError::Expired);
    }
    Ok(())
}

/// Whether WebPKI refused the server certificate because it is a CA certificate.
pub(crate) fn is_ca_used_as_end_entity(e: &rustls::Error) -> bool {
    match e {
        rustls::Error::InvalidCertificate(CertificateError::Other(other)) => matches!(
            other.0.downcast_ref::<webpki::Error>(),
            Some(webpki::Error::CaUsedAsEndEntity)
        ),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pinned_certificate_is_refused_outside_its_validity_dates() {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        let cert = params
            .self_signed(&rcgen::KeyPair::generate().unwrap())
            .unwrap();
        // 2020-07-01, 2019-07-01 and 2021-07-01 at midnight UTC.
        let at = |secs: u64| UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs));
        assert!(check_dates(cert.der(), at(1_593_561_600)).is_ok());
        assert!(matches!(
            check_dates(cert.der(), at(1_561_939_200)),
            Err(CertificateError::NotValidYet)
        ));
        assert!(matches!(
            check_dates(cert.der(), at(1_625_097_600)),
            Err(CertificateError::Expired)
        ));
    }

    #[test]
    fn inline_keys_are_never_printed() {
        let id = ClientIdentity {
            cert_chain: Pem::File("/etc/c.pem".into()),
            key: Pem::Inline(
                b"-----BEGIN PRIVATE KEY-----\nSECRETSECRET\n-----END PRIVATE KEY-----\n".to_vec(),
            ),
        };
        let shown = format!("{id:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn empty_or_missing_bundles_are_config_errors() {
        let cfg = TlsConfig {
            roots: Roots::Bundle(Pem::Inline(b"not pem".to_vec())),
            ..Default::default()
        };
        assert!(matches!(cfg.build(), Err(ConfigError::NoRoots(_))));
        let cfg = TlsConfig {
            roots: Roots::Bundle(Pem::File("/nonexistent/ca.pem".into())),
            ..Default::default()
        };
        assert!(matches!(
            cfg.build(),
            Err(ConfigError::Pem {
                what: "CA bundle",
                ..
            })
        ));
    }

    #[test]
    fn mozilla_roots_build_and_server_name_defaults_to_host() {
        let cfg = TlsConfig {
            roots: Roots::Mozilla,
            ..Default::default()
        };
        assert!(cfg.build().is_ok());
        assert_eq!(
            cfg.server_name("siem.example.com:6514").unwrap(),
            ServerName::try_from("siem.example.com").unwrap()
        );
        assert_eq!(
            cfg.server_name("[::1]:6514").unwrap(),
            ServerName::try_from("::1").unwrap()
        );
        let named = TlsConfig {
            server_name: Some("other.example".into()),
            ..Default::default()
        };
        assert_eq!(
            named.server_name("10.0.0.1:6514").unwrap(),
            ServerName::try_from("other.example").unwrap()
        );
    }
}
