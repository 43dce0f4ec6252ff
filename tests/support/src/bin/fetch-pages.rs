//! `fetch-pages`: how fast the OCI emulator serves a backlog to one client that does nothing
//! with the pages: the ceiling a collector's throughput is measured against
//! (`scripts/bench-backlog`).
//!
//! It makes the requests `auditfwd run --once` makes for one compartment, and only those: the
//! span `[floor_minute(now) - lookback, floor_minute(now))` cut into windows at multiples of
//! `--max-window-minutes` since the epoch (as auditfwd's planner cuts it), each window's
//! `ListEvents` pages fetched one after another on one keep-alive connection, each request
//! signed by auditfwd's own signer (`auditfwd_oci::signer`, AWS-LC RSA) over reqwest with
//! auditfwd's client settings. Page bodies are read to the last byte and dropped unparsed: the
//! figure is the emulator's (and loopback HTTP's), not a JSON parser's. The events are counted
//! afterwards from the emulator's request log (`GET /_emulator/requests`, the events each of
//! this run's `opc-request-id`s returned), so counting costs nothing while the clock runs.
//!
//! Prints one line, `events=… pages=… bytes=… seconds=… events_per_second=…`.
//!
//! ```text
//! fetch-pages --config /tmp/oci/config --endpoint http://127.0.0.1:40123 --lookback-minutes 105
//! ```
#![allow(clippy::print_stdout)] // the result line is this binary's output

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, bail};
use auditfwd_oci::auth::{ApiKeyCredentials, OciConfigFile};
use auditfwd_oci::signer::{BodySigning, sign_request};
use auditfwd_oci::{MinuteTimestamp, Window};
use clap::Parser;
use http::Method;
use http::header::{ACCEPT, HeaderMap, HeaderValue};

/// Fetches every ListEvents page of one compartment from the OCI emulator, without processing.
#[derive(Debug, Parser)]
struct Args {
    /// OCI CLI config file (the emulator's `--write-cli-config` writes one).
    #[arg(long)]
    config: PathBuf,
    /// Its profile.
    #[arg(long, default_value = "DEFAULT")]
    profile: String,
    /// The emulator's base URL, `http://127.0.0.1:PORT`.
    #[arg(long)]
    endpoint: url::Url,
    /// The compartment (default: the config's tenancy, the root compartment).
    #[arg(long)]
    compartment: Option<String>,
    /// Minutes back from the current minute to start at (auditfwd's AUDITFWD_INITIAL_LOOKBACK).
    #[arg(long)]
    lookback_minutes: u32,
    /// Longest window per listing, aligned as auditfwd aligns it (AUDITFWD_MAX_WINDOW).
    #[arg(long, default_value_t = 10)]
    max_window_minutes: u32,
}

#[derive(Debug, Default)]
struct Fetched {
    pages: u64,
    bytes: u64,
    request_ids: HashSet<String>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !matches!(
        args.endpoint.host_str(),
        Some("127.0.0.1" | "localhost" | "[::1]")
    ) {
        bail!("--endpoint must be a loopback address (the emulator)");
    }
    let profile = OciConfigFile::load(&args.config)
        .with_context(|| format!("reading {}", args.config.display()))?
        .profile(&args.profile)?;
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let credentials = ApiKeyCredentials::from_profile(&profile, home.as_deref())?;
    let compartment = args
        .compartment
        .clone()
        .unwrap_or_else(|| credentials.tenancy().as_str().to_owned());
    let end = MinuteTimestamp::floor(chrono::Utc::now());
    let start = end.plus_minutes(-i64::from(args.lookback_minutes))?;
    let windows = on_grid(Window::new(start, end)?, args.max_window_minutes)?;
    let http = reqwest::Client::builder()
        .http1_only()
        .pool_idle_timeout(Duration::from_secs(50))
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(120))
        .build()?;
    let list_url = args.endpoint.join("/20190901/auditEvents")?;

    let began = Instant::now();
    let mut fetched = Fetched::default();
    for window in &windows {
        let mut page: Option<String> = None;
        loop {
            let mut url = list_url.clone();
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("compartmentId", &compartment);
                q.append_pair("startTime", &window.start().to_rfc3339());
                q.append_pair("endTime", &window.end().to_rfc3339());
                if let Some(p) = &page {
                    q.append_pair("page", p);
                }
            }
            let mut headers = HeaderMap::new();
            headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
            sign_request(
                &credentials,
                &Method::GET,
                &url,
                &mut headers,
                None,
                BodySigning::Standard,
                SystemTime::now(),
            )?;
            let resp = http.get(url).headers(headers).send().await?;
            let status = resp.status();
            let header = |name: &str| {
                resp.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let next = header("opc-next-page").filter(|p| !p.is_empty());
            let request_id = header("opc-request-id");
            let body = resp.bytes().await?;
            if status != reqwest::StatusCode::OK {
                bail!(
                    "ListEvents {window}: HTTP {status}: {}",
                    String::from_utf8_lossy(&body)
                );
            }
            fetched.pages += 1;
            fetched.bytes += body.len() as u64;
            fetched
                .request_ids
                .insert(request_id.context("an answer without opc-request-id")?);
            page = next;
            if page.is_none() {
                break;
            }
        }
    }
    let seconds = began.elapsed().as_secs_f64();

    let events = events_returned(&http, &args.endpoint, &fetched.request_ids).await?;
    println!(
        "events={events} pages={} bytes={} seconds={seconds:.3} events_per_second={:.0}",
        fetched.pages,
        fetched.bytes,
        events as f64 / seconds
    );
    Ok(())
}

/// `span` cut at every multiple of `step` minutes since the epoch (auditfwd's
/// `plan::split_on_grid`).
fn on_grid(span: Window, step: u32) -> anyhow::Result<Vec<Window>> {
    let step = i64::from(step.max(1));
    let mut out = Vec::new();
    let mut start = span.start();
    while start < span.end() {
        let minutes = start.as_datetime().timestamp().div_euclid(60);
        let end = start
            .plus_minutes(step - minutes.rem_euclid(step))?
            .min(span.end());
        out.push(Window::new(start, end)?);
        start = end;
    }
    Ok(out)
}

/// The events the emulator says it returned to these requests.
async fn events_returned(
    http: &reqwest::Client,
    endpoint: &url::Url,
    request_ids: &HashSet<String>,
) -> anyhow::Result<u64> {
    let body = http
        .get(endpoint.join("/_emulator/requests")?)
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?;
    let log: serde_json::Value = serde_json::from_slice(&body)?;
    let mut seen = 0;
    let mut events = 0;
    for r in log["requests"].as_array().context("no request log")? {
        if r["opcRequestId"]
            .as_str()
            .is_some_and(|id| request_ids.contains(id))
        {
            seen += 1;
            events += r["eventsReturned"].as_u64().unwrap_or(0);
        }
    }
    if seen != request_ids.len() {
        bail!(
            "the emulator's request log holds {seen} of this run's {} requests (raise --request-log-capacity)",
            request_ids.len()
        );
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_cut_on_the_grid() {
        let w = Window::parse("2026-11-22T10:03:00Z", "2026-11-22T10:31:00Z").unwrap();
        let cut: Vec<String> = on_grid(w, 10)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(cut.len(), 4);
        assert!(
            cut[0].contains("10:03") && cut[0].contains("10:10"),
            "{cut:?}"
        );
        assert!(
            cut[3].contains("10:30") && cut[3].contains("10:31"),
            "{cut:?}"
        );
    }
}
