//! `duet pair` end to end: the real `claude` and `codex` CLIs in a real tmux session, against
//! the scripted fake model server, talking through duet's bridge and hooks.

mod common;
#[path = "common/e2e.rs"]
mod e2e;

use e2e::{PairWorld, Roles, assert_messages_delivered_once, script};

#[test]
fn claude_worker_and_codex_reviewer_finish_a_task_in_two_rounds() {
    let Some(world) = PairWorld::start(
        "claude-codex",
        script("pair_claude_worker_codex_reviewer.toml"),
        Roles::ClaudeWorksCodexReviews,
        5,
    ) else {
        return;
    };
    let run = world.run_pair();
    world.assert_task_done(&run);
    assert!(run.stdout.contains("review rounds: 2"), "{}", run.stdout);
    assert_eq!(world.branch_log(), vec!["greet the world", "add greeting"]);

    // The finding reached the worker as the reviewer wrote it.
    let log = world.server.log();
    let fix = log
        .iter()
        .find(|e| e.user_text.contains("Say hello, world"))
        .expect("finding delivered");
    assert_eq!(fix.scope.as_deref(), Some("worker"));

    assert_messages_delivered_once(&world.events());
    let status = world.env.duet(&world.repo, &["status", "--json"]);
    assert!(
        status.stdout.contains("\"state\": \"done\""),
        "{}",
        status.stdout
    );
}
