//! Errors. Messages name the variable and what to do; none contains plaintext (the secret is
//! never formatted, and KMS does not echo it).

/// Why the KMS-encrypted variables could not be turned into secrets.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// An `AUDITFWD_*_KMS` variable that auditfwd does not take (a typo, most likely).
    #[error(
        "{variable}: auditfwd takes no such KMS variable (expected one of AUDITFWD_OCI_KEY_KMS, \
         AUDITFWD_OCI_KEY_PASSPHRASE_KMS, AUDITFWD_SYSLOG_TLS_KEY_KMS)"
    )]
    UnknownVariable {
        /// The variable as given.
        variable: String,
    },
    /// Both the plaintext variable and its `_KMS` form are set.
    #[error(
        "{variable}: {plain} is set too; give the secret once, either as plaintext in {plain} \
         or as KMS ciphertext in {variable}"
    )]
    BothSet {
        /// The `_KMS` variable.
        variable: String,
        /// The plaintext variable.
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
    #[error("{variable}: KMS could not decrypt it with encryption context {context}: {source}")]
    Decrypt {
        /// The `_KMS` variable.
        variable: String,
        /// The encryption context used, as `auditfwd:variable=<name>`.
        context: String,
        /// What KMS (or the way to it) said.
        source: DecryptError,
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
}

impl SecretsError {
    /// Whether trying again later may succeed: only when KMS was unreachable or busy; a bad
    /// variable or a ciphertext KMS refuses stays bad.
    pub fn is_retryable(&self) -> bool {
        match self {
            SecretsError::Decrypt { source, .. } => source.is_retryable(),
            SecretsError::UnknownVariable { .. }
            | SecretsError::BothSet { .. }
            | SecretsError::NotBase64 { .. }
            | SecretsError::NotUtf8 { .. } => false,
        }
    }

    /// The variable the problem is about.
    pub fn variable(&self) -> &str {
        match self {
            SecretsError::UnknownVariable { variable }
            | SecretsError::BothSet { variable, .. }
            | SecretsError::NotBase64 { variable, .. }
            | SecretsError::Decrypt { variable, .. }
            | SecretsError::NotUtf8 { variable } => variable,
        }
    }
}

/// Why one KMS `Decrypt` failed, split by where it happened.
#[derive(Debug, thiserror::Error)]
pub enum DecryptError {
    /// KMS answered and refused: the ciphertext was made with another encryption context or
    /// key, or is damaged (`InvalidCiphertextException`); the role may not use the key
    /// (`AccessDeniedException`); the key is disabled or pending deletion. Not retryable.
    #[error("{code}{}{}", colon(message), hint(code))]
    Rejected {
        /// The KMS error code, e.g. `InvalidCiphertextException`.
        code: String,
        /// KMS's message (often empty).
        message: String,
    },
    /// KMS answered that it cannot serve now (throttling, an internal error, a dependency
    /// timeout, an unavailable key). Retryable.
    #[error("{code}{}: KMS is busy or unavailable, try again", colon(message))]
    Unavailable {
        /// The KMS error code.
        code: String,
        /// KMS's message (often empty).
        message: String,
    },
    /// No usable answer: the request timed out, the connection failed, or the response could
    /// not be read. Retryable.
    #[error("no answer from KMS")]
    Transport {
        /// The SDK's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// KMS answered success without the plaintext, or the request could not be built. Not
    /// retryable.
    #[error("unusable KMS exchange: {message}")]
    Invalid {
        /// What was wrong.
        message: String,
    },
}

impl DecryptError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            DecryptError::Unavailable { .. } | DecryptError::Transport { .. }
        )
    }
}

fn colon(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

fn hint(code: &str) -> &'static str {
    match code {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejection_explains_the_encryption_context() {
        let e = SecretsError::Decrypt {
            variable: "AUDITFWD_OCI_KEY_KMS".into(),
            context: "auditfwd:variable=AUDITFWD_OCI_KEY".into(),
            source: DecryptError::Rejected {
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
    fn only_unavailable_and_transport_are_retryable() {
        let unavailable = DecryptError::Unavailable {
            code: "ThrottlingException".into(),
            message: "Rate exceeded".into(),
        };
        assert_eq!(
            unavailable.to_string(),
            "ThrottlingException: Rate exceeded: KMS is busy or unavailable, try again"
        );
        assert!(unavailable.is_retryable());
        assert!(
            DecryptError::Transport {
                source: "timed out".into()
            }
            .is_retryable()
        );
        assert!(
            !DecryptError::Invalid {
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
    }
}
