//! ListEvents: pagination, retry classification, and error reporting.

use std::time::Duration;

use auditfwd_oci::{DispatchKind, Error, RetryConfig, TimeoutConfig, audit};
use futures::StreamExt as _;
use serde_json::json;
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{COMPARTMENT, compartment, config, event, fast_retries, window};

const EVENTS: &str = "/20190901/auditEvents";

fn page(ids: &[&str], next: Option<&str>) -> ResponseTemplate {
    let body: Vec<_> = ids.iter().map(|id| event(id)).collect();
    let t = ResponseTemplate::new(200)
        .set_body_json(body)
        .insert_header("opc-request-id", "rid");
    match next {
        Some(n) => t.insert_header("opc-next-page", n),
        None => t,
    }
}

#[tokio::test]
async fn list_events_over_three_pages_yields_three_pages_in_order_and_stops() {
    let server = MockServer::start().await;
    let base = || {
        Mock::given(method("GET"))
            .and(path(EVENTS))
            .and(query_param("compartmentId", COMPARTMENT))
            .and(query_param("startTime", "2026-11-22T10:00:00Z"))
            .and(query_param("endTime", "2026-11-22T10:05:00Z"))
    };
    // Each page is fetched exactly once by the paginator and once more by the stream below.
    base()
        .and(query_param_is_missing("page"))
        .respond_with(page(&["e1", "e2"], Some("p2")))
        .expect(2)
        .mount(&server)
        .await;
    base()
        .and(query_param("page", "p2"))
        .respond_with(page(&[], Some("p3")))
        .expect(2)
        .mount(&server)
        .await;
    base()
        .and(query_param("page", "p3"))
        .respond_with(page(&["e3"], None))
        .expect(2)
        .mount(&server)
        .await;

    let client = audit::Client::new(&config(
        &server,
        RetryConfig::disabled(),
        TimeoutConfig::default(),
    ));
    let mut pages = client
        .list_events()
        .compartment_id(compartment())
        .window(window())
        .into_paginator();
    let mut seen = Vec::new();
    while let Some(p) = pages.next_page().await {
        let p = p.unwrap();
        seen.push(
            p.items
                .iter()
                .map(|e| e.head().event_id.clone())
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(seen, vec![vec!["e1", "e2"], vec![], vec!["e3"]]);
    assert!(
        pages.next_page().await.is_none(),
        "a finished paginator stays finished"
    );

    // The stream form yields the same pages.
    let stream = client
        .list_events()
        .compartment_id(compartment())
        .window(window())
        .into_paginator()
        .into_stream();
    let counts: Vec<usize> = stream.map(|p| p.unwrap().items.len()).collect().await;
    assert_eq!(counts, vec![2, 0, 1]);
}

#[tokio::test]
async fn a_page_token_that_repeats_is_an_error_not_an_endless_loop() {
    let server = MockServer::start().await;
    Mock::given(path(EVENTS))
        .respond_with(page(&["e1"], Some("same")))
        .mount(&server)
        .await;
    let client = audit::Client::new(&config(
        &server,
        RetryConfig::disabled(),
        TimeoutConfig::default(),
    ));
    let mut pages = client
        .list_events()
        .compartment_id(compartment())
        .window(window())
        .into_paginator();
    assert!(pages.next_page().await.unwrap().is_ok());
    let err = pages.next_page().await.unwrap().unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err}");
    assert!(pages.next_page().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn throttled_request_waits_for_retry_after_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(path(EVENTS))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "7")
                .set_body_json(json!({"code": "TooManyRequests", "message": "slow down"})),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(path(EVENTS))
        .respond_with(page(&["e1"], None))
        .mount(&server)
        .await;
    // No client timeouts: with the clock paused they would fire while waiting on the socket.
    let client = audit::Client::new(&config(&server, fast_retries(), TimeoutConfig::disabled()));

    let started = tokio::time::Instant::now();
    let out = client
        .list_events()
        .compartment_id(compartment())
        .window(window())
        .send()
        .await
        .unwrap();
    assert_eq!(out.items.len(), 1);
    assert!(
        started.elapsed() >= Duration::from_secs(7),
        "waited only {:?}",
        started.elapsed()
    );

    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    assert!(requests[0].headers.get("opc-client-retries").is_none());
    assert_eq!(
        requests[1].headers.get("opc-client-retries").unwrap(),
        "true"
    );
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_beyond_the_time_budget_gives_up_at_once() {
    let server = MockServer::start().await;
    Mock::given(path(EVENTS))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "120")
                .set_body_json(json!({"code": "TooManyRequests", "message": "x"})),
        )
        .mount(&server)
        .await;
    let retry = fast_retries().with_max_elapsed(Duration::from_secs(60));
    let client = audit::Client::new(&config(&server, retry, TimeoutConfig::disabled()));
    let err = client
        .list_events()
        .compartment_id(compartment())
        .window(window())
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(429));
    assert_eq!(
        err.service_error().unwrap().retry_after,
        Some(Duration::from_secs(120))
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_500_then_a_200_recovers() {
    let server = MockServer::start().await;
    Mock::given(path(EVENTS))
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_json(json!({"code": "InternalServerError", "message": "oops"})),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(path(EVENTS))
        .respond_with(page(&["e1", "e2"], None))
        .mount(&server)
        .await;
    let client = audit::Client::new(&config(&server, fast_retries(), TimeoutConfig::default()));
    let out = client
        .list_events()
        .compartment_id(compartment())
        .window(window())
        .send()
        .await
        .unwrap();
    assert_eq!(out.items.len(), 2);
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_decode_error_is_not_retried() {
    let server = MockServer::start().await;
    Mock::given(path(EVENTS))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string("[{\"eventId\": \"trunc")
                .insert_header("opc-request-id", "rid-bad"),
        )
        .mount(&server)
        .await;
    let client = audit::Client::new(&config(&server, fast_retries(), TimeoutConfig::default()));
    let err = client
        .list_events()
        .compartment_id(compartment())
        .window(window())
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Decode { status: 200, .. }), "{err}");
    assert!(!err.is_retryable());
    assert_eq!(err.request_id(), Some("rid-bad"));
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_401_is_not_retried_and_reports_the_request_id() {
    let server = MockServer::start().await;
    Mock::given(path(EVENTS))
        .respond_with(
            ResponseTemplate::new(401)
                .insert_header("opc-request-id", "oci-req-401")
                .set_body_json(json!({"code": "NotAuthenticated", "message": "The required information to complete authentication was not provided."})),
        )
        .mount(&server)
        .await;
    let client = audit::Client::new(&config(&server, fast_retries(), TimeoutConfig::default()));
    let err = client
        .list_events()
        .compartment_id(compartment())
        .window(window())
        .send()
        .await
        .unwrap_err();
    let Error::Service { operation, error } = &err else {
        panic!("expected a service error, got {err}")
    };
    assert_eq!(*operation, "ListEvents");
    assert_eq!(
        (error.status, error.code.as_str()),
        (401, "NotAuthenticated")
    );
    assert_eq!(error.request_id.as_deref(), Some("oci-req-401"));
    assert!(err.is_auth_failure() && !err.is_retryable());
    assert!(err.to_string().contains("oci-req-401"), "{err}");
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_slow_server_times_out_and_the_timeout_is_retried() {
    let server = MockServer::start().await;
    Mock::given(path(EVENTS))
        .respond_with(page(&["e1"], None).set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    let timeouts = TimeoutConfig {
        connect: Some(Duration::from_secs(2)),
        request: Some(Duration::from_millis(200)),
    };
    let client = audit::Client::new(&config(
        &server,
        fast_retries().with_max_attempts(2),
        timeouts,
    ));
    let err = client
        .list_events()
        .compartment_id(compartment())
        .window(window())
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Dispatch {
                kind: DispatchKind::Timeout,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.is_retryable());
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_refused_connection_is_a_retryable_dispatch_failure() {
    // Bind and drop a listener to get a loopback port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = auditfwd_oci::Config::builder()
        .credentials(crate::support::credentials())
        .region(auditfwd_oci::Region::parse("us-phoenix-1").unwrap())
        .endpoint_override_all(
            auditfwd_oci::Endpoint::parse(&format!("http://127.0.0.1:{port}")).unwrap(),
        )
        .retry_config(RetryConfig::disabled())
        .build()
        .unwrap();
    let err = audit::Client::new(&config)
        .list_events()
        .compartment_id(compartment())
        .window(window())
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Dispatch {
                kind: DispatchKind::Connect,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.is_retryable());
}

#[tokio::test]
async fn missing_required_parameters_never_reach_the_network() {
    let server = MockServer::start().await;
    let client = audit::Client::new(&config(
        &server,
        RetryConfig::disabled(),
        TimeoutConfig::default(),
    ));
    let err = client
        .list_events()
        .window(window())
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Construction { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "ListEvents: request not sent: compartmentId is required"
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}
