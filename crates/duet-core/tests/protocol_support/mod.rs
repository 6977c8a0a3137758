//! Shared helpers of the pair protocol tests: a running [`Pair`] with an injected clock.
#![allow(dead_code)] // each test binary uses a different part

use duet_core::lifecycle::LifecycleEvent;
use duet_core::protocol::delivery::DeliveryStatus;
use duet_core::protocol::pair::PairConfig;
use duet_core::protocol::{
    CallId, Effect, Finding, Limits, MessageId, PairEvent, PairState, Refusal, Role, Severity,
    Timestamp, ToolCall, Verdict, handle,
};

pub const BASE: &str = "0000000aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
pub const C1: &str = "abc1234bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
pub const C2: &str = "def5678ccccccccccccccccccccccccccccccccc";
pub const C3: &str = "9999999ddddddddddddddddddddddddddddddddd";
pub const W: Role = Role::Worker;
pub const R: Role = Role::Reviewer;

/// A running pair with an injected clock (seconds) and a counter for call ids.
pub struct Pair {
    pub state: PairState,
    pub now_secs: u64,
    calls: u32,
}

impl Pair {
    pub fn new(config: PairConfig) -> Self {
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

    pub fn default() -> Self {
        Pair::new(PairConfig {
            limits: Limits {
                max_rounds: 3,
                ..Limits::default()
            },
            ..PairConfig::default()
        })
    }

    pub fn now(&self) -> Timestamp {
        Timestamp(self.now_secs * 1000)
    }

    pub fn event(&mut self, event: PairEvent) -> Vec<Effect> {
        self.now_secs += 1;
        let now = self.now();
        handle(&mut self.state, event, now)
    }

    pub fn control(&mut self, event: LifecycleEvent) -> Vec<Effect> {
        self.event(PairEvent::Control { event })
    }

    /// Call a tool again with call id `n` (as a bridge retrying call number `n`).
    pub fn call_again(
        &mut self,
        n: u32,
        role: Role,
        call: ToolCall,
    ) -> (Vec<Effect>, Result<String, Refusal>) {
        let call_id = Some(CallId::new(format!("call-{n}")));
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

    /// How many calls were made so far (the id number of the last one).
    pub fn calls_made(&self) -> u32 {
        self.calls
    }

    /// Call a tool; returns all effects and the one reply.
    pub fn call(&mut self, role: Role, call: ToolCall) -> (Vec<Effect>, Result<String, Refusal>) {
        self.calls += 1;
        let n = self.calls;
        self.call_again(n, role, call)
    }

    pub fn ok(&mut self, role: Role, call: ToolCall) -> String {
        let (_, result) = self.call(role, call);
        result.unwrap()
    }

    pub fn commit(&mut self, commit: &str) {
        self.event(PairEvent::CommitSeen {
            commit: commit.into(),
        });
    }

    pub fn request_review(&mut self) -> Result<String, Refusal> {
        self.call(
            W,
            ToolCall::RequestReview {
                summary: "ready".into(),
            },
        )
        .1
    }

    pub fn review(&mut self, verdict: Verdict, findings: Vec<Finding>) -> Vec<Effect> {
        let (fx, result) = self.call(
            R,
            ToolCall::SubmitReview {
                verdict,
                findings,
                verified: vec!["read the diff".into()],
                not_verified: vec![],
            },
        );
        result.unwrap();
        fx
    }

    pub fn mark_done(&mut self) -> Result<String, Refusal> {
        self.call(
            W,
            ToolCall::MarkDone {
                summary: "finished".into(),
            },
        )
        .1
    }

    /// The agent takes everything sent to it: its turn starts with it, then ends.
    pub fn take_turn(&mut self, role: Role) -> Vec<MessageId> {
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

    pub fn text_of(&self, id: MessageId) -> &str {
        &self.state.mailbox.get(id).unwrap().text
    }
}

pub fn finding(text: &str) -> Finding {
    Finding {
        severity: Severity::Major,
        file: Some("src/a.rs".into()),
        line: Some(1),
        text: text.into(),
    }
}

pub fn deliveries(fx: &[Effect]) -> Vec<(Role, Vec<MessageId>)> {
    fx.iter()
        .filter_map(|effect| match effect {
            Effect::Deliver { to, message_ids } => Some((*to, message_ids.clone())),
            _ => None,
        })
        .collect()
}

pub fn asked_human(fx: &[Effect]) -> Vec<String> {
    fx.iter()
        .filter_map(|effect| match effect {
            Effect::AskHuman { question, .. } => Some(question.clone()),
            _ => None,
        })
        .collect()
}
