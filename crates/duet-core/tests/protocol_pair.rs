//! The pair state machine: a review cycle to done, the order of effects, refusals, human
//! control, the Stop hook, task_status and persistence.

use duet_core::lifecycle::{LifecycleEvent, Pausable, TaskState};
use duet_core::protocol::delivery::Handover;
use duet_core::protocol::{
    CallId, Effect, MessageId, PairEvent, PairRecord, PairState, RefusalKind, Sender, ToolCall,
    Verdict,
};

mod protocol_support;
use protocol_support::*;

#[test]
fn review_rounds_until_approval_then_done() {
    let mut pair = Pair::default();
    assert_eq!(pair.state.task_state, TaskState::Working);

    let refusal = pair.request_review().unwrap_err();
    assert_eq!(refusal.kind, RefusalKind::NotNow, "no commit yet");

    pair.commit(C1);
    assert_eq!(
        pair.request_review().unwrap(),
        "review of abc1234 requested (round 1 of 3)"
    );
    assert_eq!(pair.state.task_state, TaskState::Reviewing);
    let taken = pair.take_turn(R);
    assert_eq!(taken.len(), 1);
    assert!(
        pair.text_of(taken[0])
            .contains(&format!("Review the diff {BASE}..{C1}")),
        "{}",
        pair.text_of(taken[0])
    );

    pair.review(Verdict::ChangesRequested, vec![finding("off by one")]);
    assert_eq!(pair.state.task_state, TaskState::Working);
    assert_eq!(pair.state.open_findings, vec![finding("off by one")]);
    let to_worker = pair.take_turn(W);
    assert_eq!(
        pair.text_of(to_worker[0]),
        format!(
            "The reviewer requests changes on {C1} (round 1 of 3). The reviewer's findings follow; \
             duet asks you to fix them, commit, and call request_review again.\n\
             The findings, quoted:\n> 1. [major] src/a.rs:1: off by one"
        )
    );

    let refusal = pair.mark_done().unwrap_err();
    assert_eq!(
        refusal.reasons,
        ["the reviewer has not approved HEAD abc1234"]
    );
    let refusal = pair.request_review().unwrap_err();
    assert_eq!(
        refusal.reasons,
        [
            "there is no new commit since the review of abc1234 was requested; commit your changes first"
        ]
    );

    pair.commit(C2);
    assert_eq!(
        pair.request_review().unwrap(),
        "review of def5678 requested (round 2 of 3)"
    );
    pair.take_turn(R);
    pair.review(Verdict::Approve, vec![]);
    assert_eq!(pair.state.open_findings, vec![]);

    pair.event(PairEvent::WorktreeChanged { clean: false });
    assert_eq!(
        pair.mark_done().unwrap_err().reasons,
        ["the worktree has uncommitted changes"]
    );
    pair.event(PairEvent::WorktreeChanged { clean: true });
    assert_eq!(pair.mark_done().unwrap(), "task t1 is done at def5678");
    assert_eq!(pair.state.task_state, TaskState::Done);
    assert_eq!(pair.state.round, 2);
    let refusal = pair
        .call(R, ToolCall::SendMessage { text: "bye".into() })
        .1
        .unwrap_err();
    assert_eq!(
        refusal.reasons,
        ["the task is done; it takes no more calls"]
    );
}

#[test]
fn effects_store_before_they_acknowledge() {
    let mut pair = Pair::default();
    pair.commit(C1);
    let (fx, _) = pair.call(
        W,
        ToolCall::RequestReview {
            summary: "ready".into(),
        },
    );
    let text = format!(
        "duet asks you to review commit {C1} (round 1 of 3) and call submit_review with your \
         verdict.\nReview the diff {BASE}..{C1} in this worktree. The worker's summary, quoted:\n> ready"
    );
    assert_eq!(
        fx,
        vec![
            Effect::SetTaskState(TaskState::Reviewing),
            Effect::Record(PairRecord::ReviewRequested {
                round: 1,
                commit: C1.into(),
                summary: "ready".into()
            }),
            Effect::Reply {
                call_id: Some(CallId::new("call-1")),
                result: Ok("review of abc1234 requested (round 1 of 3)".into())
            },
            Effect::Record(PairRecord::MessageAccepted {
                id: MessageId(1),
                from: Sender::Duet,
                to: R,
                text
            }),
            Effect::Record(PairRecord::MessageSent {
                id: MessageId(1),
                attempt: 1,
                via: Handover::Prompt
            }),
            Effect::Deliver {
                to: R,
                message_ids: vec![MessageId(1)]
            },
        ]
    );

    let (fx, result) = pair.call(
        R,
        ToolCall::SendMessage {
            text: "on it".into(),
        },
    );
    assert_eq!(
        result.unwrap(),
        "message #2 accepted; the worker gets it when its turn is over"
    );
    let accepted = fx
        .iter()
        .position(|e| matches!(e, Effect::Record(PairRecord::MessageAccepted { .. })));
    let reply = fx.iter().position(|e| matches!(e, Effect::Reply { .. }));
    assert!(
        accepted.unwrap() < reply.unwrap(),
        "stored before acknowledged: {fx:#?}"
    );
    assert_eq!(deliveries(&fx), vec![(W, vec![MessageId(2)])]);
}

#[test]
fn refused_calls_are_recorded_and_answered() {
    let mut pair = Pair::default();
    let (fx, result) = pair.call(
        W,
        ToolCall::SubmitReview {
            verdict: Verdict::Approve,
            findings: vec![],
            verified: vec!["read the diff".into()],
            not_verified: vec![],
        },
    );
    let refusal = result.unwrap_err();
    assert_eq!(
        refusal.to_string(),
        "submit_review refused: only the reviewer can call submit_review"
    );
    assert_eq!(
        fx[0],
        Effect::Record(PairRecord::ToolRefused { role: W, refusal })
    );
    assert_eq!(pair.state.task_state, TaskState::Working, "nothing changed");
    assert_eq!(pair.state.mailbox.envelopes.len(), 0);
}

#[test]
fn pause_holds_deliveries_and_resume_releases_them() {
    let mut pair = Pair::default();
    pair.control(LifecycleEvent::Pause);
    assert_eq!(
        pair.state.task_state,
        TaskState::Paused {
            resume_to: Pausable::Working
        }
    );
    let (fx, result) = pair.call(W, ToolCall::SendMessage { text: "hi".into() });
    result.unwrap();
    assert_eq!(deliveries(&fx), vec![], "nothing is delivered while paused");
    let hook = pair.event(PairEvent::StopHook {
        role: R,
        hook_id: "h1".into(),
    });
    assert_eq!(
        hook,
        vec![Effect::HandOver {
            hook_id: "h1".into(),
            to: R,
            message_ids: vec![]
        }]
    );

    let rejected = pair.control(LifecycleEvent::Pause);
    assert!(
        matches!(&rejected[..], [Effect::Rejected(error)] if error.why == "the task is already paused")
    );
    let fx = pair.control(LifecycleEvent::Resume);
    assert_eq!(fx[0], Effect::SetTaskState(TaskState::Working));
    assert_eq!(deliveries(&fx), vec![(R, vec![MessageId(1)])]);
}

#[test]
fn claude_gets_pending_messages_through_its_stop_hook() {
    let mut pair = Pair::default();
    pair.event(PairEvent::TurnStarted {
        role: W,
        carried: vec![],
    });
    pair.ok(
        R,
        ToolCall::SendMessage {
            text: "see line 3".into(),
        },
    );
    let fx = pair.event(PairEvent::StopHook {
        role: W,
        hook_id: "stop-7".into(),
    });
    assert_eq!(
        fx,
        vec![
            Effect::Record(PairRecord::MessageSent {
                id: MessageId(1),
                attempt: 1,
                via: Handover::StopHook
            }),
            Effect::HandOver {
                hook_id: "stop-7".into(),
                to: W,
                message_ids: vec![MessageId(1)]
            },
        ]
    );
    let fx = pair.event(PairEvent::TurnStarted {
        role: W,
        carried: vec![MessageId(1)],
    });
    assert_eq!(
        fx,
        vec![Effect::Record(PairRecord::MessageDelivered {
            id: MessageId(1)
        })]
    );
}

#[test]
fn task_status_tells_where_the_pair_stands() {
    let mut pair = Pair::default();
    pair.commit(C1);
    pair.request_review().unwrap();
    pair.event(PairEvent::WorktreeChanged { clean: false });
    assert_eq!(
        pair.ok(W, ToolCall::TaskStatus),
        "task t1 is reviewing\nround 1 of 3; HEAD abc1234 with uncommitted changes\n\
         review of abc1234 requested, waiting for the verdict\n1 message(s) not yet delivered"
    );
}

#[test]
fn pair_state_survives_a_json_round_trip() {
    let mut pair = Pair::default();
    pair.commit(C1);
    pair.request_review().unwrap();
    pair.take_turn(R);
    pair.review(Verdict::ChangesRequested, vec![finding("x")]);
    let json = serde_json::to_string(&pair.state).unwrap();
    let restored: PairState = serde_json::from_str(&json).unwrap();
    assert_eq!(restored, pair.state);
    // The restored state keeps counting repeated findings.
    pair.state = restored;
    pair.take_turn(W);
    pair.commit(C2);
    pair.request_review().unwrap();
    pair.take_turn(R);
    pair.review(Verdict::ChangesRequested, vec![finding("x")]);
    assert_eq!(pair.state.same_findings_rounds, 2);
}

#[test]
fn events_and_effects_round_trip_through_json() {
    let events = vec![
        PairEvent::ToolCalled {
            call_id: Some(CallId::new("c")),
            role: W,
            call: ToolCall::TaskStatus,
        },
        PairEvent::Control {
            event: LifecycleEvent::Fail {
                reason: "disk full".into(),
            },
        },
        PairEvent::TurnStarted {
            role: R,
            carried: vec![MessageId(3)],
        },
        PairEvent::Tick,
    ];
    for event in events {
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(
            serde_json::from_str::<PairEvent>(&json).unwrap(),
            event,
            "{json}"
        );
    }
    assert_eq!(
        serde_json::to_string(&PairEvent::Control {
            event: LifecycleEvent::Pause
        })
        .unwrap(),
        r#"{"type":"control","event":{"event":"pause"}}"#
    );
    let mut pair = Pair::default();
    pair.commit(C1);
    let (mut fx, _) = pair.call(
        W,
        ToolCall::RequestReview {
            summary: "s".into(),
        },
    );
    fx.extend(
        pair.call(
            W,
            ToolCall::MarkDone {
                summary: "s".into(),
            },
        )
        .0,
    );
    fx.extend(pair.control(LifecycleEvent::Start));
    for effect in fx {
        let json = serde_json::to_string(&effect).unwrap();
        assert_eq!(
            serde_json::from_str::<Effect>(&json).unwrap(),
            effect,
            "{json}"
        );
    }
}

#[test]
fn a_parked_seat_gets_nothing_until_unparked_then_what_was_held_with_the_go_on_once() {
    let mut pair = Pair::default();
    pair.event(PairEvent::SeatParked { role: W });
    // Sent while parked: accepted, not typed (the worker is idle) nor handed over at a Stop hook.
    let (fx, result) = pair.call(
        R,
        ToolCall::SendMessage {
            text: "see line 3".into(),
        },
    );
    result.unwrap();
    assert_eq!(deliveries(&fx), vec![], "held while parked");
    let hook = pair.event(PairEvent::StopHook {
        role: W,
        hook_id: "stop-1".into(),
    });
    assert_eq!(
        hook,
        vec![Effect::HandOver {
            hook_id: "stop-1".into(),
            to: W,
            message_ids: vec![]
        }]
    );
    pair.now_secs += 600;
    assert_eq!(deliveries(&pair.event(PairEvent::Tick)), vec![]);
    // The reviewer is not parked: it still gets its messages.
    let (fx, _) = pair.call(W, ToolCall::SendMessage { text: "ok".into() });
    assert_eq!(deliveries(&fx), vec![(R, vec![MessageId(2)])]);

    // Unparked: the held message and the go-on, in one hand-over.
    let fx = pair.event(PairEvent::SeatUnparked {
        role: W,
        text: "duet: go on".into(),
    });
    assert_eq!(deliveries(&fx), vec![(W, vec![MessageId(1), MessageId(3)])]);
    assert_eq!(pair.text_of(MessageId(3)), "duet: go on");
    assert_eq!(pair.take_turn(W), vec![MessageId(1), MessageId(3)]);
    // Asked again (an engine restarted before it saved the unpark): nothing more.
    let again = pair.event(PairEvent::SeatUnparked {
        role: W,
        text: "duet: go on".into(),
    });
    assert_eq!(again, vec![]);
    assert!(!pair.state.mailbox.is_parked(W));
}

#[test]
fn a_parked_seat_survives_the_saved_state() {
    let mut pair = Pair::default();
    pair.event(PairEvent::SeatParked { role: R });
    let json = serde_json::to_string(&pair.state).unwrap();
    let restored: PairState = serde_json::from_str(&json).unwrap();
    assert!(restored.mailbox.is_parked(R));
    assert!(!restored.mailbox.is_parked(W));
    // A state saved before parking existed reads as nothing parked.
    let mut old: serde_json::Value = serde_json::from_str(&json).unwrap();
    old["mailbox"].as_object_mut().unwrap().remove("parked");
    let restored: PairState = serde_json::from_value(old).unwrap();
    assert!(!restored.mailbox.is_parked(R));
}
