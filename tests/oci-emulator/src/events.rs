//! Synthetic audit events (schema version 2). Events for one compartment and one minute are a
//! pure function of (seed, compartment OCID, minute), so any window of any run can be rebuilt.
//! Each event is rendered to JSON once, when generated: serving a page is then a memcpy.

use bytes::Bytes;
use chrono::{DateTime, TimeZone as _, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::delay::DelayDistribution;
use crate::seed;
use crate::tenancy::{Compartment, rfc3339_ms};

/// How events are generated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EventSpec {
    /// Mean events per compartment (root included) per minute (Poisson).
    pub events_per_minute: f64,
    /// A thin stream instead: mean events per minute across the whole tenancy (Poisson), each in
    /// a compartment drawn at random; replaces `events_per_minute` for every generated minute.
    pub tenancy_events_per_minute: Option<f64>,
    /// Ingestion delay distribution.
    pub delay: DelayDistribution,
    /// Probability that an event carries a very large response payload.
    pub large_payload_probability: f64,
    /// Size of that payload in bytes.
    pub large_payload_bytes: usize,
    /// Probability that an event's free-text fields carry unicode and control characters.
    pub unicode_probability: f64,
}

impl Default for EventSpec {
    fn default() -> Self {
        Self {
            events_per_minute: 2.0,
            tenancy_events_per_minute: None,
            delay: DelayDistribution::oci_like(),
            large_payload_probability: 0.001,
            large_payload_bytes: 256 * 1024,
            unicode_probability: 0.05,
        }
    }
}

/// A generated or added event, pre-rendered.
#[derive(Debug, Clone)]
pub(crate) struct StoredEvent {
    pub(crate) time_ms: i64,
    pub(crate) visible_ms: i64,
    pub(crate) id: Box<str>,
    pub(crate) json: Bytes,
}

impl StoredEvent {
    pub(crate) fn key(&self) -> (i64, &str) {
        (self.time_ms, &self.id)
    }
}

struct EventKind {
    source: &'static str,
    service: &'static str,
    name: &'static str,
    action: &'static str,
    path: &'static str,
    resource: &'static str,
    write: bool,
    weight: u32,
}

#[allow(clippy::too_many_arguments)] // a table row, read positionally
const fn kind(
    service: &'static str,
    source: &'static str,
    name: &'static str,
    action: &'static str,
    path: &'static str,
    resource: &'static str,
    write: bool,
    weight: u32,
) -> EventKind {
    EventKind {
        source,
        service,
        name,
        action,
        path,
        resource,
        write,
        weight,
    }
}

// Reads dominate real tenancies; writes and sign-ons are rarer but what SIEM rules look for.
const KINDS: &[EventKind] = &[
    kind(
        "ComputeApi",
        "ComputeApi",
        "GetInstance",
        "GET",
        "/20160918/instances/",
        "instance",
        false,
        30,
    ),
    kind(
        "ComputeApi",
        "ComputeApi",
        "ListInstances",
        "GET",
        "/20160918/instances",
        "instance",
        false,
        20,
    ),
    kind(
        "ComputeApi",
        "ComputeApi",
        "LaunchInstance",
        "POST",
        "/20160918/instances",
        "instance",
        true,
        3,
    ),
    kind(
        "ComputeApi",
        "ComputeApi",
        "TerminateInstance",
        "DELETE",
        "/20160918/instances/",
        "instance",
        true,
        2,
    ),
    kind(
        "VirtualNetworkApi",
        "VirtualNetworkApi",
        "UpdateSecurityList",
        "PUT",
        "/20160918/securityLists/",
        "securitylist",
        true,
        3,
    ),
    kind(
        "VirtualNetworkApi",
        "VirtualNetworkApi",
        "ListVcns",
        "GET",
        "/20160918/vcns",
        "vcn",
        false,
        10,
    ),
    kind(
        "identityControlPlane",
        "identityControlPlane",
        "CreateUser",
        "POST",
        "/20160918/users",
        "user",
        true,
        1,
    ),
    kind(
        "identityControlPlane",
        "identityControlPlane",
        "UpdatePolicy",
        "PUT",
        "/20160918/policies/",
        "policy",
        true,
        2,
    ),
    kind(
        "identityControlPlane",
        "identityControlPlane",
        "AddUserToGroup",
        "POST",
        "/20160918/userGroupMemberships",
        "usergroupmembership",
        true,
        1,
    ),
    kind(
        "IdentitySignOn",
        "IdentitySignOn",
        "InteractiveLogin",
        "POST",
        "/v1/authentication/login",
        "user",
        false,
        4,
    ),
    kind(
        "objectstorage",
        "ObjectStorage",
        "GetObject",
        "GET",
        "/n/ns/b/bucket/o/",
        "bucket",
        false,
        15,
    ),
    kind(
        "objectstorage",
        "ObjectStorage",
        "PutObject",
        "PUT",
        "/n/ns/b/bucket/o/",
        "bucket",
        true,
        6,
    ),
    kind(
        "objectstorage",
        "ObjectStorage",
        "CreateBucket",
        "POST",
        "/n/ns/b",
        "bucket",
        true,
        1,
    ),
    kind(
        "DatabaseApi",
        "DatabaseApi",
        "ListDbSystems",
        "GET",
        "/20160918/dbSystems",
        "dbsystem",
        false,
        5,
    ),
    kind(
        "KeyManagementService",
        "KeyManagementService",
        "Decrypt",
        "POST",
        "/20180608/decrypt",
        "key",
        false,
        4,
    ),
];

const USERS: &[&str] = &[
    "alice@example.com",
    "bob.smith",
    "carol",
    "dave.ops@example.com",
    "erin.secops",
    "frank",
    "grace.hopper@example.com",
    "heidi",
];
const AGENTS: &[&str] = &[
    "Oracle-PythonSDK/2.150.0 (python 3.12.3; x86_64-Linux) Oracle-PythonCLI/3.95.1",
    "Oracle-JavaSDK/3.52.0 (Linux/5.15; Java/21.0.2)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0 Safari/537.36",
    "Terraform/1.9.5 (+https://www.terraform.io) terraform-provider-oci/6.10.0",
    "Oracle-GoSDK/65.77.0 (linux/amd64) (go1.22.5)",
];
// Free text that stresses SIEM encoders: accents, CJK, emoji, RTL override, NUL, BEL, ESC,
// newlines, a UTF-8 line separator, quotes and syslog-structured-data specials.
const NASTY: &[&str] = &[
    "caf\u{e9}-\u{dc}n\u{ef}c\u{f8}d\u{e9}",
    "\u{65e5}\u{672c}\u{8a9e}-\u{1f680}",
    "rtl-\u{202e}gnp.exe",
    "ctl\u{0}nul\u{7}bel\u{1b}[31mred",
    "multi\nline\r\nvalue\twith tab",
    "sep\u{2028}para\u{2029}end",
    "quote\"back\\slash]bracket=eq",
];

pub(crate) fn poisson(rng: &mut fastrand::Rng, mean: f64) -> usize {
    if mean <= 0.0 {
        return 0;
    }
    if mean > 50.0 {
        // Normal approximation; exact shape does not matter at this rate.
        let z: f64 = (0..12).map(|_| rng.f64()).sum::<f64>() - 6.0;
        return (mean + z * mean.sqrt()).round().max(0.0) as usize;
    }
    let limit = (-mean).exp();
    let mut k = 0;
    let mut p = rng.f64();
    while p > limit {
        k += 1;
        p *= rng.f64();
    }
    k
}

/// What the generator needs to know about the tenancy.
#[derive(Debug, Clone)]
pub(crate) struct TenancyContext {
    pub(crate) seed: u64,
    pub(crate) tenancy_id: String,
    pub(crate) region: String,
    pub(crate) namespace: String,
    users: Vec<(String, String)>,
}

impl TenancyContext {
    pub(crate) fn new(seed_value: u64, tenancy_id: &str, region: &str, namespace: &str) -> Self {
        let mut rng = seed::rng(seed_value, &[b"users"]);
        let users = USERS
            .iter()
            .map(|u| ((*u).to_string(), seed::ocid(&mut rng, "user", "")))
            .collect();
        Self {
            seed: seed_value,
            tenancy_id: tenancy_id.to_string(),
            region: region.to_string(),
            namespace: namespace.to_string(),
            users,
        }
    }
}

/// Events of `compartment` whose `eventTime` falls in minute `minute` (minutes since the Unix
/// epoch), sorted by time then id.
pub(crate) fn generate_minute(
    ctx: &TenancyContext,
    spec: &EventSpec,
    compartment: &Compartment,
    minute: i64,
) -> Vec<StoredEvent> {
    let mut rng = seed::rng(
        ctx.seed,
        &[b"events", compartment.id.as_bytes(), &minute.to_le_bytes()],
    );
    let n = poisson(&mut rng, spec.events_per_minute);
    let mut out: Vec<StoredEvent> = (0..n)
        .map(|_| {
            let time_ms = minute * 60_000 + rng.i64(0..60_000);
            let delay = spec.delay.sample(&mut rng);
            build_event(ctx, spec, compartment, time_ms, time_ms + delay, &mut rng)
        })
        .collect();
    out.sort_by(|a, b| a.key().cmp(&b.key()));
    out
}

fn ms_to_time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// One synthetic event at `time_ms`, visible from `visible_ms`.
pub(crate) fn build_event(
    ctx: &TenancyContext,
    spec: &EventSpec,
    compartment: &Compartment,
    time_ms: i64,
    visible_ms: i64,
    rng: &mut fastrand::Rng,
) -> StoredEvent {
    let total: u32 = KINDS.iter().map(|k| k.weight).sum();
    let mut pick = rng.u32(0..total);
    let kind = KINDS
        .iter()
        .find(|k| {
            if pick < k.weight {
                true
            } else {
                pick -= k.weight;
                false
            }
        })
        .unwrap_or(&KINDS[0]);
    let event_id = seed::guid(rng);
    let event_time = rfc3339_ms(ms_to_time(time_ms));
    let response_time = rfc3339_ms(ms_to_time(time_ms + rng.i64(5..900)));
    let (user, user_id) = &ctx.users[rng.usize(..ctx.users.len())];
    let fingerprint: String = (0..16)
        .map(|_| format!("{:02x}", rng.u8(..)))
        .collect::<Vec<_>>()
        .join(":");
    let request_id = format!(
        "{}/{}/{}",
        seed::hex_upper(rng, 32),
        seed::hex_upper(rng, 32),
        seed::hex_upper(rng, 32)
    );
    let ip = format!(
        "{}.{}.{}.{}",
        rng.u8(1..224),
        rng.u8(..),
        rng.u8(..),
        rng.u8(1..255)
    );
    let agent = AGENTS[rng.usize(..AGENTS.len())];
    let resource_id = seed::ocid(rng, kind.resource, &ctx.region);
    let nasty = rng.f64() < spec.unicode_probability;
    let mut resource_name = format!(
        "{}-{}-{:03}",
        compartment.name,
        kind.resource,
        rng.u32(..1000)
    );
    let mut message = format!("{} succeeded", kind.name);
    if nasty {
        resource_name.push('-');
        resource_name.push_str(NASTY[rng.usize(..NASTY.len())]);
        message.push_str(": ");
        message.push_str(NASTY[rng.usize(..NASTY.len())]);
    }
    let console = kind.name == "InteractiveLogin" || agent.starts_with("Mozilla");
    let auth_type = if console {
        "natv"
    } else if rng.u8(..10) == 0 {
        "instance"
    } else {
        "natv"
    };
    let credentials = if console {
        format!("ST${}", seed::hex_upper(rng, 48))
    } else {
        format!("{}/{user_id}/{fingerprint}", ctx.tenancy_id)
    };
    let path = if kind.path.ends_with('/') {
        format!("{}{resource_id}", kind.path)
    } else {
        kind.path.to_string()
    };
    let signature: String = seed::hex_upper(rng, 344);
    let opc_principal = json!({
        "tenantId": ctx.tenancy_id,
        "subjectId": user_id,
        "claims": [
            {"key": "pstype", "value": "natv", "issuer": "authService.oracle.com"},
            {"key": "h_host", "value": format!("{}.{}.oraclecloud.com", kind.service.to_ascii_lowercase(), ctx.region), "issuer": "h"},
            {"key": "ptype", "value": "user", "issuer": "authService.oracle.com"},
        ]
    })
    .to_string();
    let mut payload = json!({ "resourceName": resource_name, "id": resource_id });
    if rng.f64() < spec.large_payload_probability && spec.large_payload_bytes > 0 {
        let unit = "LargePayload-0123456789-abcdefghijklmnopqrstuvwxyz-\u{e9}\u{1f680}|";
        let blob: String = unit
            .chars()
            .cycle()
            .take(spec.large_payload_bytes)
            .collect();
        payload["largeBlob"] = Value::from(blob);
    }
    let state_change = if kind.write {
        json!({
            "previous": if kind.action == "POST" { Value::Null } else { json!({"lifecycleState": "AVAILABLE", "displayName": resource_name}) },
            "current": json!({"lifecycleState": if kind.action == "DELETE" { "TERMINATING" } else { "AVAILABLE" }, "displayName": resource_name, "id": resource_id}),
        })
    } else {
        json!({ "previous": null, "current": null })
    };
    // A few calls fail: SIEM rules care about denied and missing resources.
    let status = if rng.u8(..50) == 0 { "404" } else { "200" };
    let event = json!({
        "eventType": format!("com.oraclecloud.{}.{}", kind.service, kind.name),
        "cloudEventsVersion": "0.1",
        "eventTypeVersion": "2.0",
        "source": kind.source,
        "eventId": event_id,
        "eventTime": event_time,
        "contentType": "application/json",
        "data": {
            "eventGroupingId": request_id,
            "eventName": kind.name,
            "compartmentId": compartment.id,
            "compartmentName": compartment.name,
            "resourceName": resource_name,
            "resourceId": resource_id,
            "availabilityDomain": format!("AD{}", rng.u8(1..=3)),
            "freeformTags": compartment.freeform_tags,
            "definedTags": compartment.defined_tags,
            "identity": {
                "principalName": user,
                "principalId": user_id,
                "authType": auth_type,
                "callerName": Value::Null,
                "callerId": Value::Null,
                "tenantId": ctx.tenancy_id,
                "ipAddress": ip,
                "credentials": credentials,
                "userAgent": agent,
                "consoleSessionId": if console { Value::from(seed::hex_upper(rng, 32)) } else { Value::Null },
            },
            "request": {
                "id": request_id,
                "path": path,
                "action": kind.action,
                "parameters": if kind.action == "GET" { json!({"compartmentId": [compartment.id], "limit": ["100"]}) } else { json!({}) },
                "headers": {
                    "Authorization": [format!("Signature headers=\"date (request-target) host\",keyId=\"{}/{user_id}/{fingerprint}\",algorithm=\"rsa-sha256\",signature=\"{signature}\",version=\"1\"", ctx.tenancy_id)],
                    "opc-principal": [opc_principal],
                    "opc-request-id": [request_id],
                    "User-Agent": [agent],
                    "X-Forwarded-For": [ip],
                    "Accept": ["application/json"],
                    "Date": [httpdate::fmt_http_date(ms_to_time(time_ms).into())],
                },
            },
            "response": {
                "status": status,
                "responseTime": response_time,
                "headers": {
                    "Content-Type": ["application/json"],
                    "opc-request-id": [request_id],
                    "Content-Length": ["512"],
                },
                "payload": payload,
                "message": message,
            },
            "stateChange": state_change,
            "additionalDetails": {
                "X-Real-Port": rng.u16(1024..65535),
                "objectStorageNamespace": ctx.namespace,
                "region": ctx.region,
            },
        }
    });
    StoredEvent {
        time_ms,
        visible_ms,
        id: event_id.into_boxed_str(),
        json: Bytes::from(event.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenancy::{Tenancy, TenancySpec};

    fn setup() -> (TenancyContext, Compartment) {
        let t = Tenancy::generate(3, &TenancySpec::default());
        let ctx = TenancyContext::new(3, &t.tenancy_id, &t.region, &t.namespace);
        (ctx, t.records[1].compartment.clone())
    }

    #[test]
    fn minute_generation_is_deterministic_and_inside_the_minute() {
        let (ctx, c) = setup();
        let spec = EventSpec {
            events_per_minute: 20.0,
            ..EventSpec::default()
        };
        let minute = 29_000_000;
        let a = generate_minute(&ctx, &spec, &c, minute);
        let b = generate_minute(&ctx, &spec, &c, minute);
        assert!(!a.is_empty());
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.json, y.json);
            assert!(x.time_ms / 60_000 == minute && x.visible_ms >= x.time_ms);
        }
        assert!(a.windows(2).all(|w| w[0].key() <= w[1].key()));
    }

    #[test]
    fn events_are_complete_schema_v2() {
        let (ctx, c) = setup();
        let spec = EventSpec {
            events_per_minute: 5.0,
            large_payload_probability: 1.0,
            large_payload_bytes: 10_000,
            unicode_probability: 1.0,
            ..EventSpec::default()
        };
        let e = &generate_minute(&ctx, &spec, &c, 29_000_001)[0];
        let v: Value = serde_json::from_slice(&e.json).unwrap();
        for k in [
            "eventType",
            "cloudEventsVersion",
            "eventTypeVersion",
            "source",
            "eventId",
            "eventTime",
            "contentType",
            "data",
        ] {
            assert!(v.get(k).is_some(), "missing {k}");
        }
        let d = &v["data"];
        for k in [
            "identity",
            "request",
            "response",
            "stateChange",
            "additionalDetails",
            "freeformTags",
            "definedTags",
        ] {
            assert!(d.get(k).is_some(), "missing data.{k}");
        }
        assert!(
            d["request"]["headers"]["Authorization"][0]
                .as_str()
                .unwrap()
                .starts_with("Signature ")
        );
        assert!(d["request"]["headers"]["opc-principal"][0].is_string());
        assert!(e.json.len() > 10_000);
        assert_eq!(v["eventId"].as_str().unwrap(), &*e.id);
        assert_eq!(d["compartmentId"], c.id.as_str());
    }
}
