//! Verifying OCI request signatures (draft-cavage-http-signatures-08, "version 1") against the
//! registered keys. The signing string is rebuilt from the request exactly as it arrived: the
//! raw request target, the `host` header (with its port), and each listed header's value.

use std::collections::HashMap;

use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use http::{HeaderMap, Method};
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::sha2::Sha256;
use rsa::signature::Verifier as _;
use sha2::Digest as _;

use crate::error::ApiError;
use crate::keys::KeyRegistry;

/// How far a request's date may be from the emulator clock, as OCI allows.
pub const MAX_CLOCK_SKEW: Duration = Duration::minutes(5);

/// Whether OCI requires the body headers to be signed for this method.
pub(crate) fn is_body_method(method: &Method) -> bool {
    matches!(*method, Method::PUT | Method::POST | Method::PATCH)
}

/// The parameters of an `Authorization: Signature ...` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SignatureParams {
    pub(crate) key_id: String,
    pub(crate) algorithm: String,
    pub(crate) headers: Vec<String>,
    pub(crate) signature: String,
    pub(crate) version: Option<String>,
}

/// Parses `Signature k="v",k="v",...` (parameter order free; values never contain quotes).
pub(crate) fn parse_authorization(value: &str) -> Result<SignatureParams, String> {
    let rest = value
        .trim()
        .strip_prefix("Signature")
        .ok_or("authorization scheme is not Signature")?;
    let mut params: HashMap<String, String> = HashMap::new();
    let mut s = rest.trim_start();
    while !s.is_empty() {
        s = s.trim_start_matches([',', ' ', '\t']);
        if s.is_empty() {
            break;
        }
        let eq = s.find('=').ok_or("signature parameter without '='")?;
        let name = s[..eq].trim().to_ascii_lowercase();
        let after = s[eq + 1..].trim_start();
        let after = after
            .strip_prefix('"')
            .ok_or("signature parameter value is not quoted")?;
        let end = after.find('"').ok_or("unterminated signature parameter")?;
        params.insert(name, after[..end].to_string());
        s = &after[end + 1..];
    }
    let mut take = |k: &str| params.remove(k);
    let key_id = take("keyid").ok_or("keyId is missing")?;
    let algorithm = take("algorithm").ok_or("algorithm is missing")?;
    let signature = take("signature").ok_or("signature is missing")?;
    // draft-cavage: a missing headers list means just "date"; OCI then rejects it below.
    let headers = take("headers")
        .unwrap_or_else(|| "date".to_string())
        .split_ascii_whitespace()
        .map(str::to_ascii_lowercase)
        .collect();
    let version = take("version");
    Ok(SignatureParams {
        key_id,
        algorithm,
        headers,
        signature,
        version,
    })
}

/// What a verified request was signed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Principal {
    pub(crate) key_id: String,
    pub(crate) user_id: String,
    pub(crate) fingerprint: String,
}

/// A request as the verifier sees it.
#[derive(Debug)]
pub(crate) struct SignedRequest<'a> {
    pub(crate) method: &'a Method,
    /// The request target exactly as received (path and query, still percent-encoded).
    pub(crate) target: &'a str,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) body: &'a [u8],
    /// Object Storage PutObject may be signed without the body headers.
    pub(crate) body_headers_optional: bool,
}

fn header_value(headers: &HeaderMap, name: &str) -> Option<String> {
    let values: Vec<String> = headers
        .get_all(name)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string())
        .collect();
    if values.is_empty() {
        None
    } else {
        Some(values.join(", "))
    }
}

/// Parses an HTTP date. The weekday is not checked against the date (Oracle's own published
/// signing example is dated "Thu, 05 Jan 2014", a Sunday); the instant is what matters.
pub(crate) fn parse_date(text: &str) -> Option<DateTime<Utc>> {
    let without_weekday = text.split_once(", ").map_or(text, |(_, rest)| rest).trim();
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(without_weekday, "%d %b %Y %H:%M:%S GMT") {
        return Some(t.and_utc());
    }
    httpdate::parse_http_date(text)
        .ok()
        .map(DateTime::<Utc>::from)
}

/// Rebuilds the signing string for the listed headers.
pub(crate) fn signing_string(
    method: &Method,
    target: &str,
    headers: &HeaderMap,
    signed: &[String],
) -> Result<String, ApiError> {
    let mut lines = Vec::with_capacity(signed.len());
    for name in signed {
        if name == "(request-target)" {
            lines.push(format!(
                "(request-target): {} {target}",
                method.as_str().to_ascii_lowercase()
            ));
        } else {
            let value = header_value(headers, name).ok_or_else(|| {
                ApiError::not_authenticated(format!(
                    "The signed header '{name}' is not in the request"
                ))
            })?;
            lines.push(format!("{name}: {value}"));
        }
    }
    Ok(lines.join("\n"))
}

/// Verifies `req`'s signature as OCI would; any failure is `401 NotAuthenticated`.
pub(crate) fn verify(
    req: &SignedRequest<'_>,
    keys: &KeyRegistry,
    tenancy_id: &str,
    now: DateTime<Utc>,
) -> Result<Principal, ApiError> {
    let auth = header_value(req.headers, "authorization").ok_or_else(|| {
        ApiError::not_authenticated(
            "The required information to complete authentication was not provided",
        )
    })?;
    let params = parse_authorization(&auth)
        .map_err(|e| ApiError::not_authenticated(format!("Malformed Authorization header: {e}")))?;
    if params.version.as_deref() != Some("1") {
        return Err(ApiError::not_authenticated(
            "Signature version must be \"1\"",
        ));
    }
    if !params.algorithm.eq_ignore_ascii_case("rsa-sha256") {
        return Err(ApiError::not_authenticated(format!(
            "Unsupported signature algorithm '{}'",
            params.algorithm
        )));
    }
    let parts: Vec<&str> = params.key_id.split('/').collect();
    let [tenancy, user, fingerprint] = parts.as_slice() else {
        return Err(ApiError::not_authenticated(
            "keyId must be <tenancy ocid>/<user ocid>/<fingerprint>",
        ));
    };
    if *tenancy != tenancy_id {
        return Err(ApiError::not_authenticated(format!(
            "Unknown tenancy '{tenancy}'"
        )));
    }
    let registered = keys.get(fingerprint).ok_or_else(|| {
        ApiError::not_authenticated(format!("No API key with fingerprint '{fingerprint}'"))
    })?;
    if let Some(expected_user) = &registered.user_id
        && expected_user != user
    {
        return Err(ApiError::not_authenticated(format!(
            "The key '{fingerprint}' does not belong to user '{user}'"
        )));
    }

    let signed = &params.headers;
    let has = |h: &str| signed.iter().any(|s| s == h);
    let mut required: Vec<&str> = vec!["(request-target)", "host"];
    if !has("x-date") {
        required.push("date");
    }
    if is_body_method(req.method) && !req.body_headers_optional {
        required.extend(["content-length", "content-type", "x-content-sha256"]);
    }
    if let Some(missing) = required.iter().find(|h| !has(h)) {
        return Err(ApiError::not_authenticated(format!(
            "The required header '{missing}' is not signed"
        )));
    }

    let date_header = if has("x-date") { "x-date" } else { "date" };
    let date_text = header_value(req.headers, date_header).ok_or_else(|| {
        ApiError::not_authenticated(format!("The '{date_header}' header is missing"))
    })?;
    let date = parse_date(&date_text).ok_or_else(|| {
        ApiError::not_authenticated(format!("Cannot parse {date_header} '{date_text}'"))
    })?;
    if (now - date).abs() > MAX_CLOCK_SKEW {
        return Err(ApiError::not_authenticated(format!(
            "The request date {date_text} is more than 5 minutes from the server time {}",
            httpdate::fmt_http_date(now.into())
        )));
    }

    let text = signing_string(req.method, req.target, req.headers, signed)?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(params.signature.as_bytes())
        .map_err(|_| ApiError::not_authenticated("The signature is not base64"))?;
    let sig = Signature::try_from(raw.as_slice())
        .map_err(|_| ApiError::not_authenticated("The signature is malformed"))?;
    VerifyingKey::<Sha256>::new(registered.key.clone())
        .verify(text.as_bytes(), &sig)
        .map_err(|_| ApiError::not_authenticated("The signature does not match the request"))?;

    // The signature covers the hash header; the hash must also cover the body we received.
    if has("x-content-sha256") {
        let expected =
            base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(req.body));
        if header_value(req.headers, "x-content-sha256").as_deref() != Some(expected.as_str()) {
            return Err(ApiError::not_authenticated(
                "x-content-sha256 does not match the body",
            ));
        }
    }
    if has("content-length")
        && header_value(req.headers, "content-length").as_deref()
            != Some(req.body.len().to_string().as_str())
    {
        return Err(ApiError::not_authenticated(
            "content-length does not match the body",
        ));
    }

    Ok(Principal {
        key_id: params.key_id.clone(),
        user_id: (*user).to_string(),
        fingerprint: (*fingerprint).to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{TestKey, public_key_from_pem};
    use http::HeaderValue;

    const KEY: &str = include_str!("../tests/fixtures/oracle-sample-key.pem");
    const POST_BODY: &[u8] = include_bytes!("../tests/fixtures/oracle-sample-post-body.json");
    const TENANCY: &str =
        "ocid1.tenancy.oc1..aaaaaaaaba3pv6wkcr4jqae5f15p2b2m2yt2j6rx32uzr4h25vqstifsfdsq";
    const USER: &str =
        "ocid1.user.oc1..aaaaaaaat5nvwcna5j6aqzjcaty5eqbb6qt2jvpkanghtgdaqedqw3rynjq";
    const GET_TARGET: &str = "/20160918/instances?availabilityDomain=Pjwf%3A%20PHX-AD-1&compartmentId=ocid1.compartment.oc1..aaaaaaaam3we6vgnherjq5q2idnccdflvjsnog7mlr6rtdb25gilchfeyjxa&displayName=TeamXInstances&volumeId=ocid1.volume.oc1.phx.abyhqljrgvttnlx73nmrwfaux7kcvzfs3s66izvxf2h4lgvyndsdsnoiwr5q";
    // Oracle's published signatures for its sample requests.
    const GET_SIG: &str = "GBas7grhyrhSKHP6AVIj/h5/Vp8bd/peM79H9Wv8kjoaCivujVXlpbKLjMPeDUhxkFIWtTtLBj3sUzaFj34XE6YZAHc9r2DmE4pMwOAy/kiITcZxa1oHPOeRheC0jP2dqbTll8fmTZVwKZOKHYPtrLJIJQHJjNvxFWeHQjMaR7M=";
    const POST_SIG: &str = "Mje8vIDPlwIHmD/cTDwRxE7HaAvBg16JnVcsuqaNRim23fFPgQfLoOOxae6WqKb1uPjYEl0qIdazWaBy/Ml8DRhqlocMwoSXv0fbukP8J5N80LCmzT/FFBvIvTB91XuXI3hYfP9Zt1l7S6ieVadHUfqBedWH0itrtPJBgKmrWso=";

    fn sample_time() -> DateTime<Utc> {
        parse_date("Thu, 05 Jan 2014 21:31:40 GMT").unwrap()
    }

    fn registry() -> (KeyRegistry, String) {
        let mut reg = KeyRegistry::default();
        let fp = reg
            .register(public_key_from_pem(KEY, None).unwrap(), None)
            .unwrap();
        (reg, fp)
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn auth(fp: &str, names: &str, sig: &str) -> String {
        format!(
            "Signature version=\"1\",headers=\"{names}\",keyId=\"{TENANCY}/{USER}/{fp}\",algorithm=\"rsa-sha256\",signature=\"{sig}\""
        )
    }

    #[test]
    fn oracle_sample_get_verifies_and_signs_identically() {
        let (reg, fp) = registry();
        let h = headers(&[
            ("date", "Thu, 05 Jan 2014 21:31:40 GMT"),
            ("host", "iaas.us-phoenix-1.oraclecloud.com"),
            (
                "authorization",
                &auth(&fp, "date (request-target) host", GET_SIG),
            ),
        ]);
        let req = SignedRequest {
            method: &Method::GET,
            target: GET_TARGET,
            headers: &h,
            body: b"",
            body_headers_optional: false,
        };
        let p = verify(&req, &reg, TENANCY, sample_time()).unwrap();
        assert_eq!(p.user_id, USER);

        // Our own signer (used by tests and the bench) produces Oracle's bytes.
        let key = TestKey::from_private_pem(KEY, None).unwrap();
        let text = signing_string(
            &Method::GET,
            GET_TARGET,
            &h,
            &["date".into(), "(request-target)".into(), "host".into()],
        )
        .unwrap();
        assert_eq!(key.sign_string(&text), GET_SIG);
    }

    #[test]
    fn oracle_sample_post_verifies_and_checks_the_body_hash() {
        let (reg, fp) = registry();
        let names = "date (request-target) host content-length content-type x-content-sha256";
        let h = headers(&[
            ("date", "Thu, 05 Jan 2014 21:31:40 GMT"),
            ("host", "iaas.us-phoenix-1.oraclecloud.com"),
            ("content-length", "316"),
            ("content-type", "application/json"),
            (
                "x-content-sha256",
                "V9Z20UJTvkvpJ50flBzKE32+6m2zJjweHpDMX/U4Uy0=",
            ),
            ("authorization", &auth(&fp, names, POST_SIG)),
        ]);
        let mut req = SignedRequest {
            method: &Method::POST,
            target: "/20160918/volumeAttachments",
            headers: &h,
            body: POST_BODY,
            body_headers_optional: false,
        };
        verify(&req, &reg, TENANCY, sample_time()).unwrap();
        let mut tampered = POST_BODY.to_vec();
        tampered[10] ^= 1;
        req.body = &tampered;
        let err = verify(&req, &reg, TENANCY, sample_time()).unwrap_err();
        assert_eq!(err.code, "NotAuthenticated");
    }

    #[test]
    fn rejects_skew_missing_headers_unknown_keys_and_tampering() {
        let (reg, fp) = registry();
        let base = |a: String| {
            headers(&[
                ("date", "Thu, 05 Jan 2014 21:31:40 GMT"),
                ("host", "iaas.us-phoenix-1.oraclecloud.com"),
                ("authorization", &a),
            ])
        };
        let check = |h: &HeaderMap, target: &str, now: DateTime<Utc>| {
            let req = SignedRequest {
                method: &Method::GET,
                target,
                headers: h,
                body: b"",
                body_headers_optional: false,
            };
            verify(&req, &reg, TENANCY, now).map_err(|e| e.message)
        };
        let good = base(auth(&fp, "date (request-target) host", GET_SIG));
        assert!(check(&good, GET_TARGET, sample_time() + Duration::minutes(5)).is_ok());
        let e = check(&good, GET_TARGET, sample_time() + Duration::minutes(6)).unwrap_err();
        assert!(e.contains("more than 5 minutes"), "{e}");
        let e = check(&good, "/20160918/instances", sample_time()).unwrap_err();
        assert!(e.contains("does not match"), "{e}");
        let e = check(
            &base(auth(&fp, "date (request-target)", GET_SIG)),
            GET_TARGET,
            sample_time(),
        )
        .unwrap_err();
        assert!(e.contains("'host' is not signed"), "{e}");
        let e = check(
            &base(auth("00:11", "date (request-target) host", GET_SIG)),
            GET_TARGET,
            sample_time(),
        )
        .unwrap_err();
        assert!(e.contains("No API key"), "{e}");
        let e = check(&headers(&[("host", "x")]), GET_TARGET, sample_time()).unwrap_err();
        assert!(e.contains("not provided"), "{e}");
    }

    #[test]
    fn x_date_may_replace_date_and_put_object_may_skip_body_headers() {
        let (reg, fp) = registry();
        let key = TestKey::from_private_pem(KEY, None).unwrap();
        let names: Vec<String> = ["x-date", "(request-target)", "host"]
            .map(String::from)
            .to_vec();
        let mut h = headers(&[
            ("x-date", "Thu, 05 Jan 2014 21:31:40 GMT"),
            ("host", "127.0.0.1:8080"),
        ]);
        let text = signing_string(&Method::PUT, "/n/ns/b/b/o/x", &h, &names).unwrap();
        let a = auth(&fp, "x-date (request-target) host", &key.sign_string(&text));
        h.insert("authorization", HeaderValue::from_str(&a).unwrap());
        let mut req = SignedRequest {
            method: &Method::PUT,
            target: "/n/ns/b/b/o/x",
            headers: &h,
            body: b"anything",
            body_headers_optional: true,
        };
        verify(&req, &reg, TENANCY, sample_time()).unwrap();
        // Any other PUT must sign the body headers.
        req.body_headers_optional = false;
        let e = verify(&req, &reg, TENANCY, sample_time()).unwrap_err();
        assert!(e.message.contains("content-length"), "{}", e.message);
    }

    #[test]
    fn parses_parameters_in_any_order() {
        let p = parse_authorization(
            "Signature algorithm=\"rsa-sha256\",headers=\"Date (request-target) host\",keyId=\"a/b/c\",signature=\"xyz=\",version=\"1\"",
        )
        .unwrap();
        assert_eq!(p.key_id, "a/b/c");
        assert_eq!(p.headers, vec!["date", "(request-target)", "host"]);
        assert_eq!(p.version.as_deref(), Some("1"));
        assert!(parse_authorization("Bearer abc").is_err());
    }
}
