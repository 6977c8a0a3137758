//! Nothing let in: an agent request acts only with the token of its own seat. For every tool,
//! hook and process report, no token, another pair's token and a stale token (the seat's before
//! its agent was restarted) are refused as unauthorized and change nothing; the other role's
//! token cannot use the role's own tools; no token shows in what is stored.

use duet_core::config::AgentKind;
use duet_core::protocol::pair::PairConfig;
use duet_core::protocol::{CallId, PairState, Role, Timestamp, ToolCall, Verdict};
use duet_pair::{Action, Controller, GitFacts, Seat};
use duet_proto::{ErrorKind, HookSource, Request, RequestBody, Response, ResponseBody};
use duet_store::Event;
use serde_json::json;

const BASE: &str = "1111111111111111111111111111111111111111";
const C1: &str = "2222222222222222222222222222222222222222";
const WORKER: &str = "worker-token-3f1c";
const REVIEWER: &str = "reviewer-token-9a7e";

fn controller() -> Controller {
    let state = PairState::new("t1", BASE, Timestamp(0), PairConfig::default());
    let mut c = Controller::new(
        state,
        Seat::new(Role::Worker, AgentKind::Claude, "claude", WORKER),
        Seat::new(Role::Reviewer, AgentKind::Codex, "codex", REVIEWER),
    );
    c.start(Timestamp(1));
    c
}

fn every_agent_request() -> Vec<RequestBody> {
    let tool = |call| RequestBody::ToolCall { call };
    let claude = |event: &str| RequestBody::Hook {
        source: HookSource::Claude,
        payload: json!({"session_id": "s1", "transcript_path": "/t", "cwd": "/w",
            "hook_event_name": event, "prompt": "hi", "tool_name": "Bash", "stop_hook_active": false}),
    };
    vec![
        tool(ToolCall::SendMessage { text: "hi".into() }),
        tool(ToolCall::RequestReview {
            summary: "ready".into(),
        }),
        tool(ToolCall::SubmitReview {
            verdict: Verdict::Approve,
            findings: vec![],
            verified: vec!["read the diff".into()],
            not_verified: vec![],
        }),
        tool(ToolCall::MarkDone {
            summary: "done".into(),
        }),
        tool(ToolCall::AskHuman {
            question: "why?".into(),
        }),
        tool(ToolCall::TaskStatus),
        claude("SessionStart"),
        claude("UserPromptSubmit"),
        claude("PreToolUse"),
        claude("PostToolUse"),
        claude("Stop"),
        RequestBody::Hook {
            source: HookSource::Codex,
            payload: json!({"type": "agent-turn-complete", "thread-id": "th", "turn-id": "u",
                "cwd": "/w", "input-messages": ["in a duet pair on task `t1`"], "last-assistant-message": "x"}),
        },
        RequestBody::ProcessStarted { pid: 42 },
        RequestBody::ProcessExited {
            code: Some(1),
            signal: None,
        },
        RequestBody::BridgeReady,
    ]
}

/// The controller's whole state, to see that nothing changed.
fn fingerprint(c: &Controller) -> String {
    format!(
        "{}{}",
        serde_json::to_string(&c.state).unwrap(),
        serde_json::to_string(&c.seats).unwrap()
    )
}

fn git() -> GitFacts {
    GitFacts {
        head: C1.into(),
        clean: true,
        plan_on_branch: false,
    }
}

fn assert_refused(c: &mut Controller, token: Option<&str>, what: &str) {
    for (n, body) in every_agent_request().into_iter().enumerate() {
        let before = fingerprint(c);
        let request = Request {
            token: token.map(str::to_owned),
            call_id: Some(CallId::new(format!("c{n}"))),
            ..Request::from_agent("", body.clone())
        };
        let actions = c.on_request(7, request, Some(&git()), Timestamp(10));
        assert_eq!(
            actions,
            vec![Action::Respond {
                conn: 7,
                response: Response::error(
                    ErrorKind::Unauthorized,
                    "unknown or missing agent token"
                ),
            }],
            "{what}: {body:?}"
        );
        assert_eq!(fingerprint(c), before, "{what} changed nothing: {body:?}");
    }
}

#[test]
fn no_token_another_pairs_token_and_a_stale_token_are_refused_for_every_request() {
    let mut c = controller();
    assert_refused(&mut c, None, "no token");
    assert_refused(&mut c, Some(""), "an empty token");
    assert_refused(
        &mut c,
        Some("token-of-another-pair"),
        "another pair's token",
    );
    // The worker's agent was restarted: its seat has a new token, the old one is stale.
    c.seats[0].token = "worker-token-new".into();
    assert_refused(&mut c, Some(WORKER), "the worker's stale token");
}

#[test]
fn the_other_roles_token_cannot_use_a_roles_own_tools_and_no_token_is_stored() {
    let mut c = controller();
    let cases = [
        (
            WORKER,
            ToolCall::SubmitReview {
                verdict: Verdict::Approve,
                findings: vec![],
                verified: vec!["read the diff".into()],
                not_verified: vec![],
            },
        ),
        (
            REVIEWER,
            ToolCall::RequestReview {
                summary: "ready".into(),
            },
        ),
        (
            REVIEWER,
            ToolCall::MarkDone {
                summary: "done".into(),
            },
        ),
    ];
    for (n, (token, call)) in cases.into_iter().enumerate() {
        let state_before = c.state.task_state.clone();
        let request = Request::tool_call(token, CallId::new(format!("r{n}")), call.clone());
        let actions = c.on_request(n as u64, request, Some(&git()), Timestamp(20));
        let answer = actions.iter().find_map(|a| match a {
            Action::Respond {
                response:
                    Response::Ok {
                        body: ResponseBody::ToolResult { text, is_error },
                    },
                ..
            } => Some((text.clone(), *is_error)),
            _ => None,
        });
        let (text, is_error) = answer.unwrap_or_else(|| panic!("{call:?}: {actions:#?}"));
        assert!(is_error, "{call:?}: {text}");
        assert!(text.contains("only the"), "{text}");
        assert_eq!(c.state.task_state, state_before, "{call:?}");
        for action in &actions {
            let stored = match action {
                Action::Store(event) => format!("{event:?}"),
                _ => continue,
            };
            assert!(
                !stored.contains(WORKER) && !stored.contains(REVIEWER),
                "no token in the store: {stored}"
            );
            assert!(
                !matches!(action, Action::Store(Event::ReviewSubmitted { .. })),
                "{actions:#?}"
            );
        }
    }
}
