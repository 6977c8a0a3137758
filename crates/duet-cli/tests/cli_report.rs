//! `duet report TASK`: the handoff report built from a real store and a real task branch, with no
//! duet running: what changed, each finding and what became of it, CI, time; JSON; bad input.

mod common;

use std::path::{Path, PathBuf};

use common::TestEnvironment;
use duet_core::lifecycle::StateKind;
use duet_core::protocol::{Finding, Severity, Verdict};
use duet_store::{Event, NewEvent, Store};
use serde_json::Value;

const BACKLOG: &str = r#"
[[task]]
id = "greet"
title = "Add a greeting"
prompt = "Add greeting.txt."
"#;

/// 2026-01-01 00:00:00 UTC.
const T0: i64 = 1_767_225_600_000;

fn setup(env: &TestEnvironment) -> PathBuf {
    env.initialised_repo(BACKLOG)
}

/// The task branch with two commits (the first reviewed, the second approved); their shas.
fn task_branch(env: &TestEnvironment, repo: &Path) -> (String, String) {
    env.git(repo, &["checkout", "-q", "-b", "duet/greet"]);
    std::fs::write(repo.join("greeting.txt"), "hello\n").unwrap();
    env.git(repo, &["add", "greeting.txt"]);
    env.git(repo, &["commit", "-q", "-m", "greeting"]);
    let first = env.git(repo, &["rev-parse", "HEAD"]).trim().to_owned();
    std::fs::write(repo.join("greeting.txt"), "hello, world\nbye\n").unwrap();
    env.git(repo, &["commit", "-q", "-am", "greet the world"]);
    let second = env.git(repo, &["rev-parse", "HEAD"]).trim().to_owned();
    env.git(repo, &["checkout", "-q", "main"]);
    (first, second)
}

fn record(repo: &Path, first: &str, second: &str) {
    let mut store = Store::open(repo.join(".duet/state.db")).unwrap();
    let moved = |from, to| Event::TaskStateChanged {
        from,
        to,
        reason: None,
    };
    let finding = |text: &str| Finding {
        severity: Severity::Major,
        file: Some("greeting.txt".into()),
        line: Some(1),
        text: text.into(),
    };
    let events = [
        (0, Event::TaskQueued { title: None }),
        (1, moved(StateKind::Queued, StateKind::Preparing)),
        (2, moved(StateKind::Preparing, StateKind::Working)),
        (60, moved(StateKind::Working, StateKind::Reviewing)),
        (
            90,
            Event::ReviewSubmitted {
                round: 1,
                commit: Some(first.into()),
                verdict: Verdict::ChangesRequested,
                findings: vec![finding("greet the whole world")],
                verified: vec![],
                not_verified: vec![],
            },
        ),
        (91, moved(StateKind::Reviewing, StateKind::Working)),
        (
            150,
            Event::CiRunFinished {
                sha: second.into(),
                check: "ci".into(),
                status: "passed".into(),
                exit_code: Some(0),
                duration_ms: 4000,
                failing_tests: Vec::new(),
                log_path: None,
                summary: None,
            },
        ),
        (160, moved(StateKind::Working, StateKind::Reviewing)),
        (
            200,
            Event::ReviewSubmitted {
                round: 2,
                commit: Some(second.into()),
                verdict: Verdict::Approve,
                findings: Vec::new(),
                verified: vec!["cat greeting.txt: two lines".into()],
                not_verified: vec!["no test suite to run".into()],
            },
        ),
        (201, moved(StateKind::Reviewing, StateKind::Working)),
        (302, moved(StateKind::Working, StateKind::Done)),
    ];
    for (secs, event) in events {
        store
            .append(&NewEvent::for_task(T0 + secs * 1000, "greet", event))
            .unwrap();
    }
}

#[test]
fn the_report_says_what_changed_and_what_became_of_each_finding() {
    let env = TestEnvironment::default();
    let repo = setup(&env);
    let (first, second) = task_branch(&env, &repo);
    record(&repo, &first, &second);
    let out = env.duet(&repo, &["report", "greet"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let expected = format!(
        "\
# greet: Add a greeting

**done** · 2 review rounds · took 5 min 1 s

Branch `duet/greet` on `main`.

## What changed

1 file, +2 −0

| file | + | − |
| --- | ---: | ---: |
| `greeting.txt` | 2 | 0 |

## Review

### Round 1 on `{f}`: changes requested

- [major] greeting.txt:1: greet the whole world — *addressed in `{s}` (round 2)*

### Round 2 on `{s}`: approved

Verified: cat greeting.txt: two lines.

Not verified: no test suite to run.

No findings.

## CI

- passed `ci` at `{s}` (4 s)

## Messages (0)

",
        f = &first[..7],
        s = &second[..7]
    );
    assert_eq!(out.stdout, expected);

    let json = env.duet(&repo, &["report", "greet", "--json"]);
    assert_eq!(json.code, 0, "{}", json.stderr);
    let value: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(value["state"], "done");
    assert_eq!(value["files"][0]["path"], "greeting.txt");
    assert_eq!(
        value["rounds"][0]["findings"][0]["resolution"]["outcome"],
        "addressed"
    );
    assert_eq!(
        value["rounds"][0]["findings"][0]["resolution"]["commit"],
        second.as_str()
    );
}

#[test]
fn an_unknown_task_or_one_that_never_ran_is_a_clear_error() {
    let env = TestEnvironment::default();
    let repo = setup(&env);
    let unknown = env.duet(&repo, &["report", "gret"]);
    assert_eq!(unknown.code, 1);
    assert_eq!(
        unknown.stderr,
        "error: unknown task `gret`\nhint: did you mean `greet`?\n"
    );
    let never = env.duet(&repo, &["report", "greet"]);
    assert_eq!(never.code, 1);
    assert!(
        never
            .stderr
            .starts_with("error: task `greet` has not run yet"),
        "{}",
        never.stderr
    );
}
