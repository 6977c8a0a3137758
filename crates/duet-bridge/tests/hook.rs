//! `duet hook claude|codex` as a real process against a test controller on a real unix socket.

mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use duet_proto::{HookSource, Request, RequestBody, Response, ResponseBody};
use serde_json::json;
use support::{SilentController, TestController, bridge_bin, helper_env};

const TOKEN: &str = "tok-reviewer-7";
const WAIT: Duration = Duration::from_secs(10);

/// Runs `hook ARGS...` with `stdin` as its input.
fn run_hook(args: &[&str], stdin: &[u8], socket: Option<&Path>, token: Option<&str>) -> Output {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(bridge_bin());
    cmd.arg("hook").args(args);
    helper_env(&mut cmd, socket, token, home.path());
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

/// The requests with the hook run's id taken out of each payload (checked to be there).
fn without_request_id(requests: Vec<Request>) -> Vec<Request> {
    requests
        .into_iter()
        .map(|mut request| {
            if let RequestBody::Hook { payload, .. } = &mut request.body {
                let id = payload.as_object_mut().unwrap().remove("duet_request_id");
                assert!(
                    id.as_ref().is_some_and(serde_json::Value::is_string),
                    "{id:?}"
                );
            }
            request
        })
        .collect()
}

/// The `duet_request_id` of a forwarded hook.
fn request_id(request: &Request) -> String {
    match &request.body {
        RequestBody::Hook { payload, .. } => {
            payload["duet_request_id"].as_str().unwrap().to_owned()
        }
        other => panic!("not a hook: {other:?}"),
    }
}

#[test]
fn a_claude_stop_payload_is_forwarded_and_the_reply_printed_verbatim() {
    let block = r#"{"decision":"block","reason":"Message from the reviewer:\nplease add a test"}"#;
    let controller = TestController::start(move |_| {
        Response::ok(ResponseBody::HookReply {
            stdout: Some(block.to_owned()),
        })
    });
    let payload = json!({
        "session_id": "9f1c",
        "hook_event_name": "Stop",
        "stop_hook_active": false,
        "last_assistant_message": "Done: \"quoted\" and ünïcode",
    });
    let output = run_hook(
        &["claude"],
        payload.to_string().as_bytes(),
        Some(controller.socket()),
        Some(TOKEN),
    );
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(String::from_utf8(output.stdout).unwrap(), block);
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        without_request_id(controller.wait_for_requests(1, WAIT)),
        vec![Request::from_agent(
            TOKEN,
            RequestBody::Hook {
                source: HookSource::Claude,
                payload
            }
        )]
    );
}

#[test]
fn a_codex_notify_payload_comes_from_the_last_argument() {
    let controller =
        TestController::start(|_| Response::ok(ResponseBody::HookReply { stdout: None }));
    let payload = json!({
        "type": "agent-turn-complete",
        "thread-id": "0199-abc",
        "turn-id": "1",
        "last-assistant-message": "Reviewed.",
    });
    let output = run_hook(
        &["codex", &payload.to_string()],
        b"",
        Some(controller.socket()),
        Some(TOKEN),
    );
    assert_eq!(output.status.code(), Some(0));
    assert!(output.stdout.is_empty());
    assert_eq!(
        without_request_id(controller.wait_for_requests(1, WAIT)),
        vec![Request::from_agent(
            TOKEN,
            RequestBody::Hook {
                source: HookSource::Codex,
                payload
            }
        )]
    );
}

#[test]
fn without_duet_the_hook_exits_zero_at_once_and_says_why_on_stderr() {
    let started = Instant::now();
    let output = run_hook(&["claude"], br#"{"hook_event_name":"Stop"}"#, None, None);
    // Well under the 2 s socket timeout: nothing is waited for.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(output.status.code(), Some(0));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("duet hook claude: failed to find duet's control socket: DUET_SOCKET and DUET_TOKEN not set"),
        "{stderr}"
    );
}

#[test]
fn with_nobody_listening_the_hook_retries_for_the_window_then_drops_the_payload() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("duet.sock");
    let started = Instant::now();
    let output = run_hook(&["claude"], b"{}", Some(&missing), Some(TOKEN));
    let took = started.elapsed();
    assert_eq!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("duet is not reachable"), "{stderr}");
    assert!(stderr.contains("payload dropped"), "{stderr}");
    let window = duet_bridge::hook::CONNECT_RETRY_WINDOW;
    assert!(
        took >= window && took < window + Duration::from_secs(2),
        "took {took:?}"
    );
}

#[test]
fn a_daemon_that_comes_back_within_the_window_gets_the_payload() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("duet.sock");
    // A stale socket file of a killed daemon: connecting is refused until the new one binds.
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    let hook = {
        let home = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(bridge_bin());
        cmd.args(["hook", "codex", r#"{"type":"agent-turn-complete"}"#]);
        helper_env(&mut cmd, Some(&socket), Some(TOKEN), home.path());
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    // Not synchronisation: the daemon comes back a while after the hook started retrying.
    std::thread::sleep(Duration::from_millis(500));
    std::fs::remove_file(&socket).unwrap();
    let controller = TestController::start_at(socket, |_| {
        Response::ok(ResponseBody::HookReply { stdout: None })
    });
    let requests = controller.wait_for_requests(1, WAIT);
    assert_eq!(requests[0].token.as_deref(), Some(TOKEN));
    let output = hook.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_hung_controller_costs_the_agent_at_most_the_hook_timeout() {
    let silent = SilentController::start();
    let started = Instant::now();
    let output = run_hook(&["claude"], b"{}", Some(silent.socket()), Some(TOKEN));
    let took = started.elapsed();
    assert_eq!(output.status.code(), Some(0));
    assert!(output.stdout.is_empty());
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(5),
        "took {took:?}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("duet is not reachable"), "{stderr}");
    assert!(stderr.contains("no answer in time"), "{stderr}");
}

/// A controller busy for longer than the hook timeout (another pair's merge, a pair stopping)
/// still gets its answer to claude's Stop hook through: that answer hands the agent's queued
/// messages over, and the controller records them as handed over once it has written it.
#[test]
fn a_claude_stop_hook_waits_for_a_busy_controller_s_answer() {
    let block = r#"{"decision":"block","reason":"The reviewer approved"}"#;
    let controller = TestController::start(move |_| {
        // The controller's main loop busy elsewhere for 3 s (more than HOOK_TIMEOUT).
        std::thread::sleep(Duration::from_secs(3));
        Response::ok(ResponseBody::HookReply {
            stdout: Some(block.to_owned()),
        })
    });
    let payload = json!({"session_id": "9f1c", "hook_event_name": "Stop"});
    let output = run_hook(
        &["claude"],
        payload.to_string().as_bytes(),
        Some(controller.socket()),
        Some(TOKEN),
    );
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        block,
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn input_that_is_not_json_is_not_forwarded_and_still_exits_zero() {
    let controller = TestController::acking();
    let output = run_hook(
        &["claude"],
        b"not json",
        Some(controller.socket()),
        Some(TOKEN),
    );
    assert_eq!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("payload is not JSON"), "{stderr}");
    let output = run_hook(
        &["codex", "{oops"],
        b"",
        Some(controller.socket()),
        Some(TOKEN),
    );
    assert_eq!(output.status.code(), Some(0));
    assert!(controller.requests().is_empty());
}

#[test]
fn a_daemon_that_dies_before_answering_is_asked_again_with_the_same_request_id() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("duet.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    // The first daemon reads the request and dies without answering; the next one answers.
    let daemons = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for answer in [false, true] {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            lines.push(line);
            if answer {
                let reply = Response::ok(ResponseBody::HookReply {
                    stdout: Some("{\"decision\":\"block\",\"reason\":\"hi\"}".into()),
                });
                (&stream)
                    .write_all(&duet_proto::encode_line(&reply))
                    .unwrap();
            }
        }
        lines
    });
    let output = run_hook(
        &["claude"],
        br#"{"hook_event_name":"Stop"}"#,
        Some(&socket),
        Some(TOKEN),
    );
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        r#"{"decision":"block","reason":"hi"}"#
    );
    let lines = daemons.join().unwrap();
    let requests: Vec<Request> = lines
        .iter()
        .map(|l| duet_proto::decode_line(l.as_bytes()).unwrap())
        .collect();
    assert_eq!(requests[0], requests[1], "the same request, id and all");
    assert!(!request_id(&requests[0]).is_empty());
}

#[test]
fn a_daemon_that_answers_it_is_shutting_down_is_asked_again_with_the_same_request_id() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("duet.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    // The first daemon's loop has ended (it answers that it is shutting down); the next one
    // answers the turn start for real.
    let daemons = std::thread::spawn(move || {
        let mut lines = Vec::new();
        listener.set_nonblocking(true).unwrap();
        for real in [false, true] {
            // A hook that does not ask again fails the test at WAIT, not by hanging.
            let deadline = Instant::now() + WAIT;
            let stream = loop {
                match listener.accept() {
                    Ok((stream, _)) => break stream,
                    Err(_) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    Err(_) => return lines,
                }
            };
            stream.set_nonblocking(false).unwrap();
            let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            lines.push(line);
            let reply = if real {
                Response::ok(ResponseBody::HookReply { stdout: None })
            } else {
                Response::error(duet_proto::ErrorKind::Internal, duet_proto::SHUTTING_DOWN)
            };
            (&stream)
                .write_all(&duet_proto::encode_line(&reply))
                .unwrap();
        }
        lines
    });
    let output = run_hook(
        &["claude"],
        br#"{"hook_event_name":"UserPromptSubmit","prompt":"[duet message #2 from duet]"}"#,
        Some(&socket),
        Some(TOKEN),
    );
    assert_eq!(output.status.code(), Some(0));
    let lines = daemons.join().unwrap();
    let requests: Vec<Request> = lines
        .iter()
        .map(|l| duet_proto::decode_line(l.as_bytes()).unwrap())
        .collect();
    assert_eq!(requests.len(), 2, "asked again");
    assert_eq!(requests[0], requests[1], "the same request, id and all");
}
