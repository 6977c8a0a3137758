//! The pair state machine stopping for the human: max rounds, questions, loops (findings,
//! ping-pong, checks), idleness, permission waits, undeliverable messages, exits.

use std::time::Duration;

use duet_core::lifecycle::{PairPhase, TaskState};
use duet_core::protocol::delivery::{DeliveryConfig, Handover};
use duet_core::protocol::pair::PairConfig;
use duet_core::protocol::{
    Effect, Finding, Limits, MessageId, PairEvent, PairRecord, Sender, StallThresholds, ToolCall,
    Verdict,
};

mod protocol_support;
use protocol_support::*;

#[test]
fn max_rounds_without_approval_goes_to_the_human_with_the_open_findings() {
    let mut pair = Pair::default();
    for (round, commit) in [C1, C2, C3].into_iter().enumerate() {
        pair.commit(commit);
        pair.request_review().unwrap();
        pair.take_turn(R);
        let fx = pair.review(
            Verdict::ChangesRequested,
            vec![finding(&format!("problem {round}"))],
        );
        let questions = asked_human(&fx);
        if round < 2 {
            assert_eq!(questions, Vec::<String>::new(), "round {}", round + 1);
            pair.take_turn(W);
        } else {
            let reason = "no approval after 3 review rounds (max_rounds = 3); open findings: [major] src/a.rs:1: problem 2";
            assert_eq!(questions, [reason]);
            assert_eq!(
                pair.state.task_state,
                TaskState::needs_human(reason, PairPhase::Working)
            );
            assert_eq!(
                deliveries(&fx),
                vec![],
                "the pair is stopped: the findings wait"
            );
        }
    }
    // The human lets it go on: the answer and the waiting findings reach the worker.
    let fx = pair.event(PairEvent::HumanAnswered {
        text: "one more try".into(),
    });
    assert_eq!(pair.state.task_state, TaskState::Working);
    let delivered = deliveries(&fx);
    assert_eq!(delivered.len(), 1);
    let texts: Vec<_> = delivered[0]
        .1
        .iter()
        .map(|id| pair.text_of(*id).to_owned())
        .collect();
    assert!(texts[0].contains("problem 2"), "{texts:?}");
    assert_eq!(texts[1], "one more try");
}

#[test]
fn a_question_stops_the_pair_and_the_answer_goes_back_to_the_asker() {
    let mut pair = Pair::default();
    pair.commit(C1);
    pair.request_review().unwrap();
    pair.take_turn(R);
    let (fx, result) = pair.call(
        R,
        ToolCall::AskHuman {
            question: "is the API public?".into(),
        },
    );
    assert_eq!(
        result.unwrap(),
        "your question went to the human; the answer will come as a message"
    );
    assert!(fx.contains(&Effect::AskHuman {
        asker: Sender::Agent(R),
        question: "question from the reviewer: is the API public?".into()
    }));
    assert_eq!(pair.state.task_state.kind().as_str(), "needs-human");
    let refusal = pair
        .call(
            R,
            ToolCall::SubmitReview {
                verdict: Verdict::Approve,
                findings: vec![],
                verified: vec!["read the diff".into()],
                not_verified: vec![],
            },
        )
        .1
        .unwrap_err();
    assert_eq!(refusal.reasons, ["the task is needs-human, not reviewing"]);

    let fx = pair.event(PairEvent::HumanAnswered {
        text: "no, internal".into(),
    });
    assert_eq!(
        pair.state.task_state,
        TaskState::Reviewing,
        "back to where it was"
    );
    let (to, ids) = deliveries(&fx).remove(0);
    assert_eq!((to, pair.text_of(ids[0])), (R, "no, internal"));
    assert!(
        pair.event(PairEvent::HumanAnswered {
            text: "again".into()
        })
        .iter()
        .any(|e| matches!(e, Effect::Rejected(_)))
    );
}

#[test]
fn the_same_findings_round_after_round_is_a_loop() {
    let mut pair = Pair::new(PairConfig {
        limits: Limits {
            max_rounds: 10,
            ..Limits::default()
        },
        ..PairConfig::default()
    });
    for (index, commit) in [C1, C2, C3].into_iter().enumerate() {
        pair.commit(commit);
        pair.request_review().unwrap();
        pair.take_turn(R);
        // Same finding; its line moved, which does not make it new.
        let moved = Finding {
            line: Some(10 + index as u32),
            ..finding("still broken")
        };
        let fx = pair.review(Verdict::ChangesRequested, vec![moved]);
        assert_eq!(pair.state.same_findings_rounds, index as u32 + 1);
        if index < 2 {
            assert_eq!(pair.state.task_state, TaskState::Working);
            pair.take_turn(W);
        } else {
            assert_eq!(
                asked_human(&fx),
                ["the pair looks stuck: the same findings came back 3 rounds in a row"]
            );
        }
    }
}

#[test]
fn echoed_messages_are_suppressed_and_ping_pong_goes_to_the_human() {
    let mut pair = Pair::default();
    for (index, text) in ["let's go", "ok go", "go go"].into_iter().enumerate() {
        pair.ok(W, ToolCall::SendMessage { text: text.into() });
        pair.take_turn(R);
        let (fx, result) = pair.call(R, ToolCall::SendMessage { text: text.into() });
        let first = MessageId(index as u64 * 2 + 1);
        assert_eq!(
            result.unwrap(),
            format!(
                "message #{} not delivered: it echoes the message you received as {first}; say something new or get on with the work",
                first.0 + 1
            )
        );
        assert_eq!(deliveries(&fx), vec![]);
        if index < 2 {
            assert_eq!(pair.state.task_state, TaskState::Working);
        } else {
            assert_eq!(
                asked_human(&fx),
                ["the pair looks stuck: the agents echoed each other's messages 3 times"]
            );
        }
    }
    // An exact repeat is suppressed too, but is not a ping-pong.
    let mut pair = Pair::default();
    pair.ok(
        W,
        ToolCall::SendMessage {
            text: "hello".into(),
        },
    );
    let reply = pair.ok(
        W,
        ToolCall::SendMessage {
            text: "hello".into(),
        },
    );
    assert_eq!(
        reply,
        "message #2 not delivered: it repeats your message #1; say something new or get on with the work"
    );
    assert_eq!(pair.state.ping_pongs, 0);
}

#[test]
fn a_new_commit_resets_the_ping_pong_count() {
    let mut pair = Pair::default();
    pair.ok(W, ToolCall::SendMessage { text: "x".into() });
    pair.ok(R, ToolCall::SendMessage { text: "x".into() });
    assert_eq!(pair.state.ping_pongs, 1);
    pair.commit(C1);
    assert_eq!(pair.state.ping_pongs, 0);
}

#[test]
fn ticks_detect_idleness_and_long_permission_waits() {
    let config = PairConfig {
        stall: StallThresholds {
            idle_after: Duration::from_secs(600),
            permission_wait_after: Duration::from_secs(120),
            ..StallThresholds::default()
        },
        ..PairConfig::default()
    };
    let mut pair = Pair::new(config.clone());
    let last_progress = pair.now_secs;
    // Each event moves the clock one second on.
    pair.now_secs = last_progress + 598;
    assert_eq!(pair.event(PairEvent::Tick), vec![], "599 s idle");
    let fx = pair.event(PairEvent::Tick);
    assert!(
        matches!(fx[0], Effect::Record(PairRecord::StallDetected { .. })),
        "{fx:#?}"
    );
    assert_eq!(
        asked_human(&fx),
        ["the pair looks stuck: no progress for 10m00s"]
    );
    assert_eq!(
        pair.event(PairEvent::Tick),
        vec![],
        "already waiting for the human"
    );

    let mut pair = Pair::new(config);
    pair.event(PairEvent::PermissionRequested { role: R });
    let asked = pair.now_secs;
    pair.now_secs = asked + 118;
    assert_eq!(pair.event(PairEvent::Tick), vec![], "119 s waiting");
    let fx = pair.event(PairEvent::Tick);
    assert_eq!(
        asked_human(&fx),
        ["the pair looks stuck: the reviewer has waited for a permission answer for 2m00s"]
    );
    // The human answers: the wait is counted afresh, not re-escalated at once.
    pair.event(PairEvent::HumanAnswered {
        text: "approved it".into(),
    });
    assert_eq!(pair.event(PairEvent::Tick), vec![]);
}

#[test]
fn undeliverable_messages_are_retried_then_reported() {
    let config = PairConfig {
        delivery: DeliveryConfig {
            confirm_timeout: Duration::from_secs(60),
            max_attempts: 2,
            ..DeliveryConfig::default()
        },
        ..PairConfig::default()
    };
    let mut pair = Pair::new(config);
    pair.ok(
        W,
        ToolCall::SendMessage {
            text: "ping".into(),
        },
    );
    pair.now_secs += 60;
    let fx = pair.event(PairEvent::Tick);
    assert_eq!(deliveries(&fx), vec![(R, vec![MessageId(1)])], "sent again");
    assert!(fx.contains(&Effect::Record(PairRecord::MessageSent {
        id: MessageId(1),
        attempt: 2,
        via: Handover::Prompt
    })));
    pair.now_secs += 60;
    let fx = pair.event(PairEvent::Tick);
    assert!(fx.contains(&Effect::Record(PairRecord::MessageFailed {
        id: MessageId(1)
    })));
    assert_eq!(
        asked_human(&fx),
        ["message #1 to the reviewer was not taken after 2 attempts"]
    );
}

#[test]
fn an_agent_that_exits_stops_the_pair() {
    let mut pair = Pair::default();
    let fx = pair.event(PairEvent::AgentExited {
        role: W,
        code: Some(1),
    });
    assert_eq!(
        fx[0],
        Effect::Record(PairRecord::AgentExited {
            role: W,
            code: Some(1)
        })
    );
    assert_eq!(
        pair.state.task_state,
        TaskState::needs_human("the worker exited (exit code 1)", PairPhase::Working)
    );
}

#[test]
fn the_same_check_failing_again_and_again_is_a_loop() {
    let config = PairConfig {
        stall: StallThresholds {
            same_check_failures: 3,
            ..StallThresholds::default()
        },
        ..PairConfig::default()
    };
    let mut pair = Pair::new(config);
    let run = |pair: &mut Pair, check: &str, passed: bool| {
        pair.event(PairEvent::CheckFinished {
            check: check.into(),
            passed,
        })
    };
    run(&mut pair, "test", false);
    run(&mut pair, "test", false);
    run(&mut pair, "test", true);
    assert_eq!(pair.state.failing_check, None, "a pass ends the streak");
    run(&mut pair, "test", false);
    run(&mut pair, "lint", false);
    assert_eq!(
        pair.state.failing_check,
        Some(("lint".into(), 1)),
        "another check starts over"
    );
    run(&mut pair, "test", true);
    assert_eq!(
        pair.state.failing_check,
        Some(("lint".into(), 1)),
        "another check passing changes nothing"
    );
    assert!(run(&mut pair, "lint", false).is_empty());
    let fx = run(&mut pair, "lint", false);
    assert_eq!(
        asked_human(&fx),
        ["the pair looks stuck: check `lint` failed 3 times in a row"]
    );
}
