//! Errors. Messages name the variable and what to do; none contains a secret (the value is
//! never formatted, and the AWS services do not echo it).

use std::fmt;

/// The AWS service a secret is fetched from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// AWS KMS (`Decrypt`).
    Kms,
    /// AWS Secrets Manager (`GetSecretValue`).
    SecretsManager,
    /// AWS Systems Manager Parameter Store (`GetParameter` with decryption).
    SsmParameterStore,
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Service::Kms => "KMS",
            Service::SecretsManager => "Secrets Manager",
            Service::SsmParameterStore => "SSM Parameter Store",
        })
    }
}

/// Why the secret variables could not be turned into secrets.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// An `AUDITFWD_*_KMS`, `_SECRET_ARN` or `_SSM_PARAMETER` variable for a variable auditfwd
    /// does not take as a secret (a typo, most likely).
    #[error(
        "{variable}: auditfwd takes no such variable (the secrets that may be given this way \
         are AUDITFWD_OCI_KEY, AUDITFWD_OCI_KEY_PASSPHRASE and AUDITFWD_SYSLOG_TLS_KEY, each \
         with _KMS, _SECRET_ARN or _SSM_PARAMETER added)"
    )]
    UnknownVariable {
        /// The variable as given.
        variable: String,
    },
    /// The same secret is given twice (plain, or in two forms).
    #[error(
        "{variable}: {other} is set too; give the secret once, either as plaintext in {plain} \
         or in one of {plain}_KMS, {plain}_SECRET_ARN and {plain}_SSM_PARAMETER"
    )]
    BothSet {
        /// One of the variables.
        variable: String,
        /// The other.
        other: String,
        /// The plain variable both stand for.
        plain: String,
    },
    /// The value is not base64.
    #[error(
        "{variable}: not base64 ({source}); expected the CiphertextBlob printed by \
         scripts/encrypt-secret or `aws kms encrypt --output text`"
    )]
    NotBase64 {
        /// The `_KMS` variable.
        variable: String,
        /// The decoding error (a position in the ciphertext, never plaintext).
        source: base64::DecodeError,
    },
    /// KMS did not decrypt it.
    #[error(
        "{variable}: KMS could not decrypt it with encryption context {context}: {source}{}",
        kms_hint(source)
    )]
    Decrypt {
        /// The `_KMS` variable.
        variable: String,
        /// The encryption context used, as `auditfwd:variable=<name>`.
        context: String,
        /// What KMS (or the way to it) said.
        source: CallError,
    },
    /// Secrets Manager or Parameter Store did not give the value.
    #[error("{variable}: {service} did not give {id}: {source}{}", fetch_hint(*service, source))]
    Fetch {
        /// The `_SECRET_ARN` or `_SSM_PARAMETER` variable.
        variable: String,
        /// Which service.
        service: Service,
        /// The secret's ARN or name, or the parameter's (not secret).
        id: String,
        /// What the service (or the way to it) said.
        source: CallError,
    },
    /// The plaintext is not UTF-8 text (a PEM or a passphrase always is).
    #[error(
        "{variable}: the decrypted secret is not UTF-8 text; encrypt the PEM file or the \
         passphrase itself"
    )]
    NotUtf8 {
        /// The `_KMS` variable.
        variable: String,
    },
    /// The secret is empty.
    #[error("{variable}: the secret it names is empty")]
    Empty {
        /// The variable.
        variable: String,
    },
}

impl SecretsError {
    /// Whether trying again later may succeed: only when the service was unreachable or busy;
    /// a bad variable, or a secret the service refuses, stays bad.
    pub fn is_retryable(&self) -> bool {
        match self {
            SecretsError::Decrypt { source, .. } | SecretsError::Fetch { source, .. } => {
                source.is_retryable()
            }
            SecretsError::UnknownVariable { .. }
            | SecretsError::BothSet { .. }
            | SecretsError::NotBase64 { .. }
            | SecretsError::NotUtf8 { .. }
            | SecretsError::Empty { .. } => false,
        }
    }

    /// The variable the problem is about.
    pub fn variable(&self) -> &str {
        match self {
            SecretsError::UnknownVariable { variable }
            | SecretsError::BothSet { variable, .. }
            | SecretsError::NotBase64 { variable, .. }
            | SecretsError::Decrypt { variable, .. }
            | SecretsError::Fetch { variable, .. }
            | SecretsError::NotUtf8 { variable }
            | SecretsError::Empty { variable } => variable,
        }
    }
}

/// Why one call to an AWS service failed, split by where it happened.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The service answered and refused: no such secret, access denied, a ciphertext made
    /// for another context or key, a disabled key. Not retryable.
    #[error("{code}{}", colon(message))]
    Rejected {
        /// The error code, e.g. `InvalidCiphertextException`, `ResourceNotFoundException`.
        code: String,
        /// The service's message (often empty).
        message: String,
    },
    /// The service answered that it cannot serve now (throttling, an internal error, a
    /// dependency timeout). Retryable.
    #[error(
        "{code}{}: the service is busy or unavailable, try again",
        colon(message)
    )]
    Unavailable {
        /// The error code.
        code: String,
        /// The service's message (often empty).
        message: String,
    },
    /// No usable answer: the request timed out, the connection failed, or the response could
    /// not be read. Retryable.
    #[error("no answer from the service")]
    Transport {
        /// The SDK's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The service answered success without the value, or the request could not be built.
    /// Not retryable.
    #[error("unusable exchange: {message}")]
    Invalid {
        /// What was wrong.
        message: String,
    },
}

/// The KMS `Decrypt` failure (the name the [`crate::Decrypter`] trait has always used).
pub type DecryptError = CallError;

impl CallError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            CallError::Unavailable { .. } | CallError::Transport { .. }
        )
    }

    fn code(&self) -> &str {
        match self {
            CallError::Rejected { code, .. } | CallError::Unavailable { code, .. } => code,
            CallError::Transport { .. } | CallError::Invalid { .. } => "",
        }
    }
}

fn colon(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

fn kms_hint(e: &CallError) -> &'static str {
    match e.code() {
        "InvalidCiphertextException" => {
            " (the ciphertext was made for another variable's encryption context or another \
             key, or is damaged: encrypt it again with scripts/encrypt-secret --variable and \
             the name without _KMS)"
        }
        "AccessDeniedException" => {
            " (the function's role may not decrypt with the key this ciphertext was made with: \
             encrypt it with the stack's KMS key)"
        }
        "DisabledException" | "KMSInvalidStateException" => {
            " (the key is disabled or pending deletion)"
        }
        "IncorrectKeyException" | "NotFoundException" => {
            " (the ciphertext was made with another key)"
        }
        _ => "",
    }
}

fn fetch_hint(service: Service, e: &CallError) -> &'static str {
    match (service, e.code()) {
        (Service::SecretsManager, "ResourceNotFoundException") => {
            " (no such secret: check the ARN or name, and the region)"
        }
        (Service::SecretsManager, "AccessDeniedException") => {
            " (the role needs secretsmanager:GetSecretValue on the secret, and kms:Decrypt on \
             its key if that is not the AWS-managed one)"
        }
        (Service::SecretsManager, "DecryptionFailure") => {
            " (Secrets Manager could not decrypt the secret with its KMS key)"
        }
        (Service::SecretsManager, "InvalidRequestException") => {
            " (the secret is scheduled for deletion, or has no current version)"
        }
        (Service::SsmParameterStore, "ParameterNotFound") => {
            " (no such parameter: check the name and the region)"
        }
        (Service::SsmParameterStore, "AccessDeniedException") => {
            " (the role needs ssm:GetParameter on the parameter, and kms:Decrypt on its key for \
             a SecureString)"
        }
        (Service::SsmParameterStore, "InvalidKeyId") => {
            " (the parameter's KMS key is disabled, deleted or not usable by the role)"
        }
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejection_explains_the_encryption_context() {
        let e = SecretsError::Decrypt {
            variable: "AUDITFWD_OCI_KEY_KMS".into(),
            context: "auditfwd:variable=AUDITFWD_OCI_KEY".into(),
            source: CallError::Rejected {
                code: "InvalidCiphertextException".into(),
                message: String::new(),
            },
        };
        let text = e.to_string();
        assert!(text.starts_with("AUDITFWD_OCI_KEY_KMS: KMS could not decrypt it with encryption context auditfwd:variable=AUDITFWD_OCI_KEY: InvalidCiphertextException (the ciphertext was made for another variable"), "{text}");
        assert!(!e.is_retryable());
        assert_eq!(e.variable(), "AUDITFWD_OCI_KEY_KMS");
    }

    #[test]
    fn a_missing_secret_names_the_service_the_id_and_what_to_check() {
        let e = SecretsError::Fetch {
            variable: "AUDITFWD_OCI_KEY_SECRET_ARN".into(),
            service: Service::SecretsManager,
            id: "auditfwd/oci-key".into(),
            source: CallError::Rejected {
                code: "ResourceNotFoundException".into(),
                message: "Secrets Manager can't find the specified secret.".into(),
            },
        };
        assert_eq!(
            e.to_string(),
            "AUDITFWD_OCI_KEY_SECRET_ARN: Secrets Manager did not give auditfwd/oci-key: \
             ResourceNotFoundException: Secrets Manager can't find the specified secret. (no such \
             secret: check the ARN or name, and the region)"
        );
        assert!(!e.is_retryable());
    }

    #[test]
    fn only_unavailable_and_transport_are_retryable() {
        let unavailable = CallError::Unavailable {
            code: "ThrottlingException".into(),
            message: "Rate exceeded".into(),
        };
        assert_eq!(
            unavailable.to_string(),
            "ThrottlingException: Rate exceeded: the service is busy or unavailable, try again"
        );
        assert!(unavailable.is_retryable());
        assert!(
            CallError::Transport {
                source: "timed out".into()
            }
            .is_retryable()
        );
        assert!(
            !CallError::Invalid {
                message: "no plaintext".into()
            }
            .is_retryable()
        );
        assert!(
            !SecretsError::UnknownVariable {
                variable: "AUDITFWD_OCI_KY_KMS".into()
            }
            .is_retryable()
        );
        let fetch = SecretsError::Fetch {
            variable: "AUDITFWD_OCI_KEY_SSM_PARAMETER".into(),
            service: Service::SsmParameterStore,
            id: "/auditfwd/key".into(),
            source: unavailable,
        };
        assert!(fetch.is_retryable());
    }
}
