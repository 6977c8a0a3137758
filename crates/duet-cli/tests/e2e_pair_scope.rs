//! `duet pair` end to end, the scope guard (`scope = { max_files = 1 }`), with the real `claude`
//! and `codex` CLIs: the worker's commit changes two files; duet tells both agents' models once
//! ("split it or ask") and the human (a note, and `duet pair`'s output); the reviewer's review
//! request carries the diff size at the commit under review; the guard flags, it does not
//! block: the task ends done.

mod common;
#[path = "common/e2e.rs"]
mod e2e;

use duet_store::Event;
use e2e::{PairWorld, Roles, describe, script};

const BACKLOG: &str = r#"
[[task]]
id = "greet"
title = "Add a greeting"
prompt = "Add greeting.txt that says hello."
scope = { max_files = 1 }
"#;

#[test]
fn a_branch_over_its_file_budget_is_flagged_to_both_agents_and_the_human_and_sized_for_review() {
    let Some(world) = PairWorld::start(
        "scope",
        script("pair_scope.toml"),
        Roles::ClaudeWorksCodexReviews,
        5,
    ) else {
        return;
    };
    std::fs::write(world.repo.join("backlog.toml"), BACKLOG).unwrap();
    let run = world.run_pair();
    world.assert_task_done(&run);
    // Off a terminal, `duet pair` tells the human on stderr.
    assert!(
        run.stderr.contains(": scope guard: the branch at") && !run.stderr.contains("needs you"),
        "the human is told, and not asked to answer\n{}",
        run.stderr
    );

    let log = world.server.log();
    for scope in ["worker", "reviewer"] {
        assert!(
            log.iter().any(|e| e.scope.as_deref() == Some(scope)
                && e.user_text.contains("duet's scope guard")
                && e.user_text.contains("2 files changed (budget 1)")),
            "the {scope}'s model was told\n{}",
            world.diagnostics()
        );
    }
    let request = log
        .iter()
        .find(|e| e.scope.as_deref() == Some("reviewer") && e.user_text.contains("(round 1 of"))
        .expect("the review request");
    assert!(
        request
            .user_text
            .contains("Diff against the base: 2 files, +2 -0 lines (budget: 1 files)."),
        "{}",
        request.user_text
    );

    let events = world.events();
    let flags = events
        .iter()
        .filter(|r| matches!(&r.event, Event::Note { text } if text.starts_with("scope guard:")))
        .count();
    assert_eq!(flags, 1, "{}", describe(&events));
    let told: Vec<&str> = events
        .iter()
        .filter_map(|r| match &r.event {
            Event::MessageAccepted { to, text, .. } if text.contains("duet's scope guard") => {
                Some(to.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(told, ["worker", "reviewer"], "once each");
}
