//! The `~/.oci/config` file that the OCI CLI and SDKs share: INI sections named after
//! profiles, with `[DEFAULT]` values inherited by every other profile (Python
//! `configparser` semantics, which is what the CLI uses).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::SecretString;

/// Why a config file or profile could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// The file could not be read.
    #[error("cannot read OCI config file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A line is neither a section, a key, a comment nor blank.
    #[error("OCI config file line {line}: cannot parse {text:?} (expected [PROFILE] or key=value)")]
    Syntax {
        /// 1-based line number.
        line: usize,
        /// The offending text.
        text: String,
    },
    /// The named profile is not in the file.
    #[error("OCI config file has no profile [{profile}] (profiles: {available})")]
    NoProfile {
        /// The profile asked for.
        profile: String,
        /// The profiles present.
        available: String,
    },
    /// A required key is missing from the profile.
    #[error("OCI config profile [{profile}] has no {key:?}")]
    Missing {
        /// The profile.
        profile: String,
        /// The missing key.
        key: &'static str,
    },
}

/// A parsed OCI config file.
#[derive(Clone, Default)]
pub struct OciConfigFile {
    defaults: BTreeMap<String, String>,
    profiles: BTreeMap<String, BTreeMap<String, String>>,
}

impl fmt::Debug for OciConfigFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values may hold a pass_phrase: show only the profile names.
        f.debug_struct("OciConfigFile")
            .field("profiles", &self.profile_names())
            .finish()
    }
}

impl OciConfigFile {
    /// Reads and parses a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigFileError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text)
    }

    /// Parses config file text.
    pub fn parse(text: &str) -> Result<Self, ConfigFileError> {
        let mut file = OciConfigFile::default();
        let mut section: Option<String> = None;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                let name = name.trim().to_owned();
                if name != "DEFAULT" {
                    file.profiles.entry(name.clone()).or_default();
                }
                section = Some(name);
                continue;
            }
            let split = match (line.find('='), line.find(':')) {
                (Some(e), Some(c)) => Some(e.min(c)),
                (e, c) => e.or(c),
            };
            let (Some(at), Some(sect)) = (split, section.as_ref()) else {
                return Err(ConfigFileError::Syntax {
                    line: i + 1,
                    text: raw.to_owned(),
                });
            };
            let key = line[..at].trim().to_ascii_lowercase();
            let value = line[at + 1..].trim().to_owned();
            let map = if sect == "DEFAULT" {
                &mut file.defaults
            } else {
                file.profiles.entry(sect.clone()).or_default()
            };
            map.insert(key, value);
        }
        Ok(file)
    }

    /// The profile names, `DEFAULT` first when it has values.
    pub fn profile_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        if !self.defaults.is_empty() {
            names.push("DEFAULT".to_owned());
        }
        names.extend(self.profiles.keys().cloned());
        names
    }

    /// One profile with `[DEFAULT]` values filled in beneath it.
    pub fn profile(&self, name: &str) -> Result<ConfigProfile, ConfigFileError> {
        let own = if name == "DEFAULT" {
            if self.defaults.is_empty() {
                None
            } else {
                Some(BTreeMap::new())
            }
        } else {
            self.profiles.get(name).cloned()
        };
        let Some(own) = own else {
            return Err(ConfigFileError::NoProfile {
                profile: name.to_owned(),
                available: self.profile_names().join(", "),
            });
        };
        let mut values = self.defaults.clone();
        values.extend(own);
        let mut take = |k: &str| values.remove(k).filter(|v| !v.is_empty());
        Ok(ConfigProfile {
            name: name.to_owned(),
            user: take("user"),
            tenancy: take("tenancy"),
            fingerprint: take("fingerprint"),
            key_file: take("key_file").map(PathBuf::from),
            pass_phrase: take("pass_phrase").map(SecretString::from),
            region: take("region"),
            other: values,
        })
    }
}

/// One resolved profile.
#[derive(Debug, Clone)]
pub struct ConfigProfile {
    /// The profile name.
    pub name: String,
    /// `user`: the user OCID.
    pub user: Option<String>,
    /// `tenancy`: the tenancy OCID.
    pub tenancy: Option<String>,
    /// `fingerprint` of the API key.
    pub fingerprint: Option<String>,
    /// `key_file`: path to the PEM private key (may start with `~`).
    pub key_file: Option<PathBuf>,
    /// `pass_phrase` of an encrypted key.
    pub pass_phrase: Option<SecretString>,
    /// `region`, e.g. `us-ashburn-1`.
    pub region: Option<String>,
    /// Every other key, kept so nothing the user wrote is silently ignored by callers that care.
    pub other: BTreeMap<String, String>,
}

impl ConfigProfile {
    /// `key_file` with a leading `~` replaced by `home` (the CLI expands `~` the same way).
    pub fn key_file_path(&self, home: Option<&Path>) -> Result<PathBuf, ConfigFileError> {
        let path = self
            .key_file
            .as_ref()
            .ok_or_else(|| self.missing("key_file"))?;
        Ok(match (path.strip_prefix("~"), home) {
            (Ok(rest), Some(home)) => home.join(rest),
            _ => path.clone(),
        })
    }

    pub(crate) fn missing(&self, key: &'static str) -> ConfigFileError {
        ConfigFileError::Missing {
            profile: self.name.clone(),
            key,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret as _;

    const TEXT: &str = "\
# comment
[DEFAULT]
user=ocid1.user.oc1..aaaa
fingerprint = 20:3b:97:13:55:1c:5b:0d:d3:37:d8:50:4e:c5:3a:34
key_file=~/.oci/oci_api_key.pem
tenancy=ocid1.tenancy.oc1..bbbb
region=us-ashburn-1

[PROD]
; the prod key
key_file: /secure/prod.pem
pass_phrase = hunter2
region=eu-frankfurt-1
Extra_Key = kept
";

    #[test]
    fn default_values_are_inherited_and_overridden() {
        let file = OciConfigFile::parse(TEXT).unwrap();
        assert_eq!(file.profile_names(), vec!["DEFAULT", "PROD"]);
        let d = file.profile("DEFAULT").unwrap();
        assert_eq!(d.region.as_deref(), Some("us-ashburn-1"));
        assert!(d.pass_phrase.is_none());
        let home = Path::new("/home/alice");
        assert_eq!(
            d.key_file_path(Some(home)).unwrap(),
            Path::new("/home/alice/.oci/oci_api_key.pem")
        );

        let p = file.profile("PROD").unwrap();
        assert_eq!(p.user.as_deref(), Some("ocid1.user.oc1..aaaa"));
        assert_eq!(p.region.as_deref(), Some("eu-frankfurt-1"));
        assert_eq!(
            p.key_file_path(Some(home)).unwrap(),
            Path::new("/secure/prod.pem")
        );
        assert_eq!(p.pass_phrase.as_ref().unwrap().expose_secret(), "hunter2");
        assert_eq!(p.other.get("extra_key").map(String::as_str), Some("kept"));
    }

    #[test]
    fn unknown_profiles_and_bad_lines_are_clear_errors() {
        let file = OciConfigFile::parse(TEXT).unwrap();
        let err = file.profile("DEV").unwrap_err().to_string();
        assert_eq!(
            err,
            "OCI config file has no profile [DEV] (profiles: DEFAULT, PROD)"
        );
        let err = OciConfigFile::parse("[DEFAULT]\nthis line is junk\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2"), "{err}");
        assert!(
            OciConfigFile::parse("user=x\n").is_err(),
            "a key before any section"
        );
    }

    #[test]
    fn debug_hides_values() {
        let file = OciConfigFile::parse(TEXT).unwrap();
        assert!(!format!("{file:?}").contains("hunter2"));
        assert!(!format!("{:?}", file.profile("PROD").unwrap()).contains("hunter2"));
    }
}
