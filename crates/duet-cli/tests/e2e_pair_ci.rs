//! CI on every commit, end to end with the real `claude` and `codex` CLIs: the worker's first
//! commit fails `ci.command` (while it runs, `mark_done` is refused and `duet status` shows the
//! task checking); the failure (with the failing test's name) reaches the worker
//! exactly once; it fixes and commits; CI passes and says so; the reviewer's review request
//! carries the CI state; the reviewer approves and the task ends done. Every run is stored.

mod common;
#[path = "common/e2e.rs"]
mod e2e;

use duet_store::Event;
use e2e::{PairWorld, Roles, STEP_TIMEOUT, script};

/// The first run waits at a gate (the test opens it once `mark_done` was refused and `duet
/// status` showed the task checking); then the project's "test suite" runs.
const CI: &str = "while [ ! -e \"$GATE\" ]; do sleep 0.05; done; grep -q hello greeting.txt && echo 'test greet::says_hello ... ok' || { echo 'test greet::says_hello ... FAILED'; echo 'assertion failed: greeting says hello'; exit 1; }";

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
    let gate = world.env.root().join("ci-gate");
    world.write_config(&format!(
        "base_branch = \"main\"\n\
         [roles]\nworker = \"claude\"\nreviewer = \"codex\"\n\
         [ci]\ncommand = \"{}\"\ntimeout = \"2m\"\nenv = {{ GATE = \"{}\" }}\n",
        CI.replace('\\', "\\\\").replace('"', "\\\""),
        gate.display()
    ));
    let pair = world.spawn_pair();
    // While CI runs on the first commit: mark_done is refused, saying what it waits for, and
    // `duet status` shows the task checking.
    world.wait_for_events("mark_done refused while CI runs", STEP_TIMEOUT, |events| {
        events.iter().any(|r| {
            matches!(&r.event, Event::Note { text }
                if text.contains("mark_done refused") && text.contains("done needs CI: CI "))
        })
    });
    world.wait_for_events("duet status to show checking", STEP_TIMEOUT, |_| {
        let status = world.env.duet(&world.repo, &["status"]);
        status.stdout.contains("checking: CI running at")
            && status
                .stdout
                .lines()
                .next()
                .is_some_and(|l| l.contains(" CI "))
    });
    let json = world.env.duet(&world.repo, &["status", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(json["tasks"][0]["ci"]["state"], "running", "{json}");
    std::fs::write(&gate, "").unwrap();
    let run = world.finish(pair);
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
