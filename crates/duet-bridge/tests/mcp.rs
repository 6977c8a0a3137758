//! `duet mcp` as a real child process, driven by rmcp's client, forwarding to a test controller
//! on a real unix socket.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use duet_core::protocol::{Finding, Severity, ToolCall, Verdict};
use duet_proto::{ErrorKind, Request, RequestBody, Response, ResponseBody};
use rmcp::model::{CallToolRequestParams, CallToolResult, JsonObject, Tool};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};
use support::{TestController, bridge_bin, helper_env};

const TOKEN: &str = "tok-worker-1";
const WAIT: Duration = Duration::from_secs(10);

type McpClient = RunningService<RoleClient, ()>;

/// Starts `duet mcp` (the test binary) with DUET_SOCKET=`socket` and connects rmcp's client.
async fn connect(socket: &Path, home: &Path) -> McpClient {
    let mut cmd = Command::new(bridge_bin());
    cmd.arg("mcp");
    helper_env(&mut cmd, Some(socket), Some(TOKEN), home);
    let transport = TokioChildProcess::new(tokio::process::Command::from(cmd)).unwrap();
    ().serve(transport).await.unwrap()
}

async fn call(client: &McpClient, tool: &'static str, arguments: Value) -> CallToolResult {
    let mut params = CallToolRequestParams::new(tool);
    if let Value::Object(map) = arguments {
        params = params.with_arguments(map);
    }
    client.call_tool(params).await.unwrap()
}

fn text_of(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|block| block.as_text().map(|text| text.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The requests with their call ids taken out (checked to be there, one per call, distinct).
fn without_call_ids(requests: Vec<Request>) -> Vec<Request> {
    let ids: Vec<_> = requests
        .iter()
        .filter(|r| matches!(r.body, RequestBody::ToolCall { .. }))
        .map(|r| {
            r.call_id
                .clone()
                .expect("every tool call carries a call id")
        })
        .collect();
    let distinct: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "one id per call: {ids:?}");
    requests
        .into_iter()
        .map(|r| Request { call_id: None, ..r })
        .collect()
}

fn echo_controller() -> TestController {
    TestController::start(|request| match &request.body {
        RequestBody::ToolCall { call } => Response::ok(ResponseBody::ToolResult {
            text: format!("accepted {}", call.name()),
            is_error: false,
        }),
        RequestBody::BridgeReady => Response::ok(ResponseBody::Ack),
        other => panic!("the bridge sent a non-tool request: {other:?}"),
    })
}

fn schema(tool: &Tool) -> Value {
    Value::Object(JsonObject::clone(&tool.input_schema))
}

#[tokio::test]
async fn lists_the_seven_tools_with_role_and_timing_in_their_descriptions_and_exact_schemas() {
    let controller = echo_controller();
    let home = tempfile::tempdir().unwrap();
    let client = connect(controller.socket(), home.path()).await;

    let info = client.peer_info().expect("the server introduced itself");
    assert_eq!(info.server_info.as_ref().unwrap().name, "duet");

    let mut tools = client.list_all_tools().await.unwrap();
    tools.sort_by(|a, b| a.name.cmp(&b.name));
    let names: Vec<&str> = tools.iter().map(|tool| tool.name.as_ref()).collect();
    assert_eq!(
        names,
        [
            "ask_human",
            "mark_done",
            "request_plan_review",
            "request_review",
            "send_message",
            "submit_review",
            "task_status"
        ]
    );
    let by_name = |name: &str| tools.iter().find(|tool| tool.name == name).unwrap();
    let description = |name: &str| by_name(name).description.clone().unwrap().into_owned();
    assert!(
        description("request_review")
            .starts_with("Worker only. Call after you have committed your work")
    );
    assert!(description("mark_done").starts_with("Worker only."));
    assert!(description("request_plan_review").starts_with("Worker only, for tasks with a plan"));
    let plan = schema(by_name("request_plan_review"));
    assert_eq!(plan["required"], json!(["summary"]));
    assert_eq!(plan["additionalProperties"], json!(false));
    assert!(description("submit_review").starts_with("Reviewer only."));
    for name in ["send_message", "ask_human", "task_status"] {
        assert!(description(name).starts_with("Either role."), "{name}");
    }

    let review = schema(by_name("submit_review"));
    assert_eq!(review["type"], "object");
    assert_eq!(review["required"], json!(["verdict"]));
    assert_eq!(review["additionalProperties"], json!(false));
    let resolve = |value: &Value| -> Value {
        // Enums and nested structs are `$ref`s into `$defs`.
        match value.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let name = reference.rsplit('/').next().unwrap();
                review["$defs"][name].clone()
            }
            None => value.clone(),
        }
    };
    let verdict = resolve(&review["properties"]["verdict"]);
    assert_eq!(
        verdict["enum"],
        json!(["approve", "changes_requested"]),
        "{verdict:#}"
    );
    let finding = resolve(&review["properties"]["findings"]["items"]);
    assert_eq!(
        finding["required"],
        json!(["severity", "text"]),
        "{finding:#}"
    );
    let severity = resolve(&finding["properties"]["severity"]);
    assert_eq!(
        severity["enum"],
        json!(["blocker", "major", "minor", "nit"])
    );

    for (name, field) in [
        ("send_message", "text"),
        ("request_review", "summary"),
        ("mark_done", "summary"),
        ("ask_human", "question"),
    ] {
        let schema = schema(by_name(name));
        assert_eq!(schema["required"], json!([field]), "{name}: {schema:#}");
        assert_eq!(schema["properties"][field]["type"], "string", "{name}");
    }
    let status = schema(by_name("task_status"));
    assert_eq!(status["properties"], json!({}), "{status:#}");
    assert!(controller.tool_calls().is_empty(), "listing calls no tool");
    // ...but the bridge told duet it is ready, once, with its token.
    let ready = controller.wait_for_requests(1, WAIT);
    assert_eq!(
        ready,
        vec![Request::from_agent(TOKEN, RequestBody::BridgeReady)]
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn ready_is_told_at_the_first_tools_list_not_at_the_handshake() {
    let controller = echo_controller();
    let home = tempfile::tempdir().unwrap();
    let client = connect(controller.socket(), home.path()).await;
    // Handshake done and one call answered (a full round trip through duet): not ready yet, as
    // the client has not listed the tools.
    let result = call(&client, "task_status", json!({})).await;
    assert_eq!(result.is_error, Some(false), "{result:?}");
    assert_eq!(
        without_call_ids(controller.requests()),
        vec![Request::from_agent(
            TOKEN,
            RequestBody::ToolCall {
                call: ToolCall::TaskStatus
            }
        )],
        "no BridgeReady before tools/list"
    );
    // Listed twice: told once.
    assert_eq!(client.list_all_tools().await.unwrap().len(), 7);
    assert_eq!(client.list_all_tools().await.unwrap().len(), 7);
    let requests = controller.wait_for_requests(2, WAIT);
    assert_eq!(
        requests[1],
        Request::from_agent(TOKEN, RequestBody::BridgeReady)
    );
    // A later call round-trips after any second report would have been sent.
    call(&client, "task_status", json!({})).await;
    let ready = controller
        .requests()
        .iter()
        .filter(|r| r.body == RequestBody::BridgeReady)
        .count();
    assert_eq!(ready, 1);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn every_tool_call_is_forwarded_as_the_exact_tool_call_with_the_token() {
    let controller = echo_controller();
    let home = tempfile::tempdir().unwrap();
    let client = connect(controller.socket(), home.path()).await;

    let calls = [
        ("send_message", json!({"text": "Is the parser in scope?"})),
        (
            "request_review",
            json!({"summary": "Added the parser; cargo test passes."}),
        ),
        (
            "submit_review",
            json!({"verdict": "changes_requested", "findings": [
                {"severity": "blocker", "file": "src/parse.rs", "line": 12, "text": "panics on empty input"},
                {"severity": "nit", "text": "typo in the README"}
            ]}),
        ),
        (
            "submit_review",
            json!({"verdict": "approve", "verified": ["cargo test: 4 passed", "read src/parse.rs"],
                   "not_verified": ["the README"]}),
        ),
        (
            "mark_done",
            json!({"summary": "Parser added and approved."}),
        ),
        ("ask_human", json!({"question": "Which date format?"})),
        ("task_status", json!({})),
    ];
    for (tool, arguments) in &calls {
        let result = call(&client, tool, arguments.clone()).await;
        assert_eq!(result.is_error, Some(false), "{tool}: {result:?}");
        assert_eq!(text_of(&result), format!("accepted {tool}"));
    }

    let expected: Vec<Request> = [
        ToolCall::SendMessage {
            text: "Is the parser in scope?".into(),
        },
        ToolCall::RequestReview {
            summary: "Added the parser; cargo test passes.".into(),
        },
        ToolCall::SubmitReview {
            verdict: Verdict::ChangesRequested,
            findings: vec![
                Finding {
                    severity: Severity::Blocker,
                    file: Some("src/parse.rs".into()),
                    line: Some(12),
                    text: "panics on empty input".into(),
                },
                Finding {
                    severity: Severity::Nit,
                    file: None,
                    line: None,
                    text: "typo in the README".into(),
                },
            ],
            verified: vec![],
            not_verified: vec![],
        },
        ToolCall::SubmitReview {
            verdict: Verdict::Approve,
            findings: vec![],
            verified: vec!["cargo test: 4 passed".into(), "read src/parse.rs".into()],
            not_verified: vec!["the README".into()],
        },
        ToolCall::MarkDone {
            summary: "Parser added and approved.".into(),
        },
        ToolCall::AskHuman {
            question: "Which date format?".into(),
        },
        ToolCall::TaskStatus,
    ]
    .into_iter()
    .map(|call| Request::from_agent(TOKEN, RequestBody::ToolCall { call }))
    .collect();
    assert_eq!(
        without_call_ids(controller.wait_for_tool_calls(expected.len(), WAIT)),
        expected
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn refusals_and_protocol_errors_become_error_results_with_the_reason() {
    let controller = TestController::start(|request| match &request.body {
        RequestBody::ToolCall {
            call: ToolCall::MarkDone { .. },
        } => Response::ok(ResponseBody::ToolResult {
            text: "mark_done refused: the reviewer has not approved HEAD 1a2b3c4".into(),
            is_error: true,
        }),
        _ => Response::error(ErrorKind::Unauthorized, "unknown token"),
    });
    let home = tempfile::tempdir().unwrap();
    let client = connect(controller.socket(), home.path()).await;

    let refused = call(&client, "mark_done", json!({"summary": "done"})).await;
    assert_eq!(refused.is_error, Some(true));
    assert_eq!(
        text_of(&refused),
        "mark_done refused: the reviewer has not approved HEAD 1a2b3c4"
    );

    let unauthorized = call(&client, "send_message", json!({"text": "hi"})).await;
    assert_eq!(unauthorized.is_error, Some(true));
    assert_eq!(
        text_of(&unauthorized),
        "send_message refused by duet (unauthorized): unknown token"
    );
    assert_eq!(controller.wait_for_tool_calls(2, WAIT).len(), 2);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn malformed_arguments_are_refused_with_the_field_and_nothing_is_forwarded() {
    let controller = echo_controller();
    let home = tempfile::tempdir().unwrap();
    let client = connect(controller.socket(), home.path()).await;

    let cases = [
        (
            "request_review",
            json!({}),
            "invalid arguments for request_review: missing field `summary`",
        ),
        (
            "send_message",
            json!({"text": 42}),
            "invalid arguments for send_message: text: invalid type: integer `42`, expected a string",
        ),
        (
            "submit_review",
            json!({"verdict": "lgtm"}),
            "invalid arguments for submit_review: verdict: unknown variant `lgtm`, expected `approve` or `changes_requested`",
        ),
        (
            "submit_review",
            json!({"verdict": "approve", "findings": [{"severity": "minor", "file": "a.rs", "line": -1, "text": "x"}]}),
            "invalid arguments for submit_review: findings[0].line: invalid value: integer `-1`, expected u32",
        ),
        (
            "ask_human",
            json!({"question": "why?", "priority": "high"}),
            "invalid arguments for ask_human: priority: unknown field `priority`, expected `question`",
        ),
        (
            "task_status",
            json!({"task": "x"}),
            "invalid arguments for task_status: unknown field `task`, it takes no arguments",
        ),
    ];
    for (tool, arguments, expected) in cases {
        let result = call(&client, tool, arguments).await;
        assert_eq!(result.is_error, Some(true), "{tool}");
        assert_eq!(text_of(&result), expected, "{tool}");
    }
    // A valid call afterwards is the only thing the controller sees.
    call(&client, "task_status", json!({})).await;
    assert_eq!(
        without_call_ids(controller.wait_for_tool_calls(1, WAIT)),
        vec![Request::from_agent(
            TOKEN,
            RequestBody::ToolCall {
                call: ToolCall::TaskStatus
            }
        )]
    );
    client.cancel().await.unwrap();
}

// Multi-threaded: the test thread blocks waiting for the controllers while the call runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_told_while_no_daemon_listens_reaches_the_next_one() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("duet.sock");
    // The agent lists duet's tools while its daemon is down (killed, not yet started again).
    let client = connect(&socket, dir.path()).await;
    assert_eq!(client.list_all_tools().await.unwrap().len(), 7);
    let answer = |request: &Request| match request.body {
        RequestBody::BridgeReady => Response::ok(ResponseBody::Ack),
        _ => Response::error(ErrorKind::Internal, "not expected"),
    };
    let next = TestController::start_at(socket.clone(), answer);
    let requests = next.wait_for_requests(1, WAIT);
    assert_eq!(
        requests[0],
        Request::from_agent(TOKEN, RequestBody::BridgeReady)
    );
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_whose_daemon_died_unanswered_is_sent_again_to_the_next_one_with_its_id() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("duet.sock");
    // The first daemon reads the call and dies before answering.
    let mut dying = TestController::start_unanswering_at(socket.clone());
    let client = connect(&socket, dir.path()).await;
    let pending = tokio::spawn(async move {
        let result = call(
            &client,
            "submit_review",
            json!({"verdict": "approve", "verified": ["read the diff"]}),
        )
        .await;
        (client, result)
    });
    let first = dying.wait_for_tool_calls(1, WAIT).remove(0);
    // Gone: for a while nobody listens at all (the bridge keeps trying), then a new daemon.
    dying.stop();
    let answer = |_: &Request| {
        Response::ok(ResponseBody::ToolResult {
            text: "verdict approve on 1a2b3c4 stored".into(),
            is_error: false,
        })
    };
    let next = TestController::start_at(socket.clone(), answer);
    let (client, result) = pending.await.unwrap();
    assert_eq!(
        (result.is_error, text_of(&result)),
        (Some(false), "verdict approve on 1a2b3c4 stored".into())
    );
    let again = next.wait_for_tool_calls(1, WAIT).remove(0);
    assert_eq!(again, first, "the same call with the same id");
    assert!(first.call_id.is_some());
    // The next call is a new one.
    call(&client, "task_status", json!({})).await;
    let calls = next.wait_for_tool_calls(2, WAIT);
    assert_ne!(calls[1].call_id, first.call_id);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_call_over_the_frame_limit_is_refused_before_it_reaches_duet() {
    let controller = echo_controller();
    let home = tempfile::tempdir().unwrap();
    let client = connect(controller.socket(), home.path()).await;
    let huge = "x".repeat(duet_proto::MAX_FRAME_BYTES);
    let result = call(&client, "send_message", json!({ "text": huge })).await;
    assert_eq!(result.is_error, Some(true));
    let text = text_of(&result);
    assert!(
        text.starts_with("send_message refused: the arguments are ")
            && text.contains("over duet's 1048576-byte limit for one call; shorten them"),
        "{text}"
    );
    // The bridge is still serving, and nothing reached the controller before this call.
    call(&client, "task_status", json!({})).await;
    assert_eq!(controller.wait_for_tool_calls(1, WAIT).len(), 1);
    client.cancel().await.unwrap();
}

#[test]
fn without_its_environment_the_bridge_exits_with_a_clear_message() {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(bridge_bin());
    cmd.arg("mcp");
    helper_env(&mut cmd, None, None, home.path());
    let output = cmd.stdin(std::process::Stdio::null()).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "duet mcp: failed to find duet's control socket: DUET_SOCKET and DUET_TOKEN not set"
        ),
        "{stderr}"
    );
}
