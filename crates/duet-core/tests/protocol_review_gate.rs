//! The confidence gate: an approval must say what the reviewer verified; one that lists nothing
//! is refused with a request to verify, the review stays pending, and the next approval (with
//! what was verified) is recorded with both lists.

mod protocol_support;

use duet_core::lifecycle::TaskState;
use duet_core::protocol::pair::{PairConfig, ReviewRules};
use duet_core::protocol::tools::VERIFY_FIRST;
use duet_core::protocol::{
    Effect, Limits, PairRecord, RefusalKind, Role, ToolCall, Verdict, check,
};
use protocol_support::{C1, Pair, R};

fn approve(verified: &[&str], not_verified: &[&str]) -> ToolCall {
    ToolCall::SubmitReview {
        verdict: Verdict::Approve,
        findings: vec![],
        verified: verified.iter().map(|s| s.to_string()).collect(),
        not_verified: not_verified.iter().map(|s| s.to_string()).collect(),
    }
}

/// A pair whose reviewer has the review of `C1` to do.
fn reviewing(config: PairConfig) -> Pair {
    let mut pair = Pair::new(config);
    pair.commit(C1);
    pair.request_review().unwrap();
    assert_eq!(pair.state.task_state, TaskState::Reviewing);
    pair
}

#[test]
fn an_approval_that_verified_nothing_is_refused_with_a_request_to_verify() {
    let pair = reviewing(PairConfig::default());
    let limits = Limits::default();
    for call in [
        approve(&[], &[]),
        approve(&[" ", "\n"], &["did not run the tests"]),
    ] {
        let refusal = check(Role::Reviewer, &call, &pair.state, &limits).unwrap_err();
        assert_eq!(refusal.kind, RefusalKind::InvalidArgument);
        assert!(
            refusal.reasons.contains(&VERIFY_FIRST.to_owned()),
            "{refusal}"
        );
    }
    // A request for changes needs no list; an approval with one passes.
    let changes = ToolCall::SubmitReview {
        verdict: Verdict::ChangesRequested,
        findings: vec![protocol_support::finding("x")],
        verified: vec![],
        not_verified: vec![],
    };
    assert_eq!(
        check(Role::Reviewer, &changes, &pair.state, &limits),
        Ok(())
    );
    let verified = approve(&["cargo test: 3 passed"], &[]);
    assert_eq!(
        check(Role::Reviewer, &verified, &pair.state, &limits),
        Ok(())
    );
}

#[test]
fn the_gate_can_be_turned_off() {
    let config = PairConfig {
        review: ReviewRules {
            require_verification: false,
            ..ReviewRules::default()
        },
        ..PairConfig::default()
    };
    let pair = reviewing(config);
    let call = approve(&[], &[]);
    assert_eq!(
        check(Role::Reviewer, &call, &pair.state, &Limits::default()),
        Ok(())
    );
}

#[test]
fn each_item_is_checked_like_a_finding() {
    let pair = reviewing(PairConfig::default());
    let limits = Limits {
        max_findings: 2,
        max_finding_bytes: 8,
        ..Limits::default()
    };
    let refusal = check(
        Role::Reviewer,
        &approve(&["ok", ""], &["x"]),
        &pair.state,
        &limits,
    )
    .unwrap_err();
    assert_eq!(refusal.reasons, ["verified item 2 is empty"]);
    let refusal = check(
        Role::Reviewer,
        &approve(&["ok"], &["a", "b", "123456789"]),
        &pair.state,
        &limits,
    )
    .unwrap_err();
    assert_eq!(refusal.kind, RefusalKind::TooLarge);
    assert_eq!(
        refusal.reasons,
        [
            "not_verified has 3 items; the limit is 2 (merge related ones)",
            "not_verified item 3 is 9 bytes; the limit is 8",
        ]
    );
}

#[test]
fn a_refused_approval_leaves_the_review_pending_and_the_next_one_is_recorded() {
    let mut pair = reviewing(PairConfig::default());
    let (fx, result) = pair.call(R, approve(&[], &[]));
    let refusal = result.unwrap_err();
    assert_eq!(
        refusal.to_string(),
        format!("submit_review refused: {VERIFY_FIRST}")
    );
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::Record(PairRecord::ToolRefused { .. }))),
        "{fx:#?}"
    );
    assert!(
        !fx.iter()
            .any(|e| matches!(e, Effect::Record(PairRecord::ReviewSubmitted { .. }))),
        "{fx:#?}"
    );
    assert_eq!(pair.state.task_state, TaskState::Reviewing);
    assert!(pair.state.pending_review().is_some());
    assert!(pair.state.last_verdict.is_none());

    let (fx, result) = pair.call(
        R,
        approve(&["cargo test: 3 passed", "read src/a.rs"], &["the docs"]),
    );
    result.unwrap();
    let recorded = fx.iter().find_map(|e| match e {
        Effect::Record(PairRecord::ReviewSubmitted {
            verdict,
            verified,
            not_verified,
            ..
        }) => Some((*verdict, verified.clone(), not_verified.clone())),
        _ => None,
    });
    assert_eq!(
        recorded,
        Some((
            Verdict::Approve,
            vec![
                "cargo test: 3 passed".to_owned(),
                "read src/a.rs".to_owned()
            ],
            vec!["the docs".to_owned()],
        ))
    );
    assert_eq!(pair.state.task_state, TaskState::Working);
    assert_eq!(pair.state.round, 1, "a refused call is not a round");
    pair.mark_done().unwrap();
}
