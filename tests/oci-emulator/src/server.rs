//! The HTTP server: a hand-rolled accept loop on loopback (so a fault can reset a connection
//! with a real TCP RST), routing, signature checks, request counters, added latency, fault
//! injection, `opc-request-id` on every response, and the request log.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use percent_encoding::percent_decode_str;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::Api;
use crate::error::ApiError;
use crate::faults::{FaultKind, FaultTarget};
use crate::http_util::{Reply, parse_query};
use crate::object_storage::{BucketPath, ObjectPath};
use crate::signature::{SignedRequest, verify};
use crate::state::{RequestRecord, Shared, lock, read};
use crate::stats::Operation;
use crate::tenancy::rfc3339_ms;
use crate::{audit, cloud_guard, control, identity, logging_search};

/// Largest request body accepted (objects are checkpoints, not backups).
const MAX_BODY: usize = 64 * 1024 * 1024;

/// A TCP stream that can be told to die with an RST: once `reset` is set, the next read or
/// write sets `SO_LINGER` to zero and fails, hyper drops the connection, and the kernel sends
/// RST instead of FIN.
#[derive(Debug)]
struct ResettableStream {
    inner: TcpStream,
    reset: Arc<AtomicBool>,
}

impl ResettableStream {
    fn reset_error(&self) -> io::Error {
        let _ = self.inner.set_zero_linger();
        io::Error::new(io::ErrorKind::ConnectionReset, "injected connection reset")
    }
}

impl AsyncRead for ResettableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.reset.load(Ordering::Acquire) {
            return Poll::Ready(Err(this.reset_error()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.reset.load(Ordering::Acquire) {
            return Poll::Ready(Err(this.reset_error()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Accepts connections until `shutdown` turns true. Dropping the returned future (or the task
/// running it) aborts every open connection.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        while conns.try_join_next().is_some() {}
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => break,
        };
        let (stream, _) = match accepted {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let reset = Arc::new(AtomicBool::new(false));
        let io = TokioIo::new(ResettableStream {
            inner: stream,
            reset: reset.clone(),
        });
        let shared = shared.clone();
        conns.spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let shared = shared.clone();
                let reset = reset.clone();
                async move { Ok::<_, Infallible>(handle(&shared, &reset, req).await) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, svc)
                .await
            {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
}

/// What a request is for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    ListEvents,
    GetAuditConfiguration,
    ListCompartments,
    GetCompartment(String),
    GetTenancy(String),
    GetNamespace,
    ListObjects(BucketPath),
    Object(ObjectPath),
    ListProblems,
    SearchLogs,
    Unknown,
}

impl Route {
    fn operation(&self, method: &Method) -> Operation {
        match self {
            Self::ListEvents => Operation::ListEvents,
            Self::GetAuditConfiguration => Operation::GetConfiguration,
            Self::ListCompartments => Operation::ListCompartments,
            Self::GetCompartment(_) => Operation::GetCompartment,
            Self::GetTenancy(_) => Operation::GetTenancy,
            Self::GetNamespace => Operation::GetNamespace,
            Self::ListObjects(_) => Operation::ListObjects,
            Self::Object(_) => match *method {
                Method::PUT => Operation::PutObject,
                Method::HEAD => Operation::HeadObject,
                Method::DELETE => Operation::DeleteObject,
                _ => Operation::GetObject,
            },
            Self::ListProblems => Operation::ListProblems,
            Self::SearchLogs => Operation::SearchLogs,
            Self::Unknown => Operation::Unknown,
        }
    }
}

fn decode(segment: &str) -> String {
    percent_decode_str(segment).decode_utf8_lossy().into_owned()
}

fn route(method: &Method, path: &str) -> Route {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let get = *method == Method::GET;
    match segs.as_slice() {
        ["20190901", "auditEvents"] if get => Route::ListEvents,
        ["20190901", "configuration"] if get => Route::GetAuditConfiguration,
        ["20160918", "compartments"] if get => Route::ListCompartments,
        ["20160918", "compartments", id] if get => Route::GetCompartment(decode(id)),
        ["20160918", "tenancies", id] if get => Route::GetTenancy(decode(id)),
        ["20200131", "problems"] if get => Route::ListProblems,
        ["20190909", "search"] if *method == Method::POST => Route::SearchLogs,
        ["n"] | ["n", ""] if get => Route::GetNamespace,
        // ListObjects is the bucket's `/o` itself; `/o/` names an object with an empty name.
        ["n", ns, "b", bucket, "o"] if get => Route::ListObjects(BucketPath {
            namespace: decode(ns),
            bucket: decode(bucket),
        }),
        ["n", ns, "b", bucket, "o", rest @ ..]
            if !rest.is_empty() && !rest.iter().all(|s| s.is_empty()) =>
        {
            // Names may contain '/', sent encoded (%2F) or not; both arrive here.
            Route::Object(ObjectPath {
                namespace: decode(ns),
                bucket: decode(bucket),
                object: rest.iter().map(|s| decode(s)).collect::<Vec<_>>().join("/"),
            })
        }
        _ => Route::Unknown,
    }
}

async fn handle(shared: &Shared, reset: &AtomicBool, req: Request<Incoming>) -> Response<Body> {
    let seq = shared.next_request_seq();
    let (parts, incoming) = req.into_parts();
    let client_id = parts
        .headers
        .get("opc-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let request_id = shared.request_id(seq, client_id.as_deref());
    let target = parts.uri.path_and_query().map_or_else(
        || parts.uri.path().to_string(),
        |pq| pq.as_str().to_string(),
    );
    let query = parse_query(parts.uri.query());
    let mut record = RequestRecord {
        seq,
        time: rfc3339_ms(shared.clock.now()),
        method: parts.method.to_string(),
        target: target.clone(),
        operation: String::new(),
        status: 0,
        error_code: None,
        fault: None,
        key_id: None,
        opc_request_id: request_id.clone(),
        compartment_id: query.get("compartmentId").cloned(),
        events_returned: None,
    };
    let body = match axum::body::to_bytes(Body::new(incoming), MAX_BODY).await {
        Ok(b) => b,
        Err(e) => {
            let err = ApiError::new(
                StatusCode::BAD_REQUEST,
                "CannotParseRequest",
                format!("Cannot read the request body: {e}"),
            );
            record.operation = "Unknown".into();
            return finish(
                shared,
                record,
                Reply::error(&err),
                &request_id,
                &parts.method,
            );
        }
    };

    if parts.uri.path().starts_with("/_emulator/") || parts.uri.path() == "/_emulator" {
        record.operation = "Control".into();
        let reply = control::handle(shared, &parts.method, parts.uri.path(), &query, &body);
        return finish(shared, record, reply, &request_id, &parts.method);
    }

    let route = route(&parts.method, parts.uri.path());
    let operation = route.operation(&parts.method);
    record.operation = operation.name().to_string();

    // Authenticate first, as OCI does: an unsigned request learns nothing, not even a 404.
    let verified = {
        let keys = read(&shared.keys);
        let tenancy_id = read(&shared.tenancy).tenancy_id.clone();
        verify(
            &SignedRequest {
                method: &parts.method,
                target: &target,
                headers: &parts.headers,
                body: &body,
                body_headers_optional: matches!(route, Route::Object(_))
                    && parts.method == Method::PUT,
            },
            &keys,
            &tenancy_id,
            shared.clock.now(),
        )
    };
    shared.stats.checked(operation, verified.is_ok());
    // The round trip of a real service, whatever the answer; other requests go on meanwhile.
    shared.latency.wait(operation.api()).await;
    match verified {
        Ok(p) => record.key_id = Some(p.key_id),
        Err(e) => {
            tracing::debug!(target = %target, reason = %e.message, "rejected signature");
            return finish(shared, record, Reply::error(&e), &request_id, &parts.method);
        }
    }

    let Some(api) = operation.api() else {
        let e = ApiError::no_such_operation(&parts.method, parts.uri.path());
        return finish(shared, record, Reply::error(&e), &request_id, &parts.method);
    };

    let fault = lock(&shared.faults).decide(
        shared.config.seed,
        FaultTarget {
            api,
            method: parts.method.as_str(),
            target: &target,
            compartment_id: query.get("compartmentId").map(String::as_str),
        },
    );
    // OCI's own rate limit, when one is set: beyond it, 429 like an injected one.
    let fault = match fault {
        None if api == Api::Audit && shared.over_audit_rate_limit() => {
            Some(FaultKind::RateLimited {
                retry_after_secs: 1,
            })
        }
        f => f,
    };
    record.fault = fault.as_ref().map(FaultKind::label);
    if fault.is_some() {
        shared.stats.faulted(operation);
    }
    match &fault {
        Some(FaultKind::RateLimited { retry_after_secs }) => {
            let e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "User-rate limit exceeded.",
            );
            let r = Reply::error(&e).header(header::RETRY_AFTER, retry_after_secs.to_string());
            return finish(shared, record, r, &request_id, &parts.method);
        }
        Some(FaultKind::ServerError { status }) => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let code = match status.as_u16() {
                503 => "ServiceUnavailable",
                500 => "InternalServerError",
                _ => "InternalError",
            };
            let e = ApiError::new(status, code, "Injected server error");
            return finish(shared, record, Reply::error(&e), &request_id, &parts.method);
        }
        Some(FaultKind::ConnectionReset) => {
            reset.store(true, Ordering::Release);
            record.status = 0;
            shared.log(record);
            return Response::new(Body::empty());
        }
        Some(FaultKind::Slow { delay_ms }) => {
            tokio::time::sleep(Duration::from_millis(*delay_ms)).await
        }
        _ => {}
    }

    let result = match &route {
        Route::ListEvents => audit::list_events(shared, &query),
        Route::GetAuditConfiguration => audit::get_configuration(shared, &query),
        Route::ListCompartments => identity::list_compartments(shared, &query),
        Route::GetCompartment(id) => identity::get_compartment(shared, id),
        Route::GetTenancy(id) => identity::get_tenancy(shared, id),
        Route::ListProblems => {
            cloud_guard::list_problems(&read(&shared.tenancy), &read(&shared.problems), &query)
        }
        Route::SearchLogs => logging_search::search_logs(
            &read(&shared.tenancy),
            &read(&shared.logs),
            &body,
            &query,
            shared.clock.now(),
        ),
        Route::GetNamespace => Ok(lock(&shared.objects).namespace_reply()),
        Route::ListObjects(p) => lock(&shared.objects).list_objects(p, &query),
        Route::Object(p) => {
            lock(&shared.objects).handle(&parts.method, p, &parts.headers, body, shared.clock.now())
        }
        Route::Unknown => Err(ApiError::no_such_operation(&parts.method, parts.uri.path())),
    };
    let mut reply = result.unwrap_or_else(|e| Reply::error(&e));

    match fault {
        Some(FaultKind::TruncatedJson) => {
            let half = reply.body.len() / 2;
            reply.body = reply.body.slice(..half);
        }
        Some(FaultKind::MalformedJson) => {
            reply.status = StatusCode::OK;
            reply.body = Bytes::from_static(b"<html><head><title>502 Bad Gateway</title></head><body>upstream error</body></html>");
        }
        Some(FaultKind::IncompleteBody) => {
            record.status = reply.status.as_u16();
            record.events_returned = reply.events;
            shared.log(record);
            return incomplete(reply, &request_id);
        }
        _ => {}
    }
    finish(shared, record, reply, &request_id, &parts.method)
}

fn with_headers(
    mut builder: http::response::Builder,
    reply: &Reply,
    request_id: &str,
) -> http::response::Builder {
    for (k, v) in &reply.headers {
        builder = builder.header(k, v);
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        builder = builder.header(HeaderName::from_static("opc-request-id"), v);
    }
    builder
}

fn finish(
    shared: &Shared,
    mut record: RequestRecord,
    reply: Reply,
    request_id: &str,
    method: &Method,
) -> Response<Body> {
    record.status = reply.status.as_u16();
    record.events_returned = reply.events;
    if !reply.status.is_success()
        && reply.status != StatusCode::NOT_MODIFIED
        && !reply.body.is_empty()
    {
        record.error_code = serde_json::from_slice::<serde_json::Value>(&reply.body)
            .ok()
            .and_then(|v| v.get("code").and_then(|c| c.as_str()).map(str::to_string));
    }
    shared.log(record);
    let mut builder = with_headers(Response::builder().status(reply.status), &reply, request_id);
    let body = if *method == Method::HEAD {
        if let Some(n) = reply.head_length {
            builder = builder.header(header::CONTENT_LENGTH, n);
        }
        Body::empty()
    } else {
        Body::from(reply.body)
    };
    builder
        .body(body)
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

/// Sends the headers with the full `Content-Length`, half the body, then fails the stream so
/// hyper closes the connection mid-body.
fn incomplete(reply: Reply, request_id: &str) -> Response<Body> {
    let full = reply.body.len();
    let half = reply.body.slice(..full / 2);
    let chunks: Vec<Result<Bytes, io::Error>> =
        vec![Ok(half), Err(io::Error::other("injected incomplete body"))];
    let builder = with_headers(Response::builder().status(reply.status), &reply, request_id)
        .header(header::CONTENT_LENGTH, full);
    builder
        .body(Body::from_stream(futures::stream::iter(chunks)))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_cover_each_service_and_decode_object_names() {
        assert_eq!(
            route(&Method::GET, "/20190901/auditEvents"),
            Route::ListEvents
        );
        assert_eq!(
            route(&Method::GET, "/20160918/compartments"),
            Route::ListCompartments
        );
        assert_eq!(
            route(&Method::GET, "/20160918/compartments/ocid1.x"),
            Route::GetCompartment("ocid1.x".into())
        );
        assert_eq!(route(&Method::GET, "/n/"), Route::GetNamespace);
        assert_eq!(
            route(&Method::GET, "/20200131/problems"),
            Route::ListProblems
        );
        assert_eq!(route(&Method::POST, "/20200131/problems"), Route::Unknown);
        assert_eq!(route(&Method::POST, "/20190909/search"), Route::SearchLogs);
        assert_eq!(route(&Method::GET, "/20190909/search"), Route::Unknown);
        assert_eq!(
            route(&Method::POST, "/20190901/auditEvents"),
            Route::Unknown
        );
        let Route::Object(p) = route(&Method::PUT, "/n/ns/b/bk/o/a%2Fb/c%20d") else {
            panic!()
        };
        assert_eq!(
            (p.namespace.as_str(), p.bucket.as_str(), p.object.as_str()),
            ("ns", "bk", "a/b/c d")
        );
        assert_eq!(route(&Method::GET, "/n/ns/b/bk/o/"), Route::Unknown);
        assert_eq!(
            route(&Method::GET, "/n/ns/b/my%20bk/o"),
            Route::ListObjects(BucketPath {
                namespace: "ns".into(),
                bucket: "my bk".into()
            })
        );
        assert_eq!(route(&Method::PUT, "/n/ns/b/bk/o"), Route::Unknown);
    }
}
