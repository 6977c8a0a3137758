//! Script loading errors, waiting on the log, stopping the server, and the
//! `duet-fake-model` binary.

mod fake_server_support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use duet_testkit::{FakeModelServer, Script, ScriptErrorKind, ServerOptions};
use fake_server_support::*;
use serde_json::json;

fn load_error(toml: &str) -> String {
    let error = Script::from_toml_str(toml).expect_err("script should be rejected");
    error.to_string()
}

#[test]
fn invalid_scripts_are_rejected_with_where_and_why() {
    let unknown_agent = load_error(
        r#"
        [[step]]
        name = "first"
        agent = "nobody"
        reply.text = "x"
        "#,
    );
    assert!(
        unknown_agent.contains("steps[0] (first)"),
        "{unknown_agent}"
    );
    assert!(
        unknown_agent.contains("agent \"nobody\" is not defined"),
        "{unknown_agent}"
    );

    let both = load_error(
        r#"
        [[step]]
        reply.text = "x"
        [[step]]
        reply.text = "y"
        reply.error = { status = 429 }
        "#,
    );
    assert!(
        both.contains("steps[1]") && both.contains("both error and text"),
        "{both}"
    );

    let empty = load_error("[[step]]\nreply = {}\n");
    assert!(
        empty.contains("needs text, tool_calls, error or drop_after_events"),
        "{empty}"
    );

    let status = load_error("[[step]]\nreply.error = { status = 200 }\n");
    assert!(status.contains("not an HTTP error"), "{status}");

    let regex = load_error("[[step]]\nmatch.user_regex = \"(unclosed\"\nreply.text = \"x\"\n");
    assert!(regex.contains("invalid regex"), "{regex}");
    assert!(
        regex.contains("line 2"),
        "TOML errors carry the position: {regex}"
    );

    let typo = load_error("[[step]]\nmatch.user_contain = \"x\"\nreply.text = \"x\"\n");
    assert!(typo.contains("unknown field `user_contain`"), "{typo}");

    let twice = load_error("[[agent]]\nname = \"a\"\n[[agent]]\nname = \"a\"\n");
    assert!(twice.contains("defined twice"), "{twice}");

    let bad_input = load_error("[[step]]\nreply.tool_calls = [{ name = \"Bash\", input = 3 }]\n");
    assert!(bad_input.contains("input must be an object"), "{bad_input}");
}

#[test]
fn loading_a_file_names_it_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = dir.path().join("s.yaml");
    std::fs::write(&yaml, "steps: []").unwrap();
    let error = Script::load(&yaml).unwrap_err();
    assert!(matches!(error.kind, ScriptErrorKind::UnknownFormat));
    assert!(error.to_string().contains("s.yaml"), "{error}");

    let missing = Script::load(dir.path().join("none.toml")).unwrap_err();
    assert!(matches!(missing.kind, ScriptErrorKind::Read(_)));

    let json = dir.path().join("s.json");
    std::fs::write(&json, r#"{"steps": [{"reply": {}}]}"#).unwrap();
    let invalid = Script::load(&json).unwrap_err().to_string();
    assert!(
        invalid.contains("s.json") && invalid.contains("steps[0]"),
        "{invalid}"
    );
}

#[test]
fn waiting_times_out_with_the_log_so_far() {
    let server = FakeModelServer::start(Script::default()).unwrap();
    let error = server
        .wait_until_steps_consumed(1, Duration::from_millis(50))
        .unwrap_err()
        .to_string();
    assert!(error.contains("1 script steps used up"), "{error}");
    assert!(error.contains("(no requests)"), "{error}");
}

#[test]
fn wait_for_wakes_on_a_request_from_another_thread() {
    let server =
        FakeModelServer::start(Script::from_toml_str("[[step]]\nreply.text = \"hi\"\n").unwrap())
            .unwrap();
    let url = format!("{}/v1/messages", server.base_url());
    let client = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(post(
            &url,
            &claude_request(json!([user("x")]), &[], true),
            &[],
        ))
    });
    server.wait_until_steps_consumed(1, WAIT).unwrap();
    let entry = server.wait_for_entry(|e| e.is_step(), WAIT).unwrap();
    assert_eq!(entry.seq, 1);
    assert_eq!(client.join().unwrap().status, 200);
}

#[test]
fn stopping_frees_the_port_and_keeps_a_chosen_log_file() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("log.jsonl");
    let server = FakeModelServer::start_with(
        Script::default(),
        ServerOptions {
            port: 0,
            log_path: Some(log_path.clone()),
        },
    )
    .unwrap();
    let addr = server.addr();
    let probe = std::net::TcpStream::connect(addr);
    assert!(probe.is_ok());
    drop(probe);
    server.stop();
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "port still served after stop"
    );
    let entries = duet_testkit::read_log_file(&log_path).unwrap();
    assert!(entries.is_empty());
    // The port can be bound again by a new server.
    let again = FakeModelServer::start_with(
        Script::default(),
        ServerOptions {
            port: addr.port(),
            log_path: None,
        },
    )
    .unwrap();
    assert_eq!(again.addr(), addr);
}

#[test]
fn binding_a_taken_port_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let error = FakeModelServer::start_with(
        Script::default(),
        ServerOptions {
            port,
            log_path: None,
        },
    )
    .unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with(&format!("failed to bind 127.0.0.1:{port}")),
        "{error}"
    );
}

#[test]
fn binary_serves_a_script_until_killed() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("requests.jsonl");
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/scripts/hello.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_duet-fake-model"))
        .arg("--script")
        .arg(&script)
        .arg("--log")
        .arg(&log_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let child = KillOnDrop(child);
    let mut stdout = BufReader::new(stdout);
    let mut first_line = String::new();
    stdout.read_line(&mut first_line).unwrap();
    let base_url = first_line.trim().to_owned();
    assert!(base_url.starts_with("http://127.0.0.1:"), "{first_line:?}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let answer = runtime.block_on(post(
        &format!("{base_url}/v1/messages"),
        &claude_request(json!([user("hello")]), &[], false),
        &[],
    ));
    drop(child);
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.json()["content"][0]["text"],
        "Hello from the duet fake model."
    );
    let entries = duet_testkit::read_log_file(&log_path).unwrap();
    assert_eq!(entries.len(), 1);
    assert!(entries[0].is_step());
}

/// Kills and reaps the child even when an assertion fails first.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn binary_rejects_a_bad_script_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("bad.toml");
    std::fs::write(&script, "[[step]]\nreply = {}\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_duet-fake-model"))
        .arg("--script")
        .arg(&script)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("bad.toml") && stderr.contains("steps[0]"),
        "{stderr}"
    );
}
