//! `scripts/encrypt-secret` with the real aws CLI against moto, its output decrypted by this
//! crate: the script and the crate agree on the encryption context.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use auditfwd_secrets::{ExposeSecret, KmsDecrypter, SecretsError};

use crate::moto::{Moto, venv_bin};

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/encrypt-secret")
}

/// Runs the script with only the environment it needs, so the machine's AWS profile or
/// region cannot leak in.
fn run(moto: &Moto, home: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let aws = venv_bin().join("aws");
    assert!(
        aws.exists(),
        "the aws CLI is not installed at {}: run scripts/setup-dev",
        aws.display()
    );
    let path = format!(
        "{}:{}",
        venv_bin().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut child = Command::new(script())
        .args(args)
        .env_clear()
        .env("PATH", path)
        .env("HOME", home)
        .env("AWS_CONFIG_FILE", home.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("credentials"))
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run scripts/encrypt-secret");
    let mut input = child.stdin.take().unwrap();
    if let Some(bytes) = stdin {
        input.write_all(bytes).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "encrypt-secret failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[tokio::test]
async fn encrypt_secret_output_decrypts_under_its_variable_only() {
    let moto = Moto::start();
    let config = moto.sdk_config();
    let kms = aws_sdk_kms::Client::new(&config);
    let key = kms.create_key().send().await.unwrap().key_metadata.unwrap();
    kms.create_alias()
        .alias_name("alias/auditfwd-test")
        .target_key_id(key.key_id())
        .send()
        .await
        .unwrap();
    let home = tempfile::tempdir().unwrap();
    let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\n";
    let pem_file = home.path().join("oci_api_key.pem");
    std::fs::write(&pem_file, pem).unwrap();

    let key_ciphertext = stdout(&run(
        &moto,
        home.path(),
        &[
            "--key-id",
            "alias/auditfwd-test",
            "--variable",
            "AUDITFWD_OCI_KEY",
            "--file",
            pem_file.to_str().unwrap(),
        ],
        None,
    ));
    // The passphrase from stdin, as `echo ... |` gives it (the newline is not part of it).
    let passphrase_ciphertext = stdout(&run(
        &moto,
        home.path(),
        &[
            "--key-id",
            key.arn().unwrap(),
            "--variable",
            "AUDITFWD_OCI_KEY_PASSPHRASE",
        ],
        Some(b"correct horse\n"),
    ));
    assert!(!key_ciphertext.contains("BEGIN"));

    let decrypter = KmsDecrypter::new(&config);
    let secrets = crate::moto::resolve(
        [
            ("AUDITFWD_OCI_KEY_KMS".to_owned(), key_ciphertext.clone()),
            (
                "AUDITFWD_OCI_KEY_PASSPHRASE_KMS".to_owned(),
                passphrase_ciphertext,
            ),
        ],
        &decrypter,
    )
    .await
    .unwrap();
    assert_eq!(secrets.len(), 2);
    assert_eq!(secrets[0].0, "AUDITFWD_OCI_KEY");
    assert_eq!(secrets[0].1.expose_secret(), pem);
    assert_eq!(secrets[1].1.expose_secret(), "correct horse");

    // The key's ciphertext in the syslog key's variable: refused by KMS.
    let err = crate::moto::resolve(
        [("AUDITFWD_SYSLOG_TLS_KEY_KMS".to_owned(), key_ciphertext)],
        &decrypter,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, SecretsError::Decrypt { .. }), "{err}");
}

#[test]
fn encrypt_secret_refuses_unknown_variables_before_calling_aws() {
    // No moto needed: the name is checked first (the endpoint below is never contacted).
    let home = tempfile::tempdir().unwrap();
    let pem_file = home.path().join("key.pem");
    std::fs::write(&pem_file, "x").unwrap();
    for (variable, expected) in [
        (
            "AUDITFWD_OCI_KEY_FILE",
            "AUDITFWD_OCI_KEY_FILE cannot be given as KMS ciphertext",
        ),
        ("AUDITFWD_OCI_KEY_KMS", "give the variable without _KMS"),
    ] {
        let out = Command::new(script())
            .args(["--key-id", "alias/x", "--variable", variable, "--file"])
            .arg(&pem_file)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{err}");
        assert!(out.stdout.is_empty());
    }
}
