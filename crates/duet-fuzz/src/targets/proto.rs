//! The control socket: frames (raw, mutated, around the size limit) through `read_frame` and
//! `decode_line`, generated requests round-tripping, and request sequences into a pure pair
//! controller (one answer per request, refusals for bad versions, tokens and hook payloads, a
//! repeated tool call answered as the first time).

use std::collections::HashMap;

use duet_agents::{parse_claude_hook, parse_codex_notify};
use duet_core::config::AgentKind;
use duet_core::protocol::pair::PairConfig;
use duet_core::protocol::{
    CallId, Finding, PairState, Role, Severity, Timestamp, ToolCall, Verdict,
};
use duet_pair::{Action, Controller, GitFacts, Seat};
use duet_proto::{
    ErrorKind, FrameError, HookSource, MAX_FRAME_BYTES, PROTOCOL_VERSION, Request, RequestBody,
    Response, decode_line, encode_line, read_frame,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::Value;

use crate::Runner;
use crate::mutate::{Bytes, bytes_for, corpus, mutated};

pub fn frame(runner: &mut Runner) -> Result<(), String> {
    let input = prop_oneof![
        6 => bytes_for("frame").prop_map(FrameInput::Bytes),
        3 => request(TOKENS).prop_map(FrameInput::Request),
        1 => (MAX_FRAME_BYTES - 40..MAX_FRAME_BYTES + 40, any::<bool>())
            .prop_map(|(len, newline)| FrameInput::Big { len, newline }),
    ];
    runner.check(input, |input| match input {
        FrameInput::Bytes(Bytes(bytes)) => check_frame(&bytes),
        FrameInput::Request(request) => {
            let line = encode_line(&request);
            prop_assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1, "one line");
            if line.len() > MAX_FRAME_BYTES {
                prop_assert!(matches!(
                    read_frame(&mut &line[..]),
                    Err(FrameError::TooLarge)
                ));
                return Ok(());
            }
            let read = read_frame(&mut &line[..]).map_err(fail)?;
            let back: Request = decode_line(&read).map_err(fail)?;
            prop_assert_eq!(back, request);
            check_frame(&line)
        }
        FrameInput::Big { len, newline } => {
            // A `say` whose text fills the frame to `len` bytes (newline included when sent).
            let head = br#"{"version":1,"body":{"type":"say","task":"t","text":""#;
            let tail = br#""}}"#;
            let mut bytes = head.to_vec();
            bytes.resize(len - tail.len() - 1, b'x');
            bytes.extend_from_slice(tail);
            if newline {
                bytes.push(b'\n');
            }
            check_frame(&bytes)
        }
    })
}

#[derive(Debug, Clone)]
enum FrameInput {
    Bytes(Bytes),
    Request(Request),
    Big { len: usize, newline: bool },
}

fn fail(err: FrameError) -> TestCaseError {
    TestCaseError::fail(format!("a valid frame was refused: {err}"))
}

/// What `read_frame` and `decode_line` promise for any bytes.
fn check_frame(bytes: &[u8]) -> Result<(), TestCaseError> {
    let newline = bytes.iter().position(|b| *b == b'\n');
    match read_frame(&mut &bytes[..]) {
        Ok(line) => {
            let end = newline.expect("a frame ends at a newline") + 1;
            prop_assert!(end <= MAX_FRAME_BYTES);
            prop_assert_eq!(&line[..], &bytes[..end]);
            check_decode(&line)?;
            if end == bytes.len() {
                return Ok(()); // the same bytes: decoded once is enough (1 MiB frames are slow)
            }
        }
        Err(FrameError::TooLarge) => {
            prop_assert!(newline.map_or(bytes.len() > MAX_FRAME_BYTES, |p| p >= MAX_FRAME_BYTES));
        }
        Err(FrameError::Truncated) => {
            prop_assert!(newline.is_none() && bytes.len() <= MAX_FRAME_BYTES);
        }
        Err(other) => return Err(TestCaseError::fail(format!("unexpected error: {other}"))),
    }
    check_decode(bytes)
}

/// Decoding never panics; what it accepts encodes again into something it accepts; what it
/// refuses gets a message that says so.
fn check_decode(line: &[u8]) -> Result<(), TestCaseError> {
    match decode_line::<Request>(line) {
        Ok(request) => {
            let again = encode_line(&request);
            if again.len() <= MAX_FRAME_BYTES {
                prop_assert!(
                    decode_line::<Request>(&again).is_ok(),
                    "re-encoded request refused"
                );
            }
        }
        Err(err) => check_frame_error(&err, line)?,
    }
    match decode_line::<Response>(line) {
        Ok(response) => {
            let again = encode_line(&response);
            if again.len() <= MAX_FRAME_BYTES {
                prop_assert!(
                    decode_line::<Response>(&again).is_ok(),
                    "re-encoded response refused"
                );
            }
        }
        Err(err) => check_frame_error(&err, line)?,
    }
    Ok(())
}

fn check_frame_error(err: &FrameError, line: &[u8]) -> Result<(), TestCaseError> {
    let message = err.to_string();
    match err {
        FrameError::TooLarge => prop_assert!(line.len() > MAX_FRAME_BYTES),
        FrameError::Malformed(_) => {
            prop_assert!(
                message.starts_with("failed to parse frame: ") && message.len() > 23,
                "{message}"
            );
        }
        other => return Err(TestCaseError::fail(format!("decode_line gave {other}"))),
    }
    Ok(())
}

const WORKER: &str = "worker-token";
const REVIEWER: &str = "reviewer-token";
/// Tokens a request may carry: the pair's two, a stale one, an empty one.
const TOKENS: &[&str] = &[WORKER, REVIEWER, "stale-token", ""];

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z0-9 .]{0,24}",
        2 => any::<String>(),
        1 => Just("[duet message #1 from duet]".to_owned()),
        1 => (1usize..3).prop_map(|k| "long ".repeat(k * 9000)),
    ]
}

/// JSON without floats (so generated values round-trip exactly).
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z_-]{1,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn tool_call() -> impl Strategy<Value = ToolCall> {
    let finding = (
        prop::sample::select(vec![
            Severity::Blocker,
            Severity::Major,
            Severity::Minor,
            Severity::Nit,
        ]),
        proptest::option::of("[a-z/.]{1,12}"),
        proptest::option::of(any::<u32>()),
        text(),
    )
        .prop_map(|(severity, file, line, text)| Finding {
            severity,
            file,
            line,
            text,
        });
    prop_oneof![
        text().prop_map(|text| ToolCall::SendMessage { text }),
        text().prop_map(|summary| ToolCall::RequestReview { summary }),
        (
            any::<bool>(),
            vec(finding, 0..3),
            vec(text(), 0..2),
            vec(text(), 0..2)
        )
            .prop_map(|(approve, findings, verified, not_verified)| {
                ToolCall::SubmitReview {
                    verdict: if approve {
                        Verdict::Approve
                    } else {
                        Verdict::ChangesRequested
                    },
                    findings,
                    verified,
                    not_verified,
                }
            }),
        text().prop_map(|summary| ToolCall::MarkDone { summary }),
        text().prop_map(|question| ToolCall::AskHuman { question }),
        Just(ToolCall::TaskStatus),
    ]
}

/// A claude hook payload: one the corpus has (mutated or not), or made up.
fn hook_payload() -> impl Strategy<Value = Value> {
    let events = vec![
        "SessionStart",
        "UserPromptSubmit",
        "Stop",
        "StopFailure",
        "PermissionRequest",
        "PreToolUse",
        "PostToolUse",
        "Notification",
        "SessionEnd",
        "PreCompact",
    ];
    prop_oneof![
        2 => mutated(corpus("hook")).prop_map(|b| serde_json::from_slice(&b).unwrap_or(Value::Null)),
        2 => (prop::sample::select(events), json(), any::<bool>(), proptest::option::of("[a-z0-9-]{1,8}"))
            .prop_map(|(event, extra, active, id)| {
                let mut payload = serde_json::json!({
                    "hook_event_name": event, "session_id": "s", "stop_hook_active": active,
                    "prompt": extra.clone(), "last_assistant_message": extra,
                });
                if let Some(id) = id {
                    payload["duet_request_id"] = Value::String(id);
                }
                payload
            }),
        1 => json(),
    ]
}

fn body() -> impl Strategy<Value = RequestBody> {
    let task = prop_oneof![3 => Just("t1".to_owned()), 1 => text()];
    let role = prop_oneof![
        Just(None),
        Just(Some(Role::Worker)),
        Just(Some(Role::Reviewer))
    ];
    prop_oneof![
        6 => tool_call().prop_map(|call| RequestBody::ToolCall { call }),
        4 => (any::<bool>(), hook_payload()).prop_map(|(claude, payload)| RequestBody::Hook {
            source: if claude { HookSource::Claude } else { HookSource::Codex },
            payload,
        }),
        1 => any::<u32>().prop_map(|pid| RequestBody::ProcessStarted { pid }),
        1 => Just(RequestBody::BridgeReady),
        1 => (proptest::option::of(any::<i32>()), proptest::option::of(any::<i32>()))
            .prop_map(|(code, signal)| RequestBody::ProcessExited { code, signal }),
        1 => proptest::option::of(task.clone()).prop_map(|task| RequestBody::Status { task }),
        1 => proptest::option::of(any::<u64>()).prop_map(|from_seq| RequestBody::Subscribe { from_seq }),
        1 => (task.clone(), role, text()).prop_map(|(task, to, text)| RequestBody::Say { task, to, text }),
        1 => (task.clone(), text()).prop_map(|(task, text)| RequestBody::Answer { task, text }),
        1 => task.clone().prop_map(|task| RequestBody::Pause { task }),
        1 => task.clone().prop_map(|task| RequestBody::Resume { task }),
        1 => task.clone().prop_map(|task| RequestBody::Cancel { task }),
        1 => task.clone().prop_map(|task| RequestBody::Report { task }),
        1 => proptest::option::of(task).prop_map(|task| RequestBody::Merge { task }),
        1 => any::<bool>().prop_map(|stop_agents| RequestBody::Stop { stop_agents }),
    ]
}

fn request(tokens: &'static [&'static str]) -> impl Strategy<Value = Request> {
    (
        prop_oneof![19 => Just(PROTOCOL_VERSION), 1 => any::<u32>()],
        proptest::option::of(
            prop_oneof![4 => prop::sample::select(tokens).prop_map(str::to_owned), 1 => text()],
        ),
        proptest::option::of(prop_oneof![4 => "c-[0-9]{1,2}", 1 => text()]),
        body(),
    )
        .prop_map(|(version, token, call_id, body)| Request {
            version,
            token,
            call_id: call_id.map(CallId::new),
            body,
        })
}

#[derive(Debug, Clone)]
enum Step {
    Request(Request),
    /// A mutated corpus frame, when it decodes, sent with the token picked by the index.
    Frame(Bytes, usize),
    /// Send an earlier tool call again (as a bridge does after a daemon died).
    Again(prop::sample::Index),
    Tick {
        head: u8,
        clean: bool,
        dt: u16,
    },
    Idle(bool),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => request(TOKENS).prop_map(Step::Request),
        4 => (tool_call(), any::<bool>(), 0u8..8).prop_map(|(call, worker, id)| {
            let token = if worker { WORKER } else { REVIEWER };
            Step::Request(Request::tool_call(token, CallId::new(format!("c-{id}")), call))
        }),
        3 => (bytes_for("frame"), 0..TOKENS.len() + 1).prop_map(|(b, t)| Step::Frame(b, t)),
        3 => any::<prop::sample::Index>().prop_map(Step::Again),
        2 => (0u8..3, any::<bool>(), any::<u16>()).prop_map(|(head, clean, dt)| Step::Tick { head, clean, dt }),
        1 => any::<bool>().prop_map(Step::Idle),
    ]
}

pub fn requests(runner: &mut Runner) -> Result<(), String> {
    runner.check(vec(step(), 1..24), |steps| {
        let state = PairState::new("t1", "1".repeat(40), Timestamp(0), PairConfig::default());
        let mut c = Controller::new(
            state,
            Seat::new(Role::Worker, AgentKind::Claude, "w", WORKER),
            Seat::new(Role::Reviewer, AgentKind::Codex, "r", REVIEWER),
        );
        let mut now = 1_000u64;
        c.start(Timestamp(now));
        let mut sent: Vec<Request> = Vec::new();
        // The first answer to each (role, call id): every copy of the call must get it again.
        let mut first_answers: HashMap<(Role, String), Response> = HashMap::new();
        let heads = ["1".repeat(40), "2".repeat(40), "3".repeat(40)];
        for (conn, step) in (1u64..).zip(steps) {
            now += 500;
            let request = match step {
                Step::Request(request) => request,
                Step::Frame(Bytes(bytes), token) => match decode_line::<Request>(&bytes) {
                    Ok(mut request) => {
                        request.token = TOKENS.get(token).map(|t| (*t).to_owned());
                        request
                    }
                    Err(_) => continue,
                },
                // Tool calls are what a bridge sends again.
                Step::Again(i) => {
                    let calls: Vec<&Request> = sent
                        .iter()
                        .filter(|r| matches!(r.body, RequestBody::ToolCall { .. }))
                        .collect();
                    if calls.is_empty() {
                        continue;
                    }
                    calls[i.index(calls.len())].clone()
                }
                Step::Tick { head, clean, dt } => {
                    now += u64::from(dt);
                    let git = GitFacts {
                        head: heads[usize::from(head)].clone(),
                        clean,
                        plan_on_branch: false,
                    };
                    check_actions(&c.on_tick(Some(&git), Timestamp(now)))?;
                    continue;
                }
                Step::Idle(worker) => {
                    let role = if worker { Role::Worker } else { Role::Reviewer };
                    check_actions(&c.on_agent_idle(role, Timestamp(now)))?;
                    continue;
                }
            };
            let git = GitFacts {
                head: heads[1].clone(),
                clean: true,
                plan_on_branch: false,
            };
            let actions = c.on_request(conn, request.clone(), Some(&git), Timestamp(now));
            check_actions(&actions)?;
            let answers: Vec<&Response> = actions
                .iter()
                .filter_map(|a| match a {
                    Action::Respond { conn: c, response } if *c == conn => Some(response),
                    _ => None,
                })
                .collect();
            prop_assert_eq!(answers.len(), 1, "one answer per request: {:#?}", actions);
            let answer = answers[0];
            check_answer(&request, answer, &mut first_answers)?;
            sent.push(request);
        }
        Ok(())
    })
}

/// No action of the controller may be empty nonsense: every answer has words.
fn check_actions(actions: &[Action]) -> Result<(), TestCaseError> {
    for action in actions {
        if let Action::Respond {
            response: Response::Error { error },
            ..
        } = action
        {
            prop_assert!(
                !error.message.trim().is_empty(),
                "an error without a message: {action:?}"
            );
        }
    }
    Ok(())
}

fn role_of(token: Option<&str>) -> Option<Role> {
    match token {
        Some(WORKER) => Some(Role::Worker),
        Some(REVIEWER) => Some(Role::Reviewer),
        _ => None,
    }
}

fn check_answer(
    request: &Request,
    answer: &Response,
    first_answers: &mut HashMap<(Role, String), Response>,
) -> Result<(), TestCaseError> {
    let refused =
        |kind: ErrorKind| matches!(answer, Response::Error { error } if error.kind == kind);
    if request.version != PROTOCOL_VERSION {
        prop_assert!(refused(ErrorKind::VersionMismatch), "{answer:?}");
        return Ok(());
    }
    if !request.body.is_agent_request() {
        return Ok(());
    }
    let Some(role) = role_of(request.token.as_deref()) else {
        prop_assert!(
            refused(ErrorKind::Unauthorized),
            "a bad token was let in: {answer:?}"
        );
        return Ok(());
    };
    match &request.body {
        RequestBody::Hook { source, payload } if payload.get("duet_request_id").is_none() => {
            let text = payload.to_string();
            let parsed = match source {
                HookSource::Claude => parse_claude_hook(&text).is_ok(),
                HookSource::Codex => parse_codex_notify(&text).is_ok(),
            };
            prop_assert_eq!(
                !parsed,
                refused(ErrorKind::Malformed),
                "hook {} answered {:?}",
                text,
                answer
            );
        }
        RequestBody::ToolCall { call }
            if call.name() != duet_core::protocol::ToolName::TaskStatus =>
        {
            if let Some(id) = request.call_id.as_ref().filter(|id| id.is_usable()) {
                match first_answers.get(&(role, id.as_str().to_owned())) {
                    Some(first) => {
                        prop_assert_eq!(first, answer, "call {} answered differently", id)
                    }
                    None => {
                        first_answers.insert((role, id.as_str().to_owned()), answer.clone());
                    }
                }
            }
        }
        _ => {}
    }
    Ok(())
}
