//! Which variables name a secret, and turning them into the secrets.

use std::collections::BTreeMap;

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};

use crate::{Decrypter, EncryptionContext, SecretFetcher, SecretsError, Service};

/// The suffix of a variable that holds the KMS ciphertext of another.
pub const KMS_SUFFIX: &str = "_KMS";
/// The suffix of a variable that names the Secrets Manager secret holding another.
pub const SECRET_ARN_SUFFIX: &str = "_SECRET_ARN";
/// The suffix of a variable that names the SSM parameter holding another.
pub const SSM_PARAMETER_SUFFIX: &str = "_SSM_PARAMETER";

/// The secret variables a tenancy may give as its own, `AUDITFWD_TENANCY_<NAME>_OCI_KEY` and
/// so on, when several tenancies are configured (in any form, like the shared ones).
pub const PER_TENANCY_SECRET_VARIABLES: [&str; 2] =
    ["AUDITFWD_OCI_KEY", "AUDITFWD_OCI_KEY_PASSPHRASE"];

/// The prefix of a tenancy's own variables.
const TENANCY_PREFIX: &str = "AUDITFWD_TENANCY_";

/// `name` when it is a secret variable: one of [`SECRET_VARIABLES`], or a tenancy's own
/// `AUDITFWD_TENANCY_<NAME>_<rest>` where `AUDITFWD_<rest>` is one of
/// [`PER_TENANCY_SECRET_VARIABLES`].
fn secret_variable(name: &str) -> bool {
    if SECRET_VARIABLES.contains(&name) {
        return true;
    }
    let Some(rest) = name.strip_prefix(TENANCY_PREFIX) else {
        return false;
    };
    rest.match_indices('_').any(|(i, _)| {
        i > 0
            && PER_TENANCY_SECRET_VARIABLES
                .iter()
                .any(|v| v.strip_prefix("AUDITFWD_") == Some(&rest[i + 1..]))
    })
}

/// The encryption-context key; its value is the plaintext variable's name.
pub const CONTEXT_KEY: &str = "auditfwd:variable";

/// The variables that may be given in another form (`<name>_KMS`, `<name>_SECRET_ARN`,
/// `<name>_SSM_PARAMETER`).
pub const SECRET_VARIABLES: [&str; 3] = [
    "AUDITFWD_OCI_KEY",
    "AUDITFWD_OCI_KEY_PASSPHRASE",
    "AUDITFWD_SYSLOG_TLS_KEY",
];

/// The encryption context a ciphertext for `variable` (the name without `_KMS`, e.g.
/// `AUDITFWD_OCI_KEY`) is made and decrypted with: `{"auditfwd:variable": variable}`.
pub fn encryption_context(variable: &str) -> EncryptionContext {
    EncryptionContext::from([(CONTEXT_KEY.to_owned(), variable.to_owned())])
}

/// Where one secret comes from.
#[derive(Debug)]
enum Form {
    /// KMS ciphertext (decoded from base64).
    Kms(Vec<u8>),
    /// A Secrets Manager secret's ARN or name.
    SecretsManager(String),
    /// An SSM parameter's name or ARN.
    SsmParameter(String),
}

/// One secret to fetch: the variable that names it, the plain variable it becomes.
#[derive(Debug)]
struct Job {
    variable: String,
    plain: String,
    form: Form,
}

/// The secrets named by a set of variables, checked and ready to fetch. Building it makes no
/// call, so a bad name fails before anything is fetched, and a caller with nothing to fetch
/// ([`is_empty`](Self::is_empty)) need not build AWS clients at all.
#[derive(Debug, Default)]
pub struct SecretPlan {
    jobs: Vec<Job>,
}

impl SecretPlan {
    /// Finds the `AUDITFWD_*_KMS`, `_SECRET_ARN` and `_SSM_PARAMETER` variables among `vars`
    /// (the process environment, or a test's). Empty values count as unset.
    ///
    /// Every name is checked: one that is not one of [`SECRET_VARIABLES`] plus a suffix is an
    /// error, and so is giving one secret twice (plain and in another form, or in two forms).
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, SecretsError> {
        // plain variable -> the variables that give it (never their values, for plain ones)
        let mut given: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut jobs = Vec::new();
        let mut named: Vec<(String, String)> = vars
            .into_iter()
            .filter(|(name, value)| name.starts_with("AUDITFWD_") && !value.trim().is_empty())
            .collect();
        named.sort();
        for (name, value) in named {
            if secret_variable(&name) {
                given.entry(name.clone()).or_default().push(name);
                continue;
            }
            let Some((plain, suffix)) = split_form(&name) else {
                continue;
            };
            if !secret_variable(plain) {
                return Err(SecretsError::UnknownVariable { variable: name });
            }
            let plain = plain.to_owned();
            let form = match suffix {
                KMS_SUFFIX => {
                    // Tolerate the line breaks and spaces a copy-paste adds.
                    let compact: String =
                        value.chars().filter(|c| !c.is_ascii_whitespace()).collect();
                    match base64::engine::general_purpose::STANDARD.decode(compact) {
                        Ok(ciphertext) => Form::Kms(ciphertext),
                        Err(source) => {
                            return Err(SecretsError::NotBase64 {
                                variable: name,
                                source,
                            });
                        }
                    }
                }
                SECRET_ARN_SUFFIX => Form::SecretsManager(value.trim().to_owned()),
                _ => Form::SsmParameter(value.trim().to_owned()),
            };
            given.entry(plain.clone()).or_default().push(name.clone());
            jobs.push(Job {
                variable: name,
                plain,
                form,
            });
        }
        for (plain, names) in given {
            if let [first, second, ..] = names.as_slice() {
                return Err(SecretsError::BothSet {
                    variable: second.clone(),
                    other: first.clone(),
                    plain,
                });
            }
        }
        Ok(SecretPlan { jobs })
    }

    /// Whether nothing is to be fetched.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// Fetches every secret once, concurrently (each is one round trip on the cold-start
    /// path), and returns them under their plain names, sorted: the caller merges them into
    /// the variables `auditfwd-config` parses.
    pub async fn fetch<D, S, P>(
        self,
        kms: &D,
        secrets_manager: &S,
        ssm: &P,
    ) -> Result<Vec<(String, SecretString)>, SecretsError>
    where
        D: Decrypter,
        S: SecretFetcher,
        P: SecretFetcher,
    {
        let mut secrets = futures::future::try_join_all(
            self.jobs
                .into_iter()
                .map(|job| fetch_one(job, kms, secrets_manager, ssm)),
        )
        .await?;
        secrets.sort_by(|a, b| a.0.cmp(&b.0));
        if !secrets.is_empty() {
            let names: Vec<&str> = secrets.iter().map(|(n, _)| n.as_str()).collect();
            tracing::debug!(variables = ?names, "fetched secrets");
        }
        Ok(secrets)
    }
}

/// `AUDITFWD_X_KMS` into (`AUDITFWD_X`, `_KMS`), and the same for the other suffixes.
fn split_form(name: &str) -> Option<(&str, &'static str)> {
    [SSM_PARAMETER_SUFFIX, SECRET_ARN_SUFFIX, KMS_SUFFIX]
        .into_iter()
        .find_map(|suffix| name.strip_suffix(suffix).map(|plain| (plain, suffix)))
}

async fn fetch_one<D, S, P>(
    job: Job,
    kms: &D,
    secrets_manager: &S,
    ssm: &P,
) -> Result<(String, SecretString), SecretsError>
where
    D: Decrypter,
    S: SecretFetcher,
    P: SecretFetcher,
{
    let Job {
        variable,
        plain,
        form,
    } = job;
    let secret = match form {
        Form::Kms(ciphertext) => {
            let bytes = match kms.decrypt(&ciphertext, &encryption_context(&plain)).await {
                Ok(bytes) => bytes,
                Err(source) => {
                    return Err(SecretsError::Decrypt {
                        variable,
                        context: format!("{CONTEXT_KEY}={plain}"),
                        source,
                    });
                }
            };
            // Checked in place so the bytes stay in the zeroizing box until copied.
            let Ok(text) = std::str::from_utf8(bytes.expose_secret()) else {
                return Err(SecretsError::NotUtf8 { variable });
            };
            SecretString::from(text.to_owned())
        }
        Form::SecretsManager(id) => {
            secrets_manager
                .fetch(&id)
                .await
                .map_err(|source| SecretsError::Fetch {
                    variable: variable.clone(),
                    service: Service::SecretsManager,
                    id,
                    source,
                })?
        }
        Form::SsmParameter(id) => ssm.fetch(&id).await.map_err(|source| SecretsError::Fetch {
            variable: variable.clone(),
            service: Service::SsmParameterStore,
            id,
            source,
        })?,
    };
    if secret.expose_secret().trim().is_empty() {
        return Err(SecretsError::Empty { variable });
    }
    Ok((plain, secret))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::testing::{FakeKms, FakeStore};
    use crate::{CallError, DecryptError};

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// Plans and fetches `pairs` with the fake KMS, and empty Secrets Manager and SSM fakes.
    async fn resolve(
        pairs: &[(&str, &str)],
        kms: &FakeKms,
    ) -> Result<Vec<(String, SecretString)>, SecretsError> {
        SecretPlan::from_vars(vars(pairs))?
            .fetch(kms, &FakeStore::default(), &FakeStore::default())
            .await
    }

    fn exposed(secrets: &[(String, SecretString)]) -> Vec<(&str, &str)> {
        secrets
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose_secret()))
            .collect()
    }

    const PEM: &str = "-----BEGIN PRIVATE KEY-----\nMIIEvQ\n-----END PRIVATE KEY-----\n";

    #[tokio::test]
    async fn a_tenancys_own_key_is_fetched_under_its_own_name_and_context() {
        let kms = FakeKms::new();
        let got = resolve(
            &[
                (
                    "AUDITFWD_TENANCY_ACME_EU_OCI_KEY_KMS",
                    &FakeKms::encrypt("AUDITFWD_TENANCY_ACME_EU_OCI_KEY", PEM.as_bytes()),
                ),
                ("AUDITFWD_TENANCY_GLOBEX_OCI_KEY_PASSPHRASE", "plain"),
            ],
            &kms,
        )
        .await
        .unwrap();
        assert_eq!(exposed(&got), [("AUDITFWD_TENANCY_ACME_EU_OCI_KEY", PEM)]);
        // Made for the shared variable's context: refused (a ciphertext is bound to its name).
        let err = resolve(
            &[(
                "AUDITFWD_TENANCY_ACME_OCI_KEY_KMS",
                &FakeKms::encrypt("AUDITFWD_OCI_KEY", PEM.as_bytes()),
            )],
            &kms,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, SecretsError::Decrypt { .. }), "{err}");
        // Given twice for one tenancy.
        let err = resolve(
            &[
                ("AUDITFWD_TENANCY_ACME_OCI_KEY", PEM),
                ("AUDITFWD_TENANCY_ACME_OCI_KEY_SSM_PARAMETER", "/acme/key"),
            ],
            &kms,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, SecretsError::BothSet { .. }), "{err}");
        // The syslog client key is shared, never per tenancy.
        let err = resolve(
            &[("AUDITFWD_TENANCY_ACME_SYSLOG_TLS_KEY_KMS", "AAAA")],
            &kms,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, SecretsError::UnknownVariable { .. }), "{err}");
    }

    #[tokio::test]
    async fn decrypts_each_kms_variable_under_its_plain_name() {
        let kms = FakeKms::new();
        let got = resolve(
            &[
                (
                    "AUDITFWD_OCI_KEY_KMS",
                    &FakeKms::encrypt("AUDITFWD_OCI_KEY", PEM.as_bytes()),
                ),
                (
                    "AUDITFWD_OCI_KEY_PASSPHRASE_KMS",
                    &FakeKms::encrypt("AUDITFWD_OCI_KEY_PASSPHRASE", b"s3cret"),
                ),
                ("AUDITFWD_OCI_TENANCY", "ocid1.tenancy.oc1..aaaa"),
                ("AWS_LAMBDA_FUNCTION_NAME", "poller"),
                // Not auditfwd's: ignored even though it ends in _KMS.
                ("OTHER_TOOL_KMS", "whatever"),
                // Empty counts as unset (the SAM template sets every variable).
                ("AUDITFWD_SYSLOG_TLS_KEY_KMS", ""),
                ("AUDITFWD_SYSLOG_TLS_KEY", ""),
            ],
            &kms,
        )
        .await
        .unwrap();
        assert_eq!(
            exposed(&got),
            [
                ("AUDITFWD_OCI_KEY", PEM),
                ("AUDITFWD_OCI_KEY_PASSPHRASE", "s3cret")
            ]
        );
        assert_eq!(kms.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn each_secret_comes_from_its_own_service() {
        let kms = FakeKms::new();
        let sm = FakeStore::with([("arn:aws:secretsmanager:eu-west-1:1:secret:oci-key", PEM)]);
        let ssm = FakeStore::with([("/auditfwd/tls-key", "-----BEGIN TLS KEY-----")]);
        let got = SecretPlan::from_vars(vars(&[
            (
                "AUDITFWD_OCI_KEY_SECRET_ARN",
                "arn:aws:secretsmanager:eu-west-1:1:secret:oci-key",
            ),
            (
                "AUDITFWD_SYSLOG_TLS_KEY_SSM_PARAMETER",
                " /auditfwd/tls-key ",
            ),
            (
                "AUDITFWD_OCI_KEY_PASSPHRASE_KMS",
                &FakeKms::encrypt("AUDITFWD_OCI_KEY_PASSPHRASE", b"s3cret"),
            ),
        ]))
        .unwrap()
        .fetch(&kms, &sm, &ssm)
        .await
        .unwrap();
        assert_eq!(
            exposed(&got),
            [
                ("AUDITFWD_OCI_KEY", PEM),
                ("AUDITFWD_OCI_KEY_PASSPHRASE", "s3cret"),
                ("AUDITFWD_SYSLOG_TLS_KEY", "-----BEGIN TLS KEY-----"),
            ]
        );
        let calls = |s: &FakeStore| s.calls.load(Ordering::SeqCst);
        assert_eq!((calls(&sm), calls(&ssm)), (1, 1));
        assert_eq!(kms.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn nothing_to_fetch_makes_no_call() {
        let plan = SecretPlan::from_vars(vars(&[("AUDITFWD_OCI_KEY", PEM)])).unwrap();
        assert!(plan.is_empty());
        let kms = FakeKms::new();
        assert!(
            resolve(&[("AUDITFWD_OCI_KEY", PEM)], &kms)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(kms.calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn tolerates_line_breaks_in_the_base64() {
        let b64 = FakeKms::encrypt("AUDITFWD_OCI_KEY", PEM.as_bytes());
        let wrapped = format!(" {}\n{}\n", &b64[..10], &b64[10..]);
        let got = resolve(&[("AUDITFWD_OCI_KEY_KMS", &wrapped)], &FakeKms::new())
            .await
            .unwrap();
        assert_eq!(got[0].1.expose_secret(), PEM);
    }

    #[tokio::test]
    async fn an_unknown_secret_variable_fails_before_any_fetch() {
        for unknown in [
            "AUDITFWD_OCI_PASSPHRASE_KMS",
            "AUDITFWD_OCI_KY_SECRET_ARN",
            "AUDITFWD_SYSLOG_TLS_CA_SSM_PARAMETER",
        ] {
            let kms = FakeKms::new();
            let err = resolve(
                &[
                    (
                        "AUDITFWD_OCI_KEY_KMS",
                        &FakeKms::encrypt("AUDITFWD_OCI_KEY", b"k"),
                    ),
                    (unknown, "AAAA"),
                ],
                &kms,
            )
            .await
            .unwrap_err();
            assert!(
                matches!(&err, SecretsError::UnknownVariable { variable } if variable == unknown),
                "{err}"
            );
            assert!(
                err.to_string()
                    .starts_with(&format!("{unknown}: auditfwd takes no such variable")),
                "{err}"
            );
            assert_eq!(kms.calls.load(Ordering::SeqCst), 0);
        }
    }

    #[tokio::test]
    async fn a_secret_is_given_one_way_only() {
        let err = resolve(
            &[
                ("AUDITFWD_OCI_KEY", PEM),
                (
                    "AUDITFWD_OCI_KEY_KMS",
                    &FakeKms::encrypt("AUDITFWD_OCI_KEY", b"k"),
                ),
            ],
            &FakeKms::new(),
        )
        .await
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "AUDITFWD_OCI_KEY_KMS: AUDITFWD_OCI_KEY is set too; give the secret once, either as \
             plaintext in AUDITFWD_OCI_KEY or in one of AUDITFWD_OCI_KEY_KMS, \
             AUDITFWD_OCI_KEY_SECRET_ARN and AUDITFWD_OCI_KEY_SSM_PARAMETER"
        );
        assert!(!err.to_string().contains("BEGIN"));
        let err = SecretPlan::from_vars(vars(&[
            ("AUDITFWD_SYSLOG_TLS_KEY_SECRET_ARN", "a"),
            ("AUDITFWD_SYSLOG_TLS_KEY_SSM_PARAMETER", "b"),
        ]))
        .unwrap_err();
        assert!(
            matches!(&err, SecretsError::BothSet { variable, other, .. }
                if variable == "AUDITFWD_SYSLOG_TLS_KEY_SSM_PARAMETER"
                    && other == "AUDITFWD_SYSLOG_TLS_KEY_SECRET_ARN"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn bad_base64_names_the_variable() {
        let err = resolve(
            &[("AUDITFWD_SYSLOG_TLS_KEY_KMS", "not*base64")],
            &FakeKms::new(),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, SecretsError::NotBase64 { .. }), "{err}");
        assert!(
            err.to_string()
                .starts_with("AUDITFWD_SYSLOG_TLS_KEY_KMS: not base64 (")
        );
        assert!(!err.is_retryable());
    }

    #[tokio::test]
    async fn a_ciphertext_made_for_another_variable_is_refused() {
        // The passphrase's ciphertext pasted into the key's variable.
        let err = resolve(
            &[(
                "AUDITFWD_OCI_KEY_KMS",
                &FakeKms::encrypt("AUDITFWD_OCI_KEY_PASSPHRASE", b"s3cret"),
            )],
            &FakeKms::new(),
        )
        .await
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(
                "AUDITFWD_OCI_KEY_KMS: KMS could not decrypt it with encryption context \
                 auditfwd:variable=AUDITFWD_OCI_KEY: InvalidCiphertextException"
            ),
            "{text}"
        );
        assert!(!text.contains("s3cret"));
        assert!(!err.is_retryable());
    }

    #[tokio::test]
    async fn unavailability_is_retryable_and_a_missing_secret_is_not() {
        let kms = FakeKms::failing(|| DecryptError::Unavailable {
            code: "ThrottlingException".into(),
            message: String::new(),
        });
        let err = resolve(
            &[(
                "AUDITFWD_OCI_KEY_KMS",
                &FakeKms::encrypt("AUDITFWD_OCI_KEY", b"k"),
            )],
            &kms,
        )
        .await
        .unwrap_err();
        assert!(err.is_retryable(), "{err}");
        assert_eq!(err.variable(), "AUDITFWD_OCI_KEY_KMS");

        let plan = || {
            SecretPlan::from_vars(vars(&[("AUDITFWD_OCI_KEY_SSM_PARAMETER", "/missing")])).unwrap()
        };
        let missing = plan()
            .fetch(
                &FakeKms::new(),
                &FakeStore::default(),
                &FakeStore::default(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&missing, SecretsError::Fetch { service: Service::SsmParameterStore, id, .. } if id == "/missing"),
            "{missing}"
        );
        assert!(!missing.is_retryable());
        let busy = FakeStore::failing(|| CallError::Unavailable {
            code: "ThrottlingException".into(),
            message: String::new(),
        });
        let err = plan()
            .fetch(&FakeKms::new(), &FakeStore::default(), &busy)
            .await
            .unwrap_err();
        assert!(err.is_retryable(), "{err}");
    }

    #[tokio::test]
    async fn an_empty_or_binary_secret_is_refused_without_showing_it() {
        let err = resolve(
            &[(
                "AUDITFWD_OCI_KEY_KMS",
                &FakeKms::encrypt("AUDITFWD_OCI_KEY", &[0x30, 0x82, 0xff, 0xfe]),
            )],
            &FakeKms::new(),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, SecretsError::NotUtf8 { .. }), "{err}");
        let err = SecretPlan::from_vars(vars(&[("AUDITFWD_OCI_KEY_PASSPHRASE_SECRET_ARN", "p")]))
            .unwrap()
            .fetch(
                &FakeKms::new(),
                &FakeStore::with([("p", "  \n")]),
                &FakeStore::default(),
            )
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "AUDITFWD_OCI_KEY_PASSPHRASE_SECRET_ARN: the secret it names is empty"
        );
    }

    #[test]
    fn the_context_names_the_plain_variable() {
        assert_eq!(
            encryption_context("AUDITFWD_OCI_KEY"),
            EncryptionContext::from([("auditfwd:variable".into(), "AUDITFWD_OCI_KEY".into())])
        );
    }
}
