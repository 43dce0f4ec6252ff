//! `KmsDecrypter` and `decrypt_kms_vars` against moto's KMS.
//!
//! moto enforces the encryption context as real KMS does: it authenticates the context as
//! AES-GCM associated data, so Decrypt with another context (or none) fails with
//! `InvalidCiphertextException`. That is what these tests rely on.

use auditfwd_secrets::{
    DecryptError, Decrypter, ExposeSecret, KmsDecrypter, SecretsError, encryption_context,
};
use aws_sdk_kms::primitives::Blob;
use base64::Engine as _;

use crate::moto::{Moto, sdk_config};

const PEM: &str = "-----BEGIN PRIVATE KEY-----\n\
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n\
MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\n\
-----END PRIVATE KEY-----\n";

async fn create_key(kms: &aws_sdk_kms::Client) -> String {
    kms.create_key()
        .description("auditfwd test")
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .arn
        .unwrap()
}

/// What `aws kms encrypt ... --query CiphertextBlob --output text` prints.
async fn encrypt(
    kms: &aws_sdk_kms::Client,
    key: &str,
    context: Option<&str>,
    plaintext: &[u8],
) -> String {
    let mut request = kms.encrypt().key_id(key).plaintext(Blob::new(plaintext));
    if let Some(variable) = context {
        request = request
            .set_encryption_context(Some(encryption_context(variable).into_iter().collect()));
    }
    let blob = request.send().await.unwrap().ciphertext_blob.unwrap();
    base64::engine::general_purpose::STANDARD.encode(blob.into_inner())
}

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test]
async fn decrypts_kms_variables_and_refuses_a_swapped_ciphertext() {
    let moto = Moto::start();
    let config = moto.sdk_config();
    let kms = aws_sdk_kms::Client::new(&config);
    let key = create_key(&kms).await;
    let decrypter = KmsDecrypter::new(&config);

    let key_ciphertext = encrypt(&kms, &key, Some("AUDITFWD_OCI_KEY"), PEM.as_bytes()).await;
    let passphrase_ciphertext = encrypt(
        &kms,
        &key,
        Some("AUDITFWD_OCI_KEY_PASSPHRASE"),
        b"correct horse",
    )
    .await;

    let secrets = crate::moto::resolve(
        vars(&[
            ("AUDITFWD_OCI_KEY_KMS", &key_ciphertext),
            ("AUDITFWD_OCI_KEY_PASSPHRASE_KMS", &passphrase_ciphertext),
            ("AUDITFWD_OCI_REGIONS", "us-ashburn-1"),
        ]),
        &decrypter,
    )
    .await
    .unwrap();
    let secrets: Vec<(&str, &str)> = secrets
        .iter()
        .map(|(k, v)| (k.as_str(), v.expose_secret()))
        .collect();
    assert_eq!(
        secrets,
        [
            ("AUDITFWD_OCI_KEY", PEM),
            ("AUDITFWD_OCI_KEY_PASSPHRASE", "correct horse"),
        ]
    );

    // The passphrase's ciphertext swapped into the key's variable: KMS refuses it.
    let err = crate::moto::resolve(
        vars(&[("AUDITFWD_OCI_KEY_KMS", &passphrase_ciphertext)]),
        &decrypter,
    )
    .await
    .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(
            &err,
            SecretsError::Decrypt { source: DecryptError::Rejected { code, .. }, .. }
                if code == "InvalidCiphertextException"
        ),
        "{text}"
    );
    assert!(
        text.starts_with(
            "AUDITFWD_OCI_KEY_KMS: KMS could not decrypt it with encryption context \
             auditfwd:variable=AUDITFWD_OCI_KEY: InvalidCiphertextException (the ciphertext \
             was made for another variable"
        ),
        "{text}"
    );
    assert!(!text.contains("correct horse"), "{text}");
    assert!(!err.is_retryable());

    // Encrypted without any context (a plain `aws kms encrypt`): refused too.
    let bare = encrypt(&kms, &key, None, PEM.as_bytes()).await;
    let err = crate::moto::resolve(vars(&[("AUDITFWD_OCI_KEY_KMS", &bare)]), &decrypter)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SecretsError::Decrypt {
                source: DecryptError::Rejected { .. },
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn an_unreachable_kms_is_a_retryable_transport_error() {
    // A port nothing listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let decrypter = KmsDecrypter::new(&sdk_config(&format!("http://127.0.0.1:{port}")));
    let err = decrypter
        .decrypt(b"ciphertext", &encryption_context("AUDITFWD_OCI_KEY"))
        .await
        .unwrap_err();
    assert!(matches!(err, DecryptError::Transport { .. }), "{err}");
    assert!(err.is_retryable());
}
