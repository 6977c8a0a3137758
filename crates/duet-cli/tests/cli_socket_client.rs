//! The human socket commands (`say`, `answer`, `pause`, `resume`, `cancel`, `stop`, live
//! `status`) against a small in-test controller speaking duet-proto on the socket `.duet/socket` names: the
//! exact requests they send, and how every kind of failure reaches the user.

mod cli_socket_support;
mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use common::TestEnvironment;
use duet_proto::{ErrorKind, Response, ResponseBody};
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

const NOT_RUNNING: &str =
    "error: no duet is running in this repository; start one with `duet run` or `duet pair TASK`\n";

fn setup(env: &TestEnvironment) -> PathBuf {
    let repo = env.repo_with_commit("repo");
    assert_eq!(env.duet(&repo, &["init"]).code, 0);
    std::fs::write(repo.join("backlog.toml"), BACKLOG).unwrap();
    std::fs::create_dir_all(repo.join(".duet")).unwrap();
    // The fake controller listens in the repository; the locator sends the commands there.
    duet_proto::socket_path::write_locator(&repo.join(".duet"), &socket_path(&repo)).unwrap();
    repo
}

fn socket_path(repo: &Path) -> PathBuf {
    repo.join(".duet/duet.sock")
}

/// What the fake controller answers on one connection.
enum Answer {
    Respond(Response),
    /// Bytes written as they are (garbage, nothing at all).
    Raw(&'static [u8]),
}

/// A controller that answers one scripted reply per connection, in order, and records the
/// request lines it read.
struct FakeController {
    thread: Option<JoinHandle<Vec<Value>>>,
}

impl FakeController {
    fn start(socket: &Path, answers: Vec<Answer>) -> Self {
        let listener = UnixListener::bind(socket).unwrap();
        std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600)).unwrap();
        let thread = std::thread::spawn(move || {
            let mut requests = Vec::new();
            for answer in answers {
                let (stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                requests.push(serde_json::from_str(&line).unwrap());
                let mut stream = stream;
                match answer {
                    Answer::Respond(response) => stream
                        .write_all(&duet_proto::encode_line(&response))
                        .unwrap(),
                    Answer::Raw(bytes) => stream.write_all(bytes).unwrap(),
                }
            }
            requests
        });
        FakeController {
            thread: Some(thread),
        }
    }

    /// Every request received, once all scripted answers were given.
    fn requests(mut self) -> Vec<Value> {
        self.thread.take().unwrap().join().unwrap()
    }
}

/// A live status answer with these tasks (fields left out take their defaults).
fn snapshot(tasks: Value) -> duet_proto::status::StatusSnapshot {
    serde_json::from_value(json!({"version": 1, "seq": 7, "live": true, "tasks": tasks})).unwrap()
}

fn ack() -> Answer {
    Answer::Respond(Response::ok(ResponseBody::Ack))
}

fn refuse(kind: ErrorKind, message: &str) -> Answer {
    Answer::Respond(Response::error(kind, message))
}

const EVERY_COMMAND: [&[&str]; 6] = [
    &["say", "greet", "hello"],
    &["answer", "greet", "yes"],
    &["pause", "greet"],
    &["resume", "greet"],
    &["cancel", "greet"],
    &["stop"],
];

#[test]
fn without_a_socket_every_command_says_no_duet_is_running() {
    let env = TestEnvironment::default();
    let repo = setup(&env);
    for args in EVERY_COMMAND {
        let out = env.duet(&repo, args);
        assert_eq!(out.code, 1, "{args:?}: {out:?}");
        assert_eq!(out.stderr, NOT_RUNNING, "{args:?}");
        assert_eq!(out.stdout, "", "{args:?}");
    }
}

#[test]
fn a_socket_nobody_listens_on_is_no_duet_running() {
    let env = TestEnvironment::default();
    let repo = setup(&env);
    // A socket file left behind by a duet that ended: it exists, nothing accepts.
    drop(UnixListener::bind(socket_path(&repo)).unwrap());
    assert!(socket_path(&repo).exists());
    for args in EVERY_COMMAND {
        let out = env.duet(&repo, args);
        assert_eq!(out.code, 1, "{args:?}: {out:?}");
        assert_eq!(out.stderr, NOT_RUNNING, "{args:?}");
    }
    let mut args = EVERY_COMMAND[2].to_vec();
    args.push("--json");
    let out = env.duet(&repo, &args);
    assert_eq!(out.code, 1);
    let json: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["status"], "error");
    assert_eq!(json["error"]["kind"], "not_running");
}

#[test]
fn each_command_sends_its_request_and_reports_success() {
    let env = TestEnvironment::default();
    let repo = setup(&env);
    let server = FakeController::start(&socket_path(&repo), (0..7).map(|_| ack()).collect());
    let runs: [(&[&str], &str); 7] = [
        (
            &["say", "greet", "--to", "reviewer", "look", "at", "main.rs"],
            "message to the reviewer of task `greet` accepted\n",
        ),
        (
            &["say", "greet", "hello worker"],
            "message to the worker of task `greet` accepted\n",
        ),
        (
            &["answer", "greet", "use", "English"],
            "answer for task `greet` sent; the pair goes on\n",
        ),
        (&["pause", "greet"], "task `greet` paused\n"),
        (&["resume", "greet"], "task `greet` resumed\n"),
        (&["cancel", "greet"], "task `greet` cancelled\n"),
        (&["stop", "--agents"], "duet is stopping, with its agents\n"),
    ];
    for (args, expected) in runs {
        let out = env.duet(&repo, args);
        assert_eq!(out.code, 0, "{args:?}: {out:?}");
        assert_eq!(out.stdout, expected, "{args:?}");
    }
    let human = |body: Value| json!({ "version": 1, "body": body });
    assert_eq!(
        server.requests(),
        vec![
            human(
                json!({"type": "say", "task": "greet", "to": "reviewer", "text": "look at main.rs"})
            ),
            human(json!({"type": "say", "task": "greet", "to": "worker", "text": "hello worker"})),
            human(json!({"type": "answer", "task": "greet", "text": "use English"})),
            human(json!({"type": "pause", "task": "greet"})),
            human(json!({"type": "resume", "task": "greet"})),
            human(json!({"type": "cancel", "task": "greet"})),
            human(json!({"type": "stop", "stop_agents": true})),
        ],
        "human requests carry no token"
    );
}

#[test]
fn json_prints_the_response_for_success_and_refusal() {
    let env = TestEnvironment::default();
    let repo = setup(&env);
    let server = FakeController::start(
        &socket_path(&repo),
        vec![
            ack(),
            refuse(ErrorKind::WrongState, "cannot pause a paused task"),
        ],
    );
    let out = env.duet(&repo, &["pause", "greet", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let json: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json, json!({"status": "ok", "body": {"type": "ack"}}));

    let out = env.duet(&repo, &["pause", "greet", "--json"]);
    assert_eq!(out.code, 1, "{out:?}");
    let json: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        json,
        json!({"status": "error", "error": {"kind": "wrong_state", "message": "cannot pause a paused task"}})
    );
    assert!(
        out.stderr
            .starts_with("error: cannot pause a paused task\n"),
        "{}",
        out.stderr
    );
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn refusals_of_each_kind_become_clear_errors_with_exit_codes() {
    let env = TestEnvironment::default();
    let repo = setup(&env);
    let cases: Vec<(Answer, &[&str], i32, &str)> = vec![
        (
            refuse(ErrorKind::UnknownTask, "unknown task `gret`"),
            &["pause", "gret"],
            1,
            "error: unknown task `gret`\nhint: did you mean `greet`?\n",
        ),
        (
            refuse(ErrorKind::UnknownTask, "unknown task `zzz`"),
            &["say", "zzz", "hi"],
            1,
            "error: unknown task `zzz`\nhint: run `duet status` to list the tasks\n",
        ),
        (
            refuse(
                ErrorKind::WrongState,
                "cannot answer: task greet is working",
            ),
            &["answer", "greet", "yes"],
            1,
            "error: cannot answer: task greet is working\nhint: run `duet status` to see the task's state\n",
        ),
        (
            refuse(
                ErrorKind::VersionMismatch,
                "protocol version 1 is not supported",
            ),
            &["resume", "greet"],
            1,
            "error: the running duet refused this duet: protocol version 1 is not supported\nhint: use the same duet version as the running one, or restart it\n",
        ),
        (
            refuse(ErrorKind::Unauthorized, "humans may not do that"),
            &["cancel", "greet"],
            1,
            "error: the running duet refused the request: humans may not do that\n",
        ),
        (
            refuse(ErrorKind::Internal, "duet is shutting down"),
            &["stop"],
            70,
            "error: the running duet failed the request: duet is shutting down\n",
        ),
        (
            refuse(ErrorKind::Malformed, "missing field `task`"),
            &["pause", "greet"],
            70,
            "error: the running duet failed the request: missing field `task`\n",
        ),
    ];
    let (answers, runs): (Vec<_>, Vec<_>) = cases
        .into_iter()
        .map(|(answer, args, code, stderr)| (answer, (args, code, stderr)))
        .unzip();
    let server = FakeController::start(&socket_path(&repo), answers);
    for (args, code, stderr) in runs {
        let out = env.duet(&repo, args);
        assert_eq!(out.code, code, "{args:?}: {out:?}");
        assert_eq!(out.stderr, stderr, "{args:?}");
        assert_eq!(out.stdout, "", "{args:?}");
    }
    assert_eq!(server.requests().len(), 7);
}

#[test]
fn an_answer_that_is_not_a_response_is_an_internal_error() {
    let env = TestEnvironment::default();
    let repo = setup(&env);
    let server = FakeController::start(
        &socket_path(&repo),
        vec![Answer::Raw(b""), Answer::Raw(b"not json\n")],
    );
    let out = env.duet(&repo, &["pause", "greet"]);
    assert_eq!(out.code, 70, "{out:?}");
    assert!(
        out.stderr
            .contains("connection closed before a complete frame"),
        "{}",
        out.stderr
    );
    let out = env.duet(&repo, &["pause", "greet"]);
    assert_eq!(out.code, 70, "{out:?}");
    assert!(
        out.stderr
            .contains("failed to understand the answer of duet's control socket"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("failed to parse frame"),
        "{}",
        out.stderr
    );
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn an_oversized_or_empty_message_is_refused_before_connecting() {
    let env = TestEnvironment::default();
    let repo = setup(&env);
    // No socket at all: had the command connected, it would say that no duet is running.
    let word = "x".repeat(100_000);
    let mut args = vec!["say", "greet"];
    args.extend(std::iter::repeat_n(word.as_str(), 11));
    let out = env.duet(&repo, &args);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("over duet's 1048576-byte limit"),
        "{}",
        out.stderr
    );
    let out = env.duet(&repo, &["answer", "greet", "  "]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.starts_with("error: the message is empty\n"),
        "{}",
        out.stderr
    );
}

#[test]
fn status_shows_the_running_duets_view_over_the_backlog() {
    let env = TestEnvironment::default();
    let repo = setup(&env);
    // `duet pair`'s answer: its one task, without title or branch (the store's view has them).
    let live = snapshot(json!([{
        "id": "greet",
        "title": "",
        "state": "needs-human",
        "reason": "which greeting, hello or hi?",
        "round": 2,
        "head": "0123456789abcdef",
        "worker": {"profile": "claude", "kind": "claude", "state": "at_rest"},
        "reviewer": {"profile": "codex", "kind": "codex", "state": "at_rest"},
        "branch": "",
        "running": true,
        "activity": "task greet is needs-human",
        "last_activity_ms": 1_000,
        "needs_human": {"reason": "which greeting, hello or hi?", "since_ms": 500,
                        "evidence": ["the worker asked which greeting"]},
    }]));
    let status = || {
        Answer::Respond(Response::ok(ResponseBody::Status {
            status: live.clone(),
        }))
    };
    let server = FakeController::start(&socket_path(&repo), vec![status(), status(), status()]);

    let out = env.duet(&repo, &["status", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let json: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["live"], true);
    let greet = &json["tasks"][0];
    assert_eq!(greet["id"], "greet");
    assert_eq!(greet["state"], "needs-human");
    assert_eq!(greet["reason"], "which greeting, hello or hi?");
    assert_eq!(greet["round"], 2);
    assert_eq!(greet["head"], "0123456789abcdef");
    assert_eq!(greet["last_activity_ms"], 1_000);
    assert_eq!(
        greet["title"], "Add a greeting",
        "the title comes from the backlog"
    );
    assert_eq!(greet["worker"]["state"], "at_rest");
    let parser = &json["tasks"][1];
    assert_eq!(
        parser["state"], "queued",
        "the backlog's other task is queued"
    );

    let out = env.duet(&repo, &["status"]);
    assert_eq!(out.code, 0, "{out:?}");
    let greet_line = out.stdout.lines().find(|l| l.starts_with("greet")).unwrap();
    assert!(
        greet_line.contains("needs-human")
            && greet_line.contains("(needs you: which greeting, hello or hi?)"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("ACTIVE"), "{}", out.stdout);
    assert!(
        out.stdout.contains("\ngreet needs you since ")
            && out.stdout.contains(
                " ago: which greeting, hello or hi?\n  - the worker asked which greeting\n"
            ),
        "why and since when: {}",
        out.stdout
    );
    assert!(
        out.stdout.ends_with("(live from the running duet)\n"),
        "{}",
        out.stdout
    );

    let out = env.duet(&repo, &["status", "parser"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(!out.stdout.contains("greet"), "{}", out.stdout);
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn status_watch_redraws_until_its_count() {
    let env = TestEnvironment::default();
    let repo = setup(&env);
    let status = || {
        Answer::Respond(Response::ok(ResponseBody::Status {
            status: snapshot(
                json!([{"id": "greet", "title": "", "state": "paused", "round": 1,
                "worker": {"profile": "claude", "state": "unknown"},
                "reviewer": {"profile": "codex", "state": "unknown"}, "branch": ""}]),
            ),
        }))
    };
    // A controller that does not stream: --watch polls, one request per redraw.
    let refuse = Answer::Respond(Response::error(
        duet_proto::ErrorKind::Unsupported,
        "this duet does not stream status changes",
    ));
    let server = FakeController::start(
        &socket_path(&repo),
        vec![refuse, status(), status(), status()],
    );
    let out = env.duet(
        &repo,
        &[
            "status",
            "--watch",
            "--interval",
            "0.05",
            "--count",
            "3",
            "--json",
        ],
    );
    assert_eq!(out.code, 0, "{out:?}");
    let looks: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(looks.len(), 3, "{}", out.stdout);
    assert!(looks.iter().all(|l| l["tasks"][0]["state"] == "paused"));
    let requests = server.requests();
    assert_eq!(
        requests.len(),
        4,
        "a subscribe, then one request per redraw"
    );
    assert_eq!(requests[0]["body"]["type"], "subscribe", "{requests:?}");

    let out = env.duet(&repo, &["status", "--watch", "--interval", "0"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("--interval must be a positive number"),
        "{}",
        out.stderr
    );
}

#[test]
fn status_falls_back_to_the_store_when_no_duet_answers() {
    let env = TestEnvironment::default();
    let repo = setup(&env);
    drop(UnixListener::bind(socket_path(&repo)).unwrap());
    let out = env.duet(&repo, &["status", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stderr, "");
    let json: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["live"], false);
    assert_eq!(json["tasks"][0]["state"], "queued");
}

/// Lets a user other than root into the test's folders (tempdirs are 0700).
fn open_up(env: &TestEnvironment, repo: &Path) {
    for dir in [env.root(), repo, &repo.join(".duet")] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // `duet init` writes its files privately (0600).
    for file in ["duet.toml", "backlog.toml"] {
        std::fs::set_permissions(repo.join(file), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
}

#[test]
fn a_user_without_permission_on_the_socket_is_refused() {
    let env = TestEnvironment::default();
    let repo = setup(&env);
    open_up(&env, &repo);
    let server = FakeController::start(&socket_path(&repo), vec![ack()]);
    let Some(out) = cli_socket_support::duet_as_nobody(&env, &repo, &["pause", "greet"]) else {
        return;
    };
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.starts_with(&format!(
            "error: permission denied on duet's control socket {}\n",
            socket_path(&repo).display()
        )),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("mode 0600"), "{}", out.stderr);
    // `status` still works for the stranger, from the store, and says why it is not live.
    let out = cli_socket_support::duet_as_nobody(&env, &repo, &["status", "--json"]).unwrap();
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stderr.starts_with(
            "warning: could not ask the running duet: permission denied on duet's control socket"
        ),
        "{}",
        out.stderr
    );
    let json: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["live"], false);
    // The owner still gets through: the refusal was the file mode, not a broken socket.
    assert_eq!(env.duet(&repo, &["pause", "greet"]).code, 0);
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn status_reads_the_daemons_blockers_and_reasons() {
    let env = TestEnvironment::default();
    let repo = setup(&env);
    // The shape `duet run` answers: stored state, reason apart, blockers as the scheduler's.
    let agent = json!({"profile": "claude", "kind": "claude", "state": "working"});
    let live = snapshot(json!([
        {"id": "greet", "title": "Say hello", "state": "needs-human",
         "reason": "the pair looks stuck", "round": 3, "worker": agent, "reviewer": agent,
         "branch": "duet/greet", "last_activity_ms": 5_000, "running": true,
         "activity": "task greet is needs-human",
         "needs_human": {"reason": "the pair looks stuck", "evidence": []}},
        {"id": "parser", "title": "Write the parser", "state": "queued", "round": 0,
         "worker": agent, "reviewer": agent, "branch": "duet/parser",
         "waiting": [{"reason": "no-free-slot", "running": 1, "max_parallel": 1}]}
    ]));
    let server = FakeController::start(
        &socket_path(&repo),
        vec![
            Answer::Respond(Response::ok(ResponseBody::Status {
                status: live.clone(),
            })),
            Answer::Respond(Response::ok(ResponseBody::Status { status: live })),
        ],
    );
    let out = env.duet(&repo, &["status", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let json: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["tasks"][0]["reason"], "the pair looks stuck");
    assert_eq!(json["tasks"][0]["round"], 3);
    assert_eq!(
        json["tasks"][1]["waiting"],
        json!([{"reason": "no-free-slot", "running": 1, "max_parallel": 1}])
    );
    let out = env.duet(&repo, &["status"]);
    assert!(
        out.stdout.contains("(needs you: the pair looks stuck)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("(all slots are taken (1 running, max_parallel = 1))"),
        "{}",
        out.stdout
    );
    assert_eq!(server.requests().len(), 2);
}
