//! The controller's decisions, without tmux, git or a database: requests in, actions out.

use duet_core::config::AgentKind;
use duet_core::lifecycle::TaskState;
use duet_core::protocol::pair::PairConfig;
use duet_core::protocol::{MessageId, PairState, Role, Timestamp, ToolCall, Verdict};
use duet_pair::{Action, Controller, GitFacts, Seat};
use duet_proto::{ErrorKind, HookSource, Request, RequestBody, Response, ResponseBody};
use duet_store::Event;
use serde_json::json;

const BASE: &str = "1111111111111111111111111111111111111111";
const C1: &str = "2222222222222222222222222222222222222222";

fn controller(reviewer_kind: AgentKind) -> Controller {
    let state = PairState::new("t1", BASE, Timestamp(0), PairConfig::default());
    let mut c = Controller::new(
        state,
        Seat::new(Role::Worker, AgentKind::Claude, "claude", "worker-token"),
        Seat::new(Role::Reviewer, reviewer_kind, "codex", "reviewer-token"),
    );
    c.start(Timestamp(1));
    assert_eq!(c.state.task_state, TaskState::Working);
    c
}

fn agent(token: &str, body: RequestBody) -> Request {
    Request::from_agent(token, body)
}

fn claude_hook(event: &str, extra: serde_json::Value) -> RequestBody {
    let mut payload =
        json!({"session_id": "s1", "transcript_path": "/t", "cwd": "/w", "hook_event_name": event});
    payload
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    RequestBody::Hook {
        source: HookSource::Claude,
        payload,
    }
}

fn response_for(actions: &[Action], conn: u64) -> Response {
    let found: Vec<_> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Respond { conn: c, response } if *c == conn => Some(response.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected exactly one answer for conn {conn}: {actions:#?}"
    );
    found.into_iter().next().unwrap()
}

fn tool_result(actions: &[Action], conn: u64) -> (String, bool) {
    match response_for(actions, conn) {
        Response::Ok {
            body: ResponseBody::ToolResult { text, is_error },
        } => (text, is_error),
        other => panic!("expected a tool result, got {other:?}"),
    }
}

fn committed() -> GitFacts {
    GitFacts {
        head: C1.into(),
        clean: true,
        plan_on_branch: false,
    }
}

/// Makes both agents idle (started and at their prompt after their first turn).
fn both_idle(c: &mut Controller) {
    for (role, token) in [
        (Role::Worker, "worker-token"),
        (Role::Reviewer, "reviewer-token"),
    ] {
        c.on_request(
            90,
            agent(token, RequestBody::ProcessStarted { pid: 10 }),
            None,
            Timestamp(2),
        );
        c.on_request(
            89,
            agent(token, RequestBody::BridgeReady),
            None,
            Timestamp(2),
        );
        let _ = role;
    }
    c.on_request(
        91,
        agent(
            "worker-token",
            claude_hook("Stop", json!({"stop_hook_active": false})),
        ),
        None,
        Timestamp(3),
    );
    let notify = json!({"type": "agent-turn-complete", "thread-id": "th-1", "turn-id": "u1", "cwd": "/w",
        "input-messages": ["You are the REVIEWER in a duet pair on task `t1`"], "last-assistant-message": "ready"});
    c.on_request(
        92,
        agent(
            "reviewer-token",
            RequestBody::Hook {
                source: HookSource::Codex,
                payload: notify,
            },
        ),
        None,
        Timestamp(3),
    );
}

#[test]
fn a_start_reported_again_with_the_same_pid_is_taken_once() {
    let mut c = controller(AgentKind::Codex);
    let start = |c: &mut Controller, conn, pid| {
        c.on_request(
            conn,
            agent("worker-token", RequestBody::ProcessStarted { pid }),
            None,
            Timestamp(5),
        )
    };
    let launched = |actions: &[Action]| {
        actions
            .iter()
            .filter(|a| matches!(a, Action::Store(Event::AgentLaunched { .. })))
            .count()
    };
    assert_eq!(launched(&start(&mut c, 1, 41)), 1);
    // The wrapper's retry after a late answer: acknowledged, nothing else.
    assert_eq!(
        start(&mut c, 2, 41),
        vec![Action::Respond {
            conn: 2,
            response: Response::ok(ResponseBody::Ack)
        }]
    );
    // A new process in the seat (restarted) is a new start.
    assert_eq!(launched(&start(&mut c, 3, 42)), 1);
}

#[test]
fn requests_without_a_valid_token_or_version_are_refused() {
    let mut c = controller(AgentKind::Codex);
    let actions = c.on_request(
        1,
        agent("stolen", RequestBody::ProcessStarted { pid: 1 }),
        None,
        Timestamp(5),
    );
    assert_eq!(
        actions,
        vec![Action::Respond {
            conn: 1,
            response: Response::error(ErrorKind::Unauthorized, "unknown or missing agent token")
        }]
    );
    let mut no_token = agent(
        "x",
        RequestBody::ToolCall {
            call: ToolCall::TaskStatus,
        },
    );
    no_token.token = None;
    assert!(
        matches!(response_for(&c.on_request(2, no_token, None, Timestamp(5)), 2), Response::Error { error } if error.kind == ErrorKind::Unauthorized)
    );
    let mut old = agent(
        "worker-token",
        RequestBody::ToolCall {
            call: ToolCall::TaskStatus,
        },
    );
    old.version = 99;
    assert!(
        matches!(response_for(&c.on_request(3, old, None, Timestamp(5)), 3), Response::Error { error } if error.kind == ErrorKind::VersionMismatch)
    );
}

#[test]
fn review_request_is_stored_before_it_is_acknowledged_and_reaches_the_idle_reviewer() {
    let mut c = controller(AgentKind::Codex);
    both_idle(&mut c);
    let call = agent(
        "worker-token",
        RequestBody::ToolCall {
            call: ToolCall::RequestReview {
                summary: "added the flag".into(),
            },
        },
    );
    let actions = c.on_request(7, call, Some(&committed()), Timestamp(10));
    let (text, is_error) = tool_result(&actions, 7);
    assert!(!is_error, "{text}");
    let store_pos = actions.iter().position(|a| matches!(a, Action::Store(Event::Note { text }) if text.contains("review round 1 requested on 2222222")));
    let reply_pos = actions
        .iter()
        .position(|a| matches!(a, Action::Respond { conn: 7, .. }));
    assert!(
        store_pos.unwrap() < reply_pos.unwrap(),
        "the request must be stored before the answer: {actions:#?}"
    );
    let delivery = actions.iter().find_map(|a| match a {
        Action::Deliver {
            role: Role::Reviewer,
            text,
            ids,
        } => Some((text.clone(), ids.clone())),
        _ => None,
    });
    let (text, ids) = delivery.expect("the idle reviewer gets the request at once");
    assert!(
        text.starts_with(&format!("[duet message #{} from duet]", ids[0].0)),
        "{text}"
    );
    assert!(text.contains("2222222"), "{text}");
    assert_eq!(c.state.task_state, TaskState::Reviewing);
}

#[test]
fn role_rules_are_answered_as_tool_errors() {
    let mut c = controller(AgentKind::Codex);
    both_idle(&mut c);
    let review = ToolCall::SubmitReview {
        verdict: Verdict::Approve,
        findings: vec![],
        verified: vec!["read the diff".into()],
        not_verified: vec![],
    };
    let (text, is_error) = tool_result(
        &c.on_request(
            8,
            agent("worker-token", RequestBody::ToolCall { call: review }),
            None,
            Timestamp(10),
        ),
        8,
    );
    assert!(is_error);
    assert!(text.contains("submit_review"), "{text}");
    let done = ToolCall::MarkDone {
        summary: "done".into(),
    };
    let (text, is_error) = tool_result(
        &c.on_request(
            9,
            agent("worker-token", RequestBody::ToolCall { call: done }),
            Some(&committed()),
            Timestamp(11),
        ),
        9,
    );
    assert!(is_error);
    assert!(text.contains("not approved"), "{text}");
    assert_eq!(c.state.task_state, TaskState::Working);
}

#[test]
fn a_message_to_a_busy_claude_is_handed_over_at_its_stop_hook_and_confirmed_once() {
    let mut c = controller(AgentKind::Codex);
    both_idle(&mut c);
    // The worker starts a turn (UserPromptSubmit): it is busy.
    c.on_request(
        20,
        agent(
            "worker-token",
            claude_hook("UserPromptSubmit", json!({"prompt": "go on"})),
        ),
        None,
        Timestamp(20),
    );
    let send = ToolCall::SendMessage {
        text: "please also update the README".into(),
    };
    let actions = c.on_request(
        21,
        agent("reviewer-token", RequestBody::ToolCall { call: send }),
        None,
        Timestamp(21),
    );
    assert!(
        !actions.iter().any(|a| matches!(a, Action::Deliver { .. })),
        "never typed into a busy agent: {actions:#?}"
    );
    assert!(
        actions.iter().any(
            |a| matches!(a, Action::Store(Event::MessageAccepted { to, .. }) if to == "worker")
        )
    );

    let actions = c.on_request(
        22,
        agent(
            "worker-token",
            claude_hook("Stop", json!({"stop_hook_active": false})),
        ),
        None,
        Timestamp(22),
    );
    let Response::Ok {
        body: ResponseBody::HookReply {
            stdout: Some(stdout),
        },
    } = response_for(&actions, 22)
    else {
        panic!("the Stop hook must hand the message over: {actions:#?}");
    };
    let decision: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(decision["decision"], "block");
    assert!(
        decision["reason"]
            .as_str()
            .unwrap()
            .contains("please also update the README")
    );

    // claude goes on with it: its next sign of life confirms delivery, exactly once.
    let actions = c.on_request(
        23,
        agent(
            "worker-token",
            claude_hook("PreToolUse", json!({"tool_name": "Bash", "tool_input": {}})),
        ),
        None,
        Timestamp(23),
    );
    let delivered: Vec<_> = actions
        .iter()
        .filter(|a| matches!(a, Action::Store(Event::MessageDelivered { .. })))
        .collect();
    assert_eq!(delivered.len(), 1, "{actions:#?}");
    let actions = c.on_request(
        24,
        agent(
            "worker-token",
            claude_hook("Stop", json!({"stop_hook_active": true})),
        ),
        None,
        Timestamp(24),
    );
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::Store(Event::MessageDelivered { .. }))),
        "delivered twice: {actions:#?}"
    );
    assert_eq!(
        response_for(&actions, 24),
        Response::ok(ResponseBody::HookReply { stdout: None })
    );
}

#[test]
fn codex_title_turns_do_not_count_and_marked_turns_confirm_delivery() {
    let mut c = controller(AgentKind::Codex);
    both_idle(&mut c);
    let send = ToolCall::SendMessage {
        text: "is the flag name ok?".into(),
    };
    let actions = c.on_request(
        30,
        agent("worker-token", RequestBody::ToolCall { call: send }),
        None,
        Timestamp(30),
    );
    let ids: Vec<MessageId> = actions
        .iter()
        .find_map(|a| match a {
            Action::Deliver {
                role: Role::Reviewer,
                ids,
                ..
            } => Some(ids.clone()),
            _ => None,
        })
        .expect("the idle reviewer is typed to");

    let title = json!({"type": "agent-turn-complete", "thread-id": "other", "turn-id": "x", "cwd": "/w",
        "input-messages": ["Generate a title"], "last-assistant-message": "{\"title\":\"t\"}"});
    let actions = c.on_request(
        31,
        agent(
            "reviewer-token",
            RequestBody::Hook {
                source: HookSource::Codex,
                payload: title,
            },
        ),
        None,
        Timestamp(31),
    );
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::Store(Event::MessageDelivered { .. })))
    );

    let turn = json!({"type": "agent-turn-complete", "thread-id": "th-1", "turn-id": "u2", "cwd": "/w",
        "input-messages": [format!("[duet message #{} from the worker]\nis the flag name ok?", ids[0].0)], "last-assistant-message": "yes"});
    let actions = c.on_request(
        32,
        agent(
            "reviewer-token",
            RequestBody::Hook {
                source: HookSource::Codex,
                payload: turn,
            },
        ),
        None,
        Timestamp(32),
    );
    let delivered: Vec<_> = actions
        .iter()
        .filter(|a| matches!(a, Action::Store(Event::MessageDelivered { .. })))
        .collect();
    assert_eq!(delivered.len(), 1, "{actions:#?}");
    assert_eq!(c.seat(Role::Reviewer).session_id.as_deref(), Some("th-1"));
}

#[test]
fn human_requests_name_the_task() {
    let mut c = controller(AgentKind::Codex);
    let actions = c.on_request(
        40,
        Request::from_human(RequestBody::Say {
            task: "nope".into(),
            to: None,
            text: "hi".into(),
        }),
        None,
        Timestamp(40),
    );
    assert_eq!(
        response_for(&actions, 40),
        Response::error(ErrorKind::UnknownTask, "unknown task `nope`")
    );
    let actions = c.on_request(
        41,
        Request::from_human(RequestBody::Pause { task: "t1".into() }),
        None,
        Timestamp(41),
    );
    assert_eq!(response_for(&actions, 41), Response::ok(ResponseBody::Ack));
    assert!(matches!(c.state.task_state, TaskState::Paused { .. }));
    let actions = c.on_request(
        42,
        Request::from_human(RequestBody::Pause { task: "t1".into() }),
        None,
        Timestamp(42),
    );
    assert!(
        matches!(response_for(&actions, 42), Response::Error { error } if error.kind == ErrorKind::WrongState)
    );
    let actions = c.on_request(
        43,
        Request::from_human(RequestBody::Status { task: None }),
        None,
        Timestamp(43),
    );
    let Response::Ok {
        body: ResponseBody::Status { status },
    } = response_for(&actions, 43)
    else {
        panic!()
    };
    assert_eq!(status.tasks[0].id, "t1");
    assert!(status.tasks[0].running);
    assert_eq!(
        status.tasks[0].worker.kind,
        Some(duet_core::config::AgentKind::Claude)
    );
}

#[test]
fn an_agent_exit_is_recorded_and_escalated() {
    let mut c = controller(AgentKind::Codex);
    both_idle(&mut c);
    let actions = c.on_request(
        50,
        agent(
            "reviewer-token",
            RequestBody::ProcessExited {
                code: None,
                signal: Some(9),
            },
        ),
        None,
        Timestamp(50),
    );
    assert!(actions.iter().any(|a| matches!(a, Action::Store(Event::AgentExited { role, exit_code: Some(137) }) if role == "reviewer")), "{actions:#?}");
    assert!(
        matches!(c.state.task_state, TaskState::NeedsHuman { .. }),
        "{:?}",
        c.state.task_state
    );
}

/// Found by the e2e test with a codex worker: its `mark_done` ended the pair before codex's
/// notify confirmed the approval it was typed, so the store said "never delivered".
#[test]
fn a_bridge_call_from_an_agent_that_was_typed_to_confirms_what_it_was_typed() {
    let mut c = controller(AgentKind::Codex);
    both_idle(&mut c);
    let request = agent(
        "worker-token",
        RequestBody::ToolCall {
            call: ToolCall::RequestReview {
                summary: "added the flag".into(),
            },
        },
    );
    c.on_request(7, request, Some(&committed()), Timestamp(10));
    let verdict = agent(
        "reviewer-token",
        RequestBody::ToolCall {
            call: ToolCall::SubmitReview {
                verdict: Verdict::Approve,
                findings: Vec::new(),
                verified: vec!["read the diff".into()],
                not_verified: vec![],
            },
        },
    );
    let actions = c.on_request(8, verdict, Some(&committed()), Timestamp(11));
    let (text, is_error) = tool_result(&actions, 8);
    assert!(!is_error, "{text}");
    let delivered = actions
        .iter()
        .position(|a| matches!(a, Action::Store(Event::MessageDelivered { id }) if id == "t1#1"))
        .expect("the typed review request is delivered");
    let review = actions
        .iter()
        .position(|a| matches!(a, Action::Store(Event::ReviewSubmitted { .. })))
        .unwrap();
    assert!(delivered < review, "{actions:#?}");

    // Once only: a later call (or codex's notify) does not deliver it again.
    let status = agent(
        "reviewer-token",
        RequestBody::ToolCall {
            call: ToolCall::TaskStatus,
        },
    );
    let actions = c.on_request(9, status, None, Timestamp(12));
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::Store(Event::MessageDelivered { .. }))),
        "{actions:#?}"
    );
}

#[test]
fn a_bridge_call_from_a_busy_agent_confirms_nothing() {
    let mut c = controller(AgentKind::Codex);
    both_idle(&mut c);
    // The worker (claude) starts a turn of its own; a message to it waits for its Stop hook.
    c.on_request(
        20,
        agent(
            "worker-token",
            claude_hook("UserPromptSubmit", json!({"prompt": "go on"})),
        ),
        None,
        Timestamp(20),
    );
    let send = ToolCall::SendMessage {
        text: "use the short flag".into(),
    };
    c.on_request(
        21,
        agent("reviewer-token", RequestBody::ToolCall { call: send }),
        None,
        Timestamp(21),
    );
    let status = agent(
        "worker-token",
        RequestBody::ToolCall {
            call: ToolCall::TaskStatus,
        },
    );
    let actions = c.on_request(22, status, None, Timestamp(22));
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::Store(Event::MessageDelivered { .. }))),
        "{actions:#?}"
    );
}

#[test]
fn a_hook_sent_again_after_its_answer_was_lost_gets_the_same_answer_and_changes_nothing() {
    let mut c = controller(AgentKind::Codex);
    both_idle(&mut c);
    c.on_request(
        60,
        agent(
            "worker-token",
            claude_hook("UserPromptSubmit", json!({"prompt": "go on"})),
        ),
        None,
        Timestamp(60),
    );
    let send = ToolCall::SendMessage {
        text: "please also update the README".into(),
    };
    c.on_request(
        61,
        agent("reviewer-token", RequestBody::ToolCall { call: send }),
        None,
        Timestamp(61),
    );
    let stop = claude_hook(
        "Stop",
        json!({"stop_hook_active": false, "duet_request_id": "hook-1"}),
    );
    let first = c.on_request(62, agent("worker-token", stop.clone()), None, Timestamp(62));
    let handed = response_for(&first, 62);
    assert!(
        matches!(&handed, Response::Ok { body: ResponseBody::HookReply { stdout: Some(s) } } if s.contains("README")),
        "{first:#?}"
    );

    // The daemon stored that and died before answering; a new one adopts the pair from its
    // snapshot, and the hook, retried, comes again with the same id.
    let seats = serde_json::to_string(&c.seats).unwrap();
    let seats: [Seat; 2] = serde_json::from_str(&seats).unwrap();
    let [worker, reviewer] = seats;
    let mut adopted = Controller::new(c.state.clone(), worker, reviewer);
    let again = adopted.on_request(70, agent("worker-token", stop), None, Timestamp(70));
    assert_eq!(
        again,
        vec![Action::Respond {
            conn: 70,
            response: handed
        }]
    );

    // A new Stop (another id) after claude went on confirms the hand-over once.
    let next = claude_hook(
        "Stop",
        json!({"stop_hook_active": true, "duet_request_id": "hook-2"}),
    );
    let actions = adopted.on_request(71, agent("worker-token", next), None, Timestamp(71));
    let delivered = actions
        .iter()
        .filter(|a| matches!(a, Action::Store(Event::MessageDelivered { .. })))
        .count();
    assert_eq!(delivered, 1, "{actions:#?}");
}

#[test]
fn nothing_is_handed_to_an_agent_before_its_bridge_is_ready() {
    let mut c = controller(AgentKind::Codex);
    for token in ["worker-token", "reviewer-token"] {
        c.on_request(
            1,
            agent(token, RequestBody::ProcessStarted { pid: 10 }),
            None,
            Timestamp(2),
        );
    }
    c.on_request(
        2,
        agent("reviewer-token", RequestBody::BridgeReady),
        None,
        Timestamp(2),
    );
    // The worker (claude) ends its first turn before its MCP server is connected.
    let actions = c.on_request(
        3,
        agent(
            "worker-token",
            claude_hook("Stop", json!({"stop_hook_active": false})),
        ),
        None,
        Timestamp(3),
    );
    assert_eq!(
        response_for(&actions, 3),
        Response::ok(ResponseBody::HookReply { stdout: None })
    );
    let send = ToolCall::SendMessage {
        text: "look at the README first".into(),
    };
    let actions = c.on_request(
        4,
        agent("reviewer-token", RequestBody::ToolCall { call: send }),
        None,
        Timestamp(4),
    );
    assert!(
        !actions.iter().any(|a| matches!(a, Action::Deliver { .. })),
        "typed before the bridge was up: {actions:#?}"
    );

    // The bridge comes up: the waiting message goes out at once.
    let actions = c.on_request(
        5,
        agent("worker-token", RequestBody::BridgeReady),
        None,
        Timestamp(5),
    );
    let typed: Vec<_> = actions
        .iter()
        .filter(|a| {
            matches!(
                a,
                Action::Deliver {
                    role: Role::Worker,
                    ..
                }
            )
        })
        .collect();
    assert_eq!(typed.len(), 1, "{actions:#?}");
}

#[test]
fn a_bridge_that_never_reports_ready_is_given_up_on_after_a_grace_period() {
    let mut c = controller(AgentKind::Codex);
    c.on_request(
        1,
        agent("worker-token", RequestBody::ProcessStarted { pid: 10 }),
        None,
        Timestamp(0),
    );
    c.on_request(
        2,
        agent(
            "worker-token",
            claude_hook("Stop", json!({"stop_hook_active": false})),
        ),
        None,
        Timestamp(1_000),
    );
    let send = ToolCall::SendMessage {
        text: "hello".into(),
    };
    c.on_request(
        3,
        agent("reviewer-token", RequestBody::ToolCall { call: send }),
        None,
        Timestamp(1_000),
    );
    let early = c.on_tick(None, Timestamp(20_000));
    assert!(!early.iter().any(|a| matches!(a, Action::Deliver { .. })));
    let late = c.on_tick(None, Timestamp(31_001));
    assert!(
        late.iter().any(|a| matches!(
            a,
            Action::Deliver {
                role: Role::Worker,
                ..
            }
        )),
        "{late:#?}"
    );
    // The store says why the message went to an agent that may not have duet's tools.
    let notes: Vec<&str> = late
        .iter()
        .filter_map(|a| match a {
            Action::Store(Event::Note { text }) if text.contains("duet's tools") => {
                Some(text.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(notes.len(), 1, "{late:#?}");
    assert!(
        notes[0].starts_with("the worker has not listed duet's tools after 30s"),
        "{}",
        notes[0]
    );
    assert!(
        !early
            .iter()
            .any(|a| matches!(a, Action::Store(Event::Note { .. })))
    );
}

#[test]
fn a_late_pane_report_of_a_turn_start_does_not_make_an_idle_agent_busy() {
    let mut c = controller(AgentKind::Codex);
    both_idle(&mut c);
    let send = ToolCall::SendMessage {
        text: "is the flag name ok?".into(),
    };
    let actions = c.on_request(
        30,
        agent("worker-token", RequestBody::ToolCall { call: send }),
        None,
        Timestamp(30),
    );
    let ids: Vec<MessageId> = actions
        .iter()
        .find_map(|a| match a {
            Action::Deliver {
                role: Role::Reviewer,
                ids,
                ..
            } => Some(ids.clone()),
            _ => None,
        })
        .expect("typed to the idle reviewer");
    // codex's turn ends (notify, carrying the message) before the pane watcher reports.
    let turn = json!({"type": "agent-turn-complete", "thread-id": "th-1", "turn-id": "u2", "cwd": "/w",
        "input-messages": [format!("[duet message #{} from the worker]\nis the flag name ok?", ids[0].0)], "last-assistant-message": "yes"});
    c.on_request(
        31,
        agent(
            "reviewer-token",
            RequestBody::Hook {
                source: HookSource::Codex,
                payload: turn,
            },
        ),
        None,
        Timestamp(31),
    );
    assert!(c.is_idle(Role::Reviewer));
    // The late report changes nothing: the reviewer stays idle and gets the next message at once.
    assert!(
        c.on_turn_seen(Role::Reviewer, ids, Timestamp(32))
            .is_empty()
    );
    assert!(c.is_idle(Role::Reviewer));
    let send = ToolCall::SendMessage {
        text: "and the README?".into(),
    };
    let actions = c.on_request(
        33,
        agent("worker-token", RequestBody::ToolCall { call: send }),
        None,
        Timestamp(33),
    );
    assert!(
        actions.iter().any(|a| matches!(
            a,
            Action::Deliver {
                role: Role::Reviewer,
                ..
            }
        )),
        "{actions:#?}"
    );
}
