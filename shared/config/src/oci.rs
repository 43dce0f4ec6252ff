//! OCI settings: who auditfwd signs as, which regions it collects, and endpoint overrides.

use std::collections::BTreeMap;
use std::path::PathBuf;

use auditfwd_oci::auth::{ApiKeyCredentials, AuthError, OciConfigFile, PrivateKeySource};
use auditfwd_oci::{Endpoint, Ocid, Region, Service};
use secrecy::SecretString;

use crate::reader::Reader;
use crate::table::{
    OCI_AUDIT_ENDPOINT, OCI_CLOUD_GUARD_ENDPOINT, OCI_CONFIG_FILE, OCI_FINGERPRINT,
    OCI_IDENTITY_ENDPOINT, OCI_KEY, OCI_KEY_FILE, OCI_KEY_PASSPHRASE, OCI_LOGGING_ENDPOINT,
    OCI_OBJECTSTORAGE_ENDPOINT, OCI_PROFILE, OCI_REGIONS, OCI_TENANCY, OCI_USER,
};
use crate::tenancy::TenancyName;

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

/// Every way to give the API private key, for the message when none is given.
fn key_variables(v: &Reader) -> String {
    let mut names = vec![v.name_of(&OCI_KEY_FILE), v.name_of(&OCI_KEY)];
    let plain = v.name_of(&OCI_KEY);
    names.extend(
        OCI_KEY
            .variable
            .secret_forms()
            .map(|(_, form)| format!("{plain}{}", form.suffix())),
    );
    names.join(", ")
}

/// Credentials: from a config file profile, or from variables. `tenancy` is the tenancy's name
/// when several are configured (its variables are read in its scope, and its profile defaults
/// to its name).
fn auth(v: &mut Reader, tenancy: Option<&TenancyName>) -> Option<OciAuth> {
    let direct = [
        v.name_of(&OCI_TENANCY),
        v.name_of(&OCI_USER),
        v.name_of(&OCI_FINGERPRINT),
        v.name_of(&OCI_KEY_FILE),
        v.name_of(&OCI_KEY),
        v.name_of(&OCI_KEY_PASSPHRASE),
    ];
    let (config_file, tenancy_var, keys) = (
        v.name_of(&OCI_CONFIG_FILE),
        v.name_of(&OCI_TENANCY),
        [v.name_of(&OCI_KEY_FILE), v.name_of(&OCI_KEY)],
    );
    if let Some(path) = v.get(&OCI_CONFIG_FILE) {
        if let Some(clash) = direct.iter().find(|n| v.raw(n).is_some()) {
            v.problem_named(
                clash,
                format!("set either {config_file} (with a profile) or the {tenancy_var}/USER/KEY variables, not both"),
            );
        }
        let profile = match (v.get(&OCI_PROFILE), tenancy) {
            (Some(p), _) => p,
            (None, Some(name)) => name.as_str().to_owned(),
            (None, None) => v.value(&OCI_PROFILE),
        };
        return Some(OciAuth::ConfigFile {
            path,
            profile,
            home: v.raw("HOME").map(PathBuf::from),
        });
    }
    let tenancy = v.required(
        &OCI_TENANCY,
        &format!("the tenancy OCID (or use {config_file})"),
    );
    let user = v.required(&OCI_USER, "the OCID of the user the API key belongs to");
    let key = match (v.get(&OCI_KEY_FILE), v.get(&OCI_KEY)) {
        (Some(_), Some(_)) => {
            v.problem(
                &OCI_KEY,
                format!(
                    "set {} or {} (or one of its other forms), not both",
                    keys[0], keys[1]
                ),
            );
            None
        }
        (Some(f), None) => Some(KeySource::File(f)),
        (None, Some(pem)) => Some(KeySource::Pem(pem)),
        (None, None) => {
            let names = key_variables(v);
            v.problem(
                &OCI_KEY_FILE,
                format!("required: the API private key, given in one of {names}"),
            );
            None
        }
    };
    let fingerprint = v.get(&OCI_FINGERPRINT);
    let passphrase = v.get(&OCI_KEY_PASSPHRASE);
    Some(OciAuth::Variables {
        tenancy: tenancy?,
        user: user?,
        fingerprint,
        key: key?,
        passphrase,
    })
}

/// One tenancy's OCI settings (`tenancy`: its name, when several are configured and `v` reads
/// in its scope).
pub(crate) fn settings(v: &mut Reader, tenancy: Option<&TenancyName>) -> Option<OciSettings> {
    let auth = auth(v, tenancy);
    let regions = v
        .required(
            &OCI_REGIONS,
            "the regions to collect, comma-separated (e.g. us-ashburn-1,eu-frankfurt-1)",
        )
        .unwrap_or_default();
    let mut endpoints = BTreeMap::new();
    for (var, service) in [
        (&OCI_AUDIT_ENDPOINT, Service::Audit),
        (&OCI_IDENTITY_ENDPOINT, Service::Identity),
        (&OCI_LOGGING_ENDPOINT, Service::LoggingSearch),
        (&OCI_CLOUD_GUARD_ENDPOINT, Service::CloudGuard),
        (&OCI_OBJECTSTORAGE_ENDPOINT, Service::ObjectStorage),
    ] {
        if let Some(e) = v.get(var) {
            endpoints.insert(service, e);
        }
    }
    Some(OciSettings {
        auth: auth?,
        regions,
        endpoints,
    })
}
