//! Logging Search `SearchLogs` against the OCI emulator: pages over a scope, the time
//! window's bounds, a where-filter, late (ingestion-delayed) records, disabled logs, the
//! service's 400 for a range over 14 days, retried faults, and the signature over the body,
//! all checked against the emulator's ground truth of its log records.

use std::time::SystemTime;

use auditfwd_oci::auth::{ApiKeyCredentials, PrivateKeySource};
use auditfwd_oci::logging_search::{self, SearchResult};
use auditfwd_oci::signer::{BodySigning, sign_request};
use auditfwd_oci::{Config, Endpoint, Error, Region, RetryConfig, SigningClock, TimeoutConfig};
use chrono::{DateTime, Duration, TimeZone, Utc};
use oci_emulator::{
    Api, Clock, EmulatorHandle, FaultKind, FaultRule, LogRecord, ManualClock, NewLogRecords,
    Operation, TEST_USER_ID,
};

use crate::support::{FIXTURES, KEY_2048, SAMPLE_KEY, fast_retries};

fn key_pem(file: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{file}")).unwrap()
}

fn credentials(emu: &EmulatorHandle, key_file: &str) -> ApiKeyCredentials {
    ApiKeyCredentials::builder()
        .tenancy(emu.tenancy_id())
        .user(TEST_USER_ID)
        .private_key(PrivateKeySource::Pem(key_pem(key_file).into()))
        .build()
        .unwrap()
}

/// A config signing with fixture `key_file`, dated by the emulator's manual clock.
fn config_with(
    emu: &EmulatorHandle,
    clock: &ManualClock,
    key_file: &str,
    retry: RetryConfig,
) -> Config {
    let clock = clock.clone();
    Config::builder()
        .credentials(credentials(emu, key_file))
        .region(Region::parse(&emu.region()).unwrap())
        .endpoint_override_all(Endpoint::parse(&emu.base_url()).unwrap())
        .retry_config(retry)
        .timeout_config(TimeoutConfig::default())
        .signing_clock(SigningClock::from_fn(move || SystemTime::from(clock.now())))
        .build()
        .unwrap()
}

/// The emulator's "now" in these tests: a fixed instant, whole minutes.
fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
}

struct Setup {
    emu: EmulatorHandle,
    clock: ManualClock,
    client: logging_search::Client,
    /// `"<compartment>/flow-logs/vcn-flowlogs"`, the seeded log.
    scope: String,
    log_id: String,
}

/// An emulator with 150 seeded flow log records over the last 2 hours, and a client it trusts.
async fn setup(retry: RetryConfig) -> Setup {
    let clock = ManualClock::new(start_time());
    let emu = oci_emulator::Emulator::builder()
        .seed(33)
        .compartments(4)
        .events_per_minute(0.0)
        .live(false)
        .backlog(Duration::hours(2))
        .log_records(150)
        .clock(clock.clone())
        .start()
        .await
        .unwrap();
    emu.register_key_pem(&key_pem(KEY_2048), None).unwrap();
    let client = logging_search::Client::new(&config_with(&emu, &clock, KEY_2048, retry));
    let log = emu.logs()[0].clone();
    let scope = format!("{}/flow-logs/vcn-flowlogs", log.compartment_id);
    Setup {
        emu,
        clock,
        client,
        scope,
        log_id: log.id,
    }
}

fn at(ms: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(ms)
        .unwrap()
        .with_timezone(&Utc)
}

/// Every page of a search; the results and the number of pages.
async fn all(
    builder: logging_search::SearchLogsFluentBuilder,
) -> Result<(Vec<SearchResult>, usize), Error> {
    let mut pages = builder.into_paginator();
    let mut out = Vec::new();
    let mut n = 0;
    while let Some(page) = pages.next_page().await {
        out.extend(page?.results);
        n += 1;
    }
    Ok((out, n))
}

fn ids(results: &[SearchResult]) -> Vec<String> {
    results
        .iter()
        .map(|r| r.head().unwrap().id.unwrap())
        .collect()
}

/// Ground truth: ingested records with `datetime` in `[start, end)`, in (datetime, id) order.
fn truth(emu: &EmulatorHandle, start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<LogRecord> {
    let mut t: Vec<LogRecord> = emu
        .log_records()
        .into_iter()
        .filter(|r| r.ingested && (start..end).contains(&at(&r.datetime)))
        .collect();
    t.sort_by(|a, b| (at(&a.datetime), &a.id).cmp(&(at(&b.datetime), &b.id)));
    t
}

#[tokio::test]
async fn a_scope_pages_through_every_ingested_record_byte_for_byte() {
    let s = setup(RetryConfig::disabled()).await;
    let (start, end) = (start_time() - Duration::hours(2), start_time());
    // Three records that happened in the window but are ingested only in 10 minutes.
    let pending: Vec<String> = s
        .emu
        .add_log_records(NewLogRecords {
            log_id: s.log_id.clone(),
            count: Some(3),
            datetime: Some(start_time() - Duration::minutes(1)),
            delay_ms: Some(10 * 60_000),
            ..NewLogRecords::default()
        })
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    let (results, pages) = all(s
        .client
        .search_logs()
        .time_start(start)
        .time_end(end)
        .search_query(format!("search \"{}\" | sort by datetime asc", s.scope))
        .limit(25))
    .await
    .unwrap();
    let expected = truth(&s.emu, start, end);
    assert!(expected.len() > 100, "{}", expected.len());
    assert!(
        pending.iter().all(|id| !ids(&results).contains(id)),
        "not ingested yet, so not listed"
    );
    assert_eq!(
        ids(&results),
        expected.iter().map(|r| r.id.clone()).collect::<Vec<_>>()
    );
    assert_eq!(pages, expected.len().div_ceil(25));
    let answered = s
        .emu
        .request_log()
        .iter()
        .filter(|r| r.operation == "SearchLogs" && r.status == 200)
        .count();
    assert_eq!(answered, pages);
    // Each result is the record exactly as the emulator rendered it.
    for (r, t) in results.iter().zip(&expected) {
        assert_eq!(r.raw(), serde_json::to_string(&t.data).unwrap());
        let head = r.head().unwrap();
        assert_eq!(head.log_id.as_deref(), Some(s.log_id.as_str()));
        assert_eq!(
            head.record_type.as_deref(),
            Some(oci_emulator::FLOW_LOG_TYPE)
        );
        assert_eq!(head.datetime_ms, Some(at(&t.datetime).timestamp_millis()));
    }
    // Descending order gives the same records backwards.
    let (desc, _) = all(s
        .client
        .search_logs()
        .time_start(start)
        .time_end(end)
        .search_query(format!("search \"{}\" | sort by datetime desc", s.scope))
        .limit(1000))
    .await
    .unwrap();
    let mut backwards = ids(&desc);
    backwards.reverse();
    let by_time: Vec<i64> = desc
        .iter()
        .map(|r| r.head().unwrap().datetime_ms.unwrap())
        .collect();
    assert!(by_time.windows(2).all(|w| w[0] >= w[1]));
    assert_eq!(backwards.len(), expected.len());
}

#[tokio::test]
async fn the_window_includes_its_start_and_excludes_its_end() {
    let s = setup(RetryConfig::disabled()).await;
    let start = start_time() - Duration::minutes(30);
    let end = start_time() - Duration::minutes(20);
    let add = |t: DateTime<Utc>| {
        s.emu
            .add_log_records(NewLogRecords {
                log_id: s.log_id.clone(),
                datetime: Some(t),
                ..NewLogRecords::default()
            })
            .unwrap()
            .remove(0)
            .id
    };
    let on_start = add(start);
    let before_end = add(end - Duration::milliseconds(1));
    let on_end = add(end);
    let before_start = add(start - Duration::milliseconds(1));
    let page = s
        .client
        .search_logs()
        .time_start(start)
        .time_end(end)
        .search_query(format!("search \"{}\"", s.scope))
        .limit(1000)
        .send()
        .await
        .unwrap();
    assert!(page.next_page.is_none());
    let listed = ids(&page.results);
    assert!(listed.contains(&on_start) && listed.contains(&before_end));
    assert!(!listed.contains(&on_end) && !listed.contains(&before_start));
    assert_eq!(
        listed,
        truth(&s.emu, start, end)
            .into_iter()
            .map(|r| r.id)
            .collect::<Vec<_>>()
    );
    assert_eq!(
        page.summary.and_then(|x| x.result_count),
        Some(listed.len() as u64)
    );
}

#[tokio::test]
async fn a_where_filter_selects_what_the_ground_truth_says() {
    let s = setup(RetryConfig::disabled()).await;
    let (start, end) = (start_time() - Duration::hours(2), start_time());
    let (rejected, _) = all(s
        .client
        .search_logs()
        .time_start(start)
        .time_end(end)
        .search_query(format!(
            "search \"{}\" | where data.action = 'REJECT' and type = '{}'",
            s.scope,
            oci_emulator::FLOW_LOG_TYPE
        ))
        .is_return_field_info(true)
        .limit(10))
    .await
    .unwrap();
    let expected: Vec<String> = truth(&s.emu, start, end)
        .into_iter()
        .filter(|r| r.data["logContent"]["data"]["action"] == "REJECT")
        .map(|r| r.id)
        .collect();
    assert!(
        !expected.is_empty() && expected.len() < 60,
        "{}",
        expected.len()
    );
    assert_eq!(ids(&rejected), expected);
    // Field info when asked for it.
    let page = s
        .client
        .search_logs()
        .time_start(start)
        .time_end(end)
        .search_query(format!("search \"{}\"", s.scope))
        .is_return_field_info(true)
        .limit(5)
        .send()
        .await
        .unwrap();
    assert!(
        page.fields
            .iter()
            .any(|f| f.field_name == "data.destinationPort"
                && f.field_type == logging_search::FieldType::Number)
    );
    // A query outside what the service understands is its 400, not a silent full listing.
    let err = s
        .client
        .search_logs()
        .time_start(start)
        .time_end(end)
        .search_query(format!(
            "search \"{}\" | summarize count() by data.action",
            s.scope
        ))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert_eq!(err.service_error().unwrap().code, "InvalidParameter");
}

#[tokio::test]
async fn a_late_record_appears_only_once_ingested() {
    let s = setup(RetryConfig::disabled()).await;
    let (start, end) = (start_time() - Duration::minutes(10), start_time());
    let late = s
        .emu
        .add_log_records(NewLogRecords {
            log_id: s.log_id.clone(),
            datetime: Some(start_time() - Duration::minutes(1)),
            delay_ms: Some(3 * 60_000),
            ..NewLogRecords::default()
        })
        .unwrap()
        .remove(0);
    assert!(!late.ingested);
    let search = || {
        s.client
            .search_logs()
            .time_start(start)
            .time_end(end)
            .search_query(format!("search \"{}\"", s.scope))
            .limit(1000)
    };
    let before = ids(&search().send().await.unwrap().results);
    assert!(!before.contains(&late.id));
    s.clock.advance(Duration::minutes(1));
    assert!(!ids(&search().send().await.unwrap().results).contains(&late.id));
    s.clock.advance(Duration::minutes(1));
    let after = ids(&search().send().await.unwrap().results);
    assert!(after.contains(&late.id));
    // Nothing else in the window changed: the late record is the only addition.
    assert_eq!(
        after.len(),
        before.len() + 1 + newly_ingested(&s.emu, start, end, &before, &late.id)
    );
}

/// Seeded records in the window that turned ingested while the clock moved (other than `late`).
fn newly_ingested(
    emu: &EmulatorHandle,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    before: &[String],
    late: &str,
) -> usize {
    truth(emu, start, end)
        .iter()
        .filter(|r| r.id != late && !before.contains(&r.id))
        .count()
}

#[tokio::test]
async fn a_disabled_log_returns_nothing() {
    let s = setup(RetryConfig::disabled()).await;
    let (start, end) = (start_time() - Duration::hours(2), start_time());
    let search = || {
        s.client
            .search_logs()
            .time_start(start)
            .time_end(end)
            .search_query(format!("search \"{}\"", s.scope))
            .limit(1000)
    };
    assert!(!search().send().await.unwrap().results.is_empty());
    s.emu.set_log_enabled(&s.log_id, false).unwrap();
    let page = search().send().await.unwrap();
    assert!(page.results.is_empty() && page.next_page.is_none());
    s.emu.set_log_enabled(&s.log_id, true).unwrap();
    assert!(!search().send().await.unwrap().results.is_empty());
}

#[tokio::test]
async fn a_range_over_14_days_is_a_400_not_retried() {
    let s = setup(fast_retries()).await;
    let end = start_time();
    let err = s
        .client
        .search_logs()
        .time_start(end - logging_search::MAX_RANGE - Duration::seconds(1))
        .time_end(end)
        .search_query(format!("search \"{}\"", s.scope))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert_eq!(err.service_error().unwrap().code, "InvalidParameter");
    assert!(!err.is_retryable());
    assert!(err.request_id().is_some());
    assert_eq!(s.emu.stats().of(Operation::SearchLogs).authenticated, 1);
    // Exactly 14 days is accepted.
    s.client
        .search_logs()
        .time_start(end - logging_search::MAX_RANGE)
        .time_end(end)
        .search_query(format!("search \"{}\"", s.scope))
        .send()
        .await
        .unwrap();
    // What the client can check itself never reaches the network.
    for bad in [
        s.client
            .search_logs()
            .time_end(end)
            .search_query("search \"x\""),
        s.client
            .search_logs()
            .time_start(end)
            .time_end(end)
            .search_query("search \"x\""),
        s.client
            .search_logs()
            .time_start(end - Duration::minutes(1))
            .time_end(end)
            .search_query("search \"x\"")
            .limit(1001),
    ] {
        let err = bad.send().await.unwrap_err();
        assert!(matches!(err, Error::Construction { .. }), "{err}");
    }
    assert_eq!(s.emu.stats().of(Operation::SearchLogs).authenticated, 2);
}

#[tokio::test]
async fn throttling_and_unavailability_are_retried_to_success() {
    let s = setup(fast_retries()).await;
    for fault in [
        FaultKind::RateLimited {
            retry_after_secs: 0,
        },
        FaultKind::ServerError { status: 503 },
    ] {
        s.emu.reset_stats();
        s.emu.set_faults(vec![
            FaultRule::always(fault.clone())
                .times(1)
                .for_api(Api::LoggingSearch),
        ]);
        let page = s
            .client
            .search_logs()
            .time_start(start_time() - Duration::hours(2))
            .time_end(start_time())
            .search_query(format!("search \"{}\"", s.scope))
            .send()
            .await
            .unwrap();
        assert_eq!(page.results.len(), 100, "the default page size");
        assert!(page.next_page.is_some());
        let stats = s.emu.stats().of(Operation::SearchLogs);
        assert_eq!((stats.authenticated, stats.faulted), (2, 1), "{fault:?}");
    }
}

#[tokio::test]
async fn an_unknown_key_is_refused_with_401() {
    let s = setup(RetryConfig::disabled()).await;
    let stranger =
        logging_search::Client::new(&config_with(&s.emu, &s.clock, SAMPLE_KEY, fast_retries()));
    let err = stranger
        .search_logs()
        .time_start(start_time() - Duration::hours(1))
        .time_end(start_time())
        .search_query(format!("search \"{}\"", s.scope))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert!(err.is_auth_failure());
    assert!(!err.is_retryable());
    assert_eq!(s.emu.stats().of(Operation::SearchLogs).refused, 1);
}

/// Sends a SearchLogs POST signed over `signed_body` but carrying `sent_body`.
async fn raw_post(
    s: &Setup,
    signed_body: &[u8],
    sent_body: &[u8],
    body_signing: BodySigning,
) -> u16 {
    let url = url::Url::parse(&format!("{}/20190909/search", s.emu.base_url())).unwrap();
    let mut headers = http::HeaderMap::new();
    headers.insert("content-type", "application/json".parse().unwrap());
    sign_request(
        &credentials(&s.emu, KEY_2048),
        &http::Method::POST,
        &url,
        &mut headers,
        Some(signed_body),
        body_signing,
        SystemTime::from(s.clock.now()),
    )
    .unwrap();
    headers.insert(
        "content-length",
        sent_body.len().to_string().parse().unwrap(),
    );
    reqwest::Client::new()
        .post(url)
        .headers(headers)
        .body(sent_body.to_vec())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn the_signature_covers_the_body() {
    let s = setup(RetryConfig::disabled()).await;
    let body = |query: &str| {
        serde_json::json!({
            "timeStart": "2026-11-22T11:00:00.000Z",
            "timeEnd": "2026-11-22T12:00:00.000Z",
            "searchQuery": query,
        })
        .to_string()
        .into_bytes()
    };
    let honest = body(&format!("search \"{}\"", s.scope));
    assert_eq!(
        raw_post(&s, &honest, &honest, BodySigning::Standard).await,
        200
    );
    // The same length, another query: x-content-sha256 no longer matches.
    let mut tampered = honest.clone();
    let pos = tampered.iter().rposition(|b| *b == b'"').unwrap() - 1;
    tampered[pos] = if tampered[pos] == b'a' { b'b' } else { b'a' };
    assert_eq!(
        raw_post(&s, &honest, &tampered, BodySigning::Standard).await,
        401
    );
    // A POST signed without the body headers is refused, whatever the body.
    assert_eq!(
        raw_post(&s, &honest, &honest, BodySigning::Exclude).await,
        401
    );
    let reasons: Vec<(u16, Option<String>)> = s
        .emu
        .request_log()
        .into_iter()
        .map(|r| (r.status, r.error_code))
        .collect();
    assert_eq!(
        reasons,
        [
            (200, None),
            (401, Some("NotAuthenticated".into())),
            (401, Some("NotAuthenticated".into()))
        ]
    );
}
