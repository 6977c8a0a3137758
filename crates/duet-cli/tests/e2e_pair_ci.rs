//! CI on every commit, end to end with the real `claude` and `codex` CLIs: the worker's first
//! commit fails `ci.command`; the failure (with the failing test's name) reaches the worker
//! exactly once; it fixes and commits; CI passes and says so; the reviewer's review request
//! carries the CI state; the reviewer approves and the task ends done. Every run is stored.

mod common;
#[path = "common/e2e.rs"]
mod e2e;

use duet_store::Event;
use e2e::{PairWorld, Roles, script};

const CI: &str = "grep -q hello greeting.txt && echo 'test greet::says_hello ... ok' || { echo 'test greet::says_hello ... FAILED'; echo 'assertion failed: greeting says hello'; exit 1; }";

#[test]
fn a_failing_commit_is_told_once_then_fixed_passes_and_the_task_is_done() {
    let Some(world) = PairWorld::start(
        "ci",
        script("pair_ci.toml"),
        Roles::ClaudeWorksCodexReviews,
        5,
    ) else {
        return;
    };
    world.write_config(&format!(
        "base_branch = \"main\"\n\
         [roles]\nworker = \"claude\"\nreviewer = \"codex\"\n\
         [ci]\ncommand = \"{}\"\ntimeout = \"2m\"\n",
        CI.replace('\\', "\\\\").replace('"', "\\\"")
    ));
    let run = world.run_pair();
    world.assert_task_done(&run);
    assert_eq!(world.branch_log(), vec!["say hello", "add greeting"]);

    let log = world.server.log();
    // The failure reached the worker's model (later requests repeat it in their history).
    let failure = log
        .iter()
        .find(|e| e.user_text.contains("Failing tests (1): greet::says_hello"))
        .expect("the CI failure reached the worker");
    assert_eq!(failure.scope.as_deref(), Some("worker"));
    assert!(
        failure.user_text.contains("duet log greet --ci"),
        "{}",
        failure.user_text
    );
    // Exactly one such message was accepted for the worker, and it was delivered once.
    let events = world.events();
    let ids: Vec<String> = events
        .iter()
        .filter_map(|r| match &r.event {
            Event::MessageAccepted { id, to, text, .. }
                if to == "worker" && text.contains("Failing tests (1): greet::says_hello") =>
            {
                Some(id.clone())
            }
            _ => None,
        })
        .collect();
    assert_eq!(ids.len(), 1, "one CI failure message: {ids:?}");
    let delivered = events
        .iter()
        .filter(|r| matches!(&r.event, Event::MessageDelivered { id } if *id == ids[0]))
        .count();
    assert_eq!(delivered, 1);
    let review = log
        .iter()
        .find(|e| e.user_text.contains("(round 1 of"))
        .expect("review request");
    assert!(
        review.user_text.contains(": passed"),
        "{}",
        review.user_text
    );

    let runs: Vec<(String, String)> = world
        .events()
        .into_iter()
        .filter_map(|r| match r.event {
            Event::CiRunFinished {
                status,
                failing_tests,
                ..
            } => Some((status, failing_tests.join(","))),
            _ => None,
        })
        .collect();
    assert_eq!(
        runs,
        vec![
            ("failed".to_owned(), "greet::says_hello".to_owned()),
            ("passed".to_owned(), String::new())
        ]
    );
    let ci_log = world.env.duet(&world.repo, &["log", "greet", "--ci"]);
    assert!(
        ci_log.stdout.contains("failing: greet::says_hello"),
        "{}",
        ci_log.stdout
    );
}
