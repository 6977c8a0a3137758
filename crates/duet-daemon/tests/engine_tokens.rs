//! Nothing let in, over the control socket of a running engine (memory runtime): for every
//! bridge tool, every claude hook, codex's notify and the process reports, no token, an empty
//! token, an unknown one, the other pair's and a stale one (the seat's before its agent was
//! restarted) cannot act for a pair; the other role's token cannot use a role's own tools; and
//! no token is ever in the stored events (what `duet log` shows).

mod engine_support;

use duet_core::protocol::{ToolCall, Verdict};
use duet_proto::{ErrorKind, HookSource, Request, RequestBody, Response, ResponseBody};
use engine_support::*;
use serde_json::json;

fn every_agent_request() -> Vec<RequestBody> {
    let tool = |call| RequestBody::ToolCall { call };
    let mut all = vec![
        tool(ToolCall::SendMessage { text: "hi".into() }),
        tool(ToolCall::RequestReview {
            summary: "ready".into(),
        }),
        tool(ToolCall::SubmitReview {
            verdict: Verdict::Approve,
            findings: vec![],
        }),
        tool(ToolCall::MarkDone {
            summary: "done".into(),
        }),
        tool(ToolCall::AskHuman {
            question: "why?".into(),
        }),
        tool(ToolCall::TaskStatus),
    ];
    for event in duet_agents::adapter::CLAUDE_HOOK_EVENTS {
        all.push(hook(
            event,
            json!({"prompt": "hi", "tool_name": "Bash", "stop_hook_active": false,
                "notification_type": "idle_prompt", "message": "m"}),
        ));
    }
    all.push(RequestBody::Hook {
        source: HookSource::Codex,
        payload: json!({"type": "agent-turn-complete", "thread-id": "th", "turn-id": "u",
            "cwd": "/w", "input-messages": ["in a duet pair on task `a`"], "last-assistant-message": "x"}),
    });
    all.extend([
        RequestBody::ProcessStarted { pid: 42 },
        RequestBody::ProcessExited {
            code: Some(1),
            signal: None,
        },
        RequestBody::BridgeReady,
    ]);
    all
}

fn unauthorized(response: &Response) -> bool {
    refused_with(response, ErrorKind::Unauthorized)
}

fn tool_refused(response: &Response) -> bool {
    matches!(
        response,
        Response::Ok {
            body: ResponseBody::ToolResult { is_error: true, .. }
        }
    )
}

#[test]
fn no_foreign_stale_or_missing_token_acts_and_no_token_is_stored() {
    let world = World::new(&["a", "b"]);
    let _engine = world.start(false, None);
    let (worker_a, reviewer_a) = world.pair("a");
    let (worker_b, reviewer_b) = world.pair("b");
    let stale = token(&worker_a);
    settle(&world, &stale);
    // The worker of `a` dies and is restarted: its old token is stale from now on.
    let answer = world.agent(
        &stale,
        RequestBody::ProcessExited {
            code: Some(137),
            signal: None,
        },
    );
    assert!(accepted(&answer), "{answer:?}");
    let (worker_a, _) = world.wait("the restart", || {
        world
            .runtime
            .pair(&world.pair_name("a"))
            .filter(|(w, _)| w.starts.len() == 2)
    });
    let (wa, ra) = (token(&worker_a), token(&reviewer_a));
    let (wb, rb) = (token(&worker_b), token(&reviewer_b));
    assert_ne!(wa, stale);

    let before = world.events().len();
    for body in every_agent_request() {
        for token in [None, Some(""), Some("not-a-token"), Some(stale.as_str())] {
            let request = Request {
                token: token.map(str::to_owned),
                ..Request::from_agent("", body.clone())
            };
            let answer = world.send(request).expect("the engine answers");
            assert!(unauthorized(&answer), "{token:?} {body:?}: {answer:?}");
        }
    }
    assert_eq!(
        world.events().len(),
        before,
        "a refused request changed nothing"
    );

    // The other pair's token acts for its own pair only: `a`'s events stay as they were.
    let a_events = |world: &World| {
        world
            .events()
            .into_iter()
            .filter(|r| r.task_id.as_deref() == Some("a"))
            .count()
    };
    let a_before = a_events(&world);
    for body in every_agent_request()
        .into_iter()
        .filter(|b| !matches!(b, RequestBody::ProcessExited { .. }))
    {
        world.agent(&wb, body);
    }
    assert_eq!(a_events(&world), a_before, "pair b's token acted on a");

    // The other role's token: a role's own tools are refused to the other seat.
    let r_review = tool(
        &world,
        &ra,
        ToolCall::RequestReview {
            summary: "x".into(),
        },
    );
    assert!(tool_refused(&r_review), "{r_review:?}");
    let r_done = tool(
        &world,
        &ra,
        ToolCall::MarkDone {
            summary: "x".into(),
        },
    );
    assert!(tool_refused(&r_done), "{r_done:?}");
    let w_verdict = tool(
        &world,
        &wa,
        ToolCall::SubmitReview {
            verdict: Verdict::Approve,
            findings: vec![],
        },
    );
    assert!(tool_refused(&w_verdict), "{w_verdict:?}");

    // No token in what is stored as the tasks' log.
    let stored = format!("{:?}", world.events());
    for token in [&wa, &ra, &wb, &rb, &stale] {
        assert!(!stored.contains(token.as_str()), "a token is in the events");
    }
}
