//! OCI settings: who auditfwd signs as, which regions it collects, and endpoint overrides.

use std::collections::BTreeMap;
use std::path::PathBuf;

use auditfwd_oci::auth::{ApiKeyCredentials, AuthError, OciConfigFile, PrivateKeySource};
use auditfwd_oci::{Endpoint, Ocid, Region, Service};
use secrecy::SecretString;

use crate::vars::Vars;

/// Where the API key comes from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// `AUDITFWD_OCI_KEY_FILE`: a PEM file.
    File(PathBuf),
    /// `AUDITFWD_OCI_KEY`: PEM text (never printed).
    Pem(SecretString),
}

/// How auditfwd authenticates to OCI.
#[derive(Debug, Clone)]
pub enum OciAuth {
    /// `AUDITFWD_OCI_CONFIG_FILE` and `AUDITFWD_OCI_PROFILE`: an OCI CLI config profile.
    ConfigFile {
        /// The file.
        path: PathBuf,
        /// The profile (default `DEFAULT`).
        profile: String,
        /// `HOME`, for a `~` in `key_file`.
        home: Option<PathBuf>,
    },
    /// `AUDITFWD_OCI_TENANCY`, `_USER`, `_FINGERPRINT`, `_KEY_FILE` or `_KEY`, `_KEY_PASSPHRASE`.
    Variables {
        /// Tenancy OCID.
        tenancy: Ocid,
        /// User OCID.
        user: Ocid,
        /// Key fingerprint, checked against the key when given.
        fingerprint: Option<String>,
        /// The private key.
        key: KeySource,
        /// Its passphrase.
        passphrase: Option<SecretString>,
    },
}

impl OciAuth {
    /// Loads the key and builds signing credentials (call once at start-up: a wrong key,
    /// passphrase or fingerprint fails here, not at the first request).
    pub fn credentials(&self) -> Result<ApiKeyCredentials, AuthError> {
        match self {
            OciAuth::ConfigFile {
                path,
                profile,
                home,
            } => {
                let profile = OciConfigFile::load(path)?.profile(profile)?;
                ApiKeyCredentials::from_profile(&profile, home.as_deref())
            }
            OciAuth::Variables {
                tenancy,
                user,
                fingerprint,
                key,
                passphrase,
            } => {
                let mut b = ApiKeyCredentials::builder()
                    .tenancy(tenancy.as_str())
                    .user(user.as_str())
                    .private_key(match key {
                        KeySource::File(p) => PrivateKeySource::File(p.clone()),
                        KeySource::Pem(pem) => PrivateKeySource::Pem(pem.clone()),
                    });
                if let Some(f) = fingerprint {
                    b = b.fingerprint(f.clone());
                }
                if let Some(p) = passphrase {
                    b = b.passphrase(p.clone());
                }
                b.build()
            }
        }
    }
}

/// Everything about talking to OCI.
#[derive(Debug, Clone)]
pub struct OciSettings {
    /// Authentication.
    pub auth: OciAuth,
    /// `AUDITFWD_OCI_REGIONS`: regions to collect (audit events are regional).
    pub regions: Vec<Region>,
    /// `AUDITFWD_OCI_AUDIT_ENDPOINT`, `_IDENTITY_ENDPOINT`, `_OBJECTSTORAGE_ENDPOINT`: base URLs
    /// replacing the regional hosts (`http://` only to loopback, for the emulator).
    pub endpoints: BTreeMap<Service, Endpoint>,
}

pub(crate) fn parse(v: &mut Vars) -> Option<OciSettings> {
    const DIRECT: [&str; 6] = [
        "AUDITFWD_OCI_TENANCY",
        "AUDITFWD_OCI_USER",
        "AUDITFWD_OCI_FINGERPRINT",
        "AUDITFWD_OCI_KEY_FILE",
        "AUDITFWD_OCI_KEY",
        "AUDITFWD_OCI_KEY_PASSPHRASE",
    ];
    let auth = if let Some(path) = v.get("AUDITFWD_OCI_CONFIG_FILE").map(PathBuf::from) {
        if let Some(clash) = DIRECT.iter().find(|n| v.is_set(n)) {
            v.problem(clash, "set either AUDITFWD_OCI_CONFIG_FILE (with AUDITFWD_OCI_PROFILE) or the AUDITFWD_OCI_TENANCY/USER/KEY variables, not both");
        }
        Some(OciAuth::ConfigFile {
            path,
            profile: v
                .get("AUDITFWD_OCI_PROFILE")
                .unwrap_or("DEFAULT")
                .to_owned(),
            home: v.get("HOME").map(PathBuf::from),
        })
    } else {
        let ocid = |v: &mut Vars, name: &str, what: &str| {
            v.required(name, what).and_then(|s| match Ocid::parse(s) {
                Ok(o) => Some(o),
                Err(e) => {
                    v.problem(name, e.to_string());
                    None
                }
            })
        };
        let tenancy = ocid(
            v,
            "AUDITFWD_OCI_TENANCY",
            "the tenancy OCID (or use AUDITFWD_OCI_CONFIG_FILE)",
        );
        let user = ocid(
            v,
            "AUDITFWD_OCI_USER",
            "the OCID of the user the API key belongs to",
        );
        let key = match (v.get("AUDITFWD_OCI_KEY_FILE"), v.get("AUDITFWD_OCI_KEY")) {
            (Some(_), Some(_)) => {
                v.problem(
                    "AUDITFWD_OCI_KEY",
                    "set AUDITFWD_OCI_KEY_FILE or AUDITFWD_OCI_KEY, not both",
                );
                None
            }
            (Some(f), None) => Some(KeySource::File(f.into())),
            (None, Some(pem)) => Some(KeySource::Pem(SecretString::from(pem.to_owned()))),
            (None, None) => {
                v.problem("AUDITFWD_OCI_KEY_FILE", "required: the API private key as a PEM file path (or its PEM text in AUDITFWD_OCI_KEY)");
                None
            }
        };
        let fingerprint = v.get("AUDITFWD_OCI_FINGERPRINT").map(str::to_owned);
        let passphrase = v
            .get("AUDITFWD_OCI_KEY_PASSPHRASE")
            .map(|p| SecretString::from(p.to_owned()));
        match (tenancy, user, key) {
            (Some(tenancy), Some(user), Some(key)) => Some(OciAuth::Variables {
                tenancy,
                user,
                fingerprint,
                key,
                passphrase,
            }),
            _ => None,
        }
    };

    let mut regions = Vec::new();
    if v.required(
        "AUDITFWD_OCI_REGIONS",
        "the regions to collect, comma-separated (e.g. us-ashburn-1,eu-frankfurt-1)",
    )
    .is_some()
    {
        for r in v.list("AUDITFWD_OCI_REGIONS") {
            match Region::parse(&r) {
                Ok(region) if !regions.contains(&region) => regions.push(region),
                Ok(_) => {}
                Err(e) => v.problem("AUDITFWD_OCI_REGIONS", e.to_string()),
            }
        }
    }

    let mut endpoints = BTreeMap::new();
    for (name, service) in [
        ("AUDITFWD_OCI_AUDIT_ENDPOINT", Service::Audit),
        ("AUDITFWD_OCI_IDENTITY_ENDPOINT", Service::Identity),
        (
            "AUDITFWD_OCI_OBJECTSTORAGE_ENDPOINT",
            Service::ObjectStorage,
        ),
    ] {
        if let Some(e) = v.parse(name, |s| Endpoint::parse(s).map_err(|e| e.to_string())) {
            endpoints.insert(service, e);
        }
    }
    Some(OciSettings {
        auth: auth?,
        regions,
        endpoints,
    })
}
