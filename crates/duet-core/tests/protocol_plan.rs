//! The plan step (`review.plan`): plan → plan review → code, the refusals before the plan is
//! approved, the plan round cap, and no change for pairs without a plan step.

mod protocol_support;

use duet_core::lifecycle::TaskState;
use duet_core::protocol::pair::PairEvent;
use duet_core::protocol::pair::{PairConfig, PairRecord, ReviewRules};
use duet_core::protocol::plan::{PLAN_FIRST, PLAN_OFF_BRANCH};
use duet_core::protocol::{Effect, RefusalKind, ToolCall, Verdict};
use protocol_support::*;

fn planning(max_plan_rounds: u32) -> Pair {
    Pair::new(PairConfig {
        review: ReviewRules {
            plan: true,
            max_plan_rounds,
            ..ReviewRules::default()
        },
        ..PairConfig::default()
    })
}

fn request_plan(
    pair: &mut Pair,
    plan: &str,
) -> (Vec<Effect>, Result<String, duet_core::protocol::Refusal>) {
    pair.call(
        W,
        ToolCall::RequestPlanReview {
            summary: "add the flag".into(),
            plan: plan.into(),
        },
    )
}

fn plan_records(fx: &[Effect]) -> Vec<PairRecord> {
    fx.iter()
        .filter_map(|effect| match effect {
            Effect::Record(
                record @ (PairRecord::PlanReviewRequested { .. } | PairRecord::PlanReviewed { .. }),
            ) => Some(record.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn review_and_done_are_refused_until_the_plan_is_approved() {
    let mut pair = planning(3);
    pair.commit(C1);
    let refusal = pair.request_review().unwrap_err();
    assert_eq!(refusal.kind, RefusalKind::NotNow);
    assert_eq!(refusal.reasons, vec![PLAN_FIRST.to_owned()]);
    let refusal = pair.mark_done().unwrap_err();
    assert_eq!(refusal.reasons, vec![PLAN_FIRST.to_owned()]);
    // Not a review to answer either.
    let (_, result) = pair.call(
        R,
        ToolCall::SubmitReview {
            verdict: Verdict::Approve,
            findings: vec![],
            verified: vec!["x".into()],
            not_verified: vec![],
        },
    );
    assert!(result.is_err());
}

#[test]
fn an_empty_plan_file_is_refused() {
    let mut pair = planning(3);
    let (_, result) = request_plan(&mut pair, "  \n");
    let refusal = result.unwrap_err();
    assert_eq!(refusal.kind, RefusalKind::NotNow);
    assert!(
        refusal.reasons[0].contains("PLAN.md is missing or empty"),
        "{refusal}"
    );
    assert!(!pair.state.plan.pending);
}

#[test]
fn plan_then_plan_review_then_code() {
    let mut pair = planning(3);
    let (fx, result) = request_plan(&mut pair, "# Plan\n1. first draft");
    assert!(result.unwrap().contains("plan round 1 of 3"));
    assert_eq!(pair.state.task_state, TaskState::Reviewing);
    assert_eq!(
        plan_records(&fx),
        vec![PairRecord::PlanReviewRequested {
            round: 1,
            summary: "add the flag".into(),
            plan: "# Plan\n1. first draft".into(),
        }]
    );
    // The reviewer gets the plan's text inline.
    let to_reviewer = pair.take_turn(R);
    assert_eq!(to_reviewer.len(), 1);
    assert!(pair.text_of(to_reviewer[0]).contains("> 1. first draft"));
    // A second request while one is pending is refused.
    assert!(request_plan(&mut pair, "again").1.is_err());

    let fx = pair.review(Verdict::ChangesRequested, vec![finding("add tests first")]);
    assert!(matches!(
        plan_records(&fx).as_slice(),
        [PairRecord::PlanReviewed {
            round: 1,
            verdict: Verdict::ChangesRequested,
            ..
        }]
    ));
    assert_eq!(pair.state.task_state, TaskState::Working);
    assert!(!pair.state.plan.approved);
    let to_worker = pair.take_turn(W);
    assert!(pair.text_of(to_worker[0]).contains("revise PLAN.md"));
    assert!(pair.text_of(to_worker[0]).contains("add tests first"));
    // Still no coding.
    pair.commit(C1);
    assert_eq!(
        pair.request_review().unwrap_err().reasons,
        vec![PLAN_FIRST.to_owned()]
    );

    request_plan(&mut pair, "# Plan\n1. tests\n2. code")
        .1
        .unwrap();
    pair.take_turn(R);
    let fx = pair.review(Verdict::Approve, vec![]);
    match plan_records(&fx).as_slice() {
        [
            PairRecord::PlanReviewed {
                round: 2,
                verdict: Verdict::Approve,
                plan,
                verified,
                ..
            },
        ] => {
            assert_eq!(plan, "# Plan\n1. tests\n2. code");
            assert_eq!(verified, &vec!["read the diff".to_owned()]);
        }
        other => panic!("{other:?}"),
    }
    assert!(pair.state.plan.approved);
    let to_worker = pair.take_turn(W);
    assert!(
        pair.text_of(to_worker[0])
            .contains("plan approved, start coding")
    );
    // The plan approval is not a code approval: mark_done still needs a reviewed HEAD.
    assert!(pair.mark_done().is_err());
    assert_eq!(pair.state.round, 0);

    // A second plan review after the approval is refused.
    let refusal = request_plan(&mut pair, "# Plan v3").1.unwrap_err();
    assert!(refusal.reasons[0].contains("already approved"), "{refusal}");
    // Now the ordinary review flow.
    assert!(pair.request_review().unwrap().contains("round 1"));
    pair.take_turn(R);
    pair.review(Verdict::Approve, vec![]);
    assert!(pair.mark_done().unwrap().contains("done"));
}

#[test]
fn a_plan_approval_must_say_what_was_verified() {
    let mut pair = planning(3);
    request_plan(&mut pair, "# Plan").1.unwrap();
    let (_, result) = pair.call(
        R,
        ToolCall::SubmitReview {
            verdict: Verdict::Approve,
            findings: vec![],
            verified: vec![],
            not_verified: vec![],
        },
    );
    assert_eq!(result.unwrap_err().kind, RefusalKind::InvalidArgument);
    assert!(pair.state.plan.pending);
}

#[test]
fn the_plan_round_cap_sends_the_task_to_the_human() {
    let mut pair = planning(2);
    request_plan(&mut pair, "v1").1.unwrap();
    let fx = pair.review(Verdict::ChangesRequested, vec![finding("too vague")]);
    assert!(asked_human(&fx).is_empty());
    request_plan(&mut pair, "v2").1.unwrap();
    let fx = pair.review(Verdict::ChangesRequested, vec![finding("still vague")]);
    let asked = asked_human(&fx);
    assert_eq!(asked.len(), 1, "{fx:#?}");
    assert!(asked[0].contains("no plan approval after 2 plan review rounds (max_plan_rounds = 2)"));
    assert!(asked[0].contains("still vague"));
    assert!(matches!(
        pair.state.task_state,
        TaskState::NeedsHuman { .. }
    ));
}

#[test]
fn without_a_plan_step_nothing_changes_and_the_tool_is_refused() {
    let mut pair = Pair::default();
    let (_, result) = request_plan(&mut pair, "# Plan");
    let refusal = result.unwrap_err();
    assert!(refusal.reasons[0].contains("no plan step"), "{refusal}");
    pair.commit(C1);
    assert!(pair.request_review().is_ok());
    pair.review(Verdict::Approve, vec![]);
    assert!(pair.mark_done().is_ok());
}

#[test]
fn only_the_worker_requests_a_plan_review() {
    let mut pair = planning(3);
    let (_, result) = pair.call(
        R,
        ToolCall::RequestPlanReview {
            summary: "s".into(),
            plan: "p".into(),
        },
    );
    assert_eq!(result.unwrap_err().kind, RefusalKind::WrongRole);
}

/// A plan task with its plan approved, HEAD at C1 (committed, clean).
fn approved(plan_in_branch: bool) -> Pair {
    let mut pair = Pair::new(PairConfig {
        review: ReviewRules {
            plan: true,
            plan_in_branch,
            ..ReviewRules::default()
        },
        ..PairConfig::default()
    });
    request_plan(&mut pair, "# Plan\n1. do it").1.unwrap();
    pair.take_turn(R);
    pair.review(Verdict::Approve, vec![]);
    pair.take_turn(W);
    pair.commit(C1);
    pair
}

#[test]
fn a_head_that_commits_the_plan_is_not_reviewed_or_finished_until_it_is_dropped() {
    let mut pair = approved(false);
    pair.event(PairEvent::PlanOnBranch { on_branch: true });
    let refusal = pair.request_review().unwrap_err();
    assert_eq!(refusal.kind, RefusalKind::NotNow);
    assert_eq!(refusal.reasons, vec![PLAN_OFF_BRANCH.to_owned()]);
    assert!(PLAN_OFF_BRANCH.contains("keep PLAN.md untracked"));
    assert_eq!(pair.state.round, 0, "nothing was requested");

    // The worker drops it in a new commit: the review goes on, and mark_done after an
    // approval; a later HEAD that commits it again is refused at mark_done too.
    pair.commit(C2);
    pair.event(PairEvent::PlanOnBranch { on_branch: false });
    assert!(pair.request_review().unwrap().contains("round 1"));
    pair.take_turn(R);
    pair.review(Verdict::Approve, vec![]);
    pair.event(PairEvent::PlanOnBranch { on_branch: true });
    let refusal = pair.mark_done().unwrap_err();
    assert!(
        refusal.reasons.contains(&PLAN_OFF_BRANCH.to_owned()),
        "{refusal}"
    );
    pair.event(PairEvent::PlanOnBranch { on_branch: false });
    assert!(pair.mark_done().unwrap().contains("done"));
}

#[test]
fn with_plan_in_branch_a_committed_plan_is_allowed_and_a_task_without_a_plan_step_ignores_it() {
    let mut pair = approved(true);
    pair.event(PairEvent::PlanOnBranch { on_branch: true });
    assert!(pair.request_review().unwrap().contains("round 1"));

    // A task without a plan step: PLAN.md is the task's own file.
    let mut pair = Pair::default();
    pair.commit(C1);
    pair.event(PairEvent::PlanOnBranch { on_branch: true });
    assert!(pair.request_review().is_ok());
}

#[test]
fn a_code_review_request_after_the_approval_quotes_the_approved_plan() {
    let mut pair = approved(false);
    pair.request_review().unwrap();
    let to_reviewer = pair.take_turn(R);
    let text = pair.text_of(to_reviewer[0]).to_owned();
    assert!(text.contains("duet asks you to review commit"), "{text}");
    assert!(
        text.contains(
            "Check the code against the plan you approved (also PLAN.md in this worktree), \
             quoted:\n> # Plan\n> 1. do it"
        ),
        "{text}"
    );

    // A long plan: its first lines and where the rest is.
    let mut pair = planning(3);
    let plan: String = (1..=100).map(|n| format!("{n}. step {n}\n")).collect();
    request_plan(&mut pair, &plan).1.unwrap();
    pair.take_turn(R);
    pair.review(Verdict::Approve, vec![]);
    pair.take_turn(W);
    pair.commit(C1);
    pair.request_review().unwrap();
    let to_reviewer = pair.take_turn(R);
    let text = pair.text_of(to_reviewer[0]);
    assert!(
        text.contains("(its first 40 of 100 lines; the whole plan is PLAN.md in this worktree)"),
        "{text}"
    );
    assert!(
        text.contains("> 40. step 40\n") || text.ends_with("> 40. step 40"),
        "{text}"
    );
    assert!(!text.contains("step 41"), "{text}");

    // Without a plan step, nothing of the kind.
    let mut pair = Pair::default();
    pair.commit(C1);
    pair.request_review().unwrap();
    let to_reviewer = pair.take_turn(R);
    assert!(!pair.text_of(to_reviewer[0]).contains("plan you approved"));
}
