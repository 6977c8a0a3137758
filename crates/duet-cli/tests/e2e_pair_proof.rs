//! `duet pair` end to end, the proof gate (`proof = { command = ... }`), with the real `claude`
//! and `codex` CLIs: the reviewer approves the worker's first commit, duet runs the proof on
//! that HEAD itself, it fails and its output reaches the worker's model; the worker fixes and
//! commits, the reviewer approves again, the proof passes and the task ends done. The handoff
//! report shows the proof's output of both runs.

mod common;
#[path = "common/e2e.rs"]
mod e2e;

use duet_store::Event;
use e2e::{PairWorld, Roles, TASK, assert_messages_delivered_once, describe, script};

const BACKLOG: &str = r#"
[[task]]
id = "greet"
title = "Add a greeting"
prompt = "Add greeting.txt that says hello."
proof = { command = "printf 'proof: greeting.txt reads: '; cat greeting.txt; grep -q hello greeting.txt || exit 3" }
"#;

#[test]
fn a_failing_proof_sends_the_task_back_and_a_passing_one_lets_it_finish() {
    let Some(world) = PairWorld::start(
        "proof",
        script("pair_proof.toml"),
        Roles::ClaudeWorksCodexReviews,
        5,
    ) else {
        return;
    };
    std::fs::write(world.repo.join("backlog.toml"), BACKLOG).unwrap();
    let run = world.run_pair();
    world.assert_task_done(&run);
    assert!(run.stdout.contains("review rounds: 2"), "{}", run.stdout);
    assert_eq!(world.branch_log(), vec!["say hello", "add greeting"]);

    // The proof's failure, with what it printed (not in the command, which the brief and the
    // failure quote), reached the worker's model, and no other.
    let log = world.server.log();
    let failure = log
        .iter()
        .find(|e| e.user_text.contains("proof: greeting.txt reads: bye"))
        .unwrap_or_else(|| {
            panic!(
                "the proof's output reached no model\n{}",
                world.diagnostics()
            )
        });
    assert_eq!(failure.scope.as_deref(), Some("worker"));
    assert!(
        failure
            .user_text
            .contains("`proof` failed with exit code 3"),
        "{}",
        failure.user_text
    );
    assert!(
        log.iter()
            .any(|e| e.scope.as_deref() == Some("worker")
                && e.user_text.contains("`proof` gate passed")),
        "the pass was told to the worker\n{}",
        world.diagnostics()
    );

    // Both runs are stored, on the two approved commits, in order.
    let events = world.events();
    let runs: Vec<(String, String)> = events
        .iter()
        .filter_map(|r| match &r.event {
            Event::CiRunFinished {
                check, status, sha, ..
            } if check == "proof" => Some((sha.clone(), status.clone())),
            _ => None,
        })
        .collect();
    let head = |rev: &str| {
        world
            .env
            .git(&world.repo, &["rev-parse", rev])
            .trim()
            .to_owned()
    };
    assert_eq!(
        runs,
        vec![
            (head(&format!("duet/{TASK}~1")), "failed".to_owned()),
            (head(&format!("duet/{TASK}")), "passed".to_owned()),
        ],
        "{}",
        describe(&events)
    );
    assert_messages_delivered_once(&events);

    // The report shows both runs and what the proof printed each time.
    let report = std::fs::read_to_string(world.repo.join(format!(".duet/reports/{TASK}.md")))
        .expect("the finished task's report");
    assert!(report.contains("- failed `proof` at `"), "{report}");
    assert!(report.contains("- passed `proof` at `"), "{report}");
    assert!(report.contains("### Proof output at"), "{report}");
    assert!(
        report.contains("proof: greeting.txt reads: bye"),
        "{report}"
    );
    assert!(
        report.contains("proof: greeting.txt reads: hello"),
        "{report}"
    );
}
