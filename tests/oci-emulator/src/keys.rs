//! API signing keys: parsing PEM (public or private, PKCS#1 or PKCS#8, optionally encrypted
//! PKCS#8), OCI fingerprints, the registry the verifier looks keys up in, and [`TestKey`], a
//! generated key pair with a request signer for tests and the demo.

use std::collections::HashMap;
use std::sync::OnceLock;

use base64::Engine as _;
use md5::{Digest as _, Md5};
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use rsa::sha2::Sha256;
use rsa::signature::{SignatureEncoding as _, Signer as _};
use rsa::{RsaPrivateKey, RsaPublicKey};

use crate::signature;

/// A key that could not be read or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The PEM holds no RSA key in a format we read.
    #[error("not an RSA key in PEM form (PKCS#1 or PKCS#8, public or private): {0}")]
    Parse(String),
    /// The key could not be encoded (should not happen for a parsed key).
    #[error("cannot encode key: {0}")]
    Encode(String),
    /// Key generation failed.
    #[error("cannot generate key: {0}")]
    Generate(String),
}

/// OCI's fingerprint: MD5 of the SubjectPublicKeyInfo DER, lowercase colon-separated hex.
pub fn fingerprint(key: &RsaPublicKey) -> Result<String, KeyError> {
    let der = key
        .to_public_key_der()
        .map_err(|e| KeyError::Encode(e.to_string()))?;
    let digest = Md5::digest(der.as_bytes());
    Ok(digest
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":"))
}

/// Reads the public half of any RSA PEM we accept. A private key is fine: the operator may
/// point the emulator at the same file the client signs with.
pub fn public_key_from_pem(pem: &str, passphrase: Option<&str>) -> Result<RsaPublicKey, KeyError> {
    let pem = pem.trim();
    if pem.contains("BEGIN PUBLIC KEY") {
        return RsaPublicKey::from_public_key_pem(pem).map_err(|e| KeyError::Parse(e.to_string()));
    }
    if pem.contains("BEGIN RSA PUBLIC KEY") {
        return RsaPublicKey::from_pkcs1_pem(pem).map_err(|e| KeyError::Parse(e.to_string()));
    }
    Ok(private_key_from_pem(pem, passphrase)?.to_public_key())
}

/// Reads an RSA private key (PKCS#1, PKCS#8, or encrypted PKCS#8 with `passphrase`).
pub fn private_key_from_pem(
    pem: &str,
    passphrase: Option<&str>,
) -> Result<RsaPrivateKey, KeyError> {
    let pem = pem.trim();
    let parsed = if pem.contains("BEGIN RSA PRIVATE KEY") {
        if pem.contains("ENCRYPTED") {
            return Err(KeyError::Parse(
                "legacy OpenSSL-encrypted PKCS#1 keys are not supported; convert with `openssl pkcs8 -topk8`".into(),
            ));
        }
        RsaPrivateKey::from_pkcs1_pem(pem).map_err(|e| e.to_string())
    } else if pem.contains("BEGIN ENCRYPTED PRIVATE KEY") {
        let pass =
            passphrase.ok_or_else(|| KeyError::Parse("encrypted key needs a passphrase".into()))?;
        RsaPrivateKey::from_pkcs8_encrypted_pem(pem, pass.as_bytes()).map_err(|e| e.to_string())
    } else {
        RsaPrivateKey::from_pkcs8_pem(pem).map_err(|e| e.to_string())
    };
    parsed.map_err(KeyError::Parse)
}

/// A registered public key.
#[derive(Debug, Clone)]
pub(crate) struct RegisteredKey {
    pub(crate) key: RsaPublicKey,
    /// When set, the `keyId`'s user part must equal it.
    pub(crate) user_id: Option<String>,
}

/// Public keys by fingerprint.
#[derive(Debug, Default)]
pub(crate) struct KeyRegistry {
    keys: HashMap<String, RegisteredKey>,
}

impl KeyRegistry {
    /// Registers `key` and returns its fingerprint.
    pub(crate) fn register(
        &mut self,
        key: RsaPublicKey,
        user_id: Option<String>,
    ) -> Result<String, KeyError> {
        let fp = fingerprint(&key)?;
        self.keys.insert(fp.clone(), RegisteredKey { key, user_id });
        Ok(fp)
    }

    pub(crate) fn get(&self, fingerprint: &str) -> Option<&RegisteredKey> {
        self.keys.get(fingerprint)
    }

    pub(crate) fn remove(&mut self, fingerprint: &str) -> bool {
        self.keys.remove(fingerprint).is_some()
    }

    pub(crate) fn fingerprints(&self) -> Vec<String> {
        let mut v: Vec<String> = self.keys.keys().cloned().collect();
        v.sort();
        v
    }
}

/// The user OCID test keys sign as unless told otherwise.
pub const TEST_USER_ID: &str =
    "ocid1.user.oc1..aaaaaaaaemulatortestuserxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

/// An RSA key pair for signing requests to the emulator (and for writing OCI CLI configs).
#[derive(Clone)]
pub struct TestKey {
    private: RsaPrivateKey,
    fingerprint: String,
    private_pem: String,
    public_pem: String,
}

impl std::fmt::Debug for TestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material, even a test key: logs get copied around.
        f.debug_struct("TestKey")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// Headers a signed request must carry, as (name, value) pairs.
pub type SignedHeaders = Vec<(&'static str, String)>;

impl TestKey {
    /// Generates a fresh 2048-bit key (about a second unoptimised; prefer [`TestKey::shared`]).
    pub fn generate() -> Result<Self, KeyError> {
        let private = RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)
            .map_err(|e| KeyError::Generate(e.to_string()))?;
        Self::from_private(private)
    }

    /// One key per process, generated on first use, so many tests do not pay for RSA keygen.
    pub fn shared() -> Result<&'static TestKey, KeyError> {
        static SHARED: OnceLock<TestKey> = OnceLock::new();
        if let Some(k) = SHARED.get() {
            return Ok(k);
        }
        let key = Self::generate()?;
        Ok(SHARED.get_or_init(|| key))
    }

    /// Wraps an existing private key given as PEM.
    pub fn from_private_pem(pem: &str, passphrase: Option<&str>) -> Result<Self, KeyError> {
        Self::from_private(private_key_from_pem(pem, passphrase)?)
    }

    fn from_private(private: RsaPrivateKey) -> Result<Self, KeyError> {
        let public = private.to_public_key();
        let fingerprint = fingerprint(&public)?;
        let private_pem = private
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| KeyError::Encode(e.to_string()))?
            .to_string();
        let public_pem = public
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| KeyError::Encode(e.to_string()))?;
        Ok(Self {
            private,
            fingerprint,
            private_pem,
            public_pem,
        })
    }

    /// The OCI fingerprint of the public key.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The private key as unencrypted PKCS#8 PEM (what an OCI config's `key_file` points at).
    pub fn private_pem(&self) -> &str {
        &self.private_pem
    }

    /// The public key as SPKI PEM (what one uploads to OCI).
    pub fn public_pem(&self) -> &str {
        &self.public_pem
    }

    /// The public key.
    pub fn public_key(&self) -> RsaPublicKey {
        self.private.to_public_key()
    }

    /// `tenancy/user/fingerprint`.
    pub fn key_id(&self, tenancy_id: &str, user_id: &str) -> String {
        format!("{tenancy_id}/{user_id}/{}", self.fingerprint)
    }

    /// Signs `signing_string` with RSA PKCS#1 v1.5 SHA-256, base64.
    pub fn sign_string(&self, signing_string: &str) -> String {
        let signer = SigningKey::<Sha256>::new(self.private.clone());
        let sig = signer.sign(signing_string.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(sig.to_bytes())
    }

    /// Signs a request the way the OCI SDKs do and returns the headers to add to it.
    ///
    /// `path_and_query` must be exactly what goes on the wire (percent-encoded); `host` includes
    /// the port. A `body` (even empty) on PUT/POST/PATCH adds the body headers unless
    /// `sign_body` is false (Object Storage PutObject).
    #[allow(clippy::too_many_arguments)]
    pub fn sign_request(
        &self,
        key_id: &str,
        method: &http::Method,
        host: &str,
        path_and_query: &str,
        date: chrono::DateTime<chrono::Utc>,
        body: Option<&[u8]>,
        content_type: &str,
        sign_body: bool,
    ) -> SignedHeaders {
        let date = httpdate::fmt_http_date(std::time::SystemTime::from(date));
        let mut out: SignedHeaders = vec![("date", date.clone())];
        let mut lines = vec![
            format!("date: {date}"),
            format!(
                "(request-target): {} {path_and_query}",
                method.as_str().to_ascii_lowercase()
            ),
            format!("host: {host}"),
        ];
        let mut names = vec!["date", "(request-target)", "host"];
        let body_method = signature::is_body_method(method);
        if body_method && sign_body {
            let body = body.unwrap_or_default();
            let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(body));
            lines.push(format!("content-length: {}", body.len()));
            lines.push(format!("content-type: {content_type}"));
            lines.push(format!("x-content-sha256: {hash}"));
            names.extend(["content-length", "content-type", "x-content-sha256"]);
            out.push(("content-length", body.len().to_string()));
            out.push(("content-type", content_type.to_string()));
            out.push(("x-content-sha256", hash));
        } else if body_method {
            out.push(("content-length", body.unwrap_or_default().len().to_string()));
            out.push(("content-type", content_type.to_string()));
        }
        let signature = self.sign_string(&lines.join("\n"));
        out.push((
            "authorization",
            format!(
                "Signature version=\"1\",keyId=\"{key_id}\",algorithm=\"rsa-sha256\",headers=\"{}\",signature=\"{signature}\"",
                names.join(" ")
            ),
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORACLE_SAMPLE_KEY: &str = include_str!("../tests/fixtures/oracle-sample-key.pem");

    #[test]
    fn fingerprint_matches_openssl() {
        // `openssl rsa -pubout -outform DER | openssl md5 -c` on the same key.
        let key = public_key_from_pem(ORACLE_SAMPLE_KEY, None).unwrap();
        assert_eq!(
            fingerprint(&key).unwrap(),
            "73:61:a2:21:67:e0:df:be:7e:4b:93:1e:15:98:a5:b7"
        );
    }

    #[test]
    fn public_and_private_pems_give_the_same_key() {
        let k = TestKey::from_private_pem(ORACLE_SAMPLE_KEY, None).unwrap();
        let from_public = public_key_from_pem(k.public_pem(), None).unwrap();
        let from_pkcs8 = public_key_from_pem(k.private_pem(), None).unwrap();
        assert_eq!(from_public, k.public_key());
        assert_eq!(from_pkcs8, k.public_key());
        assert!(public_key_from_pem("not a key", None).is_err());
    }
}
