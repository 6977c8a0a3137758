//! duet's gates in the engine with the in-memory agent runtime (no tmux, no agent CLI): a real
//! git repository, store and gate commands run in throw-away checkouts, the test playing the
//! agents over the control socket. A failing proof goes back to the worker and holds
//! `mark_done`, a passing one lets the task finish; the TDD gate catches a test that passes on
//! the base; a branch over its scope budget is flagged once, and the review request carries
//! the diff size.

mod engine_support;

use duet_core::lifecycle::StateKind;
use duet_core::protocol::{ToolCall, Verdict};
use duet_proto::{Response, ResponseBody};
use duet_store::Event;
use engine_support::{World, accepted, count, end_turn, hook, settle, token, tool, typed};
use serde_json::json;

/// Done tasks wait for `duet merge` here: these tests are about the gates, not landing.
const CONFIG: &str = "[merge]\nauto = false\n[github]\nenabled = false\n";

fn refusal(response: &Response) -> String {
    match response {
        Response::Ok {
            body:
                ResponseBody::ToolResult {
                    is_error: true,
                    text,
                },
        } => text.clone(),
        other => panic!("not refused: {other:?}"),
    }
}

/// A message duet accepted for `to` containing `needle` (waited for).
fn wait_message(world: &World, to: &str, needle: &str) -> String {
    world.wait(&format!("{needle:?} for the {to}"), || {
        world.events().into_iter().find_map(|r| match r.event {
            Event::MessageAccepted { to: t, text, .. } if t == to && text.contains(needle) => {
                Some(text)
            }
            _ => None,
        })
    })
}

fn messages(world: &World, to: &str, needle: &str) -> usize {
    count(
        &world.events(),
        |e| matches!(e, Event::MessageAccepted { to: t, text, .. } if t == to && text.contains(needle)),
    )
}

/// The worker asks for review round `round`; the reviewer approves; returns the request text.
fn review_and_approve(world: &World, round: u32) -> String {
    let (worker, reviewer) = world.pair("t");
    let (w, r) = (token(&worker), token(&reviewer));
    // The worker is in a turn (it goes on working after the approval: the reviewer guard,
    // which checks only while the worker rests, stays out of the way of its next commit).
    world.agent(&w, hook("UserPromptSubmit", json!({ "prompt": "work" })));
    let answer = tool(
        world,
        &w,
        ToolCall::RequestReview {
            summary: format!("round {round}"),
        },
    );
    assert!(accepted(&answer), "{answer:?}");
    let request = typed(world, "t", true, &format!("(round {round} of"));
    world.agent(&r, hook("UserPromptSubmit", json!({ "prompt": request })));
    let answer = tool(
        world,
        &r,
        ToolCall::SubmitReview {
            verdict: Verdict::Approve,
            findings: Vec::new(),
            verified: vec!["read the diff".into()],
            not_verified: vec![],
        },
    );
    assert!(accepted(&answer), "{answer:?}");
    world.agent(&r, hook("Stop", json!({"stop_hook_active": false})));
    request
}

fn mark_done(world: &World) -> Response {
    let w = token(&world.pair("t").0);
    tool(
        world,
        &w,
        ToolCall::MarkDone {
            summary: "done".into(),
        },
    )
}

fn gate_runs(world: &World, check: &str) -> Vec<String> {
    world
        .events()
        .into_iter()
        .filter_map(|r| match r.event {
            Event::CiRunFinished {
                check: c, status, ..
            } if c == check => Some(status),
            _ => None,
        })
        .collect()
}

#[test]
fn a_failing_proof_goes_back_to_the_worker_and_a_passing_one_lets_the_task_finish() {
    let backlog = "[[task]]\nid = \"t\"\nprompt = \"Do t.\"\n\
        proof = { command = \"if [ -e proof.txt ]; then echo words counted; else echo 'proof: no words counted'; exit 3; fi\" }\n";
    let world = World::with_backlog(backlog, CONFIG);
    let engine = world.start(true, None);
    let (worker, reviewer) = world.pair("t");
    settle(&world, &token(&worker));
    settle(&world, &token(&reviewer));

    world.commit("t", "a.txt");
    review_and_approve(&world, 1);
    let failure = wait_message(&world, "worker", "`proof` failed with exit code 3");
    assert!(failure.contains("proof: no words counted"), "{failure}");
    let refused = refusal(&mark_done(&world));
    assert!(refused.contains("`proof` gate failed"), "{refused}");

    world.commit("t", "proof.txt");
    review_and_approve(&world, 2);
    wait_message(&world, "worker", "`proof` gate passed");
    let answer = mark_done(&world);
    assert!(accepted(&answer), "{answer:?}");
    let summary = engine.join();
    assert_eq!(
        summary.tasks[0].state, "ready",
        "done, waiting for `duet merge`"
    );
    assert_eq!(gate_runs(&world, "proof"), vec!["failed", "passed"]);
    assert_eq!(messages(&world, "worker", "`proof` failed"), 1, "said once");
    // The handoff report shows what the proof printed, the failing run and the passing one.
    let report = world.wait("t's report", || {
        std::fs::read_to_string(world.root.join(".duet/reports/t.md")).ok()
    });
    assert!(report.contains("- failed `proof` at `"), "{report}");
    assert!(report.contains("### Proof output at"), "{report}");
    assert!(report.contains("proof: no words counted"), "{report}");
    assert!(report.contains("words counted\n```"), "{report}");
}

#[test]
fn mark_done_waits_for_the_proof_while_it_runs() {
    let gate = tempfile::tempdir().unwrap();
    let release = gate.path().join("go");
    let backlog = format!(
        "[[task]]\nid = \"t\"\nprompt = \"Do t.\"\nproof = {{ command = \"while [ ! -e {} ]; do sleep 0.02; done\" }}\n",
        release.display()
    );
    let world = World::with_backlog(&backlog, CONFIG);
    let engine = world.start(true, None);
    let (worker, reviewer) = world.pair("t");
    settle(&world, &token(&worker));
    settle(&world, &token(&reviewer));
    world.commit("t", "a.txt");
    review_and_approve(&world, 1);
    let refused = refusal(&mark_done(&world));
    assert!(refused.contains("duet runs its `proof` gate"), "{refused}");
    std::fs::write(&release, "").unwrap();
    wait_message(&world, "worker", "`proof` gate passed");
    assert!(accepted(&mark_done(&world)));
    engine.join();
    assert_eq!(world.state("t"), Some(StateKind::Ready));
}

#[test]
fn the_tdd_gate_catches_a_test_that_passes_on_the_base() {
    let backlog = "[[task]]\nid = \"t\"\nprompt = \"Do t.\"\ntdd = true\n";
    let config = format!(
        "{CONFIG}[review]\ntest_command = \"for t in tests/*.sh; do sh $t || exit 1; done\"\n"
    );
    let world = World::with_backlog(backlog, &config);
    let engine = world.start(true, None);
    let (worker, reviewer) = world.pair("t");
    settle(&world, &token(&worker));
    settle(&world, &token(&reviewer));

    // A test that asserts nothing new: it passes on the base as well.
    std::fs::create_dir_all(world.worktree("t").join("tests")).unwrap();
    world.commit_text("t", "tests/words.sh", "true\n");
    review_and_approve(&world, 1);
    let finding = wait_message(&world, "worker", "pass on the base too");
    assert!(finding.contains("tests/words.sh"), "{finding}");
    let refused = refusal(&mark_done(&world));
    assert!(refused.contains("`tdd` gate failed"), "{refused}");

    // A real test: it fails without the change (no words.txt on the base), passes with it.
    world.commit_text("t", "words.txt", "words\n");
    world.commit_text("t", "tests/words.sh", "grep -q words words.txt\n");
    review_and_approve(&world, 2);
    wait_message(&world, "worker", "`tdd` gate passed");
    assert!(accepted(&mark_done(&world)));
    engine.join();
    assert_eq!(gate_runs(&world, "tdd"), vec!["failed", "passed"]);
}

#[test]
fn a_branch_over_its_scope_budget_is_flagged_once_and_the_review_request_carries_its_size() {
    let backlog = "[[task]]\nid = \"t\"\nprompt = \"Do t.\"\nscope = { max_files = 1 }\n";
    let world = World::with_backlog(backlog, &format!("{CONFIG}[scope]\nmax_lines = 100\n"));
    let engine = world.start(true, None);
    let (worker, reviewer) = world.pair("t");
    settle(&world, &token(&worker));
    settle(&world, &token(&reviewer));
    let is_flag = |e: &Event| matches!(e, Event::Note { text } if text.starts_with("scope guard:"));

    world.commit("t", "a.txt");
    world.commit("t", "b.txt");
    let to_worker = wait_message(&world, "worker", "scope guard");
    assert!(
        to_worker.contains("2 files changed (budget 1)"),
        "{to_worker}"
    );
    assert!(to_worker.contains("Split it"), "{to_worker}");
    wait_message(&world, "reviewer", "scope guard");
    // The reviewer takes the message in a turn of its own, and rests again.
    let r = token(&reviewer);
    let said = typed(&world, "t", true, "scope guard");
    world.agent(&r, hook("UserPromptSubmit", json!({ "prompt": said })));
    end_turn(&world, &r);
    // The review is asked for right after the commit: the request's own git read measures the
    // diff at the HEAD it reads (the commit watcher's measurement, off the loop, may come later).
    world.commit("t", "c.txt");
    let request = review_and_approve(&world, 1);
    assert!(
        request
            .contains("Diff against the base: 3 files, +3 -0 lines (budget: 1 files, 100 lines)."),
        "{request}"
    );
    assert!(
        accepted(&mark_done(&world)),
        "the scope guard flags, it does not block"
    );
    engine.join();
    assert_eq!(count(&world.events(), is_flag), 1, "flagged once");
    assert_eq!(messages(&world, "worker", "scope guard"), 1);
    assert_eq!(messages(&world, "reviewer", "scope guard"), 1);
}

#[test]
fn a_proof_run_cut_off_by_an_engine_stop_runs_again_after_the_restart_and_counts_once() {
    let dir = tempfile::tempdir().unwrap();
    let (runs, go) = (dir.path().join("runs"), dir.path().join("go"));
    let backlog = format!(
        "[[task]]\nid = \"t\"\nprompt = \"Do t.\"\nproof = {{ command = \"echo run >> {}; while [ ! -e {} ]; do sleep 0.02; done; echo proved\" }}\n",
        runs.display(),
        go.display()
    );
    let world = World::with_backlog(&backlog, CONFIG);
    let started = |n: usize| {
        world.wait(&format!("proof run {n} started"), || {
            let text = std::fs::read_to_string(&runs).unwrap_or_default();
            (text.lines().count() >= n).then_some(())
        })
    };
    let engine = world.start(true, None);
    let (worker, reviewer) = world.pair("t");
    settle(&world, &token(&worker));
    settle(&world, &token(&reviewer));
    world.commit("t", "a.txt");
    review_and_approve(&world, 1);
    started(1);
    assert!(engine.stop().interrupted);

    // The adopted pair's proof starts again; its result is applied once.
    let engine = world.start(true, None);
    started(2);
    std::fs::write(&go, "").unwrap();
    wait_message(&world, "worker", "`proof` gate passed");
    assert!(accepted(&mark_done(&world)));
    engine.join();
    let passed = gate_runs(&world, "proof")
        .into_iter()
        .filter(|s| s == "passed")
        .count();
    assert_eq!(passed, 1, "{:?}", gate_runs(&world, "proof"));
    assert_eq!(messages(&world, "worker", "`proof` gate passed"), 1);
    assert_eq!(world.state("t"), Some(StateKind::Ready));
}
