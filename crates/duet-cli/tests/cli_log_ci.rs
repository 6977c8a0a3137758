//! `duet log TASK --ci`: the CI runs of a task read from a real store with no duet running, and
//! the whole log of the last run; JSON.

mod common;

use common::TestEnvironment;
use duet_store::{Event, NewEvent, Store};
use serde_json::Value;

const BACKLOG: &str = "[[task]]\nid = \"greet\"\nprompt = \"Add greeting.txt.\"\n";
/// 2026-01-01 00:00:00 UTC.
const T0: i64 = 1_767_225_600_000;

#[test]
fn lists_the_runs_and_prints_the_last_log() {
    let env = TestEnvironment::default();
    let repo = env.repo_with_commit("repo");
    assert_eq!(env.duet(&repo, &["init"]).code, 0);
    std::fs::write(repo.join("backlog.toml"), BACKLOG).unwrap();

    let out = env.duet(&repo, &["log", "greet", "--ci"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "task greet: CI runs\n\n  (none yet)\n");

    std::fs::create_dir_all(repo.join(".duet/ci/greet")).unwrap();
    std::fs::write(
        repo.join(".duet/ci/greet/bbb.log"),
        "test calc::adds ... FAILED\nthe whole log\n",
    )
    .unwrap();
    let mut store = Store::open(repo.join(".duet/state.db")).unwrap();
    let finished =
        |sha: &str, status: &str, tests: Vec<String>, summary: &str| Event::CiRunFinished {
            sha: sha.into(),
            check: "ci".into(),
            status: status.into(),
            exit_code: None,
            duration_ms: 1500,
            failing_tests: tests,
            log_path: Some(format!(".duet/ci/greet/{sha}.log")),
            summary: Some(summary.into()),
        };
    for (secs, event) in [
        (0, Event::TaskQueued { title: None }),
        (
            10,
            Event::CiRunStarted {
                sha: "aaa".into(),
                check: "ci".into(),
                log_path: None,
            },
        ),
        (11, finished("aaa", "passed", vec![], "passed")),
        (
            20,
            Event::CiRunStarted {
                sha: "bbb".into(),
                check: "ci".into(),
                log_path: None,
            },
        ),
        (
            22,
            finished(
                "bbb",
                "failed",
                vec!["calc::adds".into()],
                "failed with exit code 101, 1 failing test",
            ),
        ),
        (
            30,
            Event::CiRunStarted {
                sha: "ccc".into(),
                check: "ci".into(),
                log_path: None,
            },
        ),
    ] {
        store
            .append(&NewEvent::for_task(T0 + secs * 1000, "greet", event))
            .unwrap();
    }
    drop(store);

    let out = env.duet(&repo, &["log", "greet", "--ci"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let log_path = repo.join(".duet/ci/greet/bbb.log");
    assert_eq!(
        out.stdout,
        format!(
            "task greet: CI runs\n\n\
             \x20 2026-01-01 00:00:11  aaa  ci  passed  (1.5s)\n\
             \x20     log: .duet/ci/greet/aaa.log\n\
             \x20 2026-01-01 00:00:22  bbb  ci  failed with exit code 101, 1 failing test  (1.5s)\n\
             \x20     failing: calc::adds\n\
             \x20     log: .duet/ci/greet/bbb.log\n\
             \x20 2026-01-01 00:00:30  ccc  ci  running\n\
             \nlog of the last run (bbb, ci): {}\n\
             test calc::adds ... FAILED\nthe whole log\n",
            log_path.display()
        )
    );

    let out = env.duet(&repo, &["log", "greet", "--ci", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["runs"].as_array().unwrap().len(), 2);
    assert_eq!(v["runs"][1]["failing_tests"][0], "calc::adds");
    assert_eq!(v["running"][0]["sha"], "ccc");
    assert_eq!(
        v["last_log"]["text"],
        "test calc::adds ... FAILED\nthe whole log\n"
    );
}
