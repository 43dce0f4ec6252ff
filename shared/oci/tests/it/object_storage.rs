//! Object Storage against a small stateful object store on loopback that applies
//! `if-match` / `if-none-match: *` as OCI does, so conditional writes are tested for real.

use std::collections::HashMap;
use std::sync::Mutex;

use auditfwd_oci::{Error, RetryConfig, TimeoutConfig, object_storage};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::support::config;

#[derive(Default)]
struct Store {
    objects: Mutex<HashMap<String, (Vec<u8>, String)>>,
    versions: Mutex<u32>,
}

impl Respond for Store {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let key = req.url.path().to_owned();
        let header = |n: &str| {
            req.headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let mut objects = self.objects.lock().unwrap();
        let current = objects.get(&key).cloned();
        let precondition = |msg: &str| {
            ResponseTemplate::new(412)
                .set_body_json(json!({"code": "NoEtagMatch", "message": msg}))
                .insert_header("opc-request-id", "rid-412")
        };
        let not_found = || {
            ResponseTemplate::new(404)
                .set_body_json(json!({"code": "ObjectNotFound", "message": "not found"}))
        };
        match req.method.as_str() {
            "PUT" => {
                if header("if-none-match").as_deref() == Some("*") && current.is_some() {
                    return precondition("object exists");
                }
                if let Some(want) = header("if-match")
                    && current.as_ref().map(|(_, e)| e) != Some(&want)
                {
                    return precondition("etag does not match");
                }
                let mut v = self.versions.lock().unwrap();
                *v += 1;
                let etag = format!("etag-{v}");
                objects.insert(key, (req.body.clone(), etag.clone()));
                ResponseTemplate::new(200).insert_header("etag", etag.as_str())
            }
            "GET" | "HEAD" => match current {
                Some((body, etag)) => {
                    let t = ResponseTemplate::new(200)
                        .insert_header("etag", etag.as_str())
                        .insert_header("opc-meta-writer", "test");
                    if req.method.as_str() == "GET" {
                        t.set_body_bytes(body)
                    } else {
                        t
                    }
                }
                None => not_found(),
            },
            "DELETE" => match current {
                Some((_, etag)) if header("if-match").is_none_or(|m| m == etag) => {
                    objects.remove(&key);
                    ResponseTemplate::new(204)
                }
                Some(_) => precondition("etag does not match"),
                None => not_found(),
            },
            _ => ResponseTemplate::new(405),
        }
    }
}

#[tokio::test]
async fn conditional_writes_create_once_replace_by_etag_and_refuse_stale_etags() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/n/"))
        .respond_with(ResponseTemplate::new(200).set_body_json("acme-ns"))
        .mount(&server)
        .await;
    Mock::given(wiremock::matchers::path_regex("^/n/acme-ns/b/state/o/.+"))
        .respond_with(Store::default())
        .mount(&server)
        .await;
    let client = object_storage::Client::new(&config(
        &server,
        RetryConfig::disabled(),
        TimeoutConfig::default(),
    ));

    let ns = client.get_namespace().send().await.unwrap();
    assert_eq!(ns, "acme-ns");
    let put = || {
        client
            .put_object()
            .namespace(&ns)
            .bucket("state")
            .object("cursors/us-ashburn-1.json")
            .content_type("application/json")
    };

    let first = put()
        .body(r#"{"v":1}"#)
        .if_none_match_any()
        .send()
        .await
        .unwrap();
    let err = put()
        .body(r#"{"v":"other runner"}"#)
        .if_none_match_any()
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::PreconditionFailed { .. }),
        "create-if-absent must lose against an existing object: {err}"
    );
    assert!(!err.is_retryable());

    let second = put()
        .body(r#"{"v":2}"#)
        .if_match(&first.etag)
        .send()
        .await
        .unwrap();
    assert_ne!(second.etag, first.etag);
    let stale = put()
        .body(r#"{"v":"stale"}"#)
        .if_match(&first.etag)
        .send()
        .await
        .unwrap_err();
    let Error::PreconditionFailed { error, .. } = &stale else {
        panic!("expected precondition failure, got {stale}")
    };
    assert_eq!(
        (
            error.status,
            error.code.as_str(),
            error.request_id.as_deref()
        ),
        (412, "NoEtagMatch", Some("rid-412"))
    );

    let got = client
        .get_object()
        .namespace(&ns)
        .bucket("state")
        .object("cursors/us-ashburn-1.json")
        .send()
        .await
        .unwrap();
    assert_eq!(&got.body[..], br#"{"v":2}"#);
    assert_eq!(got.metadata.etag, second.etag);
    assert_eq!(
        got.metadata.user_metadata.get("writer").map(String::as_str),
        Some("test")
    );
    let head = client
        .head_object()
        .namespace(&ns)
        .bucket("state")
        .object("cursors/us-ashburn-1.json")
        .send()
        .await
        .unwrap();
    assert_eq!(head.etag, second.etag);

    let del = client
        .delete_object()
        .namespace(&ns)
        .bucket("state")
        .object("cursors/us-ashburn-1.json")
        .if_match(&first.etag)
        .send()
        .await;
    assert!(matches!(del, Err(Error::PreconditionFailed { .. })));
    client
        .delete_object()
        .namespace(&ns)
        .bucket("state")
        .object("cursors/us-ashburn-1.json")
        .if_match(&second.etag)
        .send()
        .await
        .unwrap();
    let gone = client
        .get_object()
        .namespace(&ns)
        .bucket("state")
        .object("cursors/us-ashburn-1.json")
        .send()
        .await
        .unwrap_err();
    assert!(gone.is_not_found(), "{gone}");

    // The object name's '/' travelled encoded inside one path segment.
    let paths: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.url.path().to_owned())
        .collect();
    assert!(
        paths
            .iter()
            .any(|p| p == "/n/acme-ns/b/state/o/cursors%2Fus-ashburn-1.json"),
        "{paths:?}"
    );
}
