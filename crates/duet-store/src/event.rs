//! The facts the store records: the typed `Event` enum (serialised as JSON tagged by `kind`),
//! `NewEvent` (what a writer appends) and `EventRecord` (what a reader gets back), and the
//! `Clock` that writers use to stamp events.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use duet_core::lifecycle::StateKind;
use duet_core::protocol::{Finding, Verdict};

/// Milliseconds since the Unix epoch.
pub type UnixMillis = i64;

/// A source of "now" for writers; tests inject a fixed or stepping clock.
pub trait Clock {
    /// The current time in Unix milliseconds.
    fn now_ms(&self) -> UnixMillis;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> UnixMillis {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// Something that happened. Stored as JSON with a `kind` tag; the `kind` column of the events
/// table repeats the tag so that readers can filter without parsing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// The task entered the store (from the backlog), in state `queued`.
    TaskQueued {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
    },
    /// The lifecycle moved the task from one state to another.
    TaskStateChanged {
        from: StateKind,
        to: StateKind,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// An agent process was started for the task.
    AgentLaunched {
        role: String,
        agent: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session_id: Option<String>,
    },
    /// An agent finished a turn (it is idle and can take a message).
    TurnEnded { role: String },
    /// An agent process ended.
    AgentExited {
        role: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i32>,
    },
    /// The bridge accepted a message; stored before the sender is answered.
    MessageAccepted {
        id: String,
        from: String,
        to: String,
        text: String,
    },
    /// The target's turn demonstrably started with the message.
    MessageDelivered { id: String },
    /// The message will not be delivered (duplicate, ping-pong echo, ...).
    MessageSuppressed { id: String, reason: String },
    /// The reviewer submitted a review.
    ReviewSubmitted {
        round: u32,
        /// The commit reviewed (absent in logs written before duet recorded it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        commit: Option<String>,
        verdict: Verdict,
        #[serde(default)]
        findings: Vec<Finding>,
        /// What the reviewer says it verified (commands run, files read); absent before duet
        /// asked for it.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        verified: Vec<String>,
        /// What the reviewer says it did not verify.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        not_verified: Vec<String>,
    },
    /// The reviewer's verdict on the task's plan (the plan step, `plan = true`), with the plan
    /// it judged (PLAN.md's text), so the report and the pull request can show it.
    PlanReviewed {
        round: u32,
        verdict: Verdict,
        #[serde(default)]
        findings: Vec<Finding>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        verified: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        not_verified: Vec<String>,
        plan: String,
    },
    /// A new commit appeared on the task branch.
    CommitSeen { sha: String },
    /// A CI run finished on a commit.
    CiResult {
        sha: String,
        passed: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        summary: Option<String>,
    },
    /// A CI check started on a commit (duet's own run of `ci.command`).
    CiRunStarted {
        sha: String,
        check: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        log_path: Option<String>,
    },
    /// A CI check finished on a commit: duet's own run, an inbox file or a GitHub check.
    CiRunFinished {
        sha: String,
        check: String,
        /// `passed`, `failed`, `timed-out`, `could-not-start` or `cancelled`.
        status: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i32>,
        #[serde(default)]
        duration_ms: u64,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        failing_tests: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        log_path: Option<String>,
        /// One line: "failed with exit code 101, 2 failing tests", "timed out after 30m", ...
        #[serde(default, skip_serializing_if = "Option::is_none")]
        summary: Option<String>,
    },
    /// Free text for the log (human notes, diagnostics).
    Note { text: String },
    /// An agent's own record (claude's session transcript, codex's rollout file) counted its
    /// tokens: the whole record's counts by model. A later event for the same `record`
    /// replaces the earlier one (`duet_core::accounting::TaskTokens`).
    TokensCounted {
        role: String,
        record: String,
        usage: duet_core::accounting::UsageByModel,
    },
}

impl Event {
    /// The `kind` tag, as stored in the events table.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::TaskQueued { .. } => "task_queued",
            Event::TaskStateChanged { .. } => "task_state_changed",
            Event::AgentLaunched { .. } => "agent_launched",
            Event::TurnEnded { .. } => "turn_ended",
            Event::AgentExited { .. } => "agent_exited",
            Event::MessageAccepted { .. } => "message_accepted",
            Event::MessageDelivered { .. } => "message_delivered",
            Event::MessageSuppressed { .. } => "message_suppressed",
            Event::ReviewSubmitted { .. } => "review_submitted",
            Event::PlanReviewed { .. } => "plan_reviewed",
            Event::CommitSeen { .. } => "commit_seen",
            Event::CiResult { .. } => "ci_result",
            Event::CiRunStarted { .. } => "ci_run_started",
            Event::CiRunFinished { .. } => "ci_run_finished",
            Event::Note { .. } => "note",
            Event::TokensCounted { .. } => "tokens_counted",
        }
    }
}

/// An event to append: when it happened, which task it belongs to (if any), and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub at_ms: UnixMillis,
    pub task_id: Option<String>,
    pub event: Event,
}

impl NewEvent {
    /// An event about one task.
    pub fn for_task(at_ms: UnixMillis, task_id: impl Into<String>, event: Event) -> Self {
        Self {
            at_ms,
            task_id: Some(task_id.into()),
            event,
        }
    }

    /// An event about no task in particular (the daemon, the run).
    pub fn global(at_ms: UnixMillis, event: Event) -> Self {
        Self {
            at_ms,
            task_id: None,
            event,
        }
    }
}

/// A committed event as read back from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    /// Position in the log; strictly increasing in commit order.
    pub seq: i64,
    pub at_ms: UnixMillis,
    pub task_id: Option<String>,
    pub event: Event,
}

/// Which events to read: all by default, in `seq` order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub task_id: Option<String>,
    /// Only events with `seq > after_seq` (for tailing the log).
    pub after_seq: Option<i64>,
    pub limit: Option<usize>,
}

impl EventFilter {
    /// Every event.
    pub fn all() -> Self {
        Self::default()
    }

    /// Only events of this task.
    pub fn task(mut self, task_id: impl Into<String>) -> Self {
        self.task_id = Some(task_id.into());
        self
    }

    /// Only events after this sequence number.
    pub fn after(mut self, seq: i64) -> Self {
        self.after_seq = Some(seq);
        self
    }

    /// At most this many events.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_matches_the_serde_tag_for_every_variant() {
        let events = [
            Event::TaskQueued { title: None },
            Event::TaskStateChanged {
                from: StateKind::Queued,
                to: StateKind::Preparing,
                reason: None,
            },
            Event::AgentLaunched {
                role: "worker".into(),
                agent: "claude".into(),
                session_id: None,
            },
            Event::TurnEnded {
                role: "worker".into(),
            },
            Event::AgentExited {
                role: "worker".into(),
                exit_code: Some(0),
            },
            Event::MessageAccepted {
                id: "m".into(),
                from: "worker".into(),
                to: "reviewer".into(),
                text: "hi".into(),
            },
            Event::MessageDelivered { id: "m".into() },
            Event::MessageSuppressed {
                id: "m".into(),
                reason: "dup".into(),
            },
            Event::ReviewSubmitted {
                commit: None,
                round: 1,
                verdict: Verdict::ChangesRequested,
                findings: vec![Finding {
                    severity: duet_core::protocol::Severity::Major,
                    file: Some("src/lib.rs".into()),
                    line: Some(3),
                    text: "off by one".into(),
                }],
                verified: vec!["cargo test".into()],
                not_verified: vec!["the docs".into()],
            },
            Event::PlanReviewed {
                round: 1,
                verdict: Verdict::Approve,
                findings: vec![],
                verified: vec!["read the plan".into()],
                not_verified: vec![],
                plan: "# Plan\n1. add".into(),
            },
            Event::CommitSeen { sha: "abc".into() },
            Event::CiResult {
                sha: "abc".into(),
                passed: false,
                summary: None,
            },
            Event::CiRunStarted {
                sha: "abc".into(),
                check: "ci".into(),
                log_path: Some(".duet/ci/t/abc.log".into()),
            },
            Event::CiRunFinished {
                sha: "abc".into(),
                check: "ci".into(),
                status: "failed".into(),
                exit_code: Some(101),
                duration_ms: 1200,
                failing_tests: vec!["tests::adds".into()],
                log_path: Some(".duet/ci/t/abc.log".into()),
                summary: Some("failed with exit code 101, 1 failing test".into()),
            },
            Event::Note { text: "x".into() },
            Event::TokensCounted {
                role: "worker".into(),
                record: "/home/u/.claude/projects/p/s.jsonl".into(),
                usage: [(
                    "claude-sonnet-4-5".to_owned(),
                    duet_core::accounting::TokenCounts {
                        input: 10,
                        output: 2,
                        cache_read: 300,
                        cache_write: 4,
                    },
                )]
                .into(),
            },
        ];
        for event in events {
            let json: serde_json::Value = serde_json::to_value(&event).unwrap();
            assert_eq!(json["kind"], event.kind(), "{event:?}");
            let back: Event = serde_json::from_value(json).unwrap();
            assert_eq!(back, event);
        }
    }

    #[test]
    fn payload_format_is_stable() {
        let event = Event::TaskStateChanged {
            from: StateKind::Working,
            to: StateKind::NeedsHuman,
            reason: Some("stalled".into()),
        };
        assert_eq!(
            serde_json::to_string(&event).unwrap(),
            r#"{"kind":"task_state_changed","from":"working","to":"needs-human","reason":"stalled"}"#
        );
    }

    #[test]
    fn ci_run_finished_payload_is_stable() {
        let event = Event::CiRunFinished {
            sha: "abc".into(),
            check: "ci".into(),
            status: "timed-out".into(),
            exit_code: None,
            duration_ms: 5,
            failing_tests: vec![],
            log_path: None,
            summary: Some("timed out after 30m".into()),
        };
        assert_eq!(
            serde_json::to_string(&event).unwrap(),
            r#"{"kind":"ci_run_finished","sha":"abc","check":"ci","status":"timed-out","duration_ms":5,"summary":"timed out after 30m"}"#
        );
    }

    #[test]
    fn unknown_kind_is_a_decode_error() {
        assert!(serde_json::from_str::<Event>(r#"{"kind":"teleported"}"#).is_err());
    }
}
