//! The review protocol's side of tool calls: what an accepted bridge call does to a pair
//! (rounds, verdicts, repeated findings, done, questions) and the texts sent to the agents.

use super::calls::CallId;
use super::delivery::{DeliveryStatus, Suppression};
use super::pair::{
    Effect, PairRecord, PairState, ReviewRequest, VerdictRecord, apply, check_stall, dispatch,
    enqueue, escalate,
};
use super::tools::{ToolCall, check};
use super::{Finding, Role, Sender, Timestamp, Verdict, short_commit};
use crate::lifecycle::LifecycleEvent;

/// Check a call and, if accepted, carry it out; always answers with exactly one `Reply`.
pub(super) fn on_tool_call(
    state: &mut PairState,
    fx: &mut Vec<Effect>,
    call_id: Option<CallId>,
    role: Role,
    call: ToolCall,
    now: Timestamp,
) {
    if let Err(refusal) = check(role, &call, state, &state.config.limits) {
        fx.push(Effect::Record(PairRecord::ToolRefused {
            role,
            refusal: refusal.clone(),
        }));
        fx.push(Effect::Reply {
            call_id,
            result: Err(refusal),
        });
        return;
    }
    let reply = |fx: &mut Vec<Effect>, text: String| {
        fx.push(Effect::Reply {
            call_id: call_id.clone(),
            result: Ok(text),
        })
    };
    match call {
        ToolCall::SendMessage { text } => {
            let to = role.partner();
            let (id, status) = enqueue(state, fx, Sender::Agent(role), to, text, now);
            match status {
                DeliveryStatus::Suppressed { reason } => {
                    let (why, of) = match reason {
                        Suppression::Repeat { of } => ("it repeats your message", of),
                        Suppression::Echo { of } => {
                            state.ping_pongs += 1;
                            ("it echoes the message you received as", of)
                        }
                        // Only duet's own notices are superseded.
                        Suppression::Superseded { by } => ("a newer message replaced it:", by),
                    };
                    reply(
                        fx,
                        format!(
                            "message {id} not delivered: {why} {of}; say something new or get on with the work"
                        ),
                    );
                    check_stall(state, fx, now);
                }
                _ => {
                    reply(
                        fx,
                        format!("message {id} accepted; the {to} gets it when its turn is over"),
                    );
                    dispatch(state, fx, now);
                }
            }
        }
        ToolCall::RequestReview { summary } => {
            state.round += 1;
            let commit = state.head_commit.clone();
            state.last_review_request = Some(ReviewRequest {
                round: state.round,
                commit: commit.clone(),
                summary: summary.clone(),
                at: now,
            });
            state.review_pending = true;
            apply(state, fx, LifecycleEvent::ReviewRequested);
            fx.push(Effect::Record(PairRecord::ReviewRequested {
                round: state.round,
                commit: commit.clone(),
                summary: summary.clone(),
            }));
            let max = state.config.limits.max_rounds;
            reply(
                fx,
                format!(
                    "review of {} requested (round {} of {max})",
                    short_commit(&commit),
                    state.round
                ),
            );
            // duet's own request, with the worker's words quoted as content: an agent may treat
            // text that only relays another party's words as data rather than a request.
            let mut text = format!(
                "duet asks you to review commit {commit} (round {} of {max}) and call \
                 submit_review with your verdict.\n\
                 Review the diff {}..{commit} in this worktree. The worker's summary, quoted:\n{}",
                state.round,
                state.base_commit,
                quote(&summary)
            );
            // The CI state of the commit under review, when there is CI at all.
            if state.config.ci.has_command || state.ci.runs.contains_key(&commit) {
                let line = super::ci::describe_head(&state.ci, &commit, &state.config.ci);
                text.push_str(&format!("\n{line}"));
            }
            // The diff size the scope guard measured at this commit.
            if let Some(line) =
                super::gates::diff_line(&state.ci.scope, &state.config.gates, &commit)
            {
                text.push_str(&format!("\n{line}"));
            }
            // The approved plan, so the code is checked against it.
            if let Some(plan) = super::plan::approved_plan_lines(state) {
                text.push_str(&format!("\n{plan}"));
            }
            enqueue(state, fx, Sender::Duet, Role::Reviewer, text, now);
            dispatch(state, fx, now);
        }
        ToolCall::RequestPlanReview { summary, plan } => {
            super::plan::on_request(state, fx, call_id, summary, plan, now)
        }
        ToolCall::SubmitReview {
            verdict,
            findings,
            verified,
            not_verified,
        } if state.plan.pending => super::plan::on_verdict(
            state,
            fx,
            call_id,
            verdict,
            findings,
            verified,
            not_verified,
            now,
        ),
        ToolCall::SubmitReview {
            verdict,
            findings,
            verified,
            not_verified,
        } => {
            let commit = state
                .pending_review()
                .map(|request| request.commit.clone())
                .unwrap_or_default();
            state.review_pending = false;
            state.last_verdict = Some(VerdictRecord {
                round: state.round,
                commit: commit.clone(),
                verdict,
            });
            state.open_findings = findings.clone();
            count_repeated_findings(state, verdict, &findings);
            fx.push(Effect::Record(PairRecord::ReviewSubmitted {
                round: state.round,
                commit: commit.clone(),
                verdict,
                findings: findings.clone(),
                verified,
                not_verified,
            }));
            apply(state, fx, LifecycleEvent::ReviewSubmitted);
            reply(
                fx,
                format!(
                    "verdict {verdict} on {} recorded and sent to the worker",
                    short_commit(&commit)
                ),
            );
            enqueue(
                state,
                fx,
                Sender::Duet,
                Role::Worker,
                verdict_text(state, verdict, &commit, &findings),
                now,
            );
            let max = state.config.limits.max_rounds;
            if verdict == Verdict::ChangesRequested && state.round >= max {
                let open = findings
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ");
                let reason = format!(
                    "no approval after {} review rounds (max_rounds = {max}); open findings: {open}",
                    state.round
                );
                escalate(state, fx, reason, Sender::Duet);
            } else {
                check_stall(state, fx, now);
            }
            dispatch(state, fx, now);
        }
        ToolCall::MarkDone { summary } => {
            fx.push(Effect::Record(PairRecord::DoneDeclared {
                commit: state.head_commit.clone(),
                summary,
            }));
            apply(state, fx, LifecycleEvent::DoneAccepted);
            reply(
                fx,
                format!(
                    "task {} is done at {}",
                    state.task_id,
                    short_commit(&state.head_commit)
                ),
            );
        }
        ToolCall::AskHuman { question } => {
            state.question_from = Some(role);
            fx.push(Effect::Record(PairRecord::QuestionAsked {
                from: role,
                question: question.clone(),
            }));
            reply(
                fx,
                "your question went to the human; the answer will come as a message".into(),
            );
            escalate(
                state,
                fx,
                format!("question from the {role}: {question}"),
                Sender::Agent(role),
            );
        }
        ToolCall::TaskStatus => reply(fx, state.status_text()),
    }
}

fn verdict_text(state: &PairState, verdict: Verdict, commit: &str, findings: &[Finding]) -> String {
    match verdict {
        Verdict::Approve => format!(
            "The reviewer approved {commit}. duet asks you to call mark_done now if HEAD is still \
             that commit and the worktree is clean.{}",
            remarks_suffix(findings)
        ),
        Verdict::ChangesRequested => format!(
            "The reviewer requests changes on {commit} (round {} of {}). The reviewer's findings \
             follow; duet asks you to fix them, commit, and call request_review again.\n\
             The findings, quoted:\n{}",
            state.round,
            state.config.limits.max_rounds,
            quote(&numbered(findings))
        ),
    }
}

/// The findings as a numbered list, one a line (`1. [major] a.rs:3 text`).
pub(crate) fn numbered(findings: &[Finding]) -> String {
    findings
        .iter()
        .enumerate()
        .map(|(index, finding)| format!("{}. {finding}", index + 1))
        .collect::<Vec<_>>()
        .join("\n")
}

/// What an approval's text ends with: the reviewer's remarks (its findings), quoted, on a line
/// of their own; nothing for an approval without any.
pub(crate) fn remarks_suffix(findings: &[Finding]) -> String {
    if findings.is_empty() {
        return String::new();
    }
    format!(
        "\nThe reviewer's remarks, quoted:\n{}",
        quote(&numbered(findings))
    )
}

/// `text` as a quoted block: each line behind `> ` (an empty text: `> (none)`).
pub(crate) fn quote(text: &str) -> String {
    let text = text.trim();
    if text.is_empty() {
        return "> (none)".to_owned();
    }
    text.lines()
        .map(|line| format!("> {line}").trim_end().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

fn count_repeated_findings(state: &mut PairState, verdict: Verdict, findings: &[Finding]) {
    if verdict == Verdict::Approve {
        state.same_findings_rounds = 0;
        state.last_findings_fingerprint.clear();
        return;
    }
    let mut fingerprint: Vec<_> = findings.iter().map(Finding::fingerprint).collect();
    fingerprint.sort();
    if state.same_findings_rounds > 0 && fingerprint == state.last_findings_fingerprint {
        state.same_findings_rounds += 1;
    } else {
        state.same_findings_rounds = 1;
    }
    state.last_findings_fingerprint = fingerprint;
}
