//! `duet status`: the backlog's tasks with their state, from no store and from a real store.

mod common;

use common::TestEnvironment;
use duet_store::{Event, NewEvent, Store};

const BACKLOG: &str = r#"
[[task]]
id = "parser"
title = "Write the parser"
prompt = "Write it."
priority = 5

[[task]]
id = "printer"
title = "Pretty printer"
prompt = "Print it."
depends_on = ["parser"]
worker = "codex"
reviewer = "claude"
"#;

fn setup(env: &TestEnvironment) -> std::path::PathBuf {
    env.initialised_repo(BACKLOG)
}

#[test]
fn without_a_store_every_task_is_queued() {
    let env = TestEnvironment::default();
    let repo = setup(&env);
    let out = env.duet(&repo, &["status"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    insta::assert_snapshot!(out.stdout, @r"
    TASK     STATE   PRI  PAIR          ROUND  TITLE / NOTE
    parser   queued  5    claude+codex  0      Write the parser
    printer  queued  0    codex+claude  0      Pretty printer (waiting for parser)

    2 tasks: 2 queued
    ");
    // Reading status never creates the database.
    assert!(!repo.join(".duet/state.db").exists());
}

#[test]
fn json_lists_every_task_with_its_fields() {
    let env = TestEnvironment::default();
    let repo = setup(&env);
    let out = env.duet(&repo, &["status", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let tasks = json["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2);
    assert_eq!(tasks[0]["id"], "parser");
    assert_eq!(tasks[0]["state"], "queued");
    assert_eq!(tasks[0]["branch"], "duet/parser");
    assert_eq!(json["live"], false);
    assert_eq!(json["version"], 1);
    assert_eq!(tasks[1]["waiting"][0]["reason"], "dependency");
    assert_eq!(tasks[1]["waiting"][0]["id"], "parser");
    assert_eq!(tasks[1]["worker"]["profile"], "codex");
    assert_eq!(tasks[1]["worker"]["kind"], "codex");
    assert_eq!(tasks[1]["worker"]["state"], "unknown");
    assert_eq!(tasks[0]["max_rounds"], 5);
    assert_eq!(tasks[0]["needs_human"], serde_json::Value::Null);
}

#[test]
fn states_come_from_the_store() {
    let env = TestEnvironment::default();
    let repo = setup(&env);
    {
        let mut store = Store::open(repo.join(".duet/state.db")).unwrap();
        store
            .append(&NewEvent::for_task(
                1,
                "parser",
                Event::TaskQueued {
                    title: Some("Write the parser".into()),
                },
            ))
            .unwrap();
        store
            .append(&NewEvent::for_task(
                2,
                "parser",
                Event::TaskStateChanged {
                    from: duet_core::lifecycle::StateKind::Queued,
                    to: duet_core::lifecycle::StateKind::Done,
                    reason: None,
                },
            ))
            .unwrap();
        store
            .append(&NewEvent::for_task(
                3,
                "old-task",
                Event::TaskQueued {
                    title: Some("Gone".into()),
                },
            ))
            .unwrap();
    }
    let out = env.duet(&repo, &["status", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let tasks = json["tasks"].as_array().unwrap();
    assert_eq!(tasks[0]["state"], "done");
    assert_eq!(tasks[1]["state"], "queued");
    // With the merge queue (merge.mode = "local", the default) a dependency must land first.
    assert_eq!(
        tasks[1]["waiting"],
        serde_json::json!([{"id": "parser", "reason": "dependency", "state": "done"}]),
        "parser is done but not merged: printer still waits for it"
    );
    assert_eq!(tasks[2]["id"], "old-task");
    assert_eq!(tasks[2]["in_backlog"], false);

    let out = env.duet(&repo, &["status", "parser"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let row: Vec<&str> = out
        .stdout
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(row[..2], ["parser", "done"], "{}", out.stdout);
    assert_eq!(
        out.stdout
            .lines()
            .filter(|l| l.starts_with("printer"))
            .count(),
        0
    );
}

#[test]
fn unknown_task_is_a_user_error_with_a_suggestion() {
    let env = TestEnvironment::default();
    let repo = setup(&env);
    let out = env.duet(&repo, &["status", "parsr"]);
    assert_eq!(out.code, 1);
    insta::assert_snapshot!(out.stderr, @r"
    error: unknown task `parsr`
    hint: did you mean `parser`?
    ");
}

#[test]
fn invalid_backlog_prints_diagnostics_and_exits_2() {
    let env = TestEnvironment::default();
    let repo = setup(&env);
    std::fs::write(
        repo.join("backlog.toml"),
        "[[task]]\nid = \"x\"\nprompt = \"p\"\ndepends_on = [\"nope\"]\n",
    )
    .unwrap();
    let out = env.duet(&repo, &["status"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("backlog.toml:4:"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("hint: run `duet validate` to see every problem"),
        "{}",
        out.stderr
    );
}

#[test]
fn status_without_duet_toml_points_to_init() {
    let env = TestEnvironment::default();
    let repo = env.repo_with_commit("repo");
    let out = env.duet(&repo, &["status"]);
    assert_eq!(out.code, 1);
    insta::assert_snapshot!(env.normalize(&out.stderr), @r"
    error: no duet.toml in $TEST/repo
    hint: run `duet init` to create duet.toml and backlog.toml
    ");
}

fn counts(
    input: u64,
    output: u64,
    cache_read: u64,
    cache_write: u64,
) -> duet_core::accounting::TokenCounts {
    duet_core::accounting::TokenCounts {
        input,
        output,
        cache_read,
        cache_write,
    }
}

#[test]
fn tokens_and_cost_show_per_task_and_for_the_run() {
    let env = TestEnvironment::default();
    let repo = setup(&env);
    {
        let mut store = Store::open(repo.join(".duet/state.db")).unwrap();
        let counted = |role: &str, record: &str, model: &str, c| Event::TokensCounted {
            role: role.into(),
            record: record.into(),
            usage: [(model.to_owned(), c)].into_iter().collect(),
        };
        let events = [
            Event::TaskQueued { title: None },
            // A record counted twice: the later count replaces the earlier.
            counted(
                "worker",
                "/w.jsonl",
                "claude-sonnet-4-5",
                counts(1, 1, 1, 1),
            ),
            counted(
                "worker",
                "/w.jsonl",
                "claude-sonnet-4-5",
                counts(10_000, 2_000, 100_000, 4_000),
            ),
            counted(
                "reviewer",
                "/r.jsonl",
                "gpt-5-codex",
                counts(20_000, 1_000, 0, 0),
            ),
        ];
        for (at, event) in events.into_iter().enumerate() {
            store
                .append(&NewEvent::for_task(at as i64, "parser", event))
                .unwrap();
        }
    }
    let out = env.duet(&repo, &["status"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // sonnet: 10k × $3 + 2k × $15 + 100k × $0.30 + 4k × $3.75 = $0.105; gpt-5: 20k × $1.25
    // + 1k × $10 = $0.035 (per million).
    let table: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        table[0],
        "TASK     STATE   PRI  PAIR          ROUND  IN/OUT/CACHE       COST   ACTIVE      TITLE / NOTE",
        "{}",
        out.stdout
    );
    assert!(
        table[1].contains("  30.0k/3.0k/104.0k  $0.14  "),
        "{}",
        out.stdout
    );
    assert!(
        table[2].contains("  0      -                  -      -  "),
        "{}",
        out.stdout
    );
    assert_eq!(
        table.last().copied(),
        Some("tokens: 30.0k in, 3.0k out, 100.0k cache read, 4.0k cache write; cost $0.14"),
        "{}",
        out.stdout
    );

    let json = env.duet(&repo, &["status", "--json"]);
    let value: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let tokens = &value["tasks"][0]["tokens"];
    assert_eq!(tokens["total"]["input"], 30_000);
    assert_eq!(tokens["total"]["cache_read"], 100_000);
    assert_eq!(tokens["worker"]["output"], 2_000);
    assert!(
        (tokens["usd"].as_f64().unwrap() - 0.14).abs() < 1e-9,
        "{tokens}"
    );
    assert!(
        value["tasks"][1].get("tokens").is_none(),
        "no counts: no field"
    );
}
