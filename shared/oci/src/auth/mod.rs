//! API-key authentication: who signs (tenancy, user, key fingerprint) and with what key.

mod config_file;
mod key;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use secrecy::{ExposeSecret as _, SecretBox, SecretString};

pub use config_file::{ConfigFileError, ConfigProfile, OciConfigFile};
#[cfg(test)]
pub(crate) use key::RsaImplementation;
pub use key::{Fingerprint, KeyError, PrivateKey};

use crate::ids::{InvalidOcid, Ocid};

/// Where the PEM private key comes from.
#[derive(Debug)]
pub enum PrivateKeySource {
    /// A PEM file on disk.
    File(PathBuf),
    /// PEM text (for example from an environment variable).
    Pem(SecretString),
    /// PEM bytes handed in by the caller (for example decrypted from AWS KMS).
    Bytes(SecretBox<[u8]>),
}

/// Why API-key credentials could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A required setting was not given.
    #[error("API key credentials need {0}")]
    Missing(&'static str),
    /// The tenancy or user is not an OCID.
    #[error("{field}: {source}")]
    InvalidOcid {
        /// `tenancy` or `user`.
        field: &'static str,
        /// What is wrong.
        #[source]
        source: InvalidOcid,
    },
    /// The configured fingerprint is malformed.
    #[error("fingerprint: {0}")]
    InvalidFingerprint(String),
    /// The private key could not be loaded.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The private key is not the one the configured fingerprint names.
    #[error(
        "the private key's fingerprint is {computed} but the configured fingerprint is {configured}: the key file does not belong to this API key (check key_file and fingerprint)"
    )]
    FingerprintMismatch {
        /// What the configuration says.
        configured: Fingerprint,
        /// What the key actually is.
        computed: Fingerprint,
    },
    /// The config file or profile is unusable.
    #[error(transparent)]
    ConfigFile(#[from] ConfigFileError),
}

/// Credentials for OCI API-key request signing. Cheap to clone; the key is never printed.
#[derive(Debug, Clone)]
pub struct ApiKeyCredentials {
    tenancy: Ocid,
    user: Ocid,
    key: Arc<PrivateKey>,
    key_id: String,
}

impl ApiKeyCredentials {
    /// Starts building credentials.
    pub fn builder() -> ApiKeyCredentialsBuilder {
        ApiKeyCredentialsBuilder::default()
    }

    /// Credentials from a config-file profile; `home` expands a `~` in `key_file`.
    pub fn from_profile(profile: &ConfigProfile, home: Option<&Path>) -> Result<Self, AuthError> {
        let mut b = Self::builder()
            .tenancy(
                profile
                    .tenancy
                    .clone()
                    .ok_or_else(|| profile.missing("tenancy"))?,
            )
            .user(
                profile
                    .user
                    .clone()
                    .ok_or_else(|| profile.missing("user"))?,
            )
            .private_key(PrivateKeySource::File(profile.key_file_path(home)?));
        if let Some(fp) = &profile.fingerprint {
            b = b.fingerprint(fp.clone());
        }
        if let Some(p) = &profile.pass_phrase {
            b = b.passphrase(p.clone());
        }
        b.build()
    }

    /// The tenancy OCID.
    pub fn tenancy(&self) -> &Ocid {
        &self.tenancy
    }

    /// The user OCID.
    pub fn user(&self) -> &Ocid {
        &self.user
    }

    /// The key's fingerprint.
    pub fn fingerprint(&self) -> &Fingerprint {
        self.key.fingerprint()
    }

    /// `keyId` for the `Authorization` header: `<tenancy>/<user>/<fingerprint>`.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    pub(crate) fn key(&self) -> &PrivateKey {
        &self.key
    }

    /// Credentials with an explicit `keyId`, skipping the fingerprint check: only for
    /// reproducing published test vectors whose keyId does not match their key.
    #[cfg(test)]
    pub(crate) fn with_key_id_for_tests(key: PrivateKey, key_id: &str) -> Self {
        let tenancy = Ocid::parse("ocid1.tenancy.oc1..test").expect("valid");
        ApiKeyCredentials {
            user: tenancy.clone(),
            tenancy,
            key: Arc::new(key),
            key_id: key_id.to_owned(),
        }
    }
}

/// Builder for [`ApiKeyCredentials`].
#[derive(Debug, Default)]
pub struct ApiKeyCredentialsBuilder {
    tenancy: Option<String>,
    user: Option<String>,
    fingerprint: Option<String>,
    key: Option<PrivateKeySource>,
    passphrase: Option<SecretString>,
}

impl ApiKeyCredentialsBuilder {
    /// The tenancy OCID.
    pub fn tenancy(mut self, ocid: impl Into<String>) -> Self {
        self.tenancy = Some(ocid.into());
        self
    }

    /// The user OCID the API key belongs to.
    pub fn user(mut self, ocid: impl Into<String>) -> Self {
        self.user = Some(ocid.into());
        self
    }

    /// The fingerprint the console shows for the key. Optional: when given, the key must match.
    pub fn fingerprint(mut self, fingerprint: impl Into<String>) -> Self {
        self.fingerprint = Some(fingerprint.into());
        self
    }

    /// The private key.
    pub fn private_key(mut self, source: PrivateKeySource) -> Self {
        self.key = Some(source);
        self
    }

    /// The passphrase of an encrypted key.
    pub fn passphrase(mut self, passphrase: SecretString) -> Self {
        self.passphrase = Some(passphrase);
        self
    }

    /// Loads the key, checks the fingerprint, and builds the credentials.
    pub fn build(self) -> Result<ApiKeyCredentials, AuthError> {
        let ocid = |field, v: Option<String>| -> Result<Ocid, AuthError> {
            Ocid::parse(v.ok_or(AuthError::Missing(field))?)
                .map_err(|source| AuthError::InvalidOcid { field, source })
        };
        let tenancy = ocid("tenancy", self.tenancy)?;
        let user = ocid("user", self.user)?;
        let pass = self.passphrase.as_ref();
        let key = match self.key.ok_or(AuthError::Missing("a private key"))? {
            PrivateKeySource::File(path) => PrivateKey::from_file(&path, pass)?,
            PrivateKeySource::Pem(pem) => PrivateKey::from_pem(pem.expose_secret(), pass)?,
            PrivateKeySource::Bytes(bytes) => {
                PrivateKey::from_pem_bytes(bytes.expose_secret(), pass)?
            }
        };
        if let Some(configured) = self.fingerprint {
            let configured =
                Fingerprint::parse(&configured).map_err(AuthError::InvalidFingerprint)?;
            if &configured != key.fingerprint() {
                return Err(AuthError::FingerprintMismatch {
                    configured,
                    computed: key.fingerprint().clone(),
                });
            }
        }
        let key_id = format!("{tenancy}/{user}/{}", key.fingerprint());
        Ok(ApiKeyCredentials {
            tenancy,
            user,
            key: Arc::new(key),
            key_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    const TENANCY: &str =
        "ocid1.tenancy.oc1..aaaaaaaaba3pv6wkcr4jqae5f15p2b2m2yt2j6rx32uzr4h25vqstifsfdsq";
    const USER: &str =
        "ocid1.user.oc1..aaaaaaaat5nvwcna5j6aqzjcaty5eqbb6qt2jvpkanghtgdaqedqw3rynjq";

    fn builder() -> ApiKeyCredentialsBuilder {
        ApiKeyCredentials::builder()
            .tenancy(TENANCY)
            .user(USER)
            .private_key(PrivateKeySource::File(
                format!("{FIXTURES}/oracle-sample-key.pem").into(),
            ))
    }

    #[test]
    fn key_id_is_tenancy_user_fingerprint() {
        let c = builder()
            .fingerprint("73:61:A2:21:67:E0:DF:BE:7E:4B:93:1E:15:98:A5:B7")
            .build()
            .unwrap();
        assert_eq!(
            c.key_id(),
            format!("{TENANCY}/{USER}/73:61:a2:21:67:e0:df:be:7e:4b:93:1e:15:98:a5:b7")
        );
    }

    #[test]
    fn a_fingerprint_that_does_not_match_the_key_is_refused() {
        // The fingerprint Oracle's SDK tests configure for this key is not the key's own.
        let err = builder()
            .fingerprint("20:3b:97:13:55:1c:5b:0d:d3:37:d8:50:4e:c5:3a:34")
            .build()
            .unwrap_err();
        assert!(matches!(err, AuthError::FingerprintMismatch { .. }));
        assert_eq!(
            err.to_string(),
            "the private key's fingerprint is 73:61:a2:21:67:e0:df:be:7e:4b:93:1e:15:98:a5:b7 but the configured fingerprint is 20:3b:97:13:55:1c:5b:0d:d3:37:d8:50:4e:c5:3a:34: the key file does not belong to this API key (check key_file and fingerprint)"
        );
    }

    #[test]
    fn key_from_text_and_bytes() {
        let pem =
            std::fs::read_to_string(format!("{FIXTURES}/sample-key-pkcs8-aes256.pem")).unwrap();
        let c = builder()
            .private_key(PrivateKeySource::Pem(SecretString::from(pem.clone())))
            .passphrase(SecretString::from("s3cret phrase"))
            .build()
            .unwrap();
        assert_eq!(
            c.fingerprint().as_str(),
            "73:61:a2:21:67:e0:df:be:7e:4b:93:1e:15:98:a5:b7"
        );
        let bytes: SecretBox<[u8]> = SecretBox::new(pem.into_bytes().into_boxed_slice());
        let err = builder()
            .private_key(PrivateKeySource::Bytes(bytes))
            .build()
            .unwrap_err();
        assert!(
            matches!(err, AuthError::Key(KeyError::PassphraseRequired)),
            "{err}"
        );
    }

    #[test]
    fn from_profile_reads_the_config_file_shape() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(".oci")).unwrap();
        std::fs::copy(
            format!("{FIXTURES}/sample-key-pkcs1-aes128.pem"),
            dir.path().join(".oci/key.pem"),
        )
        .unwrap();
        let text = format!(
            "[DEFAULT]\nuser={USER}\ntenancy={TENANCY}\nfingerprint=73:61:a2:21:67:e0:df:be:7e:4b:93:1e:15:98:a5:b7\nkey_file=~/.oci/key.pem\npass_phrase=s3cret phrase\nregion=us-phoenix-1\n"
        );
        let profile = OciConfigFile::parse(&text)
            .unwrap()
            .profile("DEFAULT")
            .unwrap();
        let c = ApiKeyCredentials::from_profile(&profile, Some(dir.path())).unwrap();
        assert_eq!(c.tenancy().as_str(), TENANCY);
        let no_user = OciConfigFile::parse("[DEFAULT]\ntenancy=x\n")
            .unwrap()
            .profile("DEFAULT")
            .unwrap();
        let err = ApiKeyCredentials::from_profile(&no_user, None)
            .unwrap_err()
            .to_string();
        assert_eq!(err, "OCI config profile [DEFAULT] has no \"user\"");
    }

    #[test]
    fn bad_ocids_name_the_field() {
        let err = ApiKeyCredentials::builder()
            .tenancy("mytenancy")
            .user(USER)
            .build()
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("tenancy: \"mytenancy\" is not an OCID"),
            "{err}"
        );
    }
}
