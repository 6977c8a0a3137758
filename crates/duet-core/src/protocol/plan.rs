//! The plan step (`plan = true`): the worker writes `PLAN.md` and calls `request_plan_review`;
//! the reviewer's `submit_review` on it approves or asks for changes, within its own round cap
//! (`review.max_plan_rounds`). Until the plan is approved, `request_review` and `mark_done` are
//! refused, so coding starts only after the approval.

use serde::{Deserialize, Serialize};

use super::calls::CallId;
use super::pair::{Effect, PairRecord, PairState, apply, check_stall, dispatch, enqueue, escalate};
use super::review::{numbered, quote, remarks_suffix};
use super::{Finding, Role, Sender, Timestamp, Verdict};
use crate::lifecycle::LifecycleEvent;

/// The name of the plan file in the worker's worktree.
pub const PLAN_FILE: &str = "PLAN.md";

/// The refusal reason of `request_review`/`mark_done` before the plan is approved.
pub const PLAN_FIRST: &str = "the plan must be approved first: write PLAN.md in the worktree \
and call request_plan_review; code only after the reviewer approves it";

/// The refusal reason of `request_review`/`mark_done` on a HEAD that puts PLAN.md on the
/// branch while `review.plan_in_branch` is off.
pub const PLAN_OFF_BRANCH: &str = "PLAN.md is committed on the task branch (HEAD adds or \
changes it against the base), and the plan must not land on the base branch: drop it from the \
branch (`git rm --cached PLAN.md`, or restore the base's version, and commit) and keep PLAN.md \
untracked in the worktree";

/// Where the plan step of a pair stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PlanState {
    /// Plan reviews requested so far.
    pub rounds: u32,
    /// The last plan review request still waits for its verdict.
    pub pending: bool,
    /// The reviewer approved the plan: coding may start.
    pub approved: bool,
    /// The last plan sent for review (PLAN.md's text).
    pub text: String,
}

impl PairState {
    /// The pair must still have its plan approved before `request_review`/`mark_done`.
    pub fn plan_required(&self) -> bool {
        self.config.review.plan && !self.plan.approved
    }
}

/// Why a `request_review`/`mark_done` of a plan task cannot be accepted at this HEAD: the plan
/// is on the branch and `review.plan_in_branch` does not allow it.
pub(super) fn branch_rule(state: &PairState) -> Option<String> {
    let rules = &state.config.review;
    (rules.plan && !rules.plan_in_branch && state.plan_on_branch).then(|| PLAN_OFF_BRANCH.into())
}

/// At most this many lines of the approved plan are quoted in each code review request.
pub const PLAN_QUOTE_LINES: usize = 40;

/// What a code review request says of the approved plan (for a plan task once the plan was
/// approved): its first [`PLAN_QUOTE_LINES`] lines quoted, and where the whole of it is.
pub(super) fn approved_plan_lines(state: &PairState) -> Option<String> {
    if !state.config.review.plan || !state.plan.approved {
        return None;
    }
    let lines: Vec<&str> = state.plan.text.trim().lines().collect();
    let shown = lines.len().min(PLAN_QUOTE_LINES);
    let more = if lines.len() > shown {
        format!(
            " (its first {shown} of {} lines; the whole plan is {PLAN_FILE} in this worktree)",
            lines.len()
        )
    } else {
        format!(" (also {PLAN_FILE} in this worktree)")
    };
    Some(format!(
        "Check the code against the plan you approved{more}, quoted:\n{}",
        quote(&lines[..shown].join("\n"))
    ))
}

/// Why `request_plan_review` cannot be accepted now (empty: it can).
pub(super) fn request_rules(state: &PairState, plan: &str) -> Vec<String> {
    if !state.config.review.plan {
        return vec!["this task has no plan step; code, commit and call request_review".into()];
    }
    if state.plan.approved {
        return vec!["the plan is already approved; code, commit and call request_review".into()];
    }
    if state.plan.pending {
        return vec!["a plan review is already in progress; wait for the verdict".into()];
    }
    if state.task_state != crate::lifecycle::TaskState::Working {
        return vec![format!(
            "the task is {}, not working",
            state.task_state.kind()
        )];
    }
    if plan.trim().is_empty() {
        return vec![format!(
            "{PLAN_FILE} is missing or empty in the worktree; write your plan there first"
        )];
    }
    Vec::new()
}

/// Carry out an accepted `request_plan_review`.
pub(super) fn on_request(
    state: &mut PairState,
    fx: &mut Vec<Effect>,
    call_id: Option<CallId>,
    summary: String,
    plan: String,
    now: Timestamp,
) {
    state.plan.rounds += 1;
    state.plan.pending = true;
    state.plan.text = plan.clone();
    let round = state.plan.rounds;
    let max = state.config.review.max_plan_rounds;
    apply(state, fx, LifecycleEvent::ReviewRequested);
    fx.push(Effect::Record(PairRecord::PlanReviewRequested {
        round,
        summary: summary.clone(),
        plan: plan.clone(),
    }));
    fx.push(Effect::Reply {
        call_id,
        result: Ok(format!(
            "plan review requested (plan round {round} of {max}); wait for the verdict before coding"
        )),
    });
    let text = format!(
        "duet asks you to review the worker's plan (plan round {round} of {max}) before any code \
         is written, and call submit_review with your verdict on the plan (approve, or \
         changes_requested with findings on the plan). The plan ({PLAN_FILE}), quoted:\n{}\n\
         The worker's summary, quoted:\n{}",
        quote(&plan),
        quote(&summary)
    );
    enqueue(state, fx, Sender::Duet, Role::Reviewer, text, now);
    dispatch(state, fx, now);
}

/// Carry out an accepted `submit_review` while a plan review is pending.
#[allow(clippy::too_many_arguments)]
pub(super) fn on_verdict(
    state: &mut PairState,
    fx: &mut Vec<Effect>,
    call_id: Option<CallId>,
    verdict: Verdict,
    findings: Vec<Finding>,
    verified: Vec<String>,
    not_verified: Vec<String>,
    now: Timestamp,
) {
    state.plan.pending = false;
    state.plan.approved = verdict == Verdict::Approve;
    let round = state.plan.rounds;
    let max = state.config.review.max_plan_rounds;
    fx.push(Effect::Record(PairRecord::PlanReviewed {
        round,
        verdict,
        findings: findings.clone(),
        verified,
        not_verified,
        plan: state.plan.text.clone(),
    }));
    apply(state, fx, LifecycleEvent::ReviewSubmitted);
    fx.push(Effect::Reply {
        call_id,
        result: Ok(format!(
            "plan verdict {verdict} (plan round {round}) recorded and sent to the worker"
        )),
    });
    let text = match verdict {
        Verdict::Approve => format!(
            "The reviewer approved your plan: plan approved, start coding. duet asks you to \
             implement the plan, commit (do not commit {PLAN_FILE}), and call request_review.{}",
            remarks_suffix(&findings)
        ),
        Verdict::ChangesRequested => format!(
            "The reviewer requests changes to your plan (plan round {round} of {max}). duet asks \
             you to revise {PLAN_FILE} and call request_plan_review again; do not code yet.\n\
             The findings, quoted:\n{}",
            quote(&numbered(&findings))
        ),
    };
    enqueue(state, fx, Sender::Duet, Role::Worker, text, now);
    if verdict == Verdict::ChangesRequested && round >= max {
        let open = findings
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        let reason = format!(
            "no plan approval after {round} plan review rounds (max_plan_rounds = {max}); \
             open findings: {open}"
        );
        escalate(state, fx, reason, Sender::Duet);
    } else {
        check_stall(state, fx, now);
    }
    dispatch(state, fx, now);
}
