//! Stall and loop detection: [`assess`] turns [`StallSignals`] (timestamps and counters given in,
//! no clock) and [`StallThresholds`] into a [`StallVerdict`] listing every [`StallReason`].
//!
//! Signals: time since the pair last made progress, how long each agent has waited for a
//! permission answer, how many rounds in a row brought back the same findings, how many
//! ping-pong echoes were suppressed, and how many times in a row the same check failed.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Role, Timestamp};

/// When a pair counts as stuck.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StallThresholds {
    /// No progress (turns, tool calls, commits, file changes) for this long.
    pub idle_after: Duration,
    /// An agent waiting for a permission answer this long.
    pub permission_wait_after: Duration,
    /// The same findings in this many review rounds in a row.
    pub same_findings_rounds: u32,
    /// This many echoed messages suppressed since the last commit.
    pub ping_pongs: u32,
    /// The same check failing this many times in a row.
    pub same_check_failures: u32,
}

impl Default for StallThresholds {
    fn default() -> Self {
        StallThresholds {
            idle_after: Duration::from_secs(20 * 60),
            permission_wait_after: Duration::from_secs(5 * 60),
            same_findings_rounds: 3,
            ping_pongs: 3,
            same_check_failures: 3,
        }
    }
}

/// What is known about a pair's progress at `now`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StallSignals {
    pub now: Timestamp,
    pub last_progress: Timestamp,
    /// Agents waiting for a permission answer, and since when.
    pub permission_waits: Vec<(Role, Timestamp)>,
    /// Consecutive review rounds that brought back the same findings (1 = seen once).
    pub same_findings_rounds: u32,
    /// Echoed messages suppressed since the last commit.
    pub ping_pongs: u32,
    /// The check failing again and again, and how many times in a row.
    pub failing_check: Option<(String, u32)>,
}

/// One reason the pair is stuck.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum StallReason {
    /// Nothing happened for `idle_for`.
    Idle { idle_for: Duration },
    /// `role` has waited for a permission answer for `waiting_for`.
    PermissionWait { role: Role, waiting_for: Duration },
    /// The same findings came back `rounds` rounds in a row.
    RepeatedFindings { rounds: u32 },
    /// The agents echoed each other `count` times.
    PingPong { count: u32 },
    /// `check` failed `times` times in a row.
    RepeatedCheckFailure { check: String, times: u32 },
}

/// Whether the pair goes on on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum StallVerdict {
    Healthy,
    Stuck { reasons: Vec<StallReason> },
}

impl StallVerdict {
    pub fn is_healthy(&self) -> bool {
        matches!(self, StallVerdict::Healthy)
    }

    /// All reasons in one line, for `needs-human: <reason>`.
    pub fn summary(&self) -> Option<String> {
        match self {
            StallVerdict::Healthy => None,
            StallVerdict::Stuck { reasons } => Some(
                reasons
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        }
    }
}

/// Every rule whose threshold is reached, most specific first (permission, loops, then idle).
pub fn assess(signals: &StallSignals, thresholds: &StallThresholds) -> StallVerdict {
    let mut reasons = Vec::new();
    for &(role, since) in &signals.permission_waits {
        let waiting_for = signals.now.since(since);
        if waiting_for >= thresholds.permission_wait_after {
            reasons.push(StallReason::PermissionWait { role, waiting_for });
        }
    }
    if thresholds.same_findings_rounds > 0
        && signals.same_findings_rounds >= thresholds.same_findings_rounds
    {
        reasons.push(StallReason::RepeatedFindings {
            rounds: signals.same_findings_rounds,
        });
    }
    if thresholds.ping_pongs > 0 && signals.ping_pongs >= thresholds.ping_pongs {
        reasons.push(StallReason::PingPong {
            count: signals.ping_pongs,
        });
    }
    if let Some((check, times)) = &signals.failing_check
        && thresholds.same_check_failures > 0
        && *times >= thresholds.same_check_failures
    {
        reasons.push(StallReason::RepeatedCheckFailure {
            check: check.clone(),
            times: *times,
        });
    }
    let idle_for = signals.now.since(signals.last_progress);
    if idle_for >= thresholds.idle_after {
        reasons.push(StallReason::Idle { idle_for });
    }
    if reasons.is_empty() {
        StallVerdict::Healthy
    } else {
        StallVerdict::Stuck { reasons }
    }
}

fn minutes(duration: &Duration) -> String {
    let secs = duration.as_secs();
    if secs >= 60 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        format!("{secs}s")
    }
}

impl fmt::Display for StallReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StallReason::Idle { idle_for } => write!(f, "no progress for {}", minutes(idle_for)),
            StallReason::PermissionWait { role, waiting_for } => {
                write!(
                    f,
                    "the {role} has waited for a permission answer for {}",
                    minutes(waiting_for)
                )
            }
            StallReason::RepeatedFindings { rounds } => {
                write!(f, "the same findings came back {rounds} rounds in a row")
            }
            StallReason::PingPong { count } => {
                write!(f, "the agents echoed each other's messages {count} times")
            }
            StallReason::RepeatedCheckFailure { check, times } => {
                write!(f, "check `{check}` failed {times} times in a row")
            }
        }
    }
}
