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

/// A bucket listing served as OCI does: names in order, `prefix`, an inclusive `start`, at most
/// `limit` per page and `nextStartWith` naming the first name left out.
struct Lister {
    names: Vec<&'static str>,
    /// Answer every page with this `nextStartWith` (a broken service).
    stuck_at: Option<&'static str>,
}

impl Respond for Lister {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let q: HashMap<String, String> = req.url.query_pairs().into_owned().collect();
        let prefix = q.get("prefix").cloned().unwrap_or_default();
        let limit: usize = q.get("limit").map_or(1000, |l| l.parse().unwrap());
        let mut matching = self
            .names
            .iter()
            .filter(|n| n.starts_with(&prefix))
            .filter(|n| q.get("start").is_none_or(|s| **n >= s.as_str()));
        let page: Vec<_> = matching
            .by_ref()
            .take(limit)
            .map(|n| json!({ "name": n }))
            .collect();
        let mut body = json!({ "objects": page, "prefixes": [] });
        if let Some(next) = self.stuck_at.or_else(|| matching.next().copied()) {
            body["nextStartWith"] = next.into();
        }
        ResponseTemplate::new(200)
            .set_body_json(body)
            .insert_header("opc-request-id", "rid-list")
    }
}

async fn lister(names: Vec<&'static str>, stuck_at: Option<&'static str>) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/n/acme-ns/b/state/o"))
        .respond_with(Lister { names, stuck_at })
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn list_objects_pages_follow_next_start_with_and_queries_are_percent_encoded() {
    let server = lister(
        vec![
            "manifests/a b+c/1.json",
            "manifests/a b+c/2.json",
            "manifests/a b+c/3.json",
            "manifests/a b+c/4.json",
            "manifests/a b+c/5.json",
            "manifests/other/1.json",
            "state/x.json",
        ],
        None,
    )
    .await;
    let client = object_storage::Client::new(&config(
        &server,
        RetryConfig::disabled(),
        TimeoutConfig::default(),
    ));
    let list = || {
        client
            .list_objects()
            .namespace("acme-ns")
            .bucket("state")
            .prefix("manifests/a b+c/")
    };

    let one = list().limit(2).send().await.unwrap();
    assert_eq!(
        (
            one.objects.len(),
            one.next_start_with.as_deref(),
            one.request_id.as_deref()
        ),
        (2, Some("manifests/a b+c/3.json"), Some("rid-list"))
    );

    // `start` is inclusive: starting at a name returns that name first.
    let mut pages = list()
        .start("manifests/a b+c/2.json")
        .limit(2)
        .into_paginator();
    let mut names = Vec::new();
    let mut count = 0;
    while let Some(page) = pages.next_page().await {
        count += 1;
        names.extend(page.unwrap().objects.into_iter().map(|o| o.name));
    }
    assert_eq!(count, 2);
    assert_eq!(
        names,
        [
            "manifests/a b+c/2.json",
            "manifests/a b+c/3.json",
            "manifests/a b+c/4.json",
            "manifests/a b+c/5.json"
        ]
    );
    assert!(pages.next_page().await.is_none(), "done stays done");

    let queries: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.url.query().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        queries,
        [
            "prefix=manifests%2Fa%20b%2Bc%2F&limit=2&fields=name",
            "prefix=manifests%2Fa%20b%2Bc%2F&start=manifests%2Fa%20b%2Bc%2F2.json&limit=2&fields=name",
            "prefix=manifests%2Fa%20b%2Bc%2F&start=manifests%2Fa%20b%2Bc%2F4.json&limit=2&fields=name",
        ]
    );
}

#[tokio::test]
async fn list_objects_refuses_bad_limits_and_stops_on_a_repeated_next_start_with() {
    let server = lister(vec!["a", "b", "c"], Some("b")).await;
    let client = object_storage::Client::new(&config(
        &server,
        RetryConfig::disabled(),
        TimeoutConfig::default(),
    ));
    let err = client
        .list_objects()
        .namespace("acme-ns")
        .bucket("state")
        .limit(0)
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Construction { .. }), "{err}");
    let err = client
        .list_objects()
        .namespace("acme-ns")
        .send()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("bucket is required"), "{err}");
    assert!(server.received_requests().await.unwrap().is_empty());

    // A service that keeps answering the same `nextStartWith` would loop forever.
    let mut pages = client
        .list_objects()
        .namespace("acme-ns")
        .bucket("state")
        .limit(1)
        .into_paginator();
    assert!(pages.next_page().await.unwrap().is_ok());
    let err = pages.next_page().await.unwrap().unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err}");
    assert!(!err.is_retryable());
    assert!(pages.next_page().await.is_none());

    // A missing bucket is a typed 404, not an empty listing.
    let err = client
        .list_objects()
        .namespace("acme-ns")
        .bucket("missing")
        .send()
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
}
