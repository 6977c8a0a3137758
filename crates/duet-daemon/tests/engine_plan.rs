//! The plan step through the engine: a committed PLAN.md is refused until it is dropped from
//! the branch (read with the request's git facts), the code review request quotes the approved
//! plan, and an engine killed during a plan review goes on after its restart.

mod engine_support;

use duet_core::lifecycle::StateKind;
use duet_core::protocol::plan::PLAN_OFF_BRANCH;
use duet_core::protocol::{ToolCall, Verdict};
use duet_proto::{Response, ResponseBody};
use duet_store::Event;
use engine_support::*;
use serde_json::json;

const PLAN: &str = "# Plan\n1. add a.txt\n2. test it\n";

fn plan_world() -> World {
    World::with_config(&["t"], "[review]\nplan = true\n")
}

fn tool_text(response: &Response) -> (String, bool) {
    match response {
        Response::Ok {
            body: ResponseBody::ToolResult { text, is_error },
        } => (text.clone(), *is_error),
        other => panic!("expected a tool result, got {other:?}"),
    }
}

/// The worker writes PLAN.md (untracked) and asks for its review; returns once the reviewer
/// was handed the plan and took it in.
fn ask_plan_review(world: &World, worker: &str, reviewer: &str) {
    std::fs::write(world.worktree("t").join("PLAN.md"), PLAN).unwrap();
    let answer = tool(
        world,
        worker,
        ToolCall::RequestPlanReview {
            summary: "the plan".into(),
            plan: String::new(),
        },
    );
    assert!(accepted(&answer), "{answer:?}");
    let request = typed(world, "t", true, "review the worker's plan");
    assert!(request.contains("> 1. add a.txt"), "{request}");
    world.agent(
        reviewer,
        hook("UserPromptSubmit", json!({"prompt": request})),
    );
}

fn approve(world: &World, reviewer: &str) -> Response {
    tool(
        world,
        reviewer,
        ToolCall::SubmitReview {
            verdict: Verdict::Approve,
            findings: Vec::new(),
            verified: vec!["read PLAN.md".into()],
            not_verified: vec![],
        },
    )
}

#[test]
fn a_committed_plan_is_refused_until_dropped_and_the_code_review_quotes_the_plan() {
    let world = plan_world();
    let _engine = world.start(false, None);
    let (worker, reviewer) = world.pair("t");
    let (w, r) = (token(&worker), token(&reviewer));
    settle(&world, &w);
    settle(&world, &r);
    ask_plan_review(&world, &w, &r);
    assert!(accepted(&approve(&world, &r)));
    world.agent(&r, hook("Stop", json!({"stop_hook_active": false})));
    typed(&world, "t", false, "plan approved");

    // The worker commits the plan with its code: not reviewed, and told why.
    world.commit("t", "a.txt");
    world.commit_text("t", "PLAN.md", PLAN);
    let review = || {
        tool(
            &world,
            &w,
            ToolCall::RequestReview {
                summary: "a.txt".into(),
            },
        )
    };
    let (text, is_error) = tool_text(&review());
    assert!(is_error && text.contains(PLAN_OFF_BRANCH), "{text}");
    assert_eq!(world.state("t"), Some(StateKind::Working));

    // Dropped from the branch, kept untracked: the review goes on, quoting the plan.
    world.git(&world.worktree("t"), &["rm", "-q", "--cached", "PLAN.md"]);
    world.git(
        &world.worktree("t"),
        &["commit", "-q", "-m", "drop the plan"],
    );
    assert!(world.worktree("t").join("PLAN.md").exists());
    let answer = review();
    assert!(accepted(&answer), "{answer:?}");
    let request = typed(&world, "t", true, "(round 1");
    assert!(
        request.contains("Check the code against the plan you approved")
            && request.contains("> 2. test it"),
        "{request}"
    );
}

#[test]
fn a_plan_review_cut_by_an_engine_kill_is_asked_again_and_applied_once() {
    let world = plan_world();
    let engine = world.start(false, None);
    let (worker, reviewer) = world.pair("t");
    let (w, r) = (token(&worker), token(&reviewer));
    settle(&world, &w);
    settle(&world, &r);
    ask_plan_review(&world, &w, &r);
    world.wait_state("t", StateKind::Reviewing);
    // The engine stops before the reviewer's verdict; the agents live on.
    engine.stop();

    let _engine = world.start(false, None);
    world.runtime.set_screen("❯ \n  ? for shortcuts");
    let again = typed(&world, "t", true, "duet was restarted while your review");
    assert!(
        again.contains("the worker's plan (plan round 1)"),
        "{again}"
    );
    world.agent(&r, hook("UserPromptSubmit", json!({"prompt": again})));
    assert!(accepted(&approve(&world, &r)));
    world.agent(&r, hook("Stop", json!({"stop_hook_active": false})));
    typed(&world, "t", false, "plan approved");
    world.wait_state("t", StateKind::Working);

    let events = world.events();
    assert_eq!(
        count(&events, |e| matches!(e, Event::PlanReviewed { .. })),
        1,
        "{}",
        describe(&events)
    );
    assert_eq!(
        world.runtime.pairs_started(),
        1,
        "adopted, not started again"
    );
    // Each message was handed over once: nothing delivered twice.
    let (worker, reviewer) = world.pair("t");
    let approvals = worker
        .typed
        .iter()
        .filter(|t| t.contains("plan approved"))
        .count();
    let asks = reviewer
        .typed
        .iter()
        .filter(|t| t.contains("review the worker's plan"))
        .count();
    assert_eq!(
        (approvals, asks),
        (1, 1),
        "{:?}\n{:?}",
        worker.typed,
        reviewer.typed
    );
    // A second verdict is not taken: no plan review waits.
    let (text, is_error) = tool_text(&approve(&world, &r));
    assert!(is_error, "{text}");
}
