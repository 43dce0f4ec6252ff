//! The per-compartment state document: how far delivery has got, which windows still await
//! their second (settle) pass and which ids they delivered, and the gap ledger.
//!
//! Stored versioned (`{"version": "1", ...}`) so a later auditfwd can read, and migrate, what
//! an earlier one wrote; an unknown version is a clear error, never a silent reset.

use auditfwd_oci::{MinuteTimestamp, Window};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::doc;
use crate::error::StoreError;
use crate::ids::EventIdSet;
use crate::keys::Scope;
use crate::store::{Etag, ObjectStore, WriteCondition};

/// The stored form, tagged with its schema version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "version")]
pub enum StateDocument {
    /// Version 1.
    #[serde(rename = "1")]
    V1(CompartmentState),
}

/// Delivery progress of one compartment in one region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompartmentState {
    /// Every event in `[.., delivered_until)` has been listed once and delivered (or is in
    /// `gaps`); the next fresh window starts here.
    pub delivered_until: MinuteTimestamp,
    /// Windows listed once whose settle pass is still due, with the ids already delivered
    /// for them (so the settle pass, or a cold start, sends none of them again).
    #[serde(default)]
    pub awaiting_settle: Vec<AwaitingSettle>,
    /// The gap ledger: windows the cursor has moved past without delivering them (the window
    /// kept failing, or OCI refused it outright), oldest first, kept until a later cycle or a
    /// replay delivers them.
    #[serde(default)]
    pub gaps: Vec<Gap>,
    /// The window at the cursor, when its last attempts failed with errors that may pass
    /// (throttling, 5xx): the cursor waits on it until it succeeds or has failed often enough
    /// to go to the gap ledger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing: Option<Gap>,
    /// The most recent failure, for status displays.
    #[serde(default)]
    pub last_error: Option<LastError>,
    /// When this version was written.
    pub updated_at: DateTime<Utc>,
    /// Which runner wrote it.
    pub updated_by: String,
}

/// A window waiting for its settle pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AwaitingSettle {
    /// The window.
    pub window: Window,
    /// Ids delivered for it so far.
    pub delivered: EventIdSet,
    /// Failed settle attempts so far.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failed_attempts: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A window in the gap ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    /// The undelivered window.
    pub window: Window,
    /// Why (last error, in words).
    pub reason: String,
    /// First failure.
    pub first_failed_at: DateTime<Utc>,
    /// Latest failure.
    pub last_failed_at: DateTime<Utc>,
    /// Attempts so far.
    pub attempts: u32,
    /// For a window whose first pass was delivered but whose settle pass failed: the ids
    /// already delivered, so delivering the gap later sends none of them again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered: Option<EventIdSet>,
    /// The window fell out of OCI's audit retention before it was delivered: it can never be
    /// listed again (a loss, reported once and kept for the record).
    #[serde(default, skip_serializing_if = "is_false")]
    pub lost: bool,
    /// An operator accepted this gap (`auditfwd gaps ack`): it is no longer retried or alarmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged: Option<Acknowledgement>,
    /// Not to be listed before this instant: minutes delivered early whose settle pass is still
    /// to come (not an error; `status` shows it as waiting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<DateTime<Utc>>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Who accepted a gap as lost, when and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledgement {
    /// Who (the operator's name, as given to `auditfwd gaps ack --by`).
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Why, in their words.
    #[serde(default)]
    pub note: String,
}

impl Gap {
    /// A gap first seen failing at `now`.
    pub fn new(window: Window, reason: impl Into<String>, now: DateTime<Utc>) -> Self {
        Gap {
            window,
            reason: reason.into(),
            first_failed_at: now,
            last_failed_at: now,
            attempts: 1,
            delivered: None,
            lost: false,
            acknowledged: None,
            not_before: None,
        }
    }

    /// Whether the gap still needs delivering now: not lost, not acknowledged, and not waiting
    /// for its settle time.
    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        !self.lost && self.acknowledged.is_none() && self.not_before.is_none_or(|t| t <= now)
    }

    /// Whether the gap is undelivered data that needs attention: open, or lost and not yet
    /// acknowledged. (A gap waiting for its settle time is neither.)
    pub fn needs_attention(&self, now: DateTime<Utc>) -> bool {
        self.is_open(now) || (self.lost && self.acknowledged.is_none())
    }
}

impl CompartmentState {
    /// A new compartment's state, starting at `delivered_until`.
    pub fn starting_at(
        delivered_until: MinuteTimestamp,
        now: DateTime<Utc>,
        by: impl Into<String>,
    ) -> Self {
        CompartmentState {
            delivered_until,
            awaiting_settle: Vec::new(),
            gaps: Vec::new(),
            failing: None,
            last_error: None,
            updated_at: now,
            updated_by: by.into(),
        }
    }

    /// Puts `window` in the gap ledger (see [`add_gap`]).
    pub fn add_gap(
        &mut self,
        window: Window,
        reason: impl Into<String>,
        now: DateTime<Utc>,
        delivered: Option<EventIdSet>,
    ) {
        add_gap(&mut self.gaps, window, reason, now, delivered);
    }
}

/// Puts `window` in the gap ledger `gaps`, merging it with an entry it touches that has no
/// delivered-id set and is neither lost nor acknowledged (so an inaccessible compartment is one
/// growing entry, not hundreds).
pub fn add_gap(
    gaps: &mut Vec<Gap>,
    window: Window,
    reason: impl Into<String>,
    now: DateTime<Utc>,
    delivered: Option<EventIdSet>,
) {
    let reason = reason.into();
    let mergeable = |g: &Gap| {
        g.delivered.is_none()
            && !g.lost
            && g.acknowledged.is_none()
            && g.not_before.is_none()
            && (g.window.end() == window.start() || g.window.start() == window.end())
    };
    if delivered.is_none()
        && let Some(g) = gaps.iter_mut().find(|g| mergeable(g))
        && let Ok(w) = Window::new(
            g.window.start().min(window.start()),
            g.window.end().max(window.end()),
        )
    {
        g.window = w;
        g.reason = reason;
        g.last_failed_at = now;
        g.attempts += 1;
        return;
    }
    gaps.push(Gap {
        delivered,
        ..Gap::new(window, reason, now)
    });
    gaps.sort_by_key(|g| g.window);
}

/// The latest error seen for a compartment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastError {
    /// When.
    pub at: DateTime<Utc>,
    /// What, in words.
    pub message: String,
}

/// Reads a compartment's state; `None` when it has none yet.
pub async fn load<S: ObjectStore>(
    store: &S,
    scope: &Scope,
) -> Result<Option<(CompartmentState, Etag)>, StoreError> {
    Ok(doc::read::<StateDocument, _>(store, &scope.state_key()?)
        .await?
        .map(|(StateDocument::V1(s), e)| (s, e)))
}

/// Writes a compartment's state over the version `expected` (or only if none exists, when
/// `expected` is `None`). A lost race is [`StoreError::PreconditionFailed`]: re-read, re-decide.
pub async fn save<S: ObjectStore>(
    store: &S,
    scope: &Scope,
    state: &CompartmentState,
    expected: Option<&Etag>,
) -> Result<Etag, StoreError> {
    doc::write(
        store,
        &scope.state_key()?,
        &StateDocument::V1(state.clone()),
        WriteCondition::over(expected),
    )
    .await
}
