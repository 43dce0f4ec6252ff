//! OCI request signing: draft-cavage-http-signatures-08, as OCI calls it "version 1".
//!
//! Every request signs `date (request-target) host`. PUT, POST and PATCH also sign
//! `content-length content-type x-content-sha256`, except where an API streams its body
//! (Object Storage PutObject), which signs only the generic three. The signing string is
//! one `name: value` line per signed header, in that order, joined with `\n`.
//! `(request-target)` is the lowercase method and the path and query exactly as sent.

use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use http::Method;
use http::header::{
    AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, DATE, HOST, HeaderMap, HeaderName, HeaderValue,
};
use sha2::{Digest as _, Sha256};
use url::Url;

use crate::auth::ApiKeyCredentials;

const GENERIC_HEADERS: [&str; 3] = ["date", "(request-target)", "host"];
const BODY_HEADERS: [&str; 3] = ["content-length", "content-type", "x-content-sha256"];
static X_CONTENT_SHA256: HeaderName = HeaderName::from_static("x-content-sha256");

/// Whether a request's body headers are part of the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodySigning {
    /// Sign `content-length content-type x-content-sha256` for PUT, POST and PATCH.
    Standard,
    /// Sign only `date (request-target) host` (Object Storage PutObject streams its body).
    Exclude,
}

/// Why a request could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The URL has no host.
    #[error("URL {0} has no host")]
    NoHost(String),
    /// A header the signature needs is absent.
    #[error("header {0:?} is required for the signature but absent")]
    MissingHeader(String),
    /// A header value is not visible ASCII.
    #[error("header {0:?} is not valid text")]
    InvalidHeader(String),
    /// The RSA implementation failed to sign (it never does for a key it loaded).
    #[error("RSA signing failed in {implementation}")]
    Rsa {
        /// Which implementation: `AWS-LC` or `RustCrypto rsa`.
        implementation: &'static str,
    },
}

/// Adds `date`, `host`, the body headers where they are signed, and `authorization` to
/// `headers`. A `date` (or `x-date`) already present is kept and signed as is.
pub fn sign_request(
    credentials: &ApiKeyCredentials,
    method: &Method,
    url: &Url,
    headers: &mut HeaderMap,
    body: Option<&[u8]>,
    body_signing: BodySigning,
    now: SystemTime,
) -> Result<(), SignError> {
    let header =
        |v: &str| HeaderValue::from_str(v).map_err(|_| SignError::InvalidHeader(v.to_owned()));
    if !headers.contains_key(DATE) && !headers.contains_key("x-date") {
        headers.insert(DATE, header(&httpdate::fmt_http_date(now))?);
    }
    headers.insert(HOST, header(&host_header(url)?)?);
    let sign_body = body_signing == BodySigning::Standard
        && matches!(*method, Method::PUT | Method::POST | Method::PATCH);
    if sign_body {
        let body = body.unwrap_or_default();
        headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
        if !headers.contains_key(CONTENT_TYPE) {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        headers.insert(
            X_CONTENT_SHA256.clone(),
            header(&B64.encode(Sha256::digest(body)))?,
        );
    }
    let mut names: Vec<&str> = GENERIC_HEADERS.to_vec();
    if !headers.contains_key(DATE) {
        names[0] = "x-date";
    }
    if sign_body {
        names.extend(BODY_HEADERS);
    }
    let signing_string = signing_string(method, url, headers, &names)?;
    let signature = credentials
        .key()
        .sign(signing_string.as_bytes())
        .map_err(|failed| SignError::Rsa {
            implementation: failed.0.name(),
        })?;
    let signature = B64.encode(signature);
    let authorization = format!(
        "Signature version=\"1\",headers=\"{}\",keyId=\"{}\",algorithm=\"rsa-sha256\",signature=\"{signature}\"",
        names.join(" "),
        credentials.key_id(),
    );
    headers.insert(AUTHORIZATION, header(&authorization)?);
    Ok(())
}

/// The exact text that is signed for the named headers.
pub fn signing_string(
    method: &Method,
    url: &Url,
    headers: &HeaderMap,
    names: &[&str],
) -> Result<String, SignError> {
    let mut lines = Vec::with_capacity(names.len());
    for name in names {
        let value = if *name == "(request-target)" {
            request_target(method, url)
        } else {
            let v = headers
                .get(*name)
                .ok_or_else(|| SignError::MissingHeader((*name).to_owned()))?;
            v.to_str()
                .map_err(|_| SignError::InvalidHeader((*name).to_owned()))?
                .to_owned()
        };
        lines.push(format!("{name}: {value}"));
    }
    Ok(lines.join("\n"))
}

fn request_target(method: &Method, url: &Url) -> String {
    let method = method.as_str().to_ascii_lowercase();
    match url.query() {
        Some(q) => format!("{method} {}?{q}", url.path()),
        None => format!("{method} {}", url.path()),
    }
}

/// `host[:port]`, the port only when it is not the scheme's default (as HTTP clients send it).
fn host_header(url: &Url) -> Result<String, SignError> {
    let host = url
        .host_str()
        .ok_or_else(|| SignError::NoHost(url.to_string()))?;
    Ok(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    //! Oracle's published test vectors ("Request Signatures" documentation page, and
    //! oracle/oci-go-sdk common/http_signer_test.go), reproduced byte for byte.
    use super::*;
    use crate::auth::{PrivateKey, RsaImplementation};

    const KEY_ID: &str = "ocid1.tenancy.oc1..aaaaaaaaba3pv6wkcr4jqae5f15p2b2m2yt2j6rx32uzr4h25vqstifsfdsq/ocid1.user.oc1..aaaaaaaat5nvwcna5j6aqzjcaty5eqbb6qt2jvpkanghtgdaqedqw3rynjq/20:3b:97:13:55:1c:5b:0d:d3:37:d8:50:4e:c5:3a:34";
    const SAMPLE_DATE: &str = "Thu, 05 Jan 2014 21:31:40 GMT";
    const GET_URL: &str = "https://iaas.us-phoenix-1.oraclecloud.com/20160918/instances?availabilityDomain=Pjwf%3A%20PHX-AD-1&compartmentId=ocid1.compartment.oc1..aaaaaaaam3we6vgnherjq5q2idnccdflvjsnog7mlr6rtdb25gilchfeyjxa&displayName=TeamXInstances&volumeId=ocid1.volume.oc1.phx.abyhqljrgvttnlx73nmrwfaux7kcvzfs3s66izvxf2h4lgvyndsdsnoiwr5q";
    const POST_URL: &str = "https://iaas.us-phoenix-1.oraclecloud.com/20160918/volumeAttachments";
    const POST_BODY: &str = "{\n    \"compartmentId\": \"ocid1.compartment.oc1..aaaaaaaam3we6vgnherjq5q2idnccdflvjsnog7mlr6rtdb25gilchfeyjxa\",\n    \"instanceId\": \"ocid1.instance.oc1.phx.abuw4ljrlsfiqw6vzzxb43vyypt4pkodawglp3wqxjqofakrwvou52gb6s5a\",\n    \"volumeId\": \"ocid1.volume.oc1.phx.abyhqljrgvttnlx73nmrwfaux7kcvzfs3s66izvxf2h4lgvyndsdsnoiwr5q\"\n}";

    fn credentials() -> ApiKeyCredentials {
        let pem = include_str!("../tests/fixtures/oracle-sample-key.pem");
        let credentials = ApiKeyCredentials::with_key_id_for_tests(
            PrivateKey::from_pem(pem, None).unwrap(),
            KEY_ID,
        );
        // Oracle's key is 1024 bits, which AWS-LC refuses: these vectors test the rsa crate path.
        assert_eq!(
            credentials.key().implementation(),
            RsaImplementation::RustCrypto
        );
        credentials
    }

    fn dated() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(DATE, HeaderValue::from_static(SAMPLE_DATE));
        h
    }

    #[test]
    fn get_reproduces_oracles_signature() {
        let url = Url::parse(GET_URL).unwrap();
        let mut headers = dated();
        sign_request(
            &credentials(),
            &Method::GET,
            &url,
            &mut headers,
            None,
            BodySigning::Standard,
            SystemTime::UNIX_EPOCH,
        )
        .unwrap();
        let expected_string = "date: Thu, 05 Jan 2014 21:31:40 GMT\n(request-target): get /20160918/instances?availabilityDomain=Pjwf%3A%20PHX-AD-1&compartmentId=ocid1.compartment.oc1..aaaaaaaam3we6vgnherjq5q2idnccdflvjsnog7mlr6rtdb25gilchfeyjxa&displayName=TeamXInstances&volumeId=ocid1.volume.oc1.phx.abyhqljrgvttnlx73nmrwfaux7kcvzfs3s66izvxf2h4lgvyndsdsnoiwr5q\nhost: iaas.us-phoenix-1.oraclecloud.com";
        assert_eq!(
            signing_string(&Method::GET, &url, &headers, &GENERIC_HEADERS).unwrap(),
            expected_string
        );
        let expected = concat!(
            "Signature version=\"1\",headers=\"date (request-target) host\",keyId=\"ocid1.tenancy.oc1..aaaaaaaaba3pv6wkcr4jqae5f15p2b2m2yt2j6rx32uzr4h25vqstifsfdsq/ocid1.user.oc1..aaaaaaaat5nvwcna5j6aqzjcaty5eqbb6qt2jvpkanghtgdaqedqw3rynjq/20:3b:97:13:55:1c:5b:0d:d3:37:d8:50:4e:c5:3a:34\",algorithm=\"rsa-sha256\",",
            "signature=\"GBas7grhyrhSKHP6AVIj/h5/Vp8bd/peM79H9Wv8kjoaCivujVXlpbKLjMPeDUhxkFIWtTtLBj3sUzaFj34XE6YZAHc9r2DmE4pMwOAy/kiITcZxa1oHPOeRheC0jP2dqbTll8fmTZVwKZOKHYPtrLJIJQHJjNvxFWeHQjMaR7M=\""
        );
        assert_eq!(headers[AUTHORIZATION], expected);
        assert_eq!(headers[HOST], "iaas.us-phoenix-1.oraclecloud.com");
        assert!(
            !headers.contains_key(&X_CONTENT_SHA256),
            "GET signs no body headers"
        );
    }

    #[test]
    fn post_reproduces_oracles_signature_and_body_hash() {
        let url = Url::parse(POST_URL).unwrap();
        let mut headers = dated();
        sign_request(
            &credentials(),
            &Method::POST,
            &url,
            &mut headers,
            Some(POST_BODY.as_bytes()),
            BodySigning::Standard,
            SystemTime::UNIX_EPOCH,
        )
        .unwrap();
        assert_eq!(POST_BODY.len(), 316);
        assert_eq!(
            headers[&X_CONTENT_SHA256],
            "V9Z20UJTvkvpJ50flBzKE32+6m2zJjweHpDMX/U4Uy0="
        );
        assert_eq!(headers[CONTENT_LENGTH], "316");
        assert_eq!(headers[CONTENT_TYPE], "application/json");
        let expected = concat!(
            "Signature version=\"1\",headers=\"date (request-target) host content-length content-type x-content-sha256\",keyId=\"ocid1.tenancy.oc1..aaaaaaaaba3pv6wkcr4jqae5f15p2b2m2yt2j6rx32uzr4h25vqstifsfdsq/ocid1.user.oc1..aaaaaaaat5nvwcna5j6aqzjcaty5eqbb6qt2jvpkanghtgdaqedqw3rynjq/20:3b:97:13:55:1c:5b:0d:d3:37:d8:50:4e:c5:3a:34\",algorithm=\"rsa-sha256\",",
            "signature=\"Mje8vIDPlwIHmD/cTDwRxE7HaAvBg16JnVcsuqaNRim23fFPgQfLoOOxae6WqKb1uPjYEl0qIdazWaBy/Ml8DRhqlocMwoSXv0fbukP8J5N80LCmzT/FFBvIvTB91XuXI3hYfP9Zt1l7S6ieVadHUfqBedWH0itrtPJBgKmrWso=\""
        );
        assert_eq!(headers[AUTHORIZATION], expected);
    }

    #[test]
    fn put_object_signs_without_body_headers_and_host_keeps_the_port() {
        let url =
            Url::parse("http://127.0.0.1:8123/n/ns/b/bucket/o/state%2Fcheckpoint.json").unwrap();
        let mut headers = dated();
        sign_request(
            &credentials(),
            &Method::PUT,
            &url,
            &mut headers,
            Some(b"{}"),
            BodySigning::Exclude,
            SystemTime::UNIX_EPOCH,
        )
        .unwrap();
        let auth = headers[AUTHORIZATION].to_str().unwrap();
        assert!(
            auth.contains("headers=\"date (request-target) host\""),
            "{auth}"
        );
        assert_eq!(headers[HOST], "127.0.0.1:8123");
        assert!(!headers.contains_key(&X_CONTENT_SHA256));
        let s = signing_string(&Method::PUT, &url, &headers, &GENERIC_HEADERS).unwrap();
        assert!(
            s.contains("(request-target): put /n/ns/b/bucket/o/state%2Fcheckpoint.json\n"),
            "{s}"
        );
    }

    #[test]
    fn empty_post_body_hashes_the_empty_string_and_date_is_filled_in() {
        let url = Url::parse(POST_URL).unwrap();
        let mut headers = HeaderMap::new();
        let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_389_000_000);
        sign_request(
            &credentials(),
            &Method::POST,
            &url,
            &mut headers,
            None,
            BodySigning::Standard,
            now,
        )
        .unwrap();
        assert_eq!(
            headers[&X_CONTENT_SHA256],
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
        assert_eq!(headers[CONTENT_LENGTH], "0");
        assert_eq!(headers[DATE], "Mon, 06 Jan 2014 09:20:00 GMT");
    }
}
