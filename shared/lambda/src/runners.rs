//! Which runner does the work: the functions hold every runner `auditfwd_runtime::build_all`
//! makes (one per configured tenancy and source), each named by a [`RunnerId`], and pick one
//! per work message or replay request here.
//!
//! A runner whose tenancy could not start at cold start (an unusable key, a bad region) is
//! kept as a failed [`RunnerEntry`]: the others run, and every invocation reports it, the
//! same rule as the `auditfwd` command's (one bad tenancy never blocks the others).
//!
//! | asked for | picked |
//! |---|---|
//! | a message naming a runner (`"runner": {"tenancy": "acme", "source": "log-search"}`) | that runner; [`RunnerError::Unknown`] when none has the name |
//! | a message from before runners were named (no `runner`) | the one tenancy's audit runner; with several tenancies, the audit runner of the message's tenancy OCID |
//! | a replay without `tenancy` | the one tenancy's audit runner; [`RunnerError::TenancyRequired`] when several are configured |
//! | a replay with `"tenancy": "acme"` | acme's audit runner; [`RunnerError::UnknownTenancy`] when acme is not configured |
//! | a replay with `"source": "cloud-guard"` | that source's runner of the tenancy; [`RunnerError::Unknown`] when the tenancy does not collect it |
//!
//! Whatever was picked must also collect the message's tenancy OCID and region
//! ([`RunnerError::Misdirected`] otherwise), and must have started ([`RunnerError::NotStarted`]).
//! Only `NotStarted` can be retryable (when the build failed on something passing); every
//! other case is the message's or the request's own fault.

use std::fmt;

use auditfwd_oci::Ocid;
use auditfwd_pipeline::AuditSource as _;
use serde::{Deserialize, Serialize};

use crate::message::WorkMessage;
use crate::{Backend, BackendRunner, Live};

/// The source of the runner a message from before runners were named (message versions 1
/// and 2) means, and the one the replay function replays: the Audit API.
pub const AUDIT_SOURCE: &str = "audit";

/// A runner's name: its tenancy's name (`AUDITFWD_TENANCIES`, or `default`) and its source
/// (`audit`, `log-search`, ...: whatever `auditfwd_runtime::TenancyRunner::source` says).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RunnerId {
    /// The tenancy's configured name.
    pub tenancy: String,
    /// What the runner collects.
    pub source: String,
}

impl RunnerId {
    /// The runner of `source` in tenancy `tenancy`.
    pub fn new(tenancy: impl Into<String>, source: impl Into<String>) -> Self {
        RunnerId {
            tenancy: tenancy.into(),
            source: source.into(),
        }
    }
}

impl fmt::Display for RunnerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.tenancy, self.source)
    }
}

/// One runner the functions hold, or why its tenancy could not start.
pub struct RunnerEntry<B: Backend> {
    /// Its name.
    pub id: RunnerId,
    /// The runner, or the cold start's error for it.
    pub runner: Result<BackendRunner<B>, auditfwd_runtime::BuildError>,
}

impl<B: Backend> fmt::Debug for RunnerEntry<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunnerEntry")
            .field("id", &self.id)
            .field(
                "runner",
                &self
                    .runner
                    .as_ref()
                    .map(|_| "ready")
                    .map_err(|e| e.to_string()),
            )
            .finish()
    }
}

impl<B: Backend> RunnerEntry<B> {
    /// A runner that started.
    pub fn ready(id: RunnerId, runner: BackendRunner<B>) -> Self {
        RunnerEntry {
            id,
            runner: Ok(runner),
        }
    }

    /// A runner whose tenancy could not start.
    pub fn failed(id: RunnerId, error: auditfwd_runtime::BuildError) -> Self {
        RunnerEntry {
            id,
            runner: Err(error),
        }
    }

    /// The runner, or [`RunnerError::NotStarted`].
    pub fn get(&self) -> Result<&BackendRunner<B>, RunnerError> {
        self.runner.as_ref().map_err(|e| RunnerError::NotStarted {
            id: self.id.clone(),
            reason: e.to_string(),
            retryable: e.is_retryable(),
        })
    }
}

impl From<auditfwd_runtime::TenancyRunner> for RunnerEntry<Live> {
    fn from(t: auditfwd_runtime::TenancyRunner) -> Self {
        RunnerEntry {
            id: RunnerId::new(t.name, t.source),
            runner: t.runner,
        }
    }
}

/// Why no runner can take a message or a replay request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunnerError {
    /// The message names a runner this deployment does not have.
    #[error("the message names runner {named}, which is not configured (configured: {})", list(.configured))]
    Unknown {
        /// The runner named.
        named: RunnerId,
        /// The runners configured.
        configured: Vec<RunnerId>,
    },
    /// A message from before runners were named, for a tenancy no audit runner collects.
    #[error(
        "a message without a runner (written before runners were named) for tenancy {tenancy}: no configured audit runner collects it (configured: {})",
        list(.configured)
    )]
    UnknownLegacy {
        /// The message's tenancy OCID.
        tenancy: Ocid,
        /// The runners configured.
        configured: Vec<RunnerId>,
    },
    /// The runner exists but its tenancy could not start (cold start).
    #[error("runner {id} could not start: {reason}")]
    NotStarted {
        /// The runner.
        id: RunnerId,
        /// The cold start's error.
        reason: String,
        /// Whether starting again could help.
        retryable: bool,
    },
    /// The runner does not collect the message's tenancy OCID or region.
    #[error("{0}")]
    Misdirected(Box<Misdirection>),
    /// A replay without `tenancy` while several tenancies are configured.
    #[error(
        "AUDITFWD_TENANCIES names several tenancies ({}): name one in the request's \"tenancy\"",
        .configured.join(", ")
    )]
    TenancyRequired {
        /// The configured tenancies' names.
        configured: Vec<String>,
    },
    /// A replay naming a tenancy that is not configured.
    #[error(
        "tenancy {named:?} is not configured; the configured tenancies are {} (AUDITFWD_TENANCIES)",
        .configured.join(", ")
    )]
    UnknownTenancy {
        /// The name given.
        named: String,
        /// The configured tenancies' names.
        configured: Vec<String>,
    },
}

/// What [`RunnerError::Misdirected`] says: the message's tenancy and region, and what the
/// runner collects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "tenancy {tenancy} region {region} is not what runner {id} collects ({collects}, {})",
    regions.join(",")
)]
pub struct Misdirection {
    /// The runner picked.
    pub id: RunnerId,
    /// The message's tenancy OCID.
    pub tenancy: Ocid,
    /// The message's region.
    pub region: String,
    /// The runner's tenancy OCID.
    pub collects: Ocid,
    /// The runner's regions.
    pub regions: Vec<String>,
}

fn list(ids: &[RunnerId]) -> String {
    if ids.is_empty() {
        return "none".into();
    }
    ids.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl RunnerError {
    /// Whether trying again can help: only a runner that could not start on something
    /// passing. A message naming no runner of this deployment never becomes workable.
    pub fn is_retryable(&self) -> bool {
        match self {
            RunnerError::NotStarted { retryable, .. } => *retryable,
            RunnerError::Unknown { .. }
            | RunnerError::UnknownLegacy { .. }
            | RunnerError::Misdirected(_)
            | RunnerError::TenancyRequired { .. }
            | RunnerError::UnknownTenancy { .. } => false,
        }
    }

    /// A short, stable name of the case.
    pub fn kind(&self) -> &'static str {
        match self {
            RunnerError::Unknown { .. } => "UnknownRunner",
            RunnerError::UnknownLegacy { .. } => "UnknownLegacyRunner",
            RunnerError::NotStarted { .. } => "RunnerNotStarted",
            RunnerError::Misdirected(_) => "Misdirected",
            RunnerError::TenancyRequired { .. } => "TenancyRequired",
            RunnerError::UnknownTenancy { .. } => "UnknownTenancy",
        }
    }
}

/// Every runner of the deployment, in `build_all`'s order.
pub struct Runners<B: Backend> {
    entries: Vec<RunnerEntry<B>>,
}

impl<B: Backend> fmt::Debug for Runners<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.entries).finish()
    }
}

impl<B: Backend> Runners<B> {
    /// The runners `entries`.
    pub fn new(entries: Vec<RunnerEntry<B>>) -> Self {
        Runners { entries }
    }

    /// Every entry, started or not.
    pub fn entries(&self) -> &[RunnerEntry<B>] {
        &self.entries
    }

    /// How many runners there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The names of the configured tenancies, in order, each once.
    pub fn tenancies(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for e in &self.entries {
            if !names.contains(&e.id.tenancy) {
                names.push(e.id.tenancy.clone());
            }
        }
        names
    }

    /// Whether more than one tenancy is configured (reports then name the tenancy).
    pub fn several_tenancies(&self) -> bool {
        self.tenancies().len() > 1
    }

    fn ids(&self) -> Vec<RunnerId> {
        self.entries.iter().map(|e| e.id.clone()).collect()
    }

    fn position(&self, id: &RunnerId) -> Option<usize> {
        self.entries.iter().position(|e| &e.id == id)
    }

    /// The index of the runner `message` is for, checked to have started and to collect the
    /// message's tenancy and region (the table in the module doc).
    pub fn for_message(&self, message: &WorkMessage) -> Result<usize, RunnerError> {
        let index = match &message.runner {
            Some(named) => self.position(named).ok_or_else(|| RunnerError::Unknown {
                named: named.clone(),
                configured: self.ids(),
            })?,
            None => self.for_legacy(&message.tenancy)?,
        };
        let entry = &self.entries[index];
        let runner = entry.get()?;
        let regions = runner.source().regions();
        if runner.source().tenancy() != &message.tenancy || !regions.contains(&message.region) {
            return Err(RunnerError::Misdirected(Box::new(Misdirection {
                id: entry.id.clone(),
                tenancy: message.tenancy.clone(),
                region: message.region.clone(),
                collects: runner.source().tenancy().clone(),
                regions,
            })));
        }
        Ok(index)
    }

    /// A message without a runner: the one tenancy's audit runner, or (several tenancies)
    /// the audit runner whose tenancy OCID is the message's.
    fn for_legacy(&self, tenancy: &Ocid) -> Result<usize, RunnerError> {
        let unknown = || RunnerError::UnknownLegacy {
            tenancy: tenancy.clone(),
            configured: self.ids(),
        };
        match self.tenancies().as_slice() {
            [one] => self
                .position(&RunnerId::new(one.as_str(), AUDIT_SOURCE))
                .ok_or_else(unknown),
            _ => self
                .entries
                .iter()
                .position(|e| {
                    e.id.source == AUDIT_SOURCE
                        && e.runner
                            .as_ref()
                            .is_ok_and(|r| r.source().tenancy() == tenancy)
                })
                .ok_or_else(unknown),
        }
    }

    /// The index of the runner a replay request for `tenancy` (a configured name, or none)
    /// and `source` (default `audit`) runs on, checked to have started (the table in the module
    /// doc).
    pub fn for_replay(
        &self,
        tenancy: Option<&str>,
        source: Option<&str>,
    ) -> Result<usize, RunnerError> {
        let configured = self.tenancies();
        let name = match (tenancy, configured.as_slice()) {
            (Some(name), _) if configured.iter().any(|c| c == name) => name.to_owned(),
            (Some(name), _) => {
                return Err(RunnerError::UnknownTenancy {
                    named: name.to_owned(),
                    configured,
                });
            }
            (None, [one]) => one.clone(),
            (None, _) => return Err(RunnerError::TenancyRequired { configured }),
        };
        let id = RunnerId::new(name, source.unwrap_or(AUDIT_SOURCE));
        let index = self.position(&id).ok_or_else(|| RunnerError::Unknown {
            named: id,
            configured: self.ids(),
        })?;
        self.entries[index].get()?;
        Ok(index)
    }

    /// The entry at `index` (from [`Self::for_message`] or [`Self::for_replay`]).
    pub fn entry(&self, index: usize) -> Option<&RunnerEntry<B>> {
        self.entries.get(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Work;
    use crate::testing::{CHILD, Fake, fake_runner, start};
    use auditfwd_oci::MinuteTimestamp;
    use auditfwd_pipeline::testing::REGION;

    const ACME: &str = "ocid1.tenancy.oc1..aaaaaaaaacme";
    const GLOBEX: &str = "ocid1.tenancy.oc1..aaaaaaaaglobex";

    fn ready(tenancy: &str, source: &str, ocid: &str) -> RunnerEntry<Fake> {
        RunnerEntry::ready(RunnerId::new(tenancy, source), fake_runner(ocid).0)
    }

    /// acme (audit and log searches), globex (audit), initech (could not start).
    fn three() -> Runners<Fake> {
        Runners::new(vec![
            ready("acme", "audit", ACME),
            ready("acme", "log-search", ACME),
            ready("globex", "audit", GLOBEX),
            RunnerEntry::failed(
                RunnerId::new("initech", "audit"),
                auditfwd_runtime::BuildError::NoRegion,
            ),
        ])
    }

    fn message(runner: Option<(&str, &str)>, tenancy: &str, region: &str) -> WorkMessage {
        WorkMessage {
            version: crate::message::MESSAGE_VERSION,
            runner: runner.map(|(t, s)| RunnerId::new(t, s)),
            tenancy: Ocid::parse(tenancy).unwrap(),
            region: region.into(),
            work: Work::Live {
                shard: None,
                compartments: vec![crate::message::Member {
                    id: Ocid::parse(CHILD).unwrap(),
                    name: "root/child".into(),
                }],
                due_until: MinuteTimestamp::floor(start()),
            },
            sent_at: start(),
            sent_by: "test".into(),
        }
    }

    #[test]
    fn a_message_goes_to_the_runner_it_names() {
        let r = three();
        assert_eq!(
            r.for_message(&message(Some(("acme", "audit")), ACME, REGION)),
            Ok(0)
        );
        assert_eq!(
            r.for_message(&message(Some(("acme", "log-search")), ACME, REGION)),
            Ok(1)
        );
        assert_eq!(
            r.for_message(&message(Some(("globex", "audit")), GLOBEX, REGION)),
            Ok(2)
        );
        assert_eq!(r.tenancies(), ["acme", "globex", "initech"]);
    }

    #[test]
    fn an_unknown_or_unstarted_or_misdirected_runner_is_a_typed_error() {
        let r = three();
        let unknown = r
            .for_message(&message(Some(("hooli", "audit")), ACME, REGION))
            .unwrap_err();
        assert!(
            matches!(&unknown, RunnerError::Unknown { named, configured }
                if named == &RunnerId::new("hooli", "audit") && configured.len() == 4),
            "{unknown:?}"
        );
        assert!(!unknown.is_retryable());
        assert_eq!(unknown.kind(), "UnknownRunner");
        let text = unknown.to_string();
        assert!(
            text.contains("hooli/audit") && text.contains("acme/log-search"),
            "names the runner and the configured ones: {text}"
        );
        // A source the tenancy does not have is unknown too.
        assert!(matches!(
            r.for_message(&message(Some(("globex", "log-search")), GLOBEX, REGION)),
            Err(RunnerError::Unknown { .. })
        ));
        let not_started = r
            .for_message(&message(Some(("initech", "audit")), ACME, REGION))
            .unwrap_err();
        assert!(
            matches!(&not_started, RunnerError::NotStarted { id, retryable: false, .. }
                if id.tenancy == "initech"),
            "{not_started:?}"
        );
        // globex's runner, acme's OCID; or a region globex does not collect.
        for (tenancy, region) in [(ACME, REGION), (GLOBEX, "eu-frankfurt-1")] {
            let e = r
                .for_message(&message(Some(("globex", "audit")), tenancy, region))
                .unwrap_err();
            assert!(matches!(e, RunnerError::Misdirected(_)), "{e:?}");
            assert!(!e.is_retryable());
        }
    }

    #[test]
    fn a_message_without_a_runner_is_the_audit_runner_of_its_tenancy() {
        // One tenancy (with log searches): its audit runner.
        let one = Runners::new(vec![
            ready("default", "audit", ACME),
            ready("default", "log-search", ACME),
        ]);
        assert_eq!(one.for_message(&message(None, ACME, REGION)), Ok(0));
        // Another tenancy's OCID is misdirected, as before runners were named.
        assert!(matches!(
            one.for_message(&message(None, GLOBEX, REGION)),
            Err(RunnerError::Misdirected(_))
        ));
        // Several: the audit runner with the message's tenancy OCID.
        let r = three();
        assert_eq!(r.for_message(&message(None, GLOBEX, REGION)), Ok(2));
        assert_eq!(r.for_message(&message(None, ACME, REGION)), Ok(0));
        let e = r
            .for_message(&message(None, "ocid1.tenancy.oc1..aaaaaaaahooli", REGION))
            .unwrap_err();
        assert!(matches!(e, RunnerError::UnknownLegacy { .. }), "{e:?}");
        assert!(!e.is_retryable());
    }

    #[test]
    fn a_replay_needs_a_tenancy_only_when_several_are_configured() {
        let r = three();
        let e = r.for_replay(None, None).unwrap_err();
        assert_eq!(
            e,
            RunnerError::TenancyRequired {
                configured: vec!["acme".into(), "globex".into(), "initech".into()]
            }
        );
        assert!(e.to_string().contains("acme, globex, initech"), "{e}");
        assert_eq!(
            r.for_replay(Some("acme"), None),
            Ok(0),
            "acme's audit runner"
        );
        assert_eq!(r.for_replay(Some("globex"), None), Ok(2));
        assert!(matches!(
            r.for_replay(Some("hooli"), None),
            Err(RunnerError::UnknownTenancy { named, .. }) if named == "hooli"
        ));
        assert!(matches!(
            r.for_replay(Some("initech"), None),
            Err(RunnerError::NotStarted { .. })
        ));
        let one = Runners::new(vec![
            ready("default", "log-search", ACME),
            ready("default", "audit", ACME),
        ]);
        assert_eq!(
            one.for_replay(None, None),
            Ok(1),
            "the audit runner, not the search"
        );
        assert_eq!(one.for_replay(Some("default"), None), Ok(1));
        assert!(matches!(
            one.for_replay(Some("acme"), None),
            Err(RunnerError::UnknownTenancy { .. })
        ));
        // Another source of the tenancy, when it collects it.
        assert_eq!(one.for_replay(None, Some("log-search")), Ok(0));
        assert_eq!(r.for_replay(Some("acme"), Some("log-search")), Ok(1));
        let e = r
            .for_replay(Some("globex"), Some("cloud-guard"))
            .unwrap_err();
        assert!(matches!(e, RunnerError::Unknown { .. }), "{e:?}");
        assert!(!e.is_retryable());
    }
}
