//! `duet pair` end to end, the TDD gate (`tdd = true`), with the real `claude` and `codex`
//! CLIs: the worker's test passes on the base too; once the reviewer approved, duet's TDD gate
//! says so to the worker's model as a finding; the worker makes the test check the change, the
//! gate passes and the task ends done. On the way the reviewer asks for one change, which the
//! worker makes in a commit of its own: the handoff report names that commit as the one that
//! addressed the finding (not the later commit the next round reviewed).

mod common;
#[path = "common/e2e.rs"]
mod e2e;

use duet_store::Event;
use e2e::{PairWorld, Roles, TASK, assert_messages_delivered_once, describe, script};

const BACKLOG: &str = r#"
[[task]]
id = "greet"
title = "Add a greeting"
prompt = "Add greeting.txt that says hello, with a test."
tdd = true
"#;

#[test]
fn a_test_that_passes_on_the_base_is_caught_then_fixed_and_the_report_says_what_addressed_each_finding()
 {
    let Some(world) = PairWorld::start(
        "tdd",
        script("pair_tdd.toml"),
        Roles::ClaudeWorksCodexReviews,
        5,
    ) else {
        return;
    };
    std::fs::write(world.repo.join("backlog.toml"), BACKLOG).unwrap();
    let config = std::fs::read_to_string(world.repo.join("duet.toml")).unwrap();
    let config = config.replacen(
        "[review]\n",
        "[review]\ntest_command = \"for t in tests/*.sh; do sh $t || exit 1; done\"\n",
        1,
    );
    std::fs::write(world.repo.join("duet.toml"), config).unwrap();
    let run = world.run_pair();
    world.assert_task_done(&run);
    assert!(run.stdout.contains("review rounds: 3"), "{}", run.stdout);
    assert_eq!(
        world.branch_log(),
        vec![
            "test the greeting",
            "say so in the README",
            "greet the world",
            "add greeting"
        ]
    );

    // The TDD gate's finding reached the worker's model, naming the test.
    let log = world.server.log();
    let finding = log
        .iter()
        .find(|e| e.user_text.contains("pass on the base too"))
        .unwrap_or_else(|| panic!("the TDD finding reached no model\n{}", world.diagnostics()));
    assert_eq!(finding.scope.as_deref(), Some("worker"));
    assert!(
        finding.user_text.contains(
            "the tests added or changed by this task (tests/greet.sh) pass on the base too"
        ),
        "{}",
        finding.user_text
    );
    assert!(
        log.iter()
            .any(|e| e.scope.as_deref() == Some("worker")
                && e.user_text.contains("`tdd` gate passed")),
        "the pass was told to the worker\n{}",
        world.diagnostics()
    );

    let events = world.events();
    let sha = |rev: &str| {
        world
            .env
            .git(&world.repo, &["rev-parse", rev])
            .trim()
            .to_owned()
    };
    let runs: Vec<(String, String)> = events
        .iter()
        .filter_map(|r| match &r.event {
            Event::CiRunFinished {
                check, status, sha, ..
            } if check == "tdd" => Some((sha.clone(), status.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        runs,
        vec![
            (sha(&format!("duet/{TASK}~1")), "failed".to_owned()),
            (sha(&format!("duet/{TASK}")), "passed".to_owned()),
        ],
        "{}",
        describe(&events)
    );
    assert_messages_delivered_once(&events);

    // The report: round 1's finding addressed by the commit that changed greeting.txt, the TDD
    // gate's failure and its pass.
    let fixed = sha(&format!("duet/{TASK}~2"));
    let report = std::fs::read_to_string(world.repo.join(format!(".duet/reports/{TASK}.md")))
        .expect("the finished task's report");
    assert!(
        report.contains(&format!(
            "- [major] greeting.txt:1: Say hello, world — *addressed in `{}` (round 2)*",
            &fixed[..7]
        )),
        "{report}"
    );
    assert!(report.contains("- failed `tdd` at `"), "{report}");
    assert!(report.contains("pass on the base too"), "{report}");
    assert!(report.contains("- passed `tdd` at `"), "{report}");
    let json = world.env.duet(&world.repo, &["report", TASK, "--json"]);
    let json: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        json["rounds"][0]["findings"][0]["resolution"],
        serde_json::json!({ "outcome": "addressed", "commit": fixed, "round": 2 }),
        "{json}"
    );
}
