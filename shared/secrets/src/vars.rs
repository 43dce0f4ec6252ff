//! Which variables carry KMS ciphertext, and turning them into plaintext secrets.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};

use crate::{Decrypter, EncryptionContext, SecretsError};

/// The suffix of a variable that holds the KMS ciphertext of another.
pub const KMS_SUFFIX: &str = "_KMS";

/// The encryption-context key; its value is the plaintext variable's name.
pub const CONTEXT_KEY: &str = "auditfwd:variable";

/// The variables that may be given as KMS ciphertext (in `<name>_KMS`).
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

/// Finds the `AUDITFWD_*_KMS` variables among `vars` (the process environment, or a test's),
/// decrypts each once through `decrypter` with its encryption context, and returns the
/// plaintexts under the names without `_KMS` (sorted by name). Empty values count as unset.
///
/// Every name is checked before anything is decrypted: an `AUDITFWD_*_KMS` variable that is
/// not one of [`SECRET_VARIABLES`] plus `_KMS` is an error, and so is setting both a variable
/// and its `_KMS` form. The caller merges the result into the variables it parses, replacing
/// an empty value of the same name.
pub async fn decrypt_kms_vars<D: Decrypter>(
    vars: impl IntoIterator<Item = (String, String)>,
    decrypter: &D,
) -> Result<Vec<(String, SecretString)>, SecretsError> {
    // Keep only what is needed: the ciphertexts, and which plaintext secrets are set (never
    // their values).
    let mut plain_set = BTreeSet::new();
    let mut encrypted = BTreeMap::new();
    for (name, value) in vars {
        if value.trim().is_empty() {
            continue;
        }
        if SECRET_VARIABLES.contains(&name.as_str()) {
            plain_set.insert(name);
        } else if name.starts_with("AUDITFWD_") && name.ends_with(KMS_SUFFIX) {
            encrypted.insert(name, value);
        }
    }

    let mut jobs = Vec::with_capacity(encrypted.len());
    for (variable, value) in encrypted {
        let plain = &variable[..variable.len() - KMS_SUFFIX.len()];
        let Some(plain) = SECRET_VARIABLES.iter().copied().find(|n| *n == plain) else {
            return Err(SecretsError::UnknownVariable { variable });
        };
        if plain_set.contains(plain) {
            return Err(SecretsError::BothSet {
                variable,
                plain: plain.to_owned(),
            });
        }
        // Tolerate the line breaks and spaces a copy-paste adds.
        let compact: String = value.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        match base64::engine::general_purpose::STANDARD.decode(compact) {
            Ok(ciphertext) => jobs.push((variable, plain, ciphertext)),
            Err(source) => return Err(SecretsError::NotBase64 { variable, source }),
        }
    }

    // Concurrently: each is one KMS round trip on the cold-start path.
    let secrets = futures::future::try_join_all(jobs.into_iter().map(
        |(variable, plain, ciphertext)| async move {
            let context = encryption_context(plain);
            let bytes = match decrypter.decrypt(&ciphertext, &context).await {
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
            Ok((plain.to_owned(), SecretString::from(text.to_owned())))
        },
    ))
    .await?;
    if !secrets.is_empty() {
        let names: Vec<&str> = secrets.iter().map(|(n, _)| n.as_str()).collect();
        tracing::debug!(variables = ?names, "decrypted KMS-encrypted secrets");
    }
    Ok(secrets)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::DecryptError;
    use crate::testing::FakeKms;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    const PEM: &str = "-----BEGIN PRIVATE KEY-----\nMIIEvQ\n-----END PRIVATE KEY-----\n";

    #[tokio::test]
    async fn decrypts_each_kms_variable_under_its_plain_name() {
        let kms = FakeKms::new();
        let got = decrypt_kms_vars(
            vars(&[
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
            ]),
            &kms,
        )
        .await
        .unwrap();
        let got: Vec<(&str, &str)> = got
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose_secret()))
            .collect();
        assert_eq!(
            got,
            [
                ("AUDITFWD_OCI_KEY", PEM),
                ("AUDITFWD_OCI_KEY_PASSPHRASE", "s3cret")
            ]
        );
        assert_eq!(kms.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn nothing_to_decrypt_makes_no_call() {
        let kms = FakeKms::new();
        let got = decrypt_kms_vars(vars(&[("AUDITFWD_OCI_KEY", PEM)]), &kms)
            .await
            .unwrap();
        assert!(got.is_empty());
        assert_eq!(kms.calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn tolerates_line_breaks_in_the_base64() {
        let kms = FakeKms::new();
        let b64 = FakeKms::encrypt("AUDITFWD_OCI_KEY", PEM.as_bytes());
        let wrapped = format!(" {}\n{}\n", &b64[..10], &b64[10..]);
        let got = decrypt_kms_vars(vars(&[("AUDITFWD_OCI_KEY_KMS", &wrapped)]), &kms)
            .await
            .unwrap();
        assert_eq!(got[0].1.expose_secret(), PEM);
    }

    #[tokio::test]
    async fn an_unknown_kms_variable_fails_before_any_decrypt() {
        let kms = FakeKms::new();
        let err = decrypt_kms_vars(
            vars(&[
                (
                    "AUDITFWD_OCI_KEY_KMS",
                    &FakeKms::encrypt("AUDITFWD_OCI_KEY", b"k"),
                ),
                ("AUDITFWD_OCI_PASSPHRASE_KMS", "AAAA"),
            ]),
            &kms,
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, SecretsError::UnknownVariable { variable } if variable == "AUDITFWD_OCI_PASSPHRASE_KMS"),
            "{err}"
        );
        assert!(
            err.to_string()
                .starts_with("AUDITFWD_OCI_PASSPHRASE_KMS: auditfwd takes no such KMS variable")
        );
        assert_eq!(kms.calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_variable_and_its_kms_form_are_exclusive() {
        let err = decrypt_kms_vars(
            vars(&[
                ("AUDITFWD_OCI_KEY", PEM),
                (
                    "AUDITFWD_OCI_KEY_KMS",
                    &FakeKms::encrypt("AUDITFWD_OCI_KEY", b"k"),
                ),
            ]),
            &FakeKms::new(),
        )
        .await
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "AUDITFWD_OCI_KEY_KMS: AUDITFWD_OCI_KEY is set too; give the secret once, either as \
             plaintext in AUDITFWD_OCI_KEY or as KMS ciphertext in AUDITFWD_OCI_KEY_KMS"
        );
        assert!(!err.to_string().contains("BEGIN"));
    }

    #[tokio::test]
    async fn bad_base64_names_the_variable() {
        let err = decrypt_kms_vars(
            vars(&[("AUDITFWD_SYSLOG_TLS_KEY_KMS", "not*base64")]),
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
        let err = decrypt_kms_vars(
            vars(&[(
                "AUDITFWD_OCI_KEY_KMS",
                &FakeKms::encrypt("AUDITFWD_OCI_KEY_PASSPHRASE", b"s3cret"),
            )]),
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
    async fn kms_unavailability_is_retryable() {
        let kms = FakeKms::failing(|| DecryptError::Unavailable {
            code: "ThrottlingException".into(),
            message: String::new(),
        });
        let err = decrypt_kms_vars(
            vars(&[(
                "AUDITFWD_OCI_KEY_KMS",
                &FakeKms::encrypt("AUDITFWD_OCI_KEY", b"k"),
            )]),
            &kms,
        )
        .await
        .unwrap_err();
        assert!(err.is_retryable(), "{err}");
        assert_eq!(err.variable(), "AUDITFWD_OCI_KEY_KMS");
    }

    #[tokio::test]
    async fn binary_plaintext_is_refused_without_showing_it() {
        let err = decrypt_kms_vars(
            vars(&[(
                "AUDITFWD_OCI_KEY_KMS",
                &FakeKms::encrypt("AUDITFWD_OCI_KEY", &[0x30, 0x82, 0xff, 0xfe]),
            )]),
            &FakeKms::new(),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, SecretsError::NotUtf8 { .. }), "{err}");
        assert!(
            err.to_string()
                .starts_with("AUDITFWD_OCI_KEY_KMS: the decrypted secret is not UTF-8")
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
