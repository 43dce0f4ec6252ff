//! `SecretsManagerFetcher` and `SsmParameterFetcher` against moto's Secrets Manager and SSM:
//! each secret form fetched by ARN or name, together and concurrently, and the failures a user
//! meets (no such secret or parameter, a binary secret, nothing listening) typed and explained
//! without the value.

use auditfwd_secrets::{
    AwsSecrets, CallError, ExposeSecret, SecretFetcher, SecretPlan, SecretsError,
    SecretsManagerFetcher, Service, SsmParameterFetcher,
};
use aws_sdk_secretsmanager::primitives::Blob;
use aws_sdk_ssm::types::ParameterType;

use crate::moto::{Moto, sdk_config};

const PEM: &str =
    "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n";

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_come_from_secrets_manager_and_parameter_store() {
    let moto = Moto::start();
    let config = moto.sdk_config();
    let sm = aws_sdk_secretsmanager::Client::new(&config);
    let ssm = aws_sdk_ssm::Client::new(&config);
    let key_arn = sm
        .create_secret()
        .name("auditfwd/oci-key")
        .secret_string(PEM)
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    sm.create_secret()
        .name("auditfwd/tls-key")
        .secret_string("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----\n")
        .send()
        .await
        .unwrap();
    ssm.put_parameter()
        .name("/auditfwd/oci-key-passphrase")
        .value("correct horse")
        .r#type(ParameterType::SecureString)
        .send()
        .await
        .unwrap();

    let plan = SecretPlan::from_vars(vars(&[
        ("AUDITFWD_OCI_KEY_SECRET_ARN", &key_arn),
        (
            "AUDITFWD_OCI_KEY_PASSPHRASE_SSM_PARAMETER",
            "/auditfwd/oci-key-passphrase",
        ),
        ("AUDITFWD_SYSLOG_TLS_KEY_SECRET_ARN", "auditfwd/tls-key"),
        ("AUDITFWD_OCI_REGIONS", "us-ashburn-1"),
    ]))
    .unwrap();
    let secrets = AwsSecrets::new(&config).fetch(plan).await.unwrap();
    let got: Vec<(&str, &str)> = secrets
        .iter()
        .map(|(k, v)| (k.as_str(), v.expose_secret()))
        .collect();
    assert_eq!(
        got.len(),
        3,
        "{:?}",
        got.iter().map(|g| g.0).collect::<Vec<_>>()
    );
    assert_eq!(got[0], ("AUDITFWD_OCI_KEY", PEM));
    assert_eq!(got[1], ("AUDITFWD_OCI_KEY_PASSPHRASE", "correct horse"));
    assert_eq!(got[2].0, "AUDITFWD_SYSLOG_TLS_KEY");
    assert!(got[2].1.starts_with("-----BEGIN EC PRIVATE KEY-----"));

    // A parameter read with decryption, by its ARN too.
    let by_arn = "arn:aws:ssm:us-east-1:123456789012:parameter/auditfwd/oci-key-passphrase";
    let value = SsmParameterFetcher::new(&config)
        .fetch(by_arn)
        .await
        .unwrap();
    assert_eq!(value.expose_secret(), "correct horse");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_binary_secret_is_a_typed_error_without_the_value() {
    let moto = Moto::start();
    let config = moto.sdk_config();
    let sm = aws_sdk_secretsmanager::Client::new(&config);
    sm.create_secret()
        .name("auditfwd/binary")
        .secret_binary(Blob::new(b"\x30\x82 not text".to_vec()))
        .send()
        .await
        .unwrap();
    let aws = AwsSecrets::new(&config);

    let err = aws
        .fetch(
            SecretPlan::from_vars(vars(&[("AUDITFWD_OCI_KEY_SECRET_ARN", "auditfwd/nope")]))
                .unwrap(),
        )
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(&err, SecretsError::Fetch { service: Service::SecretsManager, id, source: CallError::Rejected { code, .. }, .. }
            if id == "auditfwd/nope" && code == "ResourceNotFoundException"),
        "{text}"
    );
    assert!(
        text.contains("no such secret: check the ARN or name"),
        "{text}"
    );
    assert!(!err.is_retryable());

    let err = aws
        .fetch(
            SecretPlan::from_vars(vars(&[(
                "AUDITFWD_OCI_KEY_SSM_PARAMETER",
                "/auditfwd/nope",
            )]))
            .unwrap(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SecretsError::Fetch { service: Service::SsmParameterStore, source: CallError::Rejected { code, .. }, .. }
            if code == "ParameterNotFound"),
        "{err}"
    );
    assert!(!err.is_retryable());

    let err = SecretsManagerFetcher::new(&config)
        .fetch("auditfwd/binary")
        .await
        .unwrap_err();
    assert!(matches!(err, CallError::Invalid { .. }), "{err}");
    assert!(!err.to_string().contains("not text"));
}

#[tokio::test]
async fn nothing_listening_is_retryable() {
    // A port nothing listens on: connection refused, after the SDK's own retries.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = sdk_config(&format!("http://127.0.0.1:{port}"));
    let err = AwsSecrets::new(&config)
        .fetch(SecretPlan::from_vars(vars(&[("AUDITFWD_OCI_KEY_SSM_PARAMETER", "/x")])).unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            SecretsError::Fetch {
                source: CallError::Transport { .. },
                ..
            }
        ),
        "{err}"
    );
    assert!(err.is_retryable());
}
