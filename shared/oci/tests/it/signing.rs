//! What arrives on the wire verifies against the public key: the signing string is rebuilt
//! here from the request as the server received it, independently of the client's signer.
//! Both RSA implementations are covered: Oracle's 1024-bit sample key (the `rsa` crate) and a
//! 2048-bit key (AWS-LC).

use auditfwd_oci::{RetryConfig, TimeoutConfig, audit, object_storage};
use base64::Engine as _;
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePrivateKey as _;
use rsa::signature::Verifier as _;
use sha2::{Digest as _, Sha256};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::support::{
    FIXTURES, KEY_2048, SAMPLE_KEY, compartment, config_with_credentials, credentials_with_key,
    window,
};

/// Checks the request's signature with the public half of the fixture `key_file`; returns the
/// signed header names.
fn verify(req: &Request, key_file: &str) -> Vec<String> {
    let auth = req
        .headers
        .get("authorization")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let param = |name: &str| {
        let start = auth.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        auth[start..].split('"').next().unwrap().to_owned()
    };
    assert!(auth.starts_with("Signature "));
    assert_eq!(param("version"), "1");
    assert_eq!(param("algorithm"), "rsa-sha256");
    assert_eq!(param("keyId"), credentials_with_key(key_file).key_id());
    let names: Vec<String> = param("headers").split(' ').map(str::to_owned).collect();
    let lines: Vec<String> = names
        .iter()
        .map(|n| {
            if n == "(request-target)" {
                let target = match req.url.query() {
                    Some(q) => format!("{}?{q}", req.url.path()),
                    None => req.url.path().to_owned(),
                };
                format!(
                    "(request-target): {} {target}",
                    req.method.as_str().to_lowercase()
                )
            } else {
                format!(
                    "{n}: {}",
                    req.headers
                        .get(n.as_str())
                        .unwrap_or_else(|| panic!("signed header {n} missing"))
                        .to_str()
                        .unwrap()
                )
            }
        })
        .collect();
    let pem = std::fs::read_to_string(format!("{FIXTURES}/{key_file}")).unwrap();
    let public = rsa::RsaPrivateKey::from_pkcs1_pem(&pem)
        .or_else(|_| rsa::RsaPrivateKey::from_pkcs8_pem(&pem))
        .unwrap()
        .to_public_key();
    let sig = base64::engine::general_purpose::STANDARD
        .decode(param("signature"))
        .unwrap();
    VerifyingKey::<Sha256>::new(public)
        .verify(
            lines.join("\n").as_bytes(),
            &Signature::try_from(sig.as_slice()).unwrap(),
        )
        .expect("signature verifies");
    if let Some(h) = req.headers.get("x-content-sha256") {
        let expected = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&req.body));
        assert_eq!(h.to_str().unwrap(), expected);
    }
    names
}

#[tokio::test]
async fn get_and_put_object_requests_verify_against_the_public_key() {
    for key_file in [SAMPLE_KEY, KEY_2048] {
        requests_signed_with_verify(key_file).await;
    }
}

async fn requests_signed_with_verify(key_file: &str) {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string("[]")
                .insert_header("etag", "e1"),
        )
        .mount(&server)
        .await;
    let cfg = config_with_credentials(
        &server,
        credentials_with_key(key_file),
        RetryConfig::disabled(),
        TimeoutConfig::default(),
    );
    audit::Client::new(&cfg)
        .list_events()
        .compartment_id(compartment())
        .window(window())
        .send()
        .await
        .unwrap();
    object_storage::Client::new(&cfg)
        .put_object()
        .namespace("ns")
        .bucket("b")
        .object("o/1 é")
        .body("{}")
        .send()
        .await
        .unwrap();

    let requests = server.received_requests().await.unwrap();
    let get = verify(&requests[0], key_file);
    assert_eq!(get, ["date", "(request-target)", "host"]);
    let host = requests[0].headers.get("host").unwrap().to_str().unwrap();
    assert_eq!(host, server.address().to_string(), "host carries the port");
    let put = verify(&requests[1], key_file);
    assert_eq!(
        put,
        ["date", "(request-target)", "host"],
        "PutObject is signed without body headers"
    );
    assert_eq!(&requests[1].body[..], b"{}");
}
