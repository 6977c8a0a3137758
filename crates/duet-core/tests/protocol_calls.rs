//! Tool calls sent again with the same call id (a bridge retrying after the daemon died
//! mid-call): answered with the first answer, applied once, also across a snapshot round trip.

use duet_core::lifecycle::TaskState;
use duet_core::protocol::calls::ANSWERED_CALLS_KEPT;
use duet_core::protocol::{
    Effect, PairEvent, PairRecord, PairState, Role, ToolCall, ToolName, Verdict,
};

mod protocol_support;
use protocol_support::*;

fn submit(findings: Vec<duet_core::protocol::Finding>) -> ToolCall {
    ToolCall::SubmitReview {
        verdict: if findings.is_empty() {
            Verdict::Approve
        } else {
            Verdict::ChangesRequested
        },
        findings,
        verified: vec!["read the diff".into()],
        not_verified: vec![],
    }
}

/// The pair's state as a restarted daemon reads it back from the committed snapshot.
fn through_snapshot(pair: &mut Pair) {
    let json = serde_json::to_string(&pair.state).unwrap();
    pair.state = serde_json::from_str::<PairState>(&json).unwrap();
}

fn only_the_repeat_record(fx: &[Effect], role: Role, tool: ToolName) {
    assert_eq!(fx.len(), 2, "a record and the reply, nothing else: {fx:#?}");
    assert!(
        matches!(&fx[0], Effect::Record(PairRecord::CallRepeated { role: r, tool: t, .. }) if *r == role && *t == tool),
        "{fx:#?}"
    );
}

#[test]
fn a_verdict_sent_again_is_answered_the_same_and_applied_once() {
    let mut pair = Pair::default();
    pair.commit(C1);
    pair.request_review().unwrap();
    pair.take_turn(R);
    let (first_fx, first) = pair.call(R, submit(vec![finding("off by one")]));
    let n = pair.calls_made();
    assert!(
        first_fx
            .iter()
            .any(|e| matches!(e, Effect::Record(PairRecord::ReviewSubmitted { .. })))
    );
    let messages = pair.state.mailbox.envelopes.len();
    let round = pair.state.round;
    // The daemon committed the verdict and died before answering; the new one reads the
    // snapshot and gets the same call again.
    through_snapshot(&mut pair);
    let before = pair.state.clone();
    let (again_fx, again) = pair.call_again(n, R, submit(vec![finding("off by one")]));
    assert_eq!(again, first);
    only_the_repeat_record(&again_fx, R, ToolName::SubmitReview);
    assert_eq!(
        pair.state.mailbox.envelopes.len(),
        messages,
        "no second findings message"
    );
    assert_eq!(pair.state.round, round);
    assert_eq!(pair.state.same_findings_rounds, before.same_findings_rounds);
    assert_eq!(pair.state.task_state, TaskState::Working);
}

#[test]
fn mark_done_sent_again_after_done_is_answered_done_once() {
    let mut pair = Pair::default();
    pair.commit(C1);
    pair.request_review().unwrap();
    pair.take_turn(R);
    pair.review(Verdict::Approve, vec![]);
    let done = pair.mark_done().unwrap();
    let n = pair.calls_made();
    assert_eq!(pair.state.task_state, TaskState::Done);
    through_snapshot(&mut pair);
    let (fx, again) = pair.call_again(
        n,
        W,
        ToolCall::MarkDone {
            summary: "finished".into(),
        },
    );
    assert_eq!(again, Ok(done), "not a refusal that the task has ended");
    only_the_repeat_record(&fx, W, ToolName::MarkDone);
    assert!(
        !fx.iter().any(|e| matches!(e, Effect::SetTaskState(_))),
        "{fx:#?}"
    );
}

#[test]
fn a_message_sent_again_is_queued_once() {
    let mut pair = Pair::default();
    let send = || ToolCall::SendMessage {
        text: "which file?".into(),
    };
    let (_, first) = pair.call(R, send());
    let n = pair.calls_made();
    let (fx, again) = pair.call_again(n, R, send());
    assert_eq!(again, first);
    only_the_repeat_record(&fx, R, ToolName::SendMessage);
    assert_eq!(pair.state.mailbox.envelopes.len(), 1);
}

#[test]
fn a_refusal_sent_again_is_the_same_refusal() {
    let mut pair = Pair::default();
    let (_, first) = pair.call(
        W,
        ToolCall::MarkDone {
            summary: "x".into(),
        },
    );
    assert!(first.is_err());
    let n = pair.calls_made();
    // Meanwhile the pair moved on; the retried call still gets its own answer.
    pair.commit(C1);
    let (_, again) = pair.call_again(
        n,
        W,
        ToolCall::MarkDone {
            summary: "x".into(),
        },
    );
    assert_eq!(again, first);
}

#[test]
fn the_same_id_from_the_other_role_is_another_call() {
    let mut pair = Pair::default();
    pair.ok(W, ToolCall::SendMessage { text: "a".into() });
    let n = pair.calls_made();
    let (fx, _) = pair.call_again(n, R, ToolCall::SendMessage { text: "b".into() });
    assert!(
        !fx.iter()
            .any(|e| matches!(e, Effect::Record(PairRecord::CallRepeated { .. }))),
        "{fx:#?}"
    );
    assert_eq!(pair.state.mailbox.envelopes.len(), 2);
}

#[test]
fn calls_without_an_id_and_task_status_are_not_deduplicated() {
    let mut pair = Pair::default();
    let status = pair.ok(W, ToolCall::TaskStatus);
    let n = pair.calls_made();
    pair.commit(C1);
    let (_, fresh) = pair.call_again(n, W, ToolCall::TaskStatus);
    assert_ne!(
        fresh.unwrap(),
        status,
        "task_status answers what is true now"
    );
    for _ in 0..2 {
        let fx = pair.event(PairEvent::ToolCalled {
            call_id: None,
            role: W,
            call: ToolCall::SendMessage {
                text: "hello".into(),
            },
        });
        assert!(
            fx.iter()
                .any(|e| matches!(e, Effect::Reply { call_id: None, .. }))
        );
    }
    assert_eq!(
        pair.state.mailbox.envelopes.len(),
        2,
        "both accepted (the second suppressed as a repeat)"
    );
}

#[test]
fn the_record_stays_bounded_over_many_calls() {
    let mut pair = Pair::default();
    for n in 0..ANSWERED_CALLS_KEPT * 2 {
        pair.ok(
            R,
            ToolCall::SendMessage {
                text: format!("note {n}"),
            },
        );
    }
    assert_eq!(pair.state.answered_calls.len(), ANSWERED_CALLS_KEPT);
}
