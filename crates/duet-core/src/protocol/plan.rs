//! The plan step (`plan = true`): the worker writes `PLAN.md` and calls `request_plan_review`;
//! the reviewer's `submit_review` on it approves or asks for changes, within its own round cap
//! (`review.max_plan_rounds`). Until the plan is approved, `request_review` and `mark_done` are
//! refused, so coding starts only after the approval.

use serde::{Deserialize, Serialize};

use super::calls::CallId;
use super::pair::{Effect, PairRecord, PairState, apply, check_stall, dispatch, enqueue, escalate};
use super::review::quote;
use super::{Finding, Role, Sender, Timestamp, Verdict};
use crate::lifecycle::LifecycleEvent;

/// The name of the plan file in the worker's worktree.
pub const PLAN_FILE: &str = "PLAN.md";

/// The refusal reason of `request_review`/`mark_done` before the plan is approved.
pub const PLAN_FIRST: &str = "the plan must be approved first: write PLAN.md in the worktree \
and call request_plan_review; code only after the reviewer approves it";

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
    let listed: Vec<String> = findings
        .iter()
        .enumerate()
        .map(|(index, finding)| format!("{}. {finding}", index + 1))
        .collect();
    let text = match verdict {
        Verdict::Approve => format!(
            "The reviewer approved your plan: plan approved, start coding. duet asks you to \
             implement the plan, commit (do not commit {PLAN_FILE}), and call request_review.{}",
            if listed.is_empty() {
                String::new()
            } else {
                format!(
                    "\nThe reviewer's remarks, quoted:\n{}",
                    quote(&listed.join("\n"))
                )
            }
        ),
        Verdict::ChangesRequested => format!(
            "The reviewer requests changes to your plan (plan round {round} of {max}). duet asks \
             you to revise {PLAN_FILE} and call request_plan_review again; do not code yet.\n\
             The findings, quoted:\n{}",
            quote(&listed.join("\n"))
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
