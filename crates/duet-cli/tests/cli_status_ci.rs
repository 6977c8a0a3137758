//! `duet status` with CI results in the store (no duet running): the CI column says how the last
//! check at the task's HEAD ended, with the count of failing tests, and `--json` has it per task.

mod common;

use common::TestEnvironment;
use duet_core::lifecycle::StateKind;
use duet_store::{Event, NewEvent, Store};

const BACKLOG: &str = r#"
[[task]]
id = "parser"
title = "Write the parser"
prompt = "Write it."

[[task]]
id = "printer"
title = "Pretty printer"
prompt = "Print it."
"#;

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

#[test]
fn the_ci_column_counts_the_failing_tests_of_the_stored_failure() {
    let env = TestEnvironment::default();
    let repo = env.repo_with_commit("repo");
    assert_eq!(env.duet(&repo, &["init"]).code, 0);
    std::fs::write(repo.join("backlog.toml"), BACKLOG).unwrap();
    {
        let mut store = Store::open(repo.join(".duet/state.db")).unwrap();
        let events = [
            Event::TaskQueued { title: None },
            Event::TaskStateChanged {
                from: StateKind::Queued,
                to: StateKind::Working,
                reason: None,
            },
            Event::CiRunFinished {
                sha: SHA.into(),
                check: "ci".into(),
                status: "failed".into(),
                exit_code: Some(101),
                duration_ms: 1200,
                failing_tests: vec!["parse::empty".into(), "parse::nested".into()],
                log_path: None,
                summary: Some("failed with exit code 101, 2 failing tests".into()),
            },
        ];
        for (at, event) in events.into_iter().enumerate() {
            store
                .append(&NewEvent::for_task(at as i64, "parser", event))
                .unwrap();
        }
    }
    let out = env.duet(&repo, &["status"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let header = out.stdout.lines().next().unwrap();
    assert!(header.contains("  CI  "), "{}", out.stdout);
    let parser = out
        .stdout
        .lines()
        .find(|l| l.starts_with("parser"))
        .unwrap();
    assert!(parser.contains("failed (2 tests)"), "{}", out.stdout);
    let printer = out
        .stdout
        .lines()
        .find(|l| l.starts_with("printer"))
        .unwrap();
    assert!(printer.contains("  -  "), "{}", out.stdout);

    let out = env.duet(&repo, &["status", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let ci = &json["tasks"][0]["ci"];
    assert_eq!(ci["state"], "failed", "{json}");
    assert_eq!(ci["sha"], SHA);
    let excerpt = ci["excerpt"].as_str().unwrap();
    assert!(
        excerpt.contains("`ci` failed with exit code 101, 2 failing tests"),
        "{excerpt}"
    );
    assert!(json["tasks"][1]["ci"].is_null());
}
