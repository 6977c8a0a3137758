//! The pair protocol: the shared vocabulary of a worker/reviewer pair, and its pure rules.
//!
//! - [`Role`], [`Verdict`], [`Severity`], [`Finding`], [`Sender`], [`MessageId`], [`Timestamp`]:
//!   data shared by the submodules (defined here).
//! - [`tools`]: the bridge tools ([`ToolCall`]) and their validation ([`check`] → [`Refusal`]).
//! - [`pair`]: [`PairState`] and [`handle`]`(&mut PairState, PairEvent, now) -> Vec<Effect>`, the
//!   review protocol, round counting and the lifecycle moves of one pair.
//!   The tool-call side of the review protocol lives in `review` (private).
//! - [`plan`]: the plan step (`plan = true`): PLAN.md reviewed before coding starts.
//! - [`calls`]: the typed [`CallId`] and the bounded record of answered calls, so a call sent
//!   again (a bridge retrying after a daemon died) is answered the same and applied once.
//! - [`delivery`]: the per-target message queue ([`Mailbox`]) that loses nothing.
//! - [`ci`]: CI rules of a task ([`ci::handle`], [`ci::ci_gate`]): runs per head, results to
//!   the worker once, loops to the human.
//! - [`gates`]: duet's own gates (proof command, TDD, scope guard): when they start, what
//!   `mark_done` waits for, the TDD verdict, the scope budget flagged once.
//! - [`stall`]: stall and loop detection from signals given in ([`assess`] → [`StallVerdict`]).
//!
//! Nothing here reads a clock: every time is a [`Timestamp`] passed in by the caller.

pub mod calls;
pub mod ci;
pub mod delivery;
pub mod gates;
pub mod pair;
pub mod plan;
mod review;
pub mod stall;
pub mod tools;

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use calls::{AnsweredCalls, CallId};
pub use delivery::{DeliveryStatus, Envelope, Mailbox};
pub use pair::{Effect, PairEvent, PairRecord, PairState, handle};
pub use stall::{StallReason, StallSignals, StallThresholds, StallVerdict, assess};
pub use tools::{Limits, Refusal, RefusalKind, ToolCall, ToolName, check};

/// The two seats of a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Worker,
    Reviewer,
}

impl Role {
    pub const BOTH: [Role; 2] = [Role::Worker, Role::Reviewer];

    pub fn partner(self) -> Role {
        match self {
            Role::Worker => Role::Reviewer,
            Role::Reviewer => Role::Worker,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Worker => "worker",
            Role::Reviewer => "reviewer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The reviewer's decision on one commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Approve,
    ChangesRequested,
}

impl Verdict {
    /// The stored and shown name (`approve`, `changes_requested`).
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Approve => "approve",
            Verdict::ChangesRequested => "changes_requested",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How much a finding matters. `Blocker` findings contradict an approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Blocker,
    Major,
    Minor,
    Nit,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Blocker => "blocker",
            Severity::Major => "major",
            Severity::Minor => "minor",
            Severity::Nit => "nit",
        })
    }
}

/// One review comment. `file` is relative to the worktree; `line` (1-based) needs a `file`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Finding {
    pub severity: Severity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    pub text: String,
}

impl Finding {
    /// What identifies "the same finding" across rounds: file and normalised text (lines shift).
    pub fn fingerprint(&self) -> (Option<String>, String) {
        (self.file.clone(), normalize_text(&self.text))
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}]", self.severity)?;
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, " {file}:{line}:")?,
            (Some(file), None) => write!(f, " {file}:")?,
            _ => {}
        }
        write!(f, " {}", self.text)
    }
}

/// Who a message comes from: an agent of the pair, the human, or duet itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sender {
    Agent(Role),
    Human,
    Duet,
}

impl fmt::Display for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sender::Agent(role) => role.fmt(f),
            Sender::Human => f.write_str("human"),
            Sender::Duet => f.write_str("duet"),
        }
    }
}

/// A message's number within its pair, assigned in acceptance order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageId(pub u64);

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A point in time in milliseconds since the Unix epoch, given in by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// Time from `earlier` to `self`; zero if `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }

    pub fn plus(self, duration: Duration) -> Timestamp {
        let millis = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        Timestamp(self.0.saturating_add(millis))
    }
}

/// The 7-character form of a commit id used in messages.
pub fn short_commit(commit: &str) -> &str {
    commit.get(..7).unwrap_or(commit)
}

/// Trim and collapse runs of whitespace: what "the same text" means for repeats and echoes.
pub fn normalize_text(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
