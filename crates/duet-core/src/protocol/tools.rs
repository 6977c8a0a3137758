//! The bridge tools: [`ToolCall`] (one variant per MCP tool), the [`Limits`] on their arguments,
//! and [`check`], which accepts a call or answers a [`Refusal`] that says exactly what is wrong.
//!
//! Checks run in this order and stop at the first category that fails: the caller's role, the
//! arguments (emptiness, sizes, finding shape), then the pair's state (review pending, new
//! commit, approval of HEAD, clean worktree). Within a category every problem is listed.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::pair::PairState;
use super::{Finding, Role, Severity, Verdict, short_commit};
use crate::lifecycle::TaskState;

/// One call of a bridge tool, with its arguments as the agent sent them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "tool", rename_all = "snake_case")]
pub enum ToolCall {
    /// A message to the partner.
    SendMessage { text: String },
    /// Worker: review the current HEAD.
    RequestReview { summary: String },
    /// Worker (plan step): review the plan. `plan` is PLAN.md's text, read from the worktree by
    /// duet (not by the agent), so the reviewer and the report get what the file says.
    RequestPlanReview {
        summary: String,
        #[serde(default)]
        plan: String,
    },
    /// Reviewer: the verdict on the commit whose review was requested, with what the reviewer
    /// checked (`verified`: commands run and their outcome, files read) and what it did not
    /// (`not_verified`). An approval needs `verified` when the pair requires verification.
    SubmitReview {
        verdict: Verdict,
        findings: Vec<Finding>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        verified: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        not_verified: Vec<String>,
    },
    /// Worker: the task is finished.
    MarkDone { summary: String },
    /// Either: a question only the human can answer.
    AskHuman { question: String },
    /// Either: where the task stands.
    TaskStatus,
}

/// The name of a bridge tool, as the agents see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolName {
    SendMessage,
    RequestReview,
    RequestPlanReview,
    SubmitReview,
    MarkDone,
    AskHuman,
    TaskStatus,
}

impl ToolCall {
    pub fn name(&self) -> ToolName {
        match self {
            ToolCall::SendMessage { .. } => ToolName::SendMessage,
            ToolCall::RequestReview { .. } => ToolName::RequestReview,
            ToolCall::RequestPlanReview { .. } => ToolName::RequestPlanReview,
            ToolCall::SubmitReview { .. } => ToolName::SubmitReview,
            ToolCall::MarkDone { .. } => ToolName::MarkDone,
            ToolCall::AskHuman { .. } => ToolName::AskHuman,
            ToolCall::TaskStatus => ToolName::TaskStatus,
        }
    }
}

impl ToolName {
    pub fn as_str(self) -> &'static str {
        match self {
            ToolName::SendMessage => "send_message",
            ToolName::RequestReview => "request_review",
            ToolName::RequestPlanReview => "request_plan_review",
            ToolName::SubmitReview => "submit_review",
            ToolName::MarkDone => "mark_done",
            ToolName::AskHuman => "ask_human",
            ToolName::TaskStatus => "task_status",
        }
    }

    /// The only role allowed to call this tool, if it is restricted.
    pub fn only_for(self) -> Option<Role> {
        match self {
            ToolName::RequestReview | ToolName::RequestPlanReview | ToolName::MarkDone => {
                Some(Role::Worker)
            }
            ToolName::SubmitReview => Some(Role::Reviewer),
            ToolName::SendMessage | ToolName::AskHuman | ToolName::TaskStatus => None,
        }
    }
}

impl fmt::Display for ToolName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Bounds on what agents may send, and on how long a pair may go round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    pub max_message_bytes: usize,
    pub max_summary_bytes: usize,
    pub max_question_bytes: usize,
    pub max_findings: usize,
    pub max_finding_bytes: usize,
    pub max_path_bytes: usize,
    /// Review rounds without approval before the task goes to the human.
    pub max_rounds: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 16 * 1024,
            max_summary_bytes: 8 * 1024,
            max_question_bytes: 4 * 1024,
            max_findings: 50,
            max_finding_bytes: 4 * 1024,
            max_path_bytes: 1024,
            max_rounds: 5,
        }
    }
}

/// What kind of problem refused a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RefusalKind {
    /// The caller's role may not use this tool.
    WrongRole,
    /// An argument is empty or malformed.
    InvalidArgument,
    /// An argument is over its size limit.
    TooLarge,
    /// The pair's state does not allow the call yet; the reasons say what is missing.
    NotNow,
}

/// A refused tool call: what kind of problem, and every reason in words for the agent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{tool} refused: {}", .reasons.join("; "))]
pub struct Refusal {
    pub tool: ToolName,
    pub kind: RefusalKind,
    pub reasons: Vec<String>,
}

/// Accept `call` from `role` in `state`, or say why not.
pub fn check(
    role: Role,
    call: &ToolCall,
    state: &PairState,
    limits: &Limits,
) -> Result<(), Refusal> {
    let tool = call.name();
    let refuse = |kind: RefusalKind, reasons: Vec<String>| {
        Err(Refusal {
            tool,
            kind,
            reasons,
        })
    };

    if let Some(allowed) = tool.only_for()
        && allowed != role
    {
        return refuse(
            RefusalKind::WrongRole,
            vec![format!("only the {allowed} can call {tool}")],
        );
    }

    let mut too_large = Vec::new();
    let mut invalid = Vec::new();
    match call {
        ToolCall::SendMessage { text } => text_rule(
            "text",
            text,
            limits.max_message_bytes,
            &mut invalid,
            &mut too_large,
        ),
        ToolCall::RequestReview { summary }
        | ToolCall::RequestPlanReview { summary, .. }
        | ToolCall::MarkDone { summary } => text_rule(
            "summary",
            summary,
            limits.max_summary_bytes,
            &mut invalid,
            &mut too_large,
        ),
        ToolCall::AskHuman { question } => text_rule(
            "question",
            question,
            limits.max_question_bytes,
            &mut invalid,
            &mut too_large,
        ),
        ToolCall::SubmitReview {
            verdict,
            findings,
            verified,
            not_verified,
        } => {
            review_rules(*verdict, findings, limits, &mut invalid, &mut too_large);
            let require = state.config.review.require_verification;
            verification_rules(
                *verdict,
                verified,
                not_verified,
                require,
                limits,
                &mut invalid,
                &mut too_large,
            );
        }
        ToolCall::TaskStatus => {}
    }
    if !invalid.is_empty() {
        return refuse(RefusalKind::InvalidArgument, invalid);
    }
    if !too_large.is_empty() {
        return refuse(RefusalKind::TooLarge, too_large);
    }

    let missing = state_rules(call, state);
    if !missing.is_empty() {
        return refuse(RefusalKind::NotNow, missing);
    }
    Ok(())
}

fn text_rule(
    name: &str,
    text: &str,
    max_bytes: usize,
    invalid: &mut Vec<String>,
    too_large: &mut Vec<String>,
) {
    if text.trim().is_empty() {
        invalid.push(format!("{name} is empty"));
    } else if text.len() > max_bytes {
        too_large.push(format!(
            "{name} is {} bytes; the limit is {max_bytes}",
            text.len()
        ));
    }
}

fn review_rules(
    verdict: Verdict,
    findings: &[Finding],
    limits: &Limits,
    invalid: &mut Vec<String>,
    too_large: &mut Vec<String>,
) {
    if verdict == Verdict::ChangesRequested && findings.is_empty() {
        invalid.push("changes_requested needs at least one finding saying what to change".into());
    }
    if findings.len() > limits.max_findings {
        too_large.push(format!(
            "{} findings; the limit is {} (merge related ones)",
            findings.len(),
            limits.max_findings
        ));
    }
    for (index, finding) in findings.iter().enumerate() {
        let label = format!("finding {}", index + 1);
        if verdict == Verdict::Approve && finding.severity == Severity::Blocker {
            invalid.push(format!(
                "{label}: an approval cannot carry a blocker finding"
            ));
        }
        text_rule(
            &format!("{label}: text"),
            &finding.text,
            limits.max_finding_bytes,
            invalid,
            too_large,
        );
        match &finding.file {
            Some(file) => path_rule(&label, file, limits.max_path_bytes, invalid, too_large),
            None if finding.line.is_some() => invalid.push(format!("{label}: a line needs a file")),
            None => {}
        }
        if finding.line == Some(0) {
            invalid.push(format!("{label}: lines count from 1"));
        }
    }
}

/// The text of the refusal of an approval that says nothing about what was verified.
pub const VERIFY_FIRST: &str = "an approval must say what you verified: list in `verified` each \
command you ran (with what it showed) and each file you read, and in `not_verified` what you did \
not check; verify the commit now, then call submit_review again";

fn verification_rules(
    verdict: Verdict,
    verified: &[String],
    not_verified: &[String],
    require: bool,
    limits: &Limits,
    invalid: &mut Vec<String>,
    too_large: &mut Vec<String>,
) {
    let said = verified.iter().any(|item| !item.trim().is_empty());
    if require && verdict == Verdict::Approve && !said {
        invalid.push(VERIFY_FIRST.into());
    }
    for (name, items) in [("verified", verified), ("not_verified", not_verified)] {
        if items.len() > limits.max_findings {
            too_large.push(format!(
                "{name} has {} items; the limit is {} (merge related ones)",
                items.len(),
                limits.max_findings
            ));
        }
        for (index, item) in items.iter().enumerate() {
            text_rule(
                &format!("{name} item {}", index + 1),
                item,
                limits.max_finding_bytes,
                invalid,
                too_large,
            );
        }
    }
}

fn path_rule(
    label: &str,
    file: &str,
    max_bytes: usize,
    invalid: &mut Vec<String>,
    too_large: &mut Vec<String>,
) {
    if file.trim().is_empty() {
        invalid.push(format!("{label}: file is empty"));
    } else if file.len() > max_bytes {
        too_large.push(format!(
            "{label}: file is {} bytes; the limit is {max_bytes}",
            file.len()
        ));
    } else if is_absolute(file) {
        invalid.push(format!(
            "{label}: file {file:?} must be relative to the worktree"
        ));
    } else if file.split(['/', '\\']).any(|part| part == "..") {
        invalid.push(format!("{label}: file {file:?} leaves the worktree (`..`)"));
    }
}

/// `/x`, `\\x` or a Windows drive (`C:`): not inside the worktree whatever the platform.
fn is_absolute(file: &str) -> bool {
    let bytes = file.as_bytes();
    file.starts_with(['/', '\\'])
        || (bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':')
}

fn state_rules(call: &ToolCall, state: &PairState) -> Vec<String> {
    let task_state = &state.task_state;
    if task_state.is_terminal() {
        return match call {
            ToolCall::TaskStatus => Vec::new(),
            _ => vec![format!(
                "the task is {}; it takes no more calls",
                task_state.kind()
            )],
        };
    }
    let head = short_commit(&state.head_commit);
    match call {
        ToolCall::SendMessage { .. } | ToolCall::AskHuman { .. } | ToolCall::TaskStatus => {
            Vec::new()
        }
        ToolCall::RequestPlanReview { plan, .. } => super::plan::request_rules(state, plan),
        ToolCall::RequestReview { .. } if state.plan_required() => {
            vec![super::plan::PLAN_FIRST.into()]
        }
        ToolCall::MarkDone { .. } if state.plan_required() => vec![super::plan::PLAN_FIRST.into()],
        ToolCall::RequestReview { .. } => {
            if let Some(request) = state.pending_review() {
                return vec![format!(
                    "a review of {} is already in progress; wait for the verdict",
                    short_commit(&request.commit)
                )];
            }
            if *task_state != TaskState::Working {
                return vec![format!("the task is {}, not working", task_state.kind())];
            }
            let mut missing = Vec::new();
            if state.head_commit == state.base_commit {
                missing.push(format!(
                    "there are no commits on the task branch yet (HEAD is the base {head}); commit your work first"
                ));
            } else if let Some(request) = &state.last_review_request
                && request.commit == state.head_commit
            {
                missing.push(format!(
                    "there is no new commit since the review of {head} was requested; commit your changes first"
                ));
            }
            if !state.worktree_clean {
                missing.push(
                    "the worktree has uncommitted changes; commit them so the reviewer sees them"
                        .into(),
                );
            }
            missing.extend(super::plan::branch_rule(state));
            missing
        }
        ToolCall::SubmitReview { .. } => {
            if state.pending_review().is_none() && !state.plan.pending {
                return vec![
                    "no review was requested; wait for the worker's request_review".into(),
                ];
            }
            if *task_state != TaskState::Reviewing {
                return vec![format!("the task is {}, not reviewing", task_state.kind())];
            }
            Vec::new()
        }
        ToolCall::MarkDone { .. } => {
            if let Some(request) = state.pending_review() {
                return vec![format!(
                    "a review of {} is in progress; wait for the verdict",
                    short_commit(&request.commit)
                )];
            }
            if *task_state != TaskState::Working {
                return vec![format!("the task is {}, not working", task_state.kind())];
            }
            let mut missing = Vec::new();
            match &state.last_verdict {
                Some(verdict) if verdict.verdict == Verdict::Approve && verdict.commit == state.head_commit => {}
                Some(verdict) if verdict.verdict == Verdict::Approve => missing.push(format!(
                    "the reviewer has not approved HEAD {head} (the approval was for {}); request a review",
                    short_commit(&verdict.commit)
                )),
                _ => missing.push(format!("the reviewer has not approved HEAD {head}")),
            }
            if !state.worktree_clean {
                missing.push("the worktree has uncommitted changes".into());
            }
            missing.extend(super::plan::branch_rule(state));
            // Done needs CI: passed on HEAD (with `ci.command` set), no check failing there.
            let gate = super::ci::ci_gate(&state.ci, &state.head_commit, &state.config.ci);
            if let Some(reason) = gate.refusal(&state.head_commit) {
                missing.push(reason);
            }
            // And duet's own gates (proof, TDD), run once HEAD is approved.
            if let Some(reason) =
                super::gates::gate_refusal(&state.ci, &state.config.gates, &state.head_commit)
            {
                missing.push(reason);
            }
            missing
        }
    }
}
