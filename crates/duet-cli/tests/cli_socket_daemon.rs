//! The human socket commands against a real `duet run` (the daemon) with stand-in agents and
//! one slot: the running task is driven through its pair, the queued one through the queue.

mod cli_socket_support;
mod common;

use cli_socket_support::{LiveDuet, assert_no_duet_running};
use common::TestEnvironment;
use duet_core::lifecycle::StateKind;
use duet_proto::{Response, ResponseBody};
use serde_json::Value;

const BACKLOG: &str = r#"
[[task]]
id = "greet"
title = "Add a greeting"
prompt = "Add greeting.txt."
priority = 5

[[task]]
id = "parser"
title = "Write the parser"
prompt = "Write it."
"#;

fn task(env: &TestEnvironment, duet: &LiveDuet, id: &str) -> Value {
    let out = env.duet(&duet.repo, &["status", id, "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let status: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(status["live"], true, "{}", out.stdout);
    status["tasks"][0].clone()
}

#[test]
fn human_commands_reach_the_daemons_pairs_and_queue() {
    let env = TestEnvironment::default();
    let mut duet = LiveDuet::start(&env, "daemon", BACKLOG, "max_parallel = 1", &["run"]);
    let repo = duet.repo.clone();

    // The queued task waits for the one slot, and says so.
    let parser = task(&env, &duet, "parser");
    assert_eq!(parser["state"], "queued");
    let waiting = parser["waiting"].as_array().unwrap();
    assert!(
        waiting
            .iter()
            .any(|w| w["reason"] == "no-free-slot" || w["reason"] == "waiting-for-slot"),
        "{parser}"
    );
    let out = env.duet(&repo, &["status"]);
    assert!(
        out.stdout.contains("(live from the running duet)"),
        "{}",
        out.stdout
    );

    // A queued task has no pair to talk to: the daemon's refusal comes through.
    let out = env.duet(&repo, &["say", "parser", "hello"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.starts_with(
            "error: cannot say something to task `parser`: it is queued and no pair is working on it\n"
        ),
        "{}",
        out.stderr
    );

    // The queue: pause, pause again (refused), resume.
    assert_eq!(env.duet(&repo, &["pause", "parser"]).code, 0);
    assert_eq!(task(&env, &duet, "parser")["state"], "paused");
    let out = env.duet(&repo, &["pause", "parser"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("it is paused"), "{}", out.stderr);
    assert_eq!(env.duet(&repo, &["resume", "parser"]).code, 0);
    assert_eq!(task(&env, &duet, "parser")["state"], "queued");

    // The subscription: a snapshot, then each change as it happens; a client that reconnects
    // from its last seq gets what it missed, and nothing twice.
    let client = duet_proto::Client::new(duet.socket(), std::time::Duration::from_secs(10));
    let mut subscription = client.subscribe(None).unwrap();
    let mut view = match subscription.recv().unwrap() {
        Response::Ok {
            body: ResponseBody::Status { status },
        } => status,
        other => panic!("expected a snapshot first, got {other:?}"),
    };
    assert!(view.live && view.seq > 0, "{view:?}");
    let parser_state = |view: &duet_proto::status::StatusSnapshot| {
        view.tasks.iter().find(|t| t.id == "parser").unwrap().state
    };
    assert_eq!(parser_state(&view), StateKind::Queued);
    assert_eq!(env.duet(&repo, &["pause", "parser"]).code, 0);
    while parser_state(&view) != StateKind::Paused {
        match subscription.recv().unwrap() {
            Response::Ok {
                body: ResponseBody::StatusChanged { changes },
            } => changes.into_iter().for_each(|c| view.apply(c)),
            other => panic!("expected changes, got {other:?}"),
        }
    }
    drop(subscription);
    let seen = view.seq;
    assert_eq!(env.duet(&repo, &["resume", "parser"]).code, 0);
    // The resume happened while no one listened; the catch-up (or the next change, when the
    // daemon publishes just after we ask) brings it, as changes after `seen`, not a snapshot.
    let mut subscription = client.subscribe(Some(seen)).unwrap();
    while parser_state(&view) != StateKind::Queued {
        match subscription.recv().unwrap() {
            Response::Ok {
                body: ResponseBody::StatusChanged { changes },
            } => {
                assert!(changes.iter().all(|c| c.seq > seen), "{changes:?}");
                changes.into_iter().for_each(|c| view.apply(c));
            }
            other => panic!("expected the missed changes, got {other:?}"),
        }
    }
    drop(subscription);

    // `duet status --watch` follows the same stream: one line now, one per change.
    let mut watch = env
        .duet_command()
        .current_dir(&repo)
        .args(["status", "--watch", "--json", "--count", "5"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(watch.stdout.take().unwrap()));
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first["live"], true);
    assert_eq!(env.duet(&repo, &["pause", "parser"]).code, 0);
    // Each further line is a change (another task's could come first): read until the pause.
    let parser_in = |look: &Value| {
        look["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == "parser")
            .unwrap()["state"]
            .clone()
    };
    let mut redraws = 0;
    while parser_in(&serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap()) != "paused" {
        redraws += 1;
        assert!(redraws < 4, "the pause never showed");
    }
    watch.kill().unwrap();
    watch.wait().unwrap();
    assert_eq!(env.duet(&repo, &["resume", "parser"]).code, 0);

    // The running pair: a message, a pause.
    let out = env.duet(&repo, &["say", "greet", "--to", "reviewer", "be strict"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(env.duet(&repo, &["pause", "greet"]).code, 0);
    assert_eq!(task(&env, &duet, "greet")["state"], "paused");

    // Unknown task, with a suggestion from the backlog.
    let out = env.duet(&repo, &["cancel", "parsr"]);
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr,
        "error: unknown task `parsr`\nhint: did you mean `parser`?\n"
    );
    let out = env.duet(&repo, &["status", "parsr"]);
    assert_eq!(out.code, 1);

    // Stop: the daemon ends; the store keeps what happened.
    let out = env.duet(&repo, &["stop"]);
    assert_eq!(out.code, 0, "{out:?}");
    let code = duet.wait_exit();
    assert!(
        code == 0 || code == 130,
        "duet run exited {code}\n{}",
        duet.output()
    );
    assert_no_duet_running(&env, &repo);
    let out = env.duet(&repo, &["log", "greet"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("human → reviewer"), "{}", out.stdout);
    assert!(out.stdout.contains("working → paused"), "{}", out.stdout);
}
