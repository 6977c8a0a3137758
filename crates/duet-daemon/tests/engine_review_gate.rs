//! The confidence gate through the engine (in-memory agent runtime, see `engine_support`): an
//! approval that lists nothing verified is answered with a request to verify and stored as a
//! refusal, not a verdict; the reviewer's next approval, with what it verified, is stored with
//! both lists and the task goes on to done. `[review] require_verification = false` turns it off.

mod engine_support;

use duet_core::lifecycle::StateKind;
use duet_core::protocol::tools::VERIFY_FIRST;
use duet_core::protocol::{ToolCall, Verdict};
use duet_proto::{Response, ResponseBody};
use duet_store::Event;
use engine_support::*;
use serde_json::json;

fn approve(verified: &[&str]) -> ToolCall {
    ToolCall::SubmitReview {
        verdict: Verdict::Approve,
        findings: Vec::new(),
        verified: verified.iter().map(|s| s.to_string()).collect(),
        not_verified: vec!["did not run the benchmarks".into()],
    }
}

fn tool_text(response: &Response) -> (String, bool) {
    match response {
        Response::Ok {
            body: ResponseBody::ToolResult { text, is_error },
        } => (text.clone(), *is_error),
        other => panic!("not a tool result: {other:?}"),
    }
}

/// The worker commits and asks for review; the reviewer's turn starts with the request.
fn to_review(world: &World) -> (String, String) {
    let (worker, reviewer) = world.pair("t");
    let (w, r) = (token(&worker), token(&reviewer));
    settle(world, &w);
    settle(world, &r);
    world.commit("t", "a.txt");
    let answer = tool(
        world,
        &w,
        ToolCall::RequestReview {
            summary: "a".into(),
        },
    );
    assert!(accepted(&answer), "{answer:?}");
    let request = typed(world, "t", true, "(round 1 of");
    world.agent(&r, hook("UserPromptSubmit", json!({"prompt": request})));
    (w, r)
}

#[test]
fn an_approval_that_verified_nothing_is_refused_then_the_verified_one_is_stored() {
    let world = World::new(&["t"]);
    let engine = world.start(true, None);
    let (w, r) = to_review(&world);

    let (text, is_error) = tool_text(&tool(&world, &r, approve(&[])));
    assert!(is_error, "{text}");
    assert_eq!(text, format!("submit_review refused: {VERIFY_FIRST}"));
    assert_eq!(world.state("t"), Some(StateKind::Reviewing));
    let events = world.events();
    assert_eq!(
        count(&events, |e| matches!(e, Event::ReviewSubmitted { .. })),
        0,
        "{}",
        describe(&events)
    );
    assert_eq!(
        count(
            &events,
            |e| matches!(e, Event::Note { text } if text.contains(VERIFY_FIRST))
        ),
        1,
        "the refusal is in the log: {}",
        describe(&events)
    );

    let answer = tool(&world, &r, approve(&["cargo test: 2 passed", "read a.txt"]));
    assert!(accepted(&answer), "{answer:?}");
    world.agent(&r, hook("Stop", json!({"stop_hook_active": false})));
    let approved = typed(&world, "t", false, "approved");
    world.agent(&w, hook("UserPromptSubmit", json!({"prompt": approved})));
    let answer = tool(
        &world,
        &w,
        ToolCall::MarkDone {
            summary: "a".into(),
        },
    );
    assert!(accepted(&answer), "{answer:?}");
    let summary = engine.join();
    assert_eq!(summary.tasks[0].state, "merged");

    let reviews: Vec<_> = world
        .events()
        .into_iter()
        .filter_map(|record| match record.event {
            Event::ReviewSubmitted {
                round,
                verified,
                not_verified,
                ..
            } => Some((round, verified, not_verified)),
            _ => None,
        })
        .collect();
    assert_eq!(
        reviews,
        [(
            1,
            vec!["cargo test: 2 passed".to_owned(), "read a.txt".to_owned()],
            vec!["did not run the benchmarks".to_owned()],
        )]
    );
}

#[test]
fn with_require_verification_off_a_bare_approval_is_taken() {
    let world = World::with_config(&["t"], "[review]\nrequire_verification = false\n");
    let _engine = world.start(false, None);
    let (_, r) = to_review(&world);
    let (text, is_error) = tool_text(&tool(&world, &r, approve(&[])));
    assert!(!is_error, "{text}");
    world.wait_state("t", StateKind::Working);
}
