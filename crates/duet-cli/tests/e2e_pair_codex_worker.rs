//! `duet pair` end to end with the roles swapped: the real `codex` CLI works and the real
//! `claude` CLI reviews, in a real tmux session against the scripted fake model server.

mod common;
#[path = "common/e2e.rs"]
mod e2e;

use e2e::{PairWorld, Roles, assert_messages_delivered_once, script};

#[test]
fn codex_worker_and_claude_reviewer_finish_a_task_in_two_rounds() {
    let Some(world) = PairWorld::start(
        "codex-claude",
        script("pair_codex_worker_claude_reviewer.toml"),
        Roles::CodexWorksClaudeReviews,
        5,
    ) else {
        return;
    };
    let run = world.run_pair();
    world.assert_task_done(&run);
    assert!(run.stdout.contains("review rounds: 2"), "{}", run.stdout);
    assert_eq!(world.branch_log(), vec!["greet the world", "add greeting"]);

    let log = world.server.log();
    // codex (the worker) got the finding as the claude reviewer wrote it...
    let fix = log
        .iter()
        .find(|e| e.user_text.contains("Say hello, world"))
        .expect("finding delivered");
    assert_eq!(fix.scope.as_deref(), Some("worker"));
    // ...and claude (the reviewer) got each review request as a prompt of its own.
    for round in ["(round 1 of 5)", "(round 2 of 5)"] {
        let asks: Vec<_> = log
            .iter()
            .filter(|e| e.scope.as_deref() == Some("reviewer") && e.is_step())
            .filter(|e| e.user_text.contains(round) && e.tool_results.is_empty())
            .collect();
        assert_eq!(
            asks.len(),
            1,
            "review request {round} reached the reviewer once"
        );
    }

    assert_messages_delivered_once(&world.events());
    let status = world.env.duet(&world.repo, &["status", "--json"]);
    assert!(
        status.stdout.contains("\"state\": \"done\""),
        "{}",
        status.stdout
    );
}
