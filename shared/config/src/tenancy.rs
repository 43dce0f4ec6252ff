//! Several tenancies from one deployment (`AUDITFWD_TENANCIES`).
//!
//! Without it, auditfwd collects one tenancy, configured by the `AUDITFWD_OCI_*` and
//! `AUDITFWD_COMPARTMENTS_*` variables. With `AUDITFWD_TENANCIES=acme,globex`, each named
//! tenancy is configured by the same variables under its own prefix,
//! `AUDITFWD_TENANCY_ACME_OCI_TENANCY`, `AUDITFWD_TENANCY_ACME_OCI_KEY_FILE`, ... (the name
//! upper-cased, `-` as `_`; see [`TenancyName::prefix`]). The variables marked
//! [`crate::var::Flag::PerTenancy`] may be given this way.
//!
//! - Credentials are each tenancy's own: its `_OCI_TENANCY`, `_OCI_USER`, `_OCI_KEY_FILE` (or
//!   `_OCI_KEY` in any of its secret forms), `_OCI_FINGERPRINT`, `_OCI_KEY_PASSPHRASE`; or a
//!   profile of an OCI CLI config file, its own `_OCI_CONFIG_FILE` or the shared
//!   `AUDITFWD_OCI_CONFIG_FILE`, the profile being `_OCI_PROFILE` or else the tenancy's name as
//!   written. Shared credential variables are refused with `AUDITFWD_TENANCIES`: a tenancy
//!   never signs with another's key by accident.
//! - Regions, the API endpoints, the compartment rules and the Cloud Guard region are shared
//!   unless the tenancy gives its own; log searches are always the tenancy's own.
//!
//! Everything else (syslog, checkpoint, windows, filters, limits) is shared. Progress is kept
//! per tenancy OCID in the one checkpoint location, so state, leases, manifests, status and
//! replay are scoped by tenancy already.

use std::fmt;

use auditfwd_pipeline::compartments::CompartmentRule;

use crate::oci::{self, OciSettings};
use crate::reader::{Reader, TenancyScope};
use crate::table::{
    CLOUD_GUARD_REGION, COMPARTMENTS_EXCLUDE, COMPARTMENTS_INCLUDE, LOG_SEARCHES,
    OCI_AUDIT_ENDPOINT, OCI_CLOUD_GUARD_ENDPOINT, OCI_CONFIG_FILE, OCI_FINGERPRINT,
    OCI_IDENTITY_ENDPOINT, OCI_KEY, OCI_KEY_FILE, OCI_KEY_PASSPHRASE, OCI_LOGGING_ENDPOINT,
    OCI_PROFILE, OCI_REGIONS, OCI_TENANCY, OCI_USER, TENANCIES,
};

/// The name of the tenancy configured by the `AUDITFWD_OCI_*` variables alone.
pub const SINGLE_TENANCY: &str = "default";

/// A tenancy's name in `AUDITFWD_TENANCIES`: letters, digits, `-` and `_`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TenancyName(String);

impl TenancyName {
    /// Checks a name.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() || s.len() > 64 {
            return Err(format!("{s:?}: a tenancy name has 1 to 64 characters"));
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(format!(
                "{s:?}: a tenancy name has only letters, digits, - and _ (it becomes part of variable names)"
            ));
        }
        Ok(TenancyName(s.to_owned()))
    }

    /// The name as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The prefix of its variables: `AUDITFWD_TENANCY_<NAME>_`, the name upper-cased and `-`
    /// written `_`.
    pub fn prefix(&self) -> String {
        format!("AUDITFWD_TENANCY_{}_", self.env_name())
    }

    fn env_name(&self) -> String {
        self.0.to_ascii_uppercase().replace('-', "_")
    }
}

impl fmt::Display for TenancyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One tenancy to collect.
#[derive(Debug, Clone)]
pub struct TenancySettings {
    /// Its name in `AUDITFWD_TENANCIES` ([`SINGLE_TENANCY`] without it): in logs, reports and
    /// `status`.
    pub name: String,
    /// Credentials, regions, endpoints.
    pub oci: OciSettings,
    /// Compartments to collect (empty: the whole tenancy).
    pub compartments_include: Vec<CompartmentRule>,
    /// Compartments never collected, with their subtrees.
    pub compartments_exclude: Vec<CompartmentRule>,
    /// Logging searches to forward (`AUDITFWD_LOG_SEARCHES`).
    pub log_searches: Vec<auditfwd_pipeline::LogSearch>,
    /// The region to list Cloud Guard problems in (`AUDITFWD_CLOUD_GUARD_REGION`); `None`:
    /// Cloud Guard is not collected.
    pub cloud_guard_region: Option<auditfwd_oci::Region>,
}

/// Shared variables a tenancy inherits when it does not set its own.
const INHERITED: &[&str] = &[
    OCI_REGIONS.name(),
    OCI_AUDIT_ENDPOINT.name(),
    OCI_IDENTITY_ENDPOINT.name(),
    OCI_LOGGING_ENDPOINT.name(),
    OCI_CLOUD_GUARD_ENDPOINT.name(),
    CLOUD_GUARD_REGION.name(),
    COMPARTMENTS_INCLUDE.name(),
    COMPARTMENTS_EXCLUDE.name(),
];

/// The same, plus the shared config file (for a tenancy that gives no credential variables).
const INHERITED_WITH_FILE: &[&str] = &[
    OCI_REGIONS.name(),
    OCI_AUDIT_ENDPOINT.name(),
    OCI_IDENTITY_ENDPOINT.name(),
    OCI_LOGGING_ENDPOINT.name(),
    OCI_CLOUD_GUARD_ENDPOINT.name(),
    CLOUD_GUARD_REGION.name(),
    COMPARTMENTS_INCLUDE.name(),
    COMPARTMENTS_EXCLUDE.name(),
    OCI_CONFIG_FILE.name(),
];

/// Shared variables that are one tenancy's credentials, refused with `AUDITFWD_TENANCIES`.
const CREDENTIALS: [&str; 7] = [
    OCI_TENANCY.name(),
    OCI_USER.name(),
    OCI_FINGERPRINT.name(),
    OCI_KEY_FILE.name(),
    OCI_KEY.name(),
    OCI_KEY_PASSPHRASE.name(),
    OCI_PROFILE.name(),
];

/// The tenancies to collect, at least one.
pub(crate) fn tenancies(v: &mut Reader) -> Option<Vec<TenancySettings>> {
    let Some(names) = v.get(&TENANCIES) else {
        let oci = oci::settings(v, None);
        let compartments_include = v.get(&COMPARTMENTS_INCLUDE).unwrap_or_default();
        let compartments_exclude = v.get(&COMPARTMENTS_EXCLUDE).unwrap_or_default();
        let log_searches = v.get(&LOG_SEARCHES).unwrap_or_default();
        let cloud_guard_region = v.get(&CLOUD_GUARD_REGION);
        return Some(vec![TenancySettings {
            name: SINGLE_TENANCY.to_owned(),
            oci: oci?,
            compartments_include,
            compartments_exclude,
            log_searches,
            cloud_guard_region,
        }]);
    };
    if names.is_empty() {
        v.problem(
            &TENANCIES,
            "names no tenancy: unset it to collect one tenancy",
        );
        return None;
    }
    for name in CREDENTIALS {
        if v.raw(name).is_some() {
            v.problem_named(
                name,
                "with AUDITFWD_TENANCIES, each tenancy's credentials are its own: set AUDITFWD_TENANCY_<NAME>_… instead (or a profile per tenancy in AUDITFWD_OCI_CONFIG_FILE)",
            );
        }
    }
    if v.raw(LOG_SEARCHES.name()).is_some() {
        v.problem(
            &LOG_SEARCHES,
            "with AUDITFWD_TENANCIES, a search belongs to one tenancy: set AUDITFWD_TENANCY_<NAME>_LOG_SEARCHES",
        );
    }
    let mut out = Vec::new();
    let mut all = true;
    for name in &names {
        let prefix = name.prefix();
        let own_credentials = CREDENTIALS.iter().any(|c| {
            let rest = c.strip_prefix("AUDITFWD_").unwrap_or(c);
            v.raw(&format!("{prefix}{rest}")).is_some() && *c != OCI_PROFILE.name()
        });
        v.begin_scope(TenancyScope {
            prefix,
            inherits: if own_credentials {
                INHERITED
            } else {
                INHERITED_WITH_FILE
            },
        });
        let oci = oci::settings(v, Some(name));
        let compartments_include = v.get(&COMPARTMENTS_INCLUDE).unwrap_or_default();
        let compartments_exclude = v.get(&COMPARTMENTS_EXCLUDE).unwrap_or_default();
        // A search names its tenancy's compartments and logs: never inherited.
        let log_searches = v.get(&LOG_SEARCHES).unwrap_or_default();
        let cloud_guard_region = v.get(&CLOUD_GUARD_REGION);
        v.end_scope();
        match oci {
            Some(oci) => out.push(TenancySettings {
                name: name.as_str().to_owned(),
                oci,
                compartments_include,
                compartments_exclude,
                log_searches,
                cloud_guard_region,
            }),
            None => all = false,
        }
    }
    all.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_upper_case_prefixes() {
        let n = TenancyName::parse("acme-eu").expect("valid");
        assert_eq!(n.prefix(), "AUDITFWD_TENANCY_ACME_EU_");
        assert_eq!(n.as_str(), "acme-eu");
        assert!(TenancyName::parse("a b").is_err());
        assert!(TenancyName::parse("").is_err());
        assert!(TenancyName::parse("ünï").is_err());
    }
}
