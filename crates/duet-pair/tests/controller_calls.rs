//! A tool call the bridge sends again (same call id, a new connection, maybe a new daemon that
//! read the committed snapshot): the controller answers it as the first time and acts once.

use duet_core::config::AgentKind;
use duet_core::lifecycle::TaskState;
use duet_core::protocol::pair::PairConfig;
use duet_core::protocol::{CallId, PairState, Role, Timestamp, ToolCall, Verdict};
use duet_pair::{Action, Controller, GitFacts, Seat};
use duet_proto::{Request, RequestBody, Response, ResponseBody};
use duet_store::Event;

const BASE: &str = "1111111111111111111111111111111111111111";
const C1: &str = "2222222222222222222222222222222222222222";

fn controller() -> Controller {
    let state = PairState::new("t1", BASE, Timestamp(0), PairConfig::default());
    let mut c = Controller::new(
        state,
        Seat::new(Role::Worker, AgentKind::Claude, "claude", "worker-token"),
        Seat::new(Role::Reviewer, AgentKind::Codex, "codex", "reviewer-token"),
    );
    c.start(Timestamp(1));
    for token in ["worker-token", "reviewer-token"] {
        c.on_request(
            1,
            Request::from_agent(token, RequestBody::BridgeReady),
            None,
            Timestamp(2),
        );
    }
    c
}

/// The controller a restarted daemon builds from the committed snapshot.
fn restarted(c: &Controller) -> Controller {
    let state: PairState = serde_json::from_str(&serde_json::to_string(&c.state).unwrap()).unwrap();
    let seats: [Seat; 2] = serde_json::from_str(&serde_json::to_string(&c.seats).unwrap()).unwrap();
    let [worker, reviewer] = seats;
    Controller::new(state, worker, reviewer)
}

fn committed() -> GitFacts {
    GitFacts {
        head: C1.into(),
        clean: true,
        plan_on_branch: false,
    }
}

fn answer(actions: &[Action], conn: u64) -> (String, bool) {
    let found: Vec<_> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Respond {
                conn: c,
                response:
                    Response::Ok {
                        body: ResponseBody::ToolResult { text, is_error },
                    },
            } if *c == conn => Some((text.clone(), *is_error)),
            _ => None,
        })
        .collect();
    assert_eq!(found.len(), 1, "one answer for conn {conn}: {actions:#?}");
    found.into_iter().next().unwrap()
}

fn stored(actions: &[Action]) -> Vec<&Event> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Store(event) => Some(event),
            _ => None,
        })
        .collect()
}

#[test]
fn a_verdict_sent_again_after_a_restart_gets_the_same_answer_and_is_stored_once() {
    let mut c = controller();
    let review = Request::tool_call(
        "worker-token",
        CallId::new("w-1"),
        ToolCall::RequestReview {
            summary: "ready".into(),
        },
    );
    c.on_request(10, review, Some(&committed()), Timestamp(10));
    assert_eq!(c.state.task_state, TaskState::Reviewing);
    let submit = Request::tool_call(
        "reviewer-token",
        CallId::new("r-1"),
        ToolCall::SubmitReview {
            verdict: Verdict::Approve,
            findings: vec![],
            verified: vec!["read the diff".into()],
            not_verified: vec![],
        },
    );
    let first = c.on_request(11, submit.clone(), Some(&committed()), Timestamp(11));
    let first_answer = answer(&first, 11);
    assert!(!first_answer.1, "{first_answer:?}");
    assert!(
        stored(&first)
            .iter()
            .any(|e| matches!(e, Event::ReviewSubmitted { .. })),
        "{first:#?}"
    );

    // Committed, then the daemon died before answering; the bridge sends it again.
    let mut c = restarted(&c);
    let again = c.on_request(3, submit, Some(&committed()), Timestamp(20));
    assert_eq!(answer(&again, 3), first_answer);
    let events = stored(&again);
    assert_eq!(events.len(), 1, "only the note: {again:#?}");
    assert!(
        matches!(events[0], Event::Note { text } if text.contains("submit_review call r-1 came again")),
        "{events:?}"
    );
    assert!(
        !again.iter().any(|a| matches!(a, Action::Deliver { .. })),
        "the worker is not told twice: {again:#?}"
    );
    assert_eq!(c.state.round, 1);
}

#[test]
fn a_call_with_a_new_id_is_a_new_call() {
    let mut c = controller();
    let send = |id: &str| {
        Request::tool_call(
            "reviewer-token",
            CallId::new(id),
            ToolCall::SendMessage {
                text: format!("question {id}"),
            },
        )
    };
    answer(&c.on_request(5, send("a"), None, Timestamp(5)), 5);
    answer(&c.on_request(6, send("b"), None, Timestamp(6)), 6);
    answer(&c.on_request(7, send("a"), None, Timestamp(7)), 7);
    assert_eq!(c.state.mailbox.envelopes.len(), 2);
}
