//! `duet log TASK`: a task's history read from a real store with no duet running: events in
//! order, the conversation with each message's fate, reviews with findings; JSON; bad task ids.

mod common;

use std::path::PathBuf;

use common::TestEnvironment;
use duet_core::lifecycle::StateKind;
use duet_core::protocol::Finding;
use duet_core::protocol::Verdict;
use duet_store::{Event, NewEvent, Store};
use serde_json::{Value, json};

const BACKLOG: &str = r#"
[[task]]
id = "greet"
title = "Add a greeting"
prompt = "Add greeting.txt."

[[task]]
id = "parser"
title = "Write the parser"
prompt = "Write it."
"#;

/// 2026-01-01 00:00:00 UTC.
const T0: i64 = 1_767_225_600_000;

fn setup(env: &TestEnvironment) -> PathBuf {
    env.initialised_repo(BACKLOG)
}

fn record_a_review_round(repo: &std::path::Path) {
    let mut store = Store::open(repo.join(".duet/state.db")).unwrap();
    let at = |secs: i64| T0 + secs * 1000;
    let events = [
        (
            0,
            Event::TaskQueued {
                title: Some("Add a greeting".into()),
            },
        ),
        (
            1,
            Event::TaskStateChanged {
                from: StateKind::Queued,
                to: StateKind::Working,
                reason: None,
            },
        ),
        (
            2,
            Event::AgentLaunched {
                role: "worker".into(),
                agent: "claude".into(),
                session_id: Some("s-1".into()),
            },
        ),
        (
            30,
            Event::MessageAccepted {
                id: "greet#1".into(),
                from: "worker".into(),
                to: "reviewer".into(),
                text: "Please review abc123.\nIt adds greeting.txt.".into(),
            },
        ),
        (
            31,
            Event::MessageDelivered {
                id: "greet#1".into(),
            },
        ),
        (
            40,
            Event::CommitSeen {
                sha: "abc1234567890def".into(),
            },
        ),
        (
            60,
            Event::ReviewSubmitted {
                commit: None,
                round: 1,
                verdict: Verdict::ChangesRequested,
                findings: vec![Finding {
                    severity: duet_core::protocol::Severity::Major,
                    file: Some("greeting.txt".into()),
                    line: Some(1),
                    text: "Say hello, world".into(),
                }],
                verified: vec![],
                not_verified: vec![],
            },
        ),
        (
            61,
            Event::MessageAccepted {
                id: "greet#2".into(),
                from: "reviewer".into(),
                to: "worker".into(),
                text: "thanks!".into(),
            },
        ),
        (
            62,
            Event::MessageSuppressed {
                id: "greet#2".into(),
                reason: "ping-pong echo".into(),
            },
        ),
        (
            63,
            Event::MessageAccepted {
                id: "greet#3".into(),
                from: "human".into(),
                to: "worker".into(),
                text: "keep it short".into(),
            },
        ),
        (
            3700,
            Event::TaskStateChanged {
                from: StateKind::Working,
                to: StateKind::NeedsHuman,
                reason: Some("the pair looks stuck".into()),
            },
        ),
    ];
    for (secs, event) in events {
        store
            .append(&NewEvent::for_task(at(secs), "greet", event))
            .unwrap();
    }
    // Another task's events stay out of this task's log.
    store
        .append(&NewEvent::for_task(
            at(5),
            "parser",
            Event::TaskQueued { title: None },
        ))
        .unwrap();
}

#[test]
fn log_shows_events_and_the_conversation_in_order() {
    let env = TestEnvironment::default();
    let repo = setup(&env);
    record_a_review_round(&repo);
    let out = env.duet(&repo, &["log", "greet"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    insta::assert_snapshot!(out.stdout, @r#"
    task greet

    events
      2026-01-01 00:00:00  task_queued         "Add a greeting"
      2026-01-01 00:00:01  task_state_changed  queued → working
      2026-01-01 00:00:02  agent_launched      worker: claude (session s-1)
      2026-01-01 00:00:30  message_accepted    greet#1 worker → reviewer: Please review abc123.…
      2026-01-01 00:00:31  message_delivered   greet#1
      2026-01-01 00:00:40  commit_seen         abc1234567
      2026-01-01 00:01:00  review_submitted    round 1: changes_requested, 1 finding
      2026-01-01 00:01:01  message_accepted    greet#2 reviewer → worker: thanks!
      2026-01-01 00:01:02  message_suppressed  greet#2: ping-pong echo
      2026-01-01 00:01:03  message_accepted    greet#3 human → worker: keep it short
      2026-01-01 01:01:40  task_state_changed  working → needs-human: the pair looks stuck

    conversation
      2026-01-01 00:00:30  worker → reviewer (greet#1, delivered 2026-01-01 00:00:31)
          Please review abc123.
          It adds greeting.txt.
      2026-01-01 00:01:00  review, round 1: changes_requested
          - [major] greeting.txt:1: Say hello, world
      2026-01-01 00:01:01  reviewer → worker (greet#2, suppressed: ping-pong echo)
          thanks!
      2026-01-01 00:01:03  human → worker (greet#3, not delivered yet)
          keep it short
    "#);
}

#[test]
fn log_json_has_every_event_and_the_conversation() {
    let env = TestEnvironment::default();
    let repo = setup(&env);
    record_a_review_round(&repo);
    let out = env.duet(&repo, &["log", "greet", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let log: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(log["task"], "greet");
    let events = log["events"].as_array().unwrap();
    assert_eq!(events.len(), 11, "parser's event is not in greet's log");
    assert_eq!(events[0]["kind"], "task_queued");
    assert_eq!(events[0]["at_ms"], T0);
    assert_eq!(events[0]["time"], "2026-01-01 00:00:00");
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let conversation = log["conversation"].as_array().unwrap();
    let kinds: Vec<&str> = conversation
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["message", "review", "message", "message"]);
    assert_eq!(conversation[0]["state"], "delivered");
    assert_eq!(conversation[1]["verdict"], "changes_requested");
    assert_eq!(
        conversation[1]["findings"],
        json!([{"severity": "major", "file": "greeting.txt", "line": 1, "text": "Say hello, world"}])
    );
    assert_eq!(conversation[2]["state"], "suppressed");
    assert_eq!(conversation[2]["reason"], "ping-pong echo");
    assert_eq!(conversation[3]["from"], "human");
    assert_eq!(conversation[3]["state"], "accepted");
}

#[test]
fn a_task_that_never_ran_has_an_empty_log_and_no_database_is_created() {
    let env = TestEnvironment::default();
    let repo = setup(&env);
    let out = env.duet(&repo, &["log", "parser"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "task parser\n\nevents\n  (none yet: the task has not run)\n\nconversation\n  (no messages yet)\n"
    );
    assert!(!repo.join(".duet/state.db").exists(), "log only reads");
}

#[test]
fn an_unknown_task_is_a_user_error_with_a_suggestion() {
    let env = TestEnvironment::default();
    let repo = setup(&env);
    record_a_review_round(&repo);
    let out = env.duet(&repo, &["log", "gret"]);
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr,
        "error: unknown task `gret`\nhint: did you mean `greet`?\n"
    );
    let out = env.duet(&repo, &["log", "zzz", "--json"]);
    assert_eq!(out.code, 1);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        "error: unknown task `zzz`\nhint: run `duet status` to list the tasks\n"
    );
}

#[test]
fn a_task_dropped_from_the_backlog_still_has_its_log() {
    let env = TestEnvironment::default();
    let repo = setup(&env);
    record_a_review_round(&repo);
    std::fs::write(
        repo.join("backlog.toml"),
        "[[task]]\nid = \"parser\"\ntitle = \"P\"\nprompt = \"p\"\n",
    )
    .unwrap();
    let out = env.duet(&repo, &["log", "greet"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("review, round 1: changes_requested"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_damaged_database_is_a_clear_error() {
    let env = TestEnvironment::default();
    let repo = setup(&env);
    std::fs::create_dir_all(repo.join(".duet")).unwrap();
    std::fs::write(repo.join(".duet/state.db"), "this is not sqlite").unwrap();
    let out = env.duet(&repo, &["log", "greet"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
    assert!(out.stderr.contains("state.db"), "{}", out.stderr);
}
