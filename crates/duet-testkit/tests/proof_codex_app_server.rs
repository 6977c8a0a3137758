//! Proof: `codex app-server` over stdio against the fake server: initialize, thread/start,
//! turn/start, and the notifications up to `turn/completed`.

mod proof_support;

use std::io::{BufRead, BufReader, Write};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Instant;

use duet_testkit::agent_env::CodexEnv;
use duet_testkit::agents::{ChildGuard, require_codex};
use duet_testkit::hermetic::GIT_ENV;
use duet_testkit::{FakeModelServer, Script};
use proof_support::{AGENT_TIMEOUT, git_repo};
use serde_json::{Value, json};

const ANSWER: &str = "Answer through the app server.";

const SCRIPT: &str = r#"
title = "Proof session"

[[step]]
name = "answer"
match.user_contains = "hello app server"
reply.text = "Answer through the app server."
"#;

/// One JSON-RPC connection over the child's stdio; every line read is kept for failure messages.
struct Rpc {
    stdin: ChildStdin,
    lines: Receiver<String>,
    seen: Vec<Value>,
    next_id: u64,
}

impl Rpc {
    fn send(&mut self, message: &Value) {
        writeln!(self.stdin, "{message}").unwrap();
        self.stdin.flush().unwrap();
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(&json!({ "id": id, "method": method, "params": params }));
        let response = self.next_matching(|m| m["id"] == id && m.get("method").is_none());
        assert!(
            response.get("error").is_none(),
            "{method} failed: {response:#}"
        );
        response["result"].clone()
    }

    /// The next message satisfying `wanted`, answering server requests on the way.
    fn next_matching(&mut self, mut wanted: impl FnMut(&Value) -> bool) -> Value {
        let deadline = Instant::now() + AGENT_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.lines.recv_timeout(left) {
                Ok(line) => line,
                Err(RecvTimeoutError::Timeout) => panic!(
                    "no awaited message within {AGENT_TIMEOUT:?}; seen: {:#?}",
                    self.seen
                ),
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("app-server closed stdout; seen: {:#?}", self.seen)
                }
            };
            let message: Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad line {line:?}: {e}"));
            self.seen.push(message.clone());
            if wanted(&message) {
                return message;
            }
            if message.get("id").is_some() && message.get("method").is_some() {
                // A request from the server (an approval): accept it so the turn can go on.
                let id = message["id"].clone();
                self.send(&json!({ "id": id, "result": { "decision": "accept" } }));
            }
        }
    }
}

#[test]
fn codex_app_server_runs_a_turn_over_stdio() {
    let Some(codex) = require_codex() else { return };
    let (_repo_dir, repo) = git_repo();
    let server = FakeModelServer::start(Script::from_toml_str(SCRIPT).unwrap()).unwrap();
    let env = CodexEnv::prepare(&codex, &server.openai_base_url(), &[&repo]).unwrap();

    let mut cmd = Command::new(&codex);
    cmd.arg("app-server")
        .args(env.config_args())
        .current_dir(&repo)
        .envs(GIT_ENV)
        .envs(env.envs())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = ChildGuard::new(cmd.spawn().unwrap());
    let stdin = child.child_mut().stdin.take().unwrap();
    let stdout = child.child_mut().stdout.take().unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut rpc = Rpc {
        stdin,
        lines,
        seen: Vec::new(),
        next_id: 0,
    };

    let init = rpc.request(
        "initialize",
        json!({ "clientInfo": { "name": "duet-proof", "version": "0.0.0" }, "capabilities": { "experimentalApi": true } }),
    );
    assert!(init.is_object(), "{init:#}");
    rpc.send(&json!({ "method": "initialized" }));

    let started = rpc.request(
        "thread/start",
        json!({ "cwd": repo, "approvalPolicy": "never", "sandbox": "danger-full-access" }),
    );
    let thread_id = started["thread"]["id"]
        .as_str()
        .expect("thread id")
        .to_owned();

    rpc.request(
        "turn/start",
        json!({ "threadId": thread_id, "input": [{ "type": "text", "text": "hello app server" }] }),
    );
    let completed = rpc.next_matching(|m| m["method"] == "turn/completed");
    assert_eq!(
        completed["params"]["threadId"],
        thread_id.as_str(),
        "{completed:#}"
    );
    assert_eq!(
        completed["params"]["turn"]["status"], "completed",
        "{completed:#}"
    );

    let methods: Vec<&str> = rpc
        .seen
        .iter()
        .filter_map(|m| m["method"].as_str())
        .collect();
    assert!(methods.contains(&"turn/started"), "{methods:?}");
    let answer = rpc
        .seen
        .iter()
        .filter(|m| m["method"] == "item/completed")
        .map(|m| &m["params"]["item"])
        .find(|item| item["type"] == "agentMessage")
        .unwrap_or_else(|| panic!("no agentMessage item; seen: {:#?}", rpc.seen));
    assert_eq!(answer["text"], ANSWER, "{answer:#}");
    let entry = server
        .wait_for_entry(|e| e.is_step(), AGENT_TIMEOUT)
        .unwrap();
    assert!(entry.user_text.contains("hello app server"));

    // Closing stdin ends the server; the guard reaps it either way.
    drop(rpc);
    let _ = child.wait_timeout(AGENT_TIMEOUT);
    reader.join().unwrap();
}
