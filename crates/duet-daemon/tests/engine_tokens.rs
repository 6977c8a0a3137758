//! Nothing let in, over the control socket of a running engine (memory runtime): for every
//! bridge tool, every claude hook, codex's notify and the process reports, no token, an empty
//! token, an unknown one, the other pair's and a stale one (the seat's before its agent was
//! restarted) cannot act for a pair; the other role's token cannot use a role's own tools; and
//! no token is ever in the stored events (what `duet log` shows) nor in the engine's log (every
//! level, captured from its `tracing` output).

mod engine_support;

use duet_core::protocol::{ToolCall, Verdict};
use duet_proto::{ErrorKind, HookSource, Request, RequestBody, Response, ResponseBody};
use engine_support::*;
use serde_json::json;
use std::sync::{Arc, Mutex};

/// The engine's log lines at every level, captured for this test binary (its only test).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() -> Captured {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing_subscriber::filter::LevelFilter::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
    captured
}

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
fn no_foreign_stale_or_missing_token_acts_and_no_token_is_stored_or_logged() {
    let logs = capture_logs();
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
            verified: vec!["read the diff".into()],
            not_verified: vec![],
        },
    );
    assert!(tool_refused(&w_verdict), "{w_verdict:?}");

    // No token in what is stored as the tasks' log.
    let stored = format!("{:?}", world.events());
    let logged = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(
        logged.contains("refused an agent request with an unknown token"),
        "the log was captured: {logged}"
    );
    for token in [&wa, &ra, &wb, &rb, &stale] {
        assert!(!stored.contains(token.as_str()), "a token is in the events");
        assert!(!logged.contains(token.as_str()), "a token is in the log");
    }
}

fn stdout_of(response: &Response) -> Option<String> {
    match response {
        Response::Ok {
            body: ResponseBody::HookReply { stdout },
        } => stdout.clone(),
        other => panic!("expected a hook reply: {other:?}"),
    }
}

#[test]
fn a_hook_acts_for_its_own_seat_only() {
    let world = World::new(&["t"]);
    let _engine = world.start(false, None);
    let (worker, reviewer) = world.pair("t");
    let (w, r) = (token(&worker), token(&reviewer));
    settle(&world, &w);
    settle(&world, &r);
    // The reviewer is busy; the worker's message to it waits for its turn's end.
    world.agent(
        &r,
        hook("UserPromptSubmit", json!({"prompt": "looking around"})),
    );
    let answer = tool(
        &world,
        &w,
        ToolCall::SendMessage {
            text: "for the reviewer only".into(),
        },
    );
    assert!(accepted(&answer), "{answer:?}");
    // The worker's Stop hook does not take the reviewer's message.
    let mine = world.agent(&w, hook("Stop", json!({"stop_hook_active": false})));
    assert_eq!(stdout_of(&mine), None, "{mine:?}");
    // The reviewer's does.
    let theirs = world.agent(&r, hook("Stop", json!({"stop_hook_active": false})));
    let text = stdout_of(&theirs).expect("handed over");
    assert!(text.contains("for the reviewer only"), "{text}");
}

#[test]
fn a_finished_pairs_tokens_stay_refused_by_the_next_engine() {
    let world = World::new(&["t"]);
    let engine = world.start(false, None);
    let (worker, reviewer) = world.pair("t");
    let (w, r) = (token(&worker), token(&reviewer));
    work_to_done(&world, "t", "a.txt", || {});
    world.wait_state("t", duet_core::lifecycle::StateKind::Merged);
    engine.stop();

    let _engine = world.start(false, None);
    world.wait("the new engine", || world.socket_answers().then_some(()));
    let before = world.events().len();
    for body in every_agent_request() {
        for token in [&w, &r] {
            let answer = world.agent(token, body.clone());
            assert!(unauthorized(&answer), "{body:?}: {answer:?}");
        }
    }
    assert_eq!(
        world.events().len(),
        before,
        "a stale token changed nothing"
    );
}
