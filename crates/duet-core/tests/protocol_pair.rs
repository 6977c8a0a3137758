//! The pair state machine end to end: review rounds, mark_done, escalations, human control,
//! message routing and the order of effects.

use std::time::Duration;

use duet_core::lifecycle::{LifecycleEvent, PairPhase, Pausable, TaskState};
use duet_core::protocol::delivery::{DeliveryConfig, DeliveryStatus, Handover};
use duet_core::protocol::pair::PairConfig;
use duet_core::protocol::{
    Effect, Finding, Limits, MessageId, PairEvent, PairRecord, PairState, Refusal, RefusalKind,
    Role, Sender, Severity, StallThresholds, Timestamp, ToolCall, Verdict, handle,
};

const BASE: &str = "0000000aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const C1: &str = "abc1234bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const C2: &str = "def5678ccccccccccccccccccccccccccccccccc";
const C3: &str = "9999999ddddddddddddddddddddddddddddddddd";
const W: Role = Role::Worker;
const R: Role = Role::Reviewer;

/// A running pair with an injected clock (seconds) and a counter for call ids.
struct Pair {
    state: PairState,
    now_secs: u64,
    calls: u32,
}

impl Pair {
    fn new(config: PairConfig) -> Self {
        let mut pair = Pair {
            state: PairState::new("t1", BASE, Timestamp(0), config),
            now_secs: 0,
            calls: 0,
        };
        pair.control(LifecycleEvent::Start);
        pair.control(LifecycleEvent::Prepared);
        pair.event(PairEvent::TurnEnded { role: W });
        pair.event(PairEvent::TurnEnded { role: R });
        pair
    }

    fn default() -> Self {
        Pair::new(PairConfig {
            limits: Limits {
                max_rounds: 3,
                ..Limits::default()
            },
            ..PairConfig::default()
        })
    }

    fn now(&self) -> Timestamp {
        Timestamp(self.now_secs * 1000)
    }

    fn event(&mut self, event: PairEvent) -> Vec<Effect> {
        self.now_secs += 1;
        let now = self.now();
        handle(&mut self.state, event, now)
    }

    fn control(&mut self, event: LifecycleEvent) -> Vec<Effect> {
        self.event(PairEvent::Control { event })
    }

    /// Call a tool; returns all effects and the one reply.
    fn call(&mut self, role: Role, call: ToolCall) -> (Vec<Effect>, Result<String, Refusal>) {
        self.calls += 1;
        let call_id = format!("call-{}", self.calls);
        let fx = self.event(PairEvent::ToolCalled {
            call_id: call_id.clone(),
            role,
            call,
        });
        let replies: Vec<_> = fx
            .iter()
            .filter_map(|effect| match effect {
                Effect::Reply {
                    call_id: id,
                    result,
                } if *id == call_id => Some(result.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(replies.len(), 1, "exactly one reply per call: {fx:#?}");
        (fx, replies.into_iter().next().unwrap())
    }

    fn ok(&mut self, role: Role, call: ToolCall) -> String {
        let (_, result) = self.call(role, call);
        result.unwrap()
    }

    fn commit(&mut self, commit: &str) {
        self.event(PairEvent::CommitSeen {
            commit: commit.into(),
        });
    }

    fn request_review(&mut self) -> Result<String, Refusal> {
        self.call(
            W,
            ToolCall::RequestReview {
                summary: "ready".into(),
            },
        )
        .1
    }

    fn review(&mut self, verdict: Verdict, findings: Vec<Finding>) -> Vec<Effect> {
        let (fx, result) = self.call(R, ToolCall::SubmitReview { verdict, findings });
        result.unwrap();
        fx
    }

    fn mark_done(&mut self) -> Result<String, Refusal> {
        self.call(
            W,
            ToolCall::MarkDone {
                summary: "finished".into(),
            },
        )
        .1
    }

    /// The agent takes everything sent to it: its turn starts with it, then ends.
    fn take_turn(&mut self, role: Role) -> Vec<MessageId> {
        let carried = self
            .state
            .mailbox
            .ids_to(role, |status| matches!(status, DeliveryStatus::Sent { .. }));
        self.event(PairEvent::TurnStarted {
            role,
            carried: carried.clone(),
        });
        self.event(PairEvent::TurnEnded { role });
        carried
    }

    fn text_of(&self, id: MessageId) -> &str {
        &self.state.mailbox.get(id).unwrap().text
    }
}

fn finding(text: &str) -> Finding {
    Finding {
        severity: Severity::Major,
        file: Some("src/a.rs".into()),
        line: Some(1),
        text: text.into(),
    }
}

fn deliveries(fx: &[Effect]) -> Vec<(Role, Vec<MessageId>)> {
    fx.iter()
        .filter_map(|effect| match effect {
            Effect::Deliver { to, message_ids } => Some((*to, message_ids.clone())),
            _ => None,
        })
        .collect()
}

fn asked_human(fx: &[Effect]) -> Vec<String> {
    fx.iter()
        .filter_map(|effect| match effect {
            Effect::AskHuman { question, .. } => Some(question.clone()),
            _ => None,
        })
        .collect()
}

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
            "The reviewer requests changes on {C1} (round 1 of 3):\n1. [major] src/a.rs:1: off by one\n\
             Fix them, commit, and call request_review again."
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
        "The worker asks for a review of commit {C1} (round 1 of 3).\nReview the diff {BASE}..{C1} and call submit_review.\nSummary: ready"
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
                call_id: "call-1".into(),
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

#[test]
fn events_and_effects_round_trip_through_json() {
    let events = vec![
        PairEvent::ToolCalled {
            call_id: "c".into(),
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
