//! RSA private keys for API-key signing: PEM in PKCS#1 or PKCS#8, plain or
//! passphrase-encrypted, and the key fingerprint OCI identifies them by.
//!
//! Encrypted keys come in two shapes and both are common with OCI: PKCS#8
//! `ENCRYPTED PRIVATE KEY` (OpenSSL 3 and `oci setup keys` on newer tooling) and the
//! traditional OpenSSL `RSA PRIVATE KEY` with `Proc-Type: 4,ENCRYPTED` and `DEK-Info`
//! headers (`openssl genrsa -aes128`, older `oci setup keys`). The second is not a standard
//! any RustCrypto crate parses, so its small key-derivation step lives here.
//!
//! Every source decodes to one `rsa::RsaPrivateKey`; which RSA implementation then signs
//! with it is decided once, here, when the key is loaded:
//!
//! | key | signs with | why |
//! | --- | --- | --- |
//! | 2048 to 8192 bits (OCI requires API keys of at least 2048 bits) | AWS-LC (`aws-lc-rs`) | well under half the CPU per signature of `rsa` 0.9 (docs/benchmarks.md), constant-time, already linked for TLS |
//! | anything AWS-LC refuses, such as Oracle's 1024-bit sample key behind the published test vectors | RustCrypto `rsa`, blinded | AWS-LC will not load keys under 2048 bits |
//!
//! PKCS#1 v1.5 signatures are deterministic, so both give byte-identical signatures for the
//! same key and message (the tests check this on generated keys); there is no fallback per
//! request.

use std::fmt;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use md5::{Digest as _, Md5};
use rsa::RsaPrivateKey;
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, EncodePublicKey as _};
use rsa::signature::{RandomizedSigner as _, SignatureEncoding as _};
use rsa::traits::PublicKeyParts as _;
use secrecy::{ExposeSecret as _, SecretString};
use sha2::Sha256;
use zeroize::Zeroizing;

/// Why a private key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file could not be read.
    #[error("cannot read private key file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The text is not PEM, or the PEM is damaged.
    #[error("private key is not valid PEM: {0}")]
    NotPem(String),
    /// PEM of a kind OCI API keys never are.
    #[error(
        "unsupported private key type {0:?}: OCI API keys are RSA keys in PKCS#1 (BEGIN RSA PRIVATE KEY) or PKCS#8 (BEGIN PRIVATE KEY) PEM"
    )]
    Unsupported(String),
    /// The key is encrypted and no passphrase was given.
    #[error("private key is encrypted and no passphrase was given (set pass_phrase)")]
    PassphraseRequired,
    /// Decryption failed: almost always a wrong passphrase.
    #[error("cannot decrypt private key: wrong passphrase or damaged key")]
    Decrypt,
    /// The cipher named in `DEK-Info` is not supported.
    #[error(
        "unsupported private key encryption {0:?} (supported: AES-128/192/256-CBC, DES-EDE3-CBC)"
    )]
    UnsupportedCipher(String),
    /// The decoded bytes are not an RSA private key.
    #[error("private key is not a valid RSA key: {0}")]
    InvalidKey(String),
}

/// An RSA private key ready to sign OCI requests. Its `Debug` shows only the fingerprint.
pub struct PrivateKey {
    signer: Signer,
    fingerprint: Fingerprint,
}

/// The key, held by the implementation that signs with it. Both forms wipe the key material
/// when dropped (`rsa` zeroizes its numbers; AWS-LC clears key memory when it frees it).
enum Signer {
    AwsLc(aws_lc_rs::rsa::KeyPair),
    RustCrypto(Box<SigningKey<Sha256>>),
}

/// Which RSA implementation signs with a key (see the table at the top of this module).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RsaImplementation {
    /// AWS-LC, through `aws-lc-rs`: keys of 2048 to 8192 bits.
    AwsLc,
    /// The RustCrypto `rsa` crate: keys AWS-LC refuses.
    RustCrypto,
}

impl RsaImplementation {
    pub(crate) fn name(self) -> &'static str {
        match self {
            RsaImplementation::AwsLc => "AWS-LC",
            RsaImplementation::RustCrypto => "RustCrypto rsa",
        }
    }
}

/// RSA signing failed. Neither implementation fails on a key it loaded; this exists so that a
/// failure inside one is an error, not a panic.
#[derive(Debug)]
pub(crate) struct SigningFailed(pub(crate) RsaImplementation);

impl PrivateKey {
    /// Reads a PEM key from a file.
    pub fn from_file(path: &Path, passphrase: Option<&SecretString>) -> Result<Self, KeyError> {
        let bytes = Zeroizing::new(std::fs::read(path).map_err(|source| KeyError::Read {
            path: path.display().to_string(),
            source,
        })?);
        Self::from_pem_bytes(&bytes, passphrase)
    }

    /// Parses PEM given as bytes (for example decrypted from KMS).
    pub fn from_pem_bytes(pem: &[u8], passphrase: Option<&SecretString>) -> Result<Self, KeyError> {
        let text = std::str::from_utf8(pem)
            .map_err(|_| KeyError::NotPem("the key bytes are not UTF-8 text".into()))?;
        Self::from_pem(text, passphrase)
    }

    /// Parses PEM text. Tolerates CRLF line ends, surrounding whitespace, and a key pasted
    /// into a single-line variable with literal `\n` escapes.
    pub fn from_pem(pem: &str, passphrase: Option<&SecretString>) -> Result<Self, KeyError> {
        let unescaped;
        let pem = if !pem.trim().contains('\n') && pem.contains("\\n") {
            unescaped = Zeroizing::new(pem.replace("\\n", "\n"));
            unescaped.as_str()
        } else {
            pem
        };
        let block = PemBlock::parse(pem)?;
        let key = match block.label.as_str() {
            "RSA PRIVATE KEY" => match block.header("DEK-Info") {
                Some(dek) => {
                    let pass = passphrase.ok_or(KeyError::PassphraseRequired)?;
                    let der = decrypt_openssl_legacy(dek, pass, &block.der)?;
                    // A wrong passphrase usually fails the padding check; if it slips through,
                    // the DER parse fails, which means the same thing.
                    RsaPrivateKey::from_pkcs1_der(&der).map_err(|_| KeyError::Decrypt)?
                }
                None => RsaPrivateKey::from_pkcs1_der(&block.der)
                    .map_err(|e| KeyError::InvalidKey(e.to_string()))?,
            },
            "PRIVATE KEY" => RsaPrivateKey::from_pkcs8_der(&block.der)
                .map_err(|e| KeyError::InvalidKey(e.to_string()))?,
            "ENCRYPTED PRIVATE KEY" => {
                let pass = passphrase.ok_or(KeyError::PassphraseRequired)?;
                RsaPrivateKey::from_pkcs8_encrypted_der(&block.der, pass.expose_secret().as_bytes())
                    .map_err(|_| KeyError::Decrypt)?
            }
            other => return Err(KeyError::Unsupported(other.to_owned())),
        };
        Self::from_rsa(key)
    }

    /// Chooses the implementation, once: AWS-LC if it accepts the key, else `rsa`.
    fn from_rsa(key: RsaPrivateKey) -> Result<Self, KeyError> {
        let fingerprint = Fingerprint::of(&key)?;
        let bits = key.size() * 8;
        // AWS-LC reads PKCS#8; the DER is a zeroizing `SecretDocument`.
        let aws_lc = key
            .to_pkcs8_der()
            .map_err(|e| e.to_string())
            .and_then(|der| {
                aws_lc_rs::rsa::KeyPair::from_pkcs8(der.as_bytes()).map_err(|e| e.to_string())
            });
        let signer = match aws_lc {
            Ok(pair) => Signer::AwsLc(pair),
            Err(refused) => {
                // Expected for test keys under 2048 bits; for a key of OCI's size it means every
                // request costs more CPU, which an operator should hear about.
                if bits >= 2048 {
                    tracing::warn!(%fingerprint, bits, refused, "AWS-LC refused the API key; signing with the rsa crate, which costs more CPU per request");
                } else {
                    tracing::debug!(%fingerprint, bits, refused, "AWS-LC refused the API key; signing with the rsa crate");
                }
                Signer::RustCrypto(Box::new(SigningKey::<Sha256>::new(key)))
            }
        };
        let key = PrivateKey {
            signer,
            fingerprint,
        };
        tracing::debug!(fingerprint = %key.fingerprint, bits, implementation = key.implementation().name(), "API key loaded");
        Ok(key)
    }

    /// The fingerprint OCI shows for this key's public half.
    pub fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }

    /// Which RSA implementation signs with this key.
    pub(crate) fn implementation(&self) -> RsaImplementation {
        match self.signer {
            Signer::AwsLc(_) => RsaImplementation::AwsLc,
            Signer::RustCrypto(_) => RsaImplementation::RustCrypto,
        }
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 over `data` (deterministic: the same input always
    /// gives the same signature, which is what makes Oracle's test vectors reproducible).
    pub(crate) fn sign(&self, data: &[u8]) -> Result<Vec<u8>, SigningFailed> {
        let failed = || SigningFailed(self.implementation());
        match &self.signer {
            Signer::AwsLc(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                // AWS-LC ignores the random source for PKCS#1 v1.5 (it blinds internally).
                pair.sign(
                    &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                    &aws_lc_rs::rand::SystemRandom::new(),
                    data,
                    &mut signature,
                )
                .map_err(|_| failed())?;
                Ok(signature)
            }
            // With a random source the `rsa` crate blinds the private-key operation; without
            // one (`Signer::sign`) it does not.
            Signer::RustCrypto(key) => key
                .try_sign_with_rng(&mut rsa::rand_core::OsRng, data)
                .map(|s| s.to_vec())
                .map_err(|_| failed()),
        }
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PrivateKey(fingerprint {}, [REDACTED])",
            self.fingerprint
        )
    }
}

/// A key fingerprint: lowercase, colon-separated hex of the MD5 of the public key's
/// DER-encoded SubjectPublicKeyInfo, as the OCI console and `openssl md5 -c` show it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint(String);

impl Fingerprint {
    fn of(key: &RsaPrivateKey) -> Result<Self, KeyError> {
        let spki = key
            .to_public_key()
            .to_public_key_der()
            .map_err(|e| KeyError::InvalidKey(e.to_string()))?;
        let digest = Md5::digest(spki.as_bytes());
        let hex: Vec<String> = digest.iter().map(|b| format!("{b:02x}")).collect();
        Ok(Fingerprint(hex.join(":")))
    }

    /// Normalises a configured fingerprint (case, surrounding whitespace) and checks its shape.
    pub fn parse(s: &str) -> Result<Self, String> {
        let norm = s.trim().to_ascii_lowercase();
        let parts: Vec<&str> = norm.split(':').collect();
        if parts.len() == 16
            && parts
                .iter()
                .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            Ok(Fingerprint(norm))
        } else {
            Err(format!(
                "{s:?} is not a key fingerprint (16 colon-separated hex bytes, e.g. 20:3b:97:...)"
            ))
        }
    }

    /// The fingerprint as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", self.0)
    }
}

/// One PEM block with its RFC 1421 headers (which the strict RFC 7468 parsers reject).
struct PemBlock {
    label: String,
    headers: Vec<(String, String)>,
    der: Zeroizing<Vec<u8>>,
}

impl PemBlock {
    fn parse(text: &str) -> Result<Self, KeyError> {
        let mut lines = text
            .lines()
            .map(str::trim)
            .skip_while(|l| !l.starts_with("-----BEGIN "));
        let begin = lines
            .next()
            .ok_or_else(|| KeyError::NotPem("no \"-----BEGIN ...-----\" line".into()))?;
        let label = begin
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
            .ok_or_else(|| KeyError::NotPem("malformed BEGIN line".into()))?
            .to_owned();
        let end = format!("-----END {label}-----");
        let mut headers = Vec::new();
        let mut body = Zeroizing::new(String::new());
        let mut closed = false;
        for line in lines {
            if line == end {
                closed = true;
                break;
            }
            if body.is_empty() && line.contains(':') {
                if let Some((k, v)) = line.split_once(':') {
                    headers.push((k.trim().to_owned(), v.trim().to_owned()));
                }
                continue;
            }
            body.push_str(line);
        }
        if !closed {
            return Err(KeyError::NotPem(format!("missing \"{end}\" line")));
        }
        let der = Zeroizing::new(
            B64.decode(body.as_bytes())
                .map_err(|e| KeyError::NotPem(format!("bad base64: {e}")))?,
        );
        Ok(PemBlock {
            label,
            headers,
            der,
        })
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Decrypts a traditional OpenSSL encrypted PEM body (`DEK-Info: <cipher>,<iv hex>`).
/// The key is OpenSSL's `EVP_BytesToKey` with MD5, one iteration, and the first 8 bytes of
/// the IV as salt.
fn decrypt_openssl_legacy(
    dek_info: &str,
    passphrase: &SecretString,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    use cbc::cipher::{BlockDecryptMut as _, KeyIvInit as _, block_padding::Pkcs7};

    let (cipher, iv_hex) = dek_info
        .split_once(',')
        .ok_or_else(|| KeyError::NotPem(format!("malformed DEK-Info {dek_info:?}")))?;
    let iv = hex::decode(iv_hex.trim())
        .map_err(|_| KeyError::NotPem(format!("malformed DEK-Info IV {iv_hex:?}")))?;
    let cipher = cipher.trim().to_ascii_uppercase();
    let (key_len, iv_len) = match cipher.as_str() {
        "AES-128-CBC" => (16, 16),
        "AES-192-CBC" => (24, 16),
        "AES-256-CBC" => (32, 16),
        "DES-EDE3-CBC" => (24, 8),
        _ => return Err(KeyError::UnsupportedCipher(cipher)),
    };
    if iv.len() != iv_len {
        return Err(KeyError::NotPem(format!(
            "DEK-Info IV has {} bytes, {cipher} needs {iv_len}",
            iv.len()
        )));
    }
    let key = evp_bytes_to_key(passphrase.expose_secret().as_bytes(), &iv[..8], key_len);
    let mut buf = Zeroizing::new(ciphertext.to_vec());
    let plain_len = match cipher.as_str() {
        "AES-128-CBC" => cbc::Decryptor::<aes::Aes128>::new_from_slices(&key, &iv)
            .map_err(|_| KeyError::Decrypt)?
            .decrypt_padded_mut::<Pkcs7>(&mut buf)
            .map(|p| p.len()),
        "AES-192-CBC" => cbc::Decryptor::<aes::Aes192>::new_from_slices(&key, &iv)
            .map_err(|_| KeyError::Decrypt)?
            .decrypt_padded_mut::<Pkcs7>(&mut buf)
            .map(|p| p.len()),
        "AES-256-CBC" => cbc::Decryptor::<aes::Aes256>::new_from_slices(&key, &iv)
            .map_err(|_| KeyError::Decrypt)?
            .decrypt_padded_mut::<Pkcs7>(&mut buf)
            .map(|p| p.len()),
        _ => cbc::Decryptor::<des::TdesEde3>::new_from_slices(&key, &iv)
            .map_err(|_| KeyError::Decrypt)?
            .decrypt_padded_mut::<Pkcs7>(&mut buf)
            .map(|p| p.len()),
    }
    .map_err(|_| KeyError::Decrypt)?;
    buf.truncate(plain_len);
    Ok(buf)
}

fn evp_bytes_to_key(pass: &[u8], salt: &[u8], key_len: usize) -> Zeroizing<Vec<u8>> {
    let mut key = Zeroizing::new(Vec::with_capacity(key_len + 16));
    let mut prev: Option<[u8; 16]> = None;
    while key.len() < key_len {
        let mut h = Md5::new();
        if let Some(p) = prev {
            h.update(p);
        }
        h.update(pass);
        h.update(salt);
        let d: [u8; 16] = h.finalize().into();
        key.extend_from_slice(&d);
        prev = Some(d);
    }
    key.truncate(key_len);
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    /// `openssl rsa -in oracle-sample-key.pem -pubout -outform DER | openssl md5 -c`
    const SAMPLE_FINGERPRINT: &str = "73:61:a2:21:67:e0:df:be:7e:4b:93:1e:15:98:a5:b7";

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap()
    }

    fn pass() -> SecretString {
        SecretString::from("s3cret phrase")
    }

    #[test]
    fn every_pem_shape_loads_to_the_same_key() {
        let plain = [
            ("oracle-sample-key.pem", None),
            ("sample-key-pkcs8.pem", None),
        ];
        let encrypted = [
            "sample-key-pkcs8-aes256.pem",
            "sample-key-pkcs1-aes128.pem",
            "sample-key-pkcs1-aes256.pem",
            "sample-key-pkcs1-des3.pem",
        ];
        let p = pass();
        let shapes = plain
            .into_iter()
            .chain(encrypted.iter().map(|n| (*n, Some(&p))));
        for (name, passphrase) in shapes {
            let key = PrivateKey::from_pem(&fixture(name), passphrase)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(key.fingerprint().as_str(), SAMPLE_FINGERPRINT, "{name}");
            // 1024 bits: AWS-LC refuses it, so the rsa crate signs.
            assert_eq!(
                key.implementation(),
                RsaImplementation::RustCrypto,
                "{name}"
            );
            // Same key, same deterministic signature.
            assert_eq!(
                key.sign(b"x").unwrap(),
                PrivateKey::from_pem(&fixture("oracle-sample-key.pem"), None)
                    .unwrap()
                    .sign(b"x")
                    .unwrap()
            );
        }
    }

    /// `openssl rsa -in bench-key-2048.pem -pubout -outform DER | openssl md5 -c`
    const BENCH_2048_FINGERPRINT: &str = "f2:b1:27:c4:a0:d6:15:26:dc:9f:c0:f5:1d:cd:7b:eb";

    /// What the `rsa` crate alone signs: the reference AWS-LC must match byte for byte.
    fn reference_signature(key: &RsaPrivateKey, message: &[u8]) -> Vec<u8> {
        use rsa::signature::Signer as _;
        SigningKey::<Sha256>::new(key.clone())
            .sign(message)
            .to_vec()
    }

    #[test]
    fn every_source_of_a_2048_bit_key_signs_with_aws_lc() {
        use rsa::pkcs1::EncodeRsaPrivateKey as _;
        use rsa::pkcs8::LineEnding;

        let original = RsaPrivateKey::from_pkcs8_pem(&fixture("bench-key-2048.pem")).unwrap();
        let p = pass();
        let pkcs1 = original.to_pkcs1_pem(LineEnding::LF).unwrap();
        let pkcs8_encrypted = original
            .to_pkcs8_encrypted_pem(&mut rsa::rand_core::OsRng, "s3cret phrase", LineEnding::LF)
            .unwrap();
        let keys = [
            (
                "PKCS#8 file",
                PrivateKey::from_file(&Path::new(FIXTURES).join("bench-key-2048.pem"), None),
            ),
            ("PKCS#1 text", PrivateKey::from_pem(&pkcs1, None)),
            (
                "encrypted PKCS#8 bytes",
                PrivateKey::from_pem_bytes(pkcs8_encrypted.as_bytes(), Some(&p)),
            ),
            (
                "traditional encrypted PKCS#1",
                PrivateKey::from_pem(&fixture("bench-key-2048-pkcs1-aes128.pem"), Some(&p)),
            ),
        ];
        let message = b"date: Thu, 05 Jan 2014 21:31:40 GMT";
        for (source, key) in keys {
            let key = key.unwrap_or_else(|e| panic!("{source}: {e}"));
            assert_eq!(key.implementation(), RsaImplementation::AwsLc, "{source}");
            assert_eq!(
                key.fingerprint().as_str(),
                BENCH_2048_FINGERPRINT,
                "{source}"
            );
            assert_eq!(
                key.sign(message).unwrap(),
                reference_signature(&original, message),
                "{source}"
            );
            assert_eq!(
                format!("{key:?}"),
                format!("PrivateKey(fingerprint {BENCH_2048_FINGERPRINT}, [REDACTED])"),
                "{source}"
            );
        }
    }

    mod aws_lc_matches_rsa {
        //! AWS-LC and the `rsa` crate give byte-identical signatures on generated keys of
        //! every size OCI uses, over random signing strings.
        use std::sync::OnceLock;

        use proptest::prelude::*;
        use rand::SeedableRng as _;

        use super::*;

        /// A 2048-, 3072- and 4096-bit key, generated once (seeded, so a failure reproduces)
        /// and each loaded both ways: as `PrivateKey` and as the `rsa` crate's own key.
        fn keys() -> &'static [(RsaPrivateKey, PrivateKey)] {
            static KEYS: OnceLock<Vec<(RsaPrivateKey, PrivateKey)>> = OnceLock::new();
            KEYS.get_or_init(|| {
                let mut rng = rand::rngs::StdRng::seed_from_u64(13);
                [2048, 3072, 4096]
                    .into_iter()
                    .map(|bits| {
                        let key = RsaPrivateKey::new(&mut rng, bits).unwrap();
                        let loaded = PrivateKey::from_rsa(key.clone()).unwrap();
                        assert_eq!(loaded.implementation(), RsaImplementation::AwsLc);
                        assert_eq!(loaded.sign(b"").unwrap().len(), bits / 8);
                        (key, loaded)
                    })
                    .collect()
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]
            #[test]
            fn byte_identical_signatures(message in proptest::collection::vec(any::<u8>(), 0..2048)) {
                for (reference, key) in keys() {
                    prop_assert_eq!(key.sign(&message).unwrap(), reference_signature(reference, &message));
                }
            }
        }
    }

    #[test]
    fn the_rsa_crate_path_signs_like_the_rsa_crate() {
        // Blinding (the random source) must not change the deterministic signature.
        let key = RsaPrivateKey::from_pkcs1_pem(&fixture("oracle-sample-key.pem")).unwrap();
        let loaded = PrivateKey::from_rsa(key.clone()).unwrap();
        assert_eq!(loaded.implementation(), RsaImplementation::RustCrypto);
        for message in [&b""[..], b"x", &[0xff; 1000]] {
            assert_eq!(
                loaded.sign(message).unwrap(),
                reference_signature(&key, message)
            );
        }
    }

    #[test]
    fn encrypted_keys_need_the_right_passphrase() {
        for name in [
            "sample-key-pkcs8-aes256.pem",
            "sample-key-pkcs1-aes128.pem",
            "sample-key-pkcs1-des3.pem",
        ] {
            assert!(
                matches!(
                    PrivateKey::from_pem(&fixture(name), None),
                    Err(KeyError::PassphraseRequired)
                ),
                "{name}"
            );
            let wrong = SecretString::from("wrong");
            assert!(
                matches!(
                    PrivateKey::from_pem(&fixture(name), Some(&wrong)),
                    Err(KeyError::Decrypt)
                ),
                "{name}"
            );
        }
    }

    #[test]
    fn tolerant_of_crlf_and_escaped_newlines_strict_on_everything_else() {
        let pem = fixture("sample-key-pkcs8.pem");
        assert!(PrivateKey::from_pem(&pem.replace('\n', "\r\n"), None).is_ok());
        assert!(PrivateKey::from_pem(&pem.trim().replace('\n', "\\n"), None).is_ok());
        assert!(PrivateKey::from_pem_bytes(pem.as_bytes(), None).is_ok());
        assert!(matches!(
            PrivateKey::from_pem("not a key", None),
            Err(KeyError::NotPem(_))
        ));
        let truncated: String = pem.lines().take(5).collect::<Vec<_>>().join("\n");
        assert!(matches!(
            PrivateKey::from_pem(&truncated, None),
            Err(KeyError::NotPem(_))
        ));
        let ec = "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n";
        assert!(matches!(
            PrivateKey::from_pem(ec, None),
            Err(KeyError::Unsupported(_))
        ));
    }

    #[test]
    fn debug_never_shows_key_material() {
        let key = PrivateKey::from_pem(&fixture("oracle-sample-key.pem"), None).unwrap();
        let dbg = format!("{key:?}");
        assert_eq!(
            dbg,
            format!("PrivateKey(fingerprint {SAMPLE_FINGERPRINT}, [REDACTED])")
        );
    }

    #[test]
    fn fingerprint_parse_normalises_and_rejects_junk() {
        assert_eq!(
            Fingerprint::parse(" 73:61:A2:21:67:E0:DF:BE:7E:4B:93:1E:15:98:A5:B7 ")
                .unwrap()
                .as_str(),
            SAMPLE_FINGERPRINT
        );
        assert!(Fingerprint::parse("73:61:a2").is_err());
        assert!(Fingerprint::parse("zz:61:a2:21:67:e0:df:be:7e:4b:93:1e:15:98:a5:b7").is_err());
    }
}
