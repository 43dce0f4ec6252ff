//! The daemon's HTTP listener (`AUDITFWD_LISTEN`): `GET /health` and `GET /metrics`.
//!
//! - `/health`: the [`Health`](crate::health::Health) as JSON; `200 OK` when healthy or
//!   degraded, `503 Service Unavailable` when unhealthy, so a load balancer or a Kubernetes
//!   probe needs no body parsing.
//! - `/metrics`: the Prometheus text exposition format (`text/plain; version=0.0.4`) rendered
//!   by the recorder the daemon installed; `404` when none was given.
//!
//! The server runs in its own task and stops when told to ([`HttpServer::shutdown`]), after the
//! daemon's last cycle, so `/health` keeps answering while the daemon finishes its window.

use std::net::SocketAddr;
use std::time::Duration;

use auditfwd_telemetry::PrometheusHandle;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::health::{HealthHandle, Status};

/// The content type of the Prometheus text format.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How often histogram samples are folded into their buckets between scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Why the listener failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The address cannot be listened on (in use, not local, no permission).
    #[error("cannot listen on {addr} (AUDITFWD_LISTEN): {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The server stopped with an error.
    #[error("the /health and /metrics listener failed: {0}")]
    Serve(#[source] std::io::Error),
    /// The server task panicked or was cancelled.
    #[error("the /health and /metrics listener task ended abnormally: {0}")]
    Task(String),
}

impl HttpError {
    /// Whether trying again can help: not for a bind error (the operator must free or change
    /// the address); perhaps for a failure while serving.
    pub fn is_retryable(&self) -> bool {
        match self {
            HttpError::Bind { .. } => false,
            HttpError::Serve(_) | HttpError::Task(_) => true,
        }
    }
}

#[derive(Debug, Clone)]
struct AppState {
    health: HealthHandle,
    metrics: Option<PrometheusHandle>,
}

/// The routes: `GET /health` and `GET /metrics` (any other path is 404).
pub fn router(health: HealthHandle, metrics: Option<PrometheusHandle>) -> Router {
    Router::new()
        .route("/health", get(health_handler))
        .route("/metrics", get(metrics_handler))
        .with_state(AppState { health, metrics })
}

async fn health_handler(State(state): State<AppState>) -> Response {
    let health = state.health.current();
    let code = match health.status {
        Status::Healthy | Status::Degraded => StatusCode::OK,
        Status::Unhealthy => StatusCode::SERVICE_UNAVAILABLE,
    };
    (
        code,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(health),
    )
        .into_response()
}

async fn metrics_handler(State(state): State<AppState>) -> Response {
    match &state.metrics {
        Some(handle) => (
            [(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)],
            handle.render(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "metrics are not enabled\n").into_response(),
    }
}

/// The running listener.
#[derive(Debug)]
pub struct HttpServer {
    addr: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), HttpError>>,
}

impl HttpServer {
    /// Listens on `addr` and serves in a new task.
    pub async fn bind(
        addr: SocketAddr,
        health: HealthHandle,
        metrics: Option<PrometheusHandle>,
    ) -> Result<Self, HttpError> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| HttpError::Bind { addr, source })?;
        Self::start(listener, health, metrics)
    }

    /// Serves on a listener bound by the caller (tests bind `127.0.0.1:0`).
    pub fn start(
        listener: tokio::net::TcpListener,
        health: HealthHandle,
        metrics: Option<PrometheusHandle>,
    ) -> Result<Self, HttpError> {
        let addr = listener.local_addr().map_err(HttpError::Serve)?;
        let shutdown = CancellationToken::new();
        if let Some(handle) = metrics.clone() {
            let stop = shutdown.clone();
            tokio::spawn(async move {
                let mut every = tokio::time::interval(UPKEEP_EVERY);
                loop {
                    tokio::select! {
                        () = stop.cancelled() => break,
                        _ = every.tick() => handle.run_upkeep(),
                    }
                }
            });
        }
        let app = router(health, metrics);
        let stop = shutdown.clone().cancelled_owned();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
                .map_err(HttpError::Serve)
        });
        tracing::info!(%addr, "serving /health and /metrics");
        Ok(HttpServer {
            addr,
            shutdown,
            task,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets requests in progress finish for up to `grace`, then stops.
    pub async fn shutdown(self, grace: Duration) -> Result<(), HttpError> {
        self.shutdown.cancel();
        let mut task = self.task;
        match tokio::time::timeout(grace, &mut task).await {
            Ok(Ok(result)) => result,
            Ok(Err(e)) => Err(HttpError::Task(e.to_string())),
            Err(_) => {
                tracing::warn!(grace = ?grace, "HTTP clients still connected after the grace period: closing");
                task.abort();
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::Arc;

    use super::*;
    use crate::health::{Health, HealthPolicy};
    use auditfwd_pipeline::{Clock as _, ManualClock, RunReport};
    use chrono::{TimeZone, Utc};

    fn health_handle() -> (HealthHandle, ManualClock) {
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap());
        let policy = HealthPolicy {
            degraded_lag: Duration::from_secs(1800),
            unhealthy_lag: Duration::from_secs(7200),
        };
        (HealthHandle::new(policy, Arc::new(clock.clone())), clock)
    }

    async fn start(
        health: HealthHandle,
        metrics: Option<PrometheusHandle>,
    ) -> (HttpServer, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = HttpServer::start(listener, health, metrics).unwrap();
        let base = format!("http://{}", server.local_addr());
        (server, base)
    }

    #[tokio::test]
    async fn health_answers_200_while_degraded_and_503_when_unhealthy() {
        let (health, clock) = health_handle();
        let (server, base) = start(health.clone(), None).await;
        let http = reqwest::Client::new();

        let resp = http.get(format!("{base}/health")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers()[reqwest::header::CONTENT_TYPE],
            "application/json"
        );
        let body: Health = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
        assert_eq!(body.status, Status::Degraded);
        assert_eq!(body.reasons, vec!["first cycle in progress".to_owned()]);

        health.record(&RunReport {
            started_at: Some(clock.now()),
            ..RunReport::default()
        });
        clock.advance(chrono::Duration::hours(3));
        let resp = http.get(format!("{base}/health")).send().await.unwrap();
        assert_eq!(resp.status(), 503);
        let body: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
        assert_eq!(body["status"], "unhealthy");

        let resp = http.get(format!("{base}/nothing")).send().await.unwrap();
        assert_eq!(resp.status(), 404);
        server.shutdown(Duration::from_secs(5)).await.unwrap();
        assert!(
            http.get(format!("{base}/health")).send().await.is_err(),
            "closed after shutdown"
        );
    }

    #[tokio::test]
    async fn metrics_are_the_prometheus_text_of_the_recorder() {
        let (health, _clock) = health_handle();
        let recorder = auditfwd_telemetry::prometheus::prometheus_recorder().unwrap();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            auditfwd_telemetry::describe();
            metrics::counter!(
                auditfwd_telemetry::names::EVENTS_FORWARDED,
                "region" => "eu-frankfurt-1",
                "pass" => "fresh"
            )
            .increment(42);
        });
        let (server, base) = start(health, Some(handle)).await;
        let resp = reqwest::get(format!("{base}/metrics")).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers()[reqwest::header::CONTENT_TYPE],
            METRICS_CONTENT_TYPE
        );
        let text = resp.text().await.unwrap();
        let scrape =
            prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
        let forwarded = scrape
            .samples
            .iter()
            .find(|s| s.metric == auditfwd_telemetry::names::EVENTS_FORWARDED)
            .unwrap_or_else(|| panic!("no forwarded counter in {text}"));
        assert!(
            matches!(forwarded.value, prometheus_parse::Value::Counter(v) if v == 42.0),
            "{forwarded:?}"
        );
        server.shutdown(Duration::from_secs(5)).await.unwrap();
    }

    #[tokio::test]
    async fn without_a_recorder_metrics_is_404() {
        let (health, _clock) = health_handle();
        let (server, base) = start(health, None).await;
        let resp = reqwest::get(format!("{base}/metrics")).await.unwrap();
        assert_eq!(resp.status(), 404);
        server.shutdown(Duration::from_secs(5)).await.unwrap();
    }

    #[tokio::test]
    async fn binding_an_address_in_use_is_a_bind_error() {
        let (health, _clock) = health_handle();
        let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = taken.local_addr().unwrap();
        let err = HttpServer::bind(addr, health, None).await.unwrap_err();
        assert!(matches!(err, HttpError::Bind { .. }), "{err}");
        assert!(!err.is_retryable());
        assert!(err.to_string().contains("AUDITFWD_LISTEN"), "{err}");
    }
}
