//! The human socket commands against a real `duet pair`: its control socket, its tmux session,
//! its store. The agents are stand-ins (a shell script that records its token and waits), so the
//! pair stays alive while the test drives it; the test plays the worker's bridge when it needs
//! the worker to ask the human.

mod cli_socket_support;
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use cli_socket_support::{LiveDuet, assert_no_duet_running};
use common::{RunOutput, TestEnvironment};
use duet_core::protocol::ToolCall;
use duet_proto::{Client, Request, RequestBody, Response, ResponseBody};
use serde_json::{Value, json};

const BACKLOG: &str = r#"
[[task]]
id = "greet"
title = "Add a greeting"
prompt = "Add greeting.txt that greets the world."

[[task]]
id = "parser"
title = "Write the parser"
prompt = "Write it."
"#;

fn ok(out: &RunOutput) {
    assert_eq!(out.code, 0, "{out:?}");
}

fn live_task(env: &TestEnvironment, repo: &Path) -> Value {
    let out = env.duet(repo, &["status", "--json"]);
    ok(&out);
    let status: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(status["live"], true, "{}", out.stdout);
    status["tasks"][0].clone()
}

#[test]
fn human_commands_drive_a_live_pair() {
    let env = TestEnvironment::default();
    let mut pair = LiveDuet::start(&env, "drive", BACKLOG, "", &["pair", "greet"]);
    let repo = pair.repo.clone();

    // Status: live, with the pair's roles and the backlog's other task still queued.
    let out = env.duet(&repo, &["status"]);
    ok(&out);
    assert!(
        out.stdout.contains("(live from the running duet)"),
        "{}",
        out.stdout
    );
    let greet = live_task(&env, &repo);
    assert_eq!(greet["worker"]["profile"], "fake");
    assert!(
        greet["activity"]
            .as_str()
            .unwrap()
            .contains("task greet is working")
    );

    // A message to the reviewer is accepted and stored.
    let out = env.duet(
        &repo,
        &["say", "greet", "--to", "reviewer", "please", "be", "strict"],
    );
    ok(&out);
    assert_eq!(
        out.stdout,
        "message to the reviewer of task `greet` accepted\n"
    );

    // Answering when nothing was asked is the wrong state; the pair's own words come through.
    let out = env.duet(&repo, &["answer", "greet", "yes"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
    assert!(out.stderr.contains("working"), "{}", out.stderr);

    // Pause, pause again (refused), resume.
    ok(&env.duet(&repo, &["pause", "greet"]));
    assert_eq!(live_task(&env, &repo)["state"], "paused");
    let out = env.duet(&repo, &["pause", "greet", "--json"]);
    assert_eq!(out.code, 1, "{out:?}");
    let refusal: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(refusal["error"]["kind"], "wrong_state", "{}", out.stdout);
    assert!(out.stderr.contains("paused"), "{}", out.stderr);
    ok(&env.duet(&repo, &["resume", "greet"]));
    assert_eq!(live_task(&env, &repo)["state"], "working");

    // Unknown task: the pair says so, the CLI suggests the close one.
    let out = env.duet(&repo, &["pause", "gret"]);
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr,
        "error: unknown task `gret`\nhint: did you mean `greet`?\n"
    );

    // The worker asks the human (the test plays the worker's bridge, with its token).
    let asked = Client::new(pair.socket(), Duration::from_secs(10))
        .send(&Request::from_agent(
            pair.token("worker"),
            RequestBody::ToolCall {
                call: ToolCall::AskHuman {
                    question: "hello or hi?".into(),
                },
            },
        ))
        .unwrap();
    assert!(
        matches!(
            asked,
            Response::Ok {
                body: ResponseBody::ToolResult {
                    is_error: false,
                    ..
                }
            }
        ),
        "{asked:?}"
    );
    let greet = live_task(&env, &repo);
    assert_eq!(greet["state"], "needs-human");
    assert!(
        greet["reason"].as_str().unwrap().contains("hello or hi?"),
        "{greet}"
    );
    assert!(
        greet["needs_human"]["reason"]
            .as_str()
            .unwrap()
            .contains("hello or hi?"),
        "{greet}"
    );
    let out = env.duet(&repo, &["status"]);
    assert!(out.stdout.contains("(needs you: "), "{}", out.stdout);
    assert!(out.stdout.contains("\ngreet needs you"), "{}", out.stdout);
    let out = env.duet(&repo, &["answer", "greet", "say", "hello"]);
    ok(&out);
    assert_eq!(
        out.stdout,
        "answer for task `greet` sent; the pair goes on\n"
    );
    assert_eq!(live_task(&env, &repo)["state"], "working");

    // Cancel ends the pair; afterwards nothing answers on the socket it leaves behind.
    ok(&env.duet(&repo, &["cancel", "greet"]));
    assert_eq!(
        pair.wait_exit(),
        3,
        "a cancelled pair is not done\n{}",
        pair.output()
    );
    assert_no_duet_running(&env, &repo);

    // The log, read from the store with no duet running, tells the story.
    let out = env.duet(&repo, &["log", "greet"]);
    ok(&out);
    println!("{}", out.stdout);
    for expected in [
        "task_state_changed  working → paused",
        "task_state_changed  paused → working",
        "needs-human",
        "working → cancelled",
        "human → reviewer",
        "please be strict",
        "human → worker",
        "say hello",
    ] {
        assert!(
            out.stdout.contains(expected),
            "missing {expected:?} in\n{}",
            out.stdout
        );
    }
    let out = env.duet(&repo, &["log", "greet", "--json"]);
    ok(&out);
    let log: Value = serde_json::from_str(&out.stdout).unwrap();
    let said: Vec<(&str, &str, &str)> = log["conversation"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["type"] == "message")
        .map(|c| {
            (
                c["from"].as_str().unwrap(),
                c["to"].as_str().unwrap(),
                c["text"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        said.contains(&("human", "reviewer", "please be strict")),
        "{said:?}"
    );
    assert!(
        said.iter().any(|(from, to, text)| *from == "human"
            && *to == "worker"
            && text.contains("say hello")),
        "{said:?}"
    );
}

/// Sends raw bytes on a new connection; the one-line answer.
fn raw_exchange(socket: &Path, bytes: &[u8]) -> Value {
    let mut stream = UnixStream::connect(socket).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // The server may answer and close before reading everything of an oversized frame.
    let _ = stream.write_all(bytes);
    let mut line = String::new();
    BufReader::new(stream.try_clone().unwrap())
        .read_line(&mut line)
        .unwrap();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("answer {line:?} is not JSON: {e}"))
}

#[test]
fn the_live_socket_refuses_bad_input_and_strangers() {
    let env = TestEnvironment::default();
    let mut pair = LiveDuet::start(&env, "refuse", BACKLOG, "", &["pair", "greet"]);
    let socket = pair.socket();

    let answer = raw_exchange(&socket, b"{\"version\":1,\"body\":{\"type\":\"pause\"\n");
    assert_eq!(answer["error"]["kind"], "malformed", "{answer}");
    let answer = raw_exchange(&socket, b"not json at all\n");
    assert_eq!(answer["error"]["kind"], "malformed", "{answer}");

    let mut big = br#"{"version":1,"body":{"type":"say","task":"greet","text":""#.to_vec();
    big.extend(std::iter::repeat_n(b'x', duet_proto::MAX_FRAME_BYTES + 16));
    big.extend(b"\"}}\n");
    let answer = raw_exchange(&socket, &big);
    assert_eq!(answer["error"]["kind"], "too_large", "{answer}");

    let answer = raw_exchange(
        &socket,
        b"{\"version\":99,\"body\":{\"type\":\"pause\",\"task\":\"greet\"}}\n",
    );
    assert_eq!(answer["error"]["kind"], "version_mismatch", "{answer}");
    let answer = raw_exchange(
        &socket,
        b"{\"version\":1,\"body\":{\"type\":\"pause\",\"task\":\"nope\"}}\n",
    );
    assert_eq!(answer["error"]["kind"], "unknown_task", "{answer}");
    let answer = raw_exchange(
        &socket,
        b"{\"version\":1,\"body\":{\"type\":\"process_started\",\"pid\":1}}\n",
    );
    assert_eq!(
        answer["error"]["kind"], "unauthorized",
        "an agent request without a token: {answer}"
    );

    // None of that disturbed the pair.
    assert_eq!(live_task(&env, &pair.repo)["state"], "working");

    // Another user cannot talk to the pair at all: the socket is 0600.
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    for dir in [env.root(), &pair.repo, &pair.repo.join(".duet")] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    if let Some(out) = cli_socket_support::duet_as_nobody(&env, &pair.repo, &["cancel", "greet"]) {
        assert_eq!(out.code, 1, "{out:?}");
        assert!(
            out.stderr
                .contains("permission denied on duet's control socket"),
            "{}",
            out.stderr
        );
        assert_eq!(
            live_task(&env, &pair.repo)["state"],
            "working",
            "the stranger's cancel did nothing"
        );
    }

    // `duet stop` ends the pair without an outcome: stopped, as by Ctrl-C (one engine, one code).
    let out = env.duet(&pair.repo, &["stop", "--json"]);
    ok(&out);
    assert_eq!(
        serde_json::from_str::<Value>(&out.stdout).unwrap(),
        json!({"status": "ok", "body": {"type": "ack"}})
    );
    assert_eq!(pair.wait_exit(), 130, "{}", pair.output());
}
