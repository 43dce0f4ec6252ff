//! Cloud Guard `ListProblems` (`GET /20200131/problems`) and the problems it lists.
//!
//! Unlike audit events, a problem is mutable: Cloud Guard keeps one problem per detector rule
//! and resource and updates it in place (`timeLastDetected` moves on each new detection, an
//! operator resolves or dismisses it). A forwarder must therefore notice *changes*, so the
//! store keeps every version it ever held ([`ProblemVersion`], the ground truth) next to the
//! current state the API lists.
//!
//! Listing follows the real API: `compartmentId` is required; `compartmentIdInSubtree=true`
//! takes the whole subtree, where `accessLevel=RESTRICTED` (the default) refuses the request
//! if any compartment in it is inaccessible and `ACCESSIBLE` skips those; `lifecycleState`
//! defaults to `ACTIVE`; the time filters are inclusive at both ends; the default sort is
//! `timeLastDetected` descending. Pages are keyset cursors (the sort key and id of the last
//! problem returned), so a problem added or updated between two pages neither shifts the
//! others nor repeats them, and the order is total (ties broken by id).

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use http::{HeaderName, StatusCode};
use serde::{Deserialize, Serialize, Serializer};

use crate::error::{ApiError, EmulatorError};
use crate::http_util::{Reply, parse_time};
use crate::seed;
use crate::tenancy::{Access, Tenancy, rfc3339_ms};

/// `limit` when the request has none, as the real API.
pub(crate) const DEFAULT_LIMIT: usize = 10;
/// Largest `limit` accepted.
pub(crate) const MAX_LIMIT: usize = 1000;

const RISK_LEVELS: [&str; 5] = ["MINOR", "LOW", "MEDIUM", "HIGH", "CRITICAL"];
const LIFECYCLE_STATES: [&str; 2] = ["ACTIVE", "INACTIVE"];
const LIFECYCLE_DETAILS: [&str; 4] = ["OPEN", "RESOLVED", "DISMISSED", "DELETED"];

/// Detector, rule and resource type of the synthetic problems.
const RULES: [(&str, &str, &str); 6] = [
    ("IAAS_CONFIGURATION_DETECTOR", "BUCKET_IS_PUBLIC", "Bucket"),
    (
        "IAAS_CONFIGURATION_DETECTOR",
        "INSTANCE_HAS_PUBLIC_IP",
        "Instance",
    ),
    (
        "IAAS_CONFIGURATION_DETECTOR",
        "VCN_SECURITY_LIST_ALLOWS_SSH_FROM_INTERNET",
        "SecurityList",
    ),
    ("IAAS_ACTIVITY_DETECTOR", "POLICY_CHANGED", "Policy"),
    ("IAAS_ACTIVITY_DETECTOR", "USER_API_KEY_CREATED", "User"),
    ("IAAS_THREAT_DETECTOR", "ROGUE_USER", "User"),
];

fn ser_time<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339_ms(*t))
}

/// A problem, serialised exactly as `ListProblems` returns it (a `ProblemSummary`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// OCID (`ocid1.cloudguardproblem...`).
    pub id: String,
    /// Compartment of the affected resource.
    pub compartment_id: String,
    /// The detector rule that raised it, e.g. `BUCKET_IS_PUBLIC`.
    pub detector_rule_id: String,
    /// `CRITICAL`, `HIGH`, `MEDIUM`, `LOW` or `MINOR`.
    pub risk_level: String,
    /// 0-100.
    pub risk_score: f64,
    /// Affected resource OCID.
    pub resource_id: String,
    /// Affected resource name.
    pub resource_name: String,
    /// Affected resource type, e.g. `Bucket`.
    pub resource_type: String,
    /// User-defined labels.
    pub labels: Vec<String>,
    /// First detection.
    #[serde(serialize_with = "ser_time")]
    pub time_first_detected: DateTime<Utc>,
    /// Latest detection.
    #[serde(serialize_with = "ser_time")]
    pub time_last_detected: DateTime<Utc>,
    /// `ACTIVE` or `INACTIVE`.
    pub lifecycle_state: String,
    /// `OPEN`, `RESOLVED`, `DISMISSED` or `DELETED`.
    pub lifecycle_detail: String,
    /// The detector, e.g. `IAAS_CONFIGURATION_DETECTOR`.
    pub detector_id: String,
    /// Region where it was detected.
    pub region: String,
    /// Regions where it was detected.
    pub regions: Vec<String>,
    /// Cloud Guard target OCID.
    pub target_id: String,
    /// Resource locks (always empty here).
    pub locks: Vec<serde_json::Value>,
}

/// One version of a problem as it was listed from `recordedAt` on (ground truth).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProblemVersion {
    /// 1 for the problem as created, then one more per update.
    pub version: u32,
    /// Emulator time of the change.
    pub recorded_at: String,
    /// The problem as listed after the change.
    pub problem: Problem,
}

/// A problem to add through the control API. Every field but `compartmentId` has a default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewProblem {
    /// Compartment of the affected resource (must exist).
    pub compartment_id: String,
    /// Default: the synthetic rule's level.
    #[serde(default)]
    pub risk_level: Option<String>,
    /// Default: a synthetic rule, drawn from the seed.
    #[serde(default)]
    pub detector_rule_id: Option<String>,
    /// Default: the rule's detector.
    #[serde(default)]
    pub detector_id: Option<String>,
    /// Default: the rule's resource type.
    #[serde(default)]
    pub resource_type: Option<String>,
    /// Default: a generated name.
    #[serde(default)]
    pub resource_name: Option<String>,
    /// Default: none.
    #[serde(default)]
    pub labels: Option<Vec<String>>,
    /// Default: emulator now.
    #[serde(default)]
    pub time_first_detected: Option<DateTime<Utc>>,
    /// Default: `timeFirstDetected`.
    #[serde(default)]
    pub time_last_detected: Option<DateTime<Utc>>,
    /// Default `ACTIVE`.
    #[serde(default)]
    pub lifecycle_state: Option<String>,
    /// Default `OPEN`.
    #[serde(default)]
    pub lifecycle_detail: Option<String>,
}

/// A change to an existing problem; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProblemUpdate {
    /// A new detection (must not go back before `timeFirstDetected`).
    #[serde(default)]
    pub time_last_detected: Option<DateTime<Utc>>,
    /// `ACTIVE` or `INACTIVE`.
    #[serde(default)]
    pub lifecycle_state: Option<String>,
    /// `OPEN`, `RESOLVED`, `DISMISSED` or `DELETED`.
    #[serde(default)]
    pub lifecycle_detail: Option<String>,
    /// A new risk level.
    #[serde(default)]
    pub risk_level: Option<String>,
    /// New labels.
    #[serde(default)]
    pub labels: Option<Vec<String>>,
}

fn check_value(name: &str, v: &str, allowed: &[&str]) -> Result<(), String> {
    if allowed.contains(&v) {
        Ok(())
    } else {
        Err(format!(
            "{name} '{v}' must be one of {}",
            allowed.join(", ")
        ))
    }
}

fn risk_rank(level: &str) -> usize {
    RISK_LEVELS
        .iter()
        .position(|l| *l == level)
        .unwrap_or(usize::MAX)
}

fn risk_score(level: &str) -> f64 {
    match level {
        "CRITICAL" => 90.0,
        "HIGH" => 70.0,
        "MEDIUM" => 50.0,
        "LOW" => 30.0,
        _ => 10.0,
    }
}

/// Problems now and every version they had.
#[derive(Debug, Default)]
pub(crate) struct ProblemStore {
    current: Vec<Problem>,
    index: HashMap<String, usize>,
    versions: Vec<ProblemVersion>,
    counts: HashMap<String, u32>,
    added: u64,
}

impl ProblemStore {
    /// `n` problems spread over `compartments` in the `span` before `now`, from the seed.
    pub(crate) fn seeded(
        seed_value: u64,
        n: usize,
        compartments: &[String],
        region: &str,
        now: DateTime<Utc>,
        span: Duration,
    ) -> Self {
        let mut store = Self::default();
        if compartments.is_empty() {
            return store;
        }
        let span_ms = span.num_milliseconds().max(1);
        for i in 0..n {
            let mut rng = seed::rng(seed_value, &[b"seeded-problem", &i.to_le_bytes()]);
            let first = now - Duration::milliseconds(rng.i64(0..span_ms));
            let since_first = (now - first).num_milliseconds().max(1);
            let last = first + Duration::milliseconds(rng.i64(0..since_first));
            let req = NewProblem {
                compartment_id: compartments[rng.usize(..compartments.len())].clone(),
                time_first_detected: Some(first),
                time_last_detected: Some(last),
                ..NewProblem::default()
            };
            // Seeded values are valid by construction.
            if let Ok(p) = store.build(&mut rng, req, region) {
                store.insert(p, now);
            }
        }
        store
    }

    fn build(
        &self,
        rng: &mut fastrand::Rng,
        req: NewProblem,
        region: &str,
    ) -> Result<Problem, String> {
        let (detector, rule, resource_type) = RULES[rng.usize(..RULES.len())];
        let drawn_level = RISK_LEVELS[rng.usize(..RISK_LEVELS.len())];
        let risk_level = req.risk_level.unwrap_or_else(|| drawn_level.to_string());
        check_value("riskLevel", &risk_level, &RISK_LEVELS)?;
        let lifecycle_state = req.lifecycle_state.unwrap_or_else(|| "ACTIVE".into());
        check_value("lifecycleState", &lifecycle_state, &LIFECYCLE_STATES)?;
        let lifecycle_detail = req.lifecycle_detail.unwrap_or_else(|| "OPEN".into());
        check_value("lifecycleDetail", &lifecycle_detail, &LIFECYCLE_DETAILS)?;
        let first = req
            .time_first_detected
            .ok_or("timeFirstDetected is required")?;
        let last = req.time_last_detected.unwrap_or(first);
        if last < first {
            return Err("timeLastDetected is before timeFirstDetected".into());
        }
        let resource_type = req.resource_type.unwrap_or_else(|| resource_type.into());
        let resource_id = seed::ocid(rng, &resource_type.to_ascii_lowercase(), region);
        let resource_name = req
            .resource_name
            .unwrap_or_else(|| format!("{}-{}", resource_type.to_ascii_lowercase(), rng.u16(..)));
        Ok(Problem {
            id: seed::ocid(rng, "cloudguardproblem", region),
            compartment_id: req.compartment_id,
            detector_rule_id: req.detector_rule_id.unwrap_or_else(|| rule.into()),
            risk_score: risk_score(&risk_level),
            risk_level,
            resource_id,
            resource_name,
            resource_type,
            labels: req.labels.unwrap_or_default(),
            time_first_detected: truncate_ms(first),
            time_last_detected: truncate_ms(last),
            lifecycle_state,
            lifecycle_detail,
            detector_id: req.detector_id.unwrap_or_else(|| detector.into()),
            region: region.to_string(),
            regions: vec![region.to_string()],
            target_id: seed::ocid(rng, "cloudguardtarget", region),
            locks: Vec::new(),
        })
    }

    fn insert(&mut self, p: Problem, now: DateTime<Utc>) {
        self.index.insert(p.id.clone(), self.current.len());
        self.record(&p, now);
        self.current.push(p);
    }

    fn record(&mut self, p: &Problem, now: DateTime<Utc>) {
        let n = self.counts.entry(p.id.clone()).or_insert(0);
        *n += 1;
        self.versions.push(ProblemVersion {
            version: *n,
            recorded_at: rfc3339_ms(now),
            problem: p.clone(),
        });
    }

    /// Adds a problem (seeded ids: the `n`th problem added gets the same id in every run).
    pub(crate) fn add(
        &mut self,
        seed_value: u64,
        req: NewProblem,
        region: &str,
        now: DateTime<Utc>,
    ) -> Result<Problem, EmulatorError> {
        let n = self.added;
        let mut rng = seed::rng(seed_value, &[b"added-problem", &n.to_le_bytes()]);
        let req = NewProblem {
            time_first_detected: Some(req.time_first_detected.unwrap_or(now)),
            ..req
        };
        let p = self
            .build(&mut rng, req, region)
            .map_err(EmulatorError::Config)?;
        self.added += 1;
        self.insert(p.clone(), now);
        Ok(p)
    }

    /// Applies `change` to problem `id` and records the new version.
    pub(crate) fn update(
        &mut self,
        id: &str,
        change: ProblemUpdate,
        now: DateTime<Utc>,
    ) -> Result<Problem, EmulatorError> {
        let &i = self
            .index
            .get(id)
            .ok_or_else(|| EmulatorError::UnknownProblem(id.to_string()))?;
        let mut p = self.current[i].clone();
        if let Some(t) = change.time_last_detected {
            if t < p.time_first_detected {
                return Err(EmulatorError::Config(
                    "timeLastDetected is before timeFirstDetected".into(),
                ));
            }
            p.time_last_detected = truncate_ms(t);
        }
        if let Some(s) = change.lifecycle_state {
            check_value("lifecycleState", &s, &LIFECYCLE_STATES).map_err(EmulatorError::Config)?;
            p.lifecycle_state = s;
        }
        if let Some(d) = change.lifecycle_detail {
            check_value("lifecycleDetail", &d, &LIFECYCLE_DETAILS)
                .map_err(EmulatorError::Config)?;
            p.lifecycle_detail = d;
        }
        if let Some(r) = change.risk_level {
            check_value("riskLevel", &r, &RISK_LEVELS).map_err(EmulatorError::Config)?;
            p.risk_score = risk_score(&r);
            p.risk_level = r;
        }
        if let Some(l) = change.labels {
            p.labels = l;
        }
        self.record(&p, now);
        self.current[i] = p.clone();
        Ok(p)
    }

    /// Every problem as it is now, in creation order.
    pub(crate) fn current(&self) -> &[Problem] {
        &self.current
    }

    /// Every version of every problem, in the order they were recorded.
    pub(crate) fn versions(&self) -> &[ProblemVersion] {
        &self.versions
    }
}

fn truncate_ms(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

/// `sortBy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SortBy {
    TimeLastDetected,
    RiskLevel,
    ResourceName,
}

/// A validated `ListProblems` query.
#[derive(Debug, Clone)]
pub(crate) struct ProblemQuery {
    pub(crate) compartment_id: String,
    pub(crate) in_subtree: bool,
    pub(crate) accessible_only: bool,
    pub(crate) last_from: Option<DateTime<Utc>>,
    pub(crate) last_to: Option<DateTime<Utc>>,
    pub(crate) first_from: Option<DateTime<Utc>>,
    pub(crate) first_to: Option<DateTime<Utc>>,
    pub(crate) lifecycle_state: String,
    pub(crate) lifecycle_detail: Option<String>,
    pub(crate) risk_level: Option<String>,
    pub(crate) resource_type: Option<String>,
    pub(crate) resource_id: Option<String>,
    pub(crate) target_id: Option<String>,
    pub(crate) detector_type: Option<String>,
    pub(crate) label: Option<String>,
    pub(crate) limit: usize,
    pub(crate) sort_by: SortBy,
    pub(crate) descending: bool,
    pub(crate) after: Option<Cursor>,
}

/// Where the previous page ended: its last problem's sort key and id.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cursor {
    key: Key,
    id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Number(i64),
    Text(String),
}

impl Key {
    fn of(p: &Problem, by: SortBy) -> Key {
        match by {
            SortBy::TimeLastDetected => Key::Number(p.time_last_detected.timestamp_millis()),
            SortBy::RiskLevel => Key::Number(i64::try_from(risk_rank(&p.risk_level)).unwrap_or(-1)),
            SortBy::ResourceName => Key::Text(p.resource_name.clone()),
        }
    }
}

fn sort_code(by: SortBy, descending: bool) -> String {
    let by = match by {
        SortBy::TimeLastDetected => "t",
        SortBy::RiskLevel => "r",
        SortBy::ResourceName => "n",
    };
    format!("{by}{}", if descending { "d" } else { "a" })
}

/// Page token: `<sort>|<n|s><key>|<id>`, base64url. Tied to the sort it was made for.
fn page_token(by: SortBy, descending: bool, c: &Cursor) -> String {
    let key = match &c.key {
        Key::Number(n) => format!("n{n}"),
        Key::Text(s) => format!(
            "s{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
        ),
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
        "{}|{key}|{}",
        sort_code(by, descending),
        c.id
    ))
}

fn parse_page_token(t: &str, by: SortBy, descending: bool) -> Option<Cursor> {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let raw = String::from_utf8(b64.decode(t).ok()?).ok()?;
    let mut parts = raw.splitn(3, '|');
    if parts.next()? != sort_code(by, descending) {
        return None;
    }
    let key = parts.next()?;
    let key = if let Some(n) = key.strip_prefix('n') {
        Key::Number(n.parse().ok()?)
    } else {
        Key::Text(String::from_utf8(b64.decode(key.strip_prefix('s')?).ok()?).ok()?)
    };
    Some(Cursor {
        key,
        id: parts.next()?.to_string(),
    })
}

fn enum_param(
    q: &HashMap<String, String>,
    name: &str,
    allowed: &[&str],
) -> Result<Option<String>, ApiError> {
    match q.get(name) {
        None => Ok(None),
        Some(v) => check_value(name, v, allowed)
            .map(|()| Some(v.clone()))
            .map_err(ApiError::invalid_parameter),
    }
}

impl ProblemQuery {
    /// Validates the query string as the real API does: a bad value is `400 InvalidParameter`.
    pub(crate) fn parse(q: &HashMap<String, String>) -> Result<Self, ApiError> {
        let compartment_id = q
            .get("compartmentId")
            .filter(|c| !c.is_empty())
            .ok_or_else(|| ApiError::missing_parameter("compartmentId"))?
            .clone();
        let in_subtree = match q.get("compartmentIdInSubtree").map(String::as_str) {
            None | Some("false") => false,
            Some("true") => true,
            Some(v) => {
                return Err(ApiError::invalid_parameter(format!(
                    "compartmentIdInSubtree '{v}' is not a boolean"
                )));
            }
        };
        let accessible_only = enum_param(q, "accessLevel", &["RESTRICTED", "ACCESSIBLE"])?
            .as_deref()
            == Some("ACCESSIBLE");
        let time = |name: &str| q.get(name).map(|v| parse_time(name, v)).transpose();
        let limit = match q.get("limit") {
            None => DEFAULT_LIMIT,
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    return Err(ApiError::invalid_parameter(format!(
                        "limit '{v}' must be an integer from 1 to {MAX_LIMIT}"
                    )));
                }
            },
        };
        let sort_by = match q.get("sortBy").map(String::as_str) {
            None | Some("timeLastDetected") => SortBy::TimeLastDetected,
            Some("riskLevel") => SortBy::RiskLevel,
            Some("resourceName") => SortBy::ResourceName,
            Some(v) => {
                return Err(ApiError::invalid_parameter(format!(
                    "sortBy '{v}' must be one of riskLevel, timeLastDetected, resourceName"
                )));
            }
        };
        // Newest detections first by default; names and risk levels in ascending order.
        let descending = match enum_param(q, "sortOrder", &["ASC", "DESC"])?.as_deref() {
            Some("DESC") => true,
            Some(_) => false,
            None => sort_by == SortBy::TimeLastDetected,
        };
        let after = match q.get("page") {
            None => None,
            Some(p) => Some(
                parse_page_token(p, sort_by, descending)
                    .ok_or_else(|| ApiError::invalid_parameter("Invalid page token"))?,
            ),
        };
        Ok(Self {
            compartment_id,
            in_subtree,
            accessible_only,
            last_from: time("timeLastDetectedGreaterThanOrEqualTo")?,
            last_to: time("timeLastDetectedLessThanOrEqualTo")?,
            first_from: time("timeFirstDetectedGreaterThanOrEqualTo")?,
            first_to: time("timeFirstDetectedLessThanOrEqualTo")?,
            lifecycle_state: enum_param(q, "lifecycleState", &LIFECYCLE_STATES)?
                .unwrap_or_else(|| "ACTIVE".into()),
            lifecycle_detail: enum_param(q, "lifecycleDetail", &LIFECYCLE_DETAILS)?,
            risk_level: q.get("riskLevel").cloned(),
            resource_type: q.get("resourceType").cloned(),
            resource_id: q.get("resourceId").cloned(),
            target_id: q.get("targetId").cloned(),
            detector_type: q.get("detectorType").cloned(),
            label: q.get("label").cloned(),
            limit,
            sort_by,
            descending,
            after,
        })
    }

    fn matches(&self, p: &Problem, scope: &HashSet<String>) -> bool {
        let eq = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        scope.contains(&p.compartment_id)
            && self.last_from.is_none_or(|t| p.time_last_detected >= t)
            && self.last_to.is_none_or(|t| p.time_last_detected <= t)
            && self.first_from.is_none_or(|t| p.time_first_detected >= t)
            && self.first_to.is_none_or(|t| p.time_first_detected <= t)
            && p.lifecycle_state == self.lifecycle_state
            && eq(&self.lifecycle_detail, &p.lifecycle_detail)
            && eq(&self.risk_level, &p.risk_level)
            && eq(&self.resource_type, &p.resource_type)
            && eq(&self.resource_id, &p.resource_id)
            && eq(&self.target_id, &p.target_id)
            && eq(&self.detector_type, &p.detector_id)
            && self
                .label
                .as_ref()
                .is_none_or(|l| p.labels.iter().any(|x| x == l))
    }

    fn compare(&self, a: (&Key, &str), b: (&Key, &str)) -> Ordering {
        let by_key = a.0.cmp(b.0);
        let by_key = if self.descending {
            by_key.reverse()
        } else {
            by_key
        };
        by_key.then_with(|| a.1.cmp(b.1))
    }

    /// The page of `problems` this query selects within `scope`, and the next page's token.
    pub(crate) fn page<'a>(
        &self,
        problems: &'a [Problem],
        scope: &HashSet<String>,
    ) -> (Vec<&'a Problem>, Option<String>) {
        let mut selected: Vec<(Key, &Problem)> = problems
            .iter()
            .filter(|p| self.matches(p, scope))
            .map(|p| (Key::of(p, self.sort_by), p))
            .collect();
        selected.sort_by(|a, b| self.compare((&a.0, &a.1.id), (&b.0, &b.1.id)));
        let start = match &self.after {
            None => 0,
            Some(c) => selected.partition_point(|(k, p)| {
                self.compare((k, &p.id), (&c.key, &c.id)) != Ordering::Greater
            }),
        };
        let end = start.saturating_add(self.limit).min(selected.len());
        let page = &selected[start..end];
        let next = match page.last() {
            Some((k, p)) if end < selected.len() => Some(page_token(
                self.sort_by,
                self.descending,
                &Cursor {
                    key: k.clone(),
                    id: p.id.clone(),
                },
            )),
            _ => None,
        };
        (page.iter().map(|(_, p)| *p).collect(), next)
    }
}

/// The compartments a query covers: the named one, plus its subtree when asked. With
/// `RESTRICTED` access (the default) one inaccessible compartment refuses the whole request;
/// with `ACCESSIBLE` those compartments are left out.
pub(crate) fn scope(t: &Tenancy, query: &ProblemQuery) -> Result<HashSet<String>, ApiError> {
    let id = &query.compartment_id;
    let refuse = |id: &str, access: Option<Access>| match access {
        Some(Access::Forbidden) => ApiError::new(
            StatusCode::FORBIDDEN,
            "NotAuthorized",
            format!("You are not authorized to list problems in {id}"),
        ),
        _ => ApiError::not_authorized_or_not_found(format!(
            "Authorization failed or requested resource not found: compartment {id}"
        )),
    };
    match t.get(id).map(|r| r.access) {
        Some(Access::Normal) => {}
        other => return Err(refuse(id, other)),
    }
    let mut scope = HashSet::from([id.clone()]);
    if !query.in_subtree {
        return Ok(scope);
    }
    // Records are in creation order and a parent is always created before its children, so
    // one pass finds every descendant.
    for r in &t.records {
        let c = &r.compartment;
        if c.id == *id || !scope.contains(&c.compartment_id) || c.id == c.compartment_id {
            continue;
        }
        match r.access {
            Access::Normal => {
                scope.insert(c.id.clone());
            }
            _ if query.accessible_only => {}
            other => return Err(refuse(&c.id, Some(other))),
        }
    }
    Ok(scope)
}

/// `GET /20200131/problems`.
pub(crate) fn list_problems(
    t: &Tenancy,
    problems: &ProblemStore,
    q: &HashMap<String, String>,
) -> Result<Reply, ApiError> {
    let query = ProblemQuery::parse(q)?;
    let scope = scope(t, &query)?;
    let (items, next) = query.page(problems.current(), &scope);
    let mut r = Reply::json_value(StatusCode::OK, &serde_json::json!({ "items": items }));
    if let Some(token) = next {
        r = r.header(HeaderName::from_static("opc-next-page"), token);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn store(n: usize) -> (ProblemStore, Vec<String>) {
        let compartments = vec!["c0".to_string(), "c1".to_string()];
        let s = ProblemStore::seeded(
            7,
            n,
            &compartments,
            "us-ashburn-1",
            t("2026-01-02T00:00:00Z"),
            Duration::hours(24),
        );
        (s, compartments)
    }

    fn query(pairs: &[(&str, &str)]) -> Result<ProblemQuery, ApiError> {
        let mut q: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        q.entry("compartmentId".into())
            .or_insert_with(|| "c0".into());
        ProblemQuery::parse(&q)
    }

    fn all_pages(q: &ProblemQuery, problems: &[Problem], scope: &HashSet<String>) -> Vec<String> {
        let mut q = q.clone();
        let mut out = Vec::new();
        loop {
            let (items, next) = q.page(problems, scope);
            assert!(items.len() <= q.limit);
            out.extend(items.iter().map(|p| p.id.clone()));
            let Some(token) = next else { break };
            q.after = Some(parse_page_token(&token, q.sort_by, q.descending).unwrap());
        }
        out
    }

    #[test]
    fn seeding_is_deterministic_and_consistent() {
        let (a, _) = store(20);
        let (b, _) = store(20);
        assert_eq!(a.current(), b.current());
        assert_eq!(a.versions().len(), 20);
        for p in a.current() {
            assert!(p.time_first_detected <= p.time_last_detected);
            assert!(p.id.starts_with("ocid1.cloudguardproblem.oc1.us-ashburn-1."));
            assert_eq!(p.lifecycle_state, "ACTIVE");
        }
        let ids: HashSet<_> = a.current().iter().map(|p| &p.id).collect();
        assert_eq!(ids.len(), 20);
    }

    #[test]
    fn pages_cover_every_match_once_in_sort_order() {
        let (s, c) = store(57);
        let scope: HashSet<String> = c.into_iter().collect();
        for sort in [
            vec![],
            vec![("sortOrder", "ASC")],
            vec![("sortBy", "riskLevel")],
            vec![("sortBy", "riskLevel"), ("sortOrder", "DESC")],
            vec![("sortBy", "resourceName")],
        ] {
            let mut params = sort.clone();
            params.push(("limit", "7"));
            let q = query(&params).unwrap();
            let paged = all_pages(&q, s.current(), &scope);
            let mut one = q.clone();
            one.limit = MAX_LIMIT;
            let (whole, next) = one.page(s.current(), &scope);
            assert!(next.is_none());
            let whole: Vec<String> = whole.iter().map(|p| p.id.clone()).collect();
            assert_eq!(paged, whole, "{sort:?}");
            assert_eq!(whole.len(), 57);
        }
        // Default: newest detection first.
        let q = query(&[("limit", "1000")]).unwrap();
        let (items, _) = q.page(s.current(), &scope);
        assert!(
            items
                .windows(2)
                .all(|w| w[0].time_last_detected >= w[1].time_last_detected)
        );
    }

    #[test]
    fn filters_are_inclusive_and_state_defaults_to_active() {
        let (mut s, c) = store(30);
        let scope: HashSet<String> = c.into_iter().collect();
        let now = t("2026-01-02T00:00:00Z");
        let pivot = s.current()[3].time_last_detected;
        let pivot_s = rfc3339_ms(pivot);
        let q = query(&[
            ("timeLastDetectedGreaterThanOrEqualTo", &pivot_s),
            ("limit", "1000"),
        ])
        .unwrap();
        let (items, _) = q.page(s.current(), &scope);
        assert!(items.iter().any(|p| p.id == s.current()[3].id));
        let expected = s
            .current()
            .iter()
            .filter(|p| p.time_last_detected >= pivot)
            .count();
        assert_eq!(items.len(), expected);
        let q = query(&[
            ("timeLastDetectedLessThanOrEqualTo", &pivot_s),
            ("limit", "1000"),
        ])
        .unwrap();
        let (items, _) = q.page(s.current(), &scope);
        assert!(items.iter().any(|p| p.id == s.current()[3].id));

        // Resolving a problem makes it INACTIVE: gone from the default listing.
        let id = s.current()[0].id.clone();
        let updated = s
            .update(
                &id,
                ProblemUpdate {
                    lifecycle_state: Some("INACTIVE".into()),
                    lifecycle_detail: Some("RESOLVED".into()),
                    ..ProblemUpdate::default()
                },
                now,
            )
            .unwrap();
        assert_eq!(updated.lifecycle_detail, "RESOLVED");
        let q = query(&[("limit", "1000")]).unwrap();
        let (items, _) = q.page(s.current(), &scope);
        assert_eq!(items.len(), 29);
        let q = query(&[("limit", "1000"), ("lifecycleState", "INACTIVE")]).unwrap();
        let (items, _) = q.page(s.current(), &scope);
        assert_eq!(items.iter().map(|p| &p.id).collect::<Vec<_>>(), vec![&id]);
        assert_eq!(s.versions().len(), 31);
        assert_eq!(s.versions()[30].version, 2);

        // Only the compartments in scope.
        let only_c1: HashSet<String> = HashSet::from(["c1".to_string()]);
        let (items, _) = query(&[("limit", "1000")])
            .unwrap()
            .page(s.current(), &only_c1);
        assert!(!items.is_empty() && items.iter().all(|p| p.compartment_id == "c1"));
    }

    #[test]
    fn a_cursor_survives_changes_between_pages() {
        let (mut s, c) = store(20);
        let scope: HashSet<String> = c.into_iter().collect();
        let q = query(&[("limit", "5"), ("sortOrder", "ASC")]).unwrap();
        let (first, next) = q.page(s.current(), &scope);
        let first: Vec<String> = first.iter().map(|p| p.id.clone()).collect();
        // A problem on the first page is detected again (moves to the end) and a new one
        // appears before the cursor: the rest of the listing neither repeats nor skips others.
        s.update(
            &first[0],
            ProblemUpdate {
                time_last_detected: Some(t("2026-01-03T00:00:00Z")),
                ..ProblemUpdate::default()
            },
            t("2026-01-03T00:00:00Z"),
        )
        .unwrap();
        let mut rest_q = q.clone();
        rest_q.after = Some(parse_page_token(&next.unwrap(), q.sort_by, q.descending).unwrap());
        rest_q.limit = MAX_LIMIT;
        let (rest, _) = rest_q.page(s.current(), &scope);
        let rest: Vec<&String> = rest.iter().map(|p| &p.id).collect();
        assert_eq!(rest.len(), 16, "15 untouched + the re-detected one");
        assert_eq!(rest.last().copied(), Some(&first[0]));
        assert!(first[1..].iter().all(|id| !rest.contains(&id)));
    }

    #[test]
    fn bad_parameters_are_invalid_parameter() {
        for bad in [
            vec![("limit", "0")],
            vec![("limit", "1001")],
            vec![("limit", "ten")],
            vec![("lifecycleState", "OPEN")],
            vec![("lifecycleDetail", "ACTIVE")],
            vec![("accessLevel", "ANY")],
            vec![("sortBy", "timeCreated")],
            vec![("sortOrder", "UP")],
            vec![("compartmentIdInSubtree", "yes")],
            vec![("timeLastDetectedGreaterThanOrEqualTo", "yesterday")],
            vec![("page", "garbage")],
        ] {
            let e = query(&bad).unwrap_err();
            assert_eq!(
                (e.status.as_u16(), e.code),
                (400, "InvalidParameter"),
                "{bad:?}"
            );
        }
        let e = ProblemQuery::parse(&HashMap::new()).unwrap_err();
        assert_eq!(e.code, "MissingParameter");
        // A token made for one sort is refused by another.
        let c = Cursor {
            key: Key::Number(5),
            id: "x".into(),
        };
        let token = page_token(SortBy::TimeLastDetected, true, &c);
        assert_eq!(
            parse_page_token(&token, SortBy::TimeLastDetected, true),
            Some(c.clone())
        );
        assert!(parse_page_token(&token, SortBy::RiskLevel, true).is_none());
        let text = Cursor {
            key: Key::Text("a|b é".into()),
            id: "y".into(),
        };
        let token = page_token(SortBy::ResourceName, false, &text);
        assert_eq!(
            parse_page_token(&token, SortBy::ResourceName, false),
            Some(text)
        );
    }
}
