//! Each seat's first prompt (the task brief) through the mailbox: queued at launch, handed over
//! alone once the agent is idle, kept in the (serialized) pair state, one per conversation, and
//! what decides whether a relaunched seat resumes its conversation.

use duet_core::lifecycle::LifecycleEvent;
use duet_core::protocol::delivery::{Brief, DeliveryStatus, Handover, TargetStatus};
use duet_core::protocol::pair::{PairConfig, PairRecord};
use duet_core::protocol::{
    Effect, MessageId, PairEvent, PairState, Role, Sender, Timestamp, ToolCall, handle,
};

const W: Role = Role::Worker;
const R: Role = Role::Reviewer;

struct Pair {
    state: PairState,
    secs: u64,
}

impl Pair {
    /// A pair that was started and whose agents were just launched with their briefs.
    fn launched() -> Self {
        let mut pair = Pair {
            state: PairState::new("t1", "base", Timestamp(0), PairConfig::default()),
            secs: 0,
        };
        pair.event(PairEvent::Control {
            event: LifecycleEvent::Start,
        });
        pair.event(PairEvent::Control {
            event: LifecycleEvent::Prepared,
        });
        for role in [W, R] {
            let fx = pair.event(PairEvent::Launched {
                role,
                first_prompt: Some(format!("You are the {role}")),
            });
            assert!(
                fx.iter().all(|e| !matches!(e, Effect::Deliver { .. })),
                "nothing is handed to an agent that is still starting: {fx:?}"
            );
        }
        pair
    }

    fn event(&mut self, event: PairEvent) -> Vec<Effect> {
        self.secs += 1;
        handle(&mut self.state, event, Timestamp(self.secs * 1000))
    }

    fn brief_id(&self, role: Role) -> MessageId {
        match self.state.mailbox.brief(role) {
            Brief::Message { id } => id,
            other => panic!("the {role}'s brief is {other:?}"),
        }
    }

    fn status(&self, id: MessageId) -> DeliveryStatus {
        self.state.mailbox.get(id).unwrap().status
    }
}

fn delivered(fx: &[Effect]) -> Vec<(Role, Vec<MessageId>)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Deliver { to, message_ids } => Some((*to, message_ids.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_launch_queues_the_brief_as_a_stored_message_from_duet() {
    let mut pair = Pair {
        state: PairState::new("t1", "base", Timestamp(0), PairConfig::default()),
        secs: 0,
    };
    assert_eq!(pair.state.mailbox.brief(W), Brief::NotGiven);
    assert!(!pair.state.conversation_started(W));
    let fx = pair.event(PairEvent::Launched {
        role: W,
        first_prompt: Some("You are the WORKER".into()),
    });
    assert_eq!(
        fx,
        vec![Effect::Record(PairRecord::MessageAccepted {
            id: MessageId(1),
            from: Sender::Duet,
            to: W,
            text: "You are the WORKER".into(),
        })]
    );
    assert_eq!(
        pair.state.mailbox.brief(W),
        Brief::Message { id: MessageId(1) }
    );
    assert_eq!(pair.status(MessageId(1)), DeliveryStatus::Pending);
    assert_eq!(pair.state.mailbox.target(W), TargetStatus::Starting);
}

#[test]
fn the_brief_goes_alone_when_the_agent_is_idle_and_what_came_meanwhile_follows() {
    let mut pair = Pair::launched();
    let brief = pair.brief_id(R);
    // The worker is quick: its message to the reviewer is queued behind the reviewer's brief.
    let fx = pair.event(PairEvent::DuetSays {
        to: R,
        text: "duet asks you to review abc".into(),
    });
    assert!(delivered(&fx).is_empty(), "the reviewer is still starting");
    let request = MessageId(3);

    let fx = pair.event(PairEvent::TurnEnded { role: R });
    assert_eq!(delivered(&fx), vec![(R, vec![brief])], "the brief alone");
    assert_eq!(pair.status(request), DeliveryStatus::Pending);

    // The brief's turn starts with it, then ends at the Stop hook: the request follows there.
    pair.event(PairEvent::TurnStarted {
        role: R,
        carried: vec![brief],
    });
    assert!(matches!(
        pair.status(brief),
        DeliveryStatus::Delivered { .. }
    ));
    assert!(pair.state.conversation_started(R));
    let fx = pair.event(PairEvent::StopHook {
        role: R,
        hook_id: "h1".into(),
    });
    assert!(fx.contains(&Effect::HandOver {
        hook_id: "h1".into(),
        to: R,
        message_ids: vec![request],
    }));
}

#[test]
fn a_brief_waiting_at_a_stop_hook_is_handed_over_alone_too() {
    let mut pair = Pair::launched();
    let brief = pair.brief_id(W);
    pair.event(PairEvent::HumanSays {
        to: W,
        text: "also add a test".into(),
    });
    let fx = pair.event(PairEvent::StopHook {
        role: W,
        hook_id: "h".into(),
    });
    assert!(fx.contains(&Effect::HandOver {
        hook_id: "h".into(),
        to: W,
        message_ids: vec![brief],
    }));
}

#[test]
fn the_brief_state_survives_the_snapshot() {
    let mut pair = Pair::launched();
    let brief = pair.brief_id(W);
    pair.event(PairEvent::TurnEnded { role: W });
    let json = serde_json::to_string(&pair.state).unwrap();
    let back: PairState = serde_json::from_str(&json).unwrap();
    assert_eq!(back, pair.state);
    assert_eq!(back.mailbox.brief(W), Brief::Message { id: brief });
    assert!(matches!(
        back.mailbox.get(brief).unwrap().status,
        DeliveryStatus::Sent {
            via: Handover::Prompt,
            ..
        }
    ));
}

#[test]
fn a_snapshot_from_before_briefs_were_tracked_had_them_on_the_command_line() {
    let mut pair = Pair::launched();
    let mut value = serde_json::to_value(&pair.state).unwrap();
    value["mailbox"].as_object_mut().unwrap().remove("briefs");
    pair.state = serde_json::from_value(value).unwrap();
    assert_eq!(pair.state.mailbox.brief(W), Brief::CommandLine);
    assert!(
        pair.state.conversation_started(W),
        "such a seat resumes its conversation, as before"
    );
    // Started afresh (its conversation unknown), it gets a brief of its own.
    pair.event(PairEvent::Launched {
        role: W,
        first_prompt: Some("You are the WORKER".into()),
    });
    assert!(matches!(pair.state.mailbox.brief(W), Brief::Message { .. }));
}

#[test]
fn relaunched_before_its_brief_was_taken_the_same_brief_is_kept_and_given_once() {
    let mut pair = Pair::launched();
    let brief = pair.brief_id(W);
    // Typed into the first process, which died before its turn started.
    let fx = pair.event(PairEvent::TurnEnded { role: W });
    assert_eq!(delivered(&fx), vec![(W, vec![brief])]);
    assert!(!pair.state.conversation_started(W), "nothing to resume");

    let fx = pair.event(PairEvent::Launched {
        role: W,
        first_prompt: Some("You are the WORKER".into()),
    });
    assert!(
        !fx.iter()
            .any(|e| matches!(e, Effect::Record(PairRecord::MessageAccepted { .. }))),
        "no second brief: {fx:?}"
    );
    assert_eq!(pair.brief_id(W), brief);
    assert_eq!(pair.status(brief), DeliveryStatus::Pending);
    assert_eq!(
        pair.state.mailbox.get(brief).unwrap().attempts,
        0,
        "the lost attempt does not count"
    );
    assert_eq!(pair.state.mailbox.target(W), TargetStatus::Starting);
    let fx = pair.event(PairEvent::TurnEnded { role: W });
    assert_eq!(delivered(&fx), vec![(W, vec![brief])]);
}

#[test]
fn a_new_conversation_after_the_brief_was_taken_gets_a_new_brief_and_a_resumed_one_none() {
    let mut pair = Pair::launched();
    let brief = pair.brief_id(W);
    pair.event(PairEvent::TurnEnded { role: W });
    pair.event(PairEvent::TurnStarted {
        role: W,
        carried: vec![brief],
    });
    // Resumed: the conversation has its brief; messages sent to the dead process come again.
    pair.event(PairEvent::TurnEnded { role: W });
    pair.event(PairEvent::HumanSays {
        to: W,
        text: "hello".into(),
    });
    let hello = MessageId(3);
    assert!(matches!(pair.status(hello), DeliveryStatus::Sent { .. }));
    let fx = pair.event(PairEvent::Launched {
        role: W,
        first_prompt: None,
    });
    assert!(fx.is_empty(), "{fx:?}");
    assert_eq!(pair.status(hello), DeliveryStatus::Pending);
    assert_eq!(pair.brief_id(W), brief);

    // A new conversation (a codex whose thread was never learnt): the brief again, as a new
    // message, since the old one is delivered to a conversation that is gone.
    let fx = pair.event(PairEvent::Launched {
        role: W,
        first_prompt: Some("You are the WORKER".into()),
    });
    let again = pair.brief_id(W);
    assert_ne!(again, brief);
    assert!(fx.contains(&Effect::Record(PairRecord::MessageAccepted {
        id: again,
        from: Sender::Duet,
        to: W,
        text: "You are the WORKER".into(),
    })));
    assert!(!pair.state.conversation_started(W));
}

#[test]
fn the_brief_is_not_suppressed_or_confused_with_agent_messages() {
    let mut pair = Pair::launched();
    pair.event(PairEvent::TurnEnded { role: W });
    pair.event(PairEvent::TurnStarted {
        role: W,
        carried: vec![pair.brief_id(W)],
    });
    // The worker's tool call still works as ever.
    let fx = pair.event(PairEvent::ToolCalled {
        call_id: Some(duet_core::protocol::CallId::new("c")),
        role: W,
        call: ToolCall::TaskStatus,
    });
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::Reply { result: Ok(_), .. }))
    );
}
