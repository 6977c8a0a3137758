//! Proof: the real agent CLIs, talking to the fake model server, call duet's tools through the
//! bridge (`duet mcp` = the test binary), and the test controller receives the exact call.
//! Skipped when a CLI is not installed (failing in CI, per duet-testkit's rules).

mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use duet_core::protocol::ToolCall;
use duet_proto::{Request, RequestBody, Response, ResponseBody};
use duet_testkit::agent_env::{ClaudeEnv, CodexEnv, toml_str};
use duet_testkit::agents::{claude_print_with_mcp, require_claude, require_codex};
use duet_testkit::hermetic::{GIT_ENV, assert_success, git_repo, run_bounded};
use duet_testkit::{FakeModelServer, Script};
use support::{TestController, bridge_bin};

const TOKEN: &str = "tok-proof-worker";
const AGENT_TIMEOUT: Duration = Duration::from_secs(90);
const CONTROLLER_ANSWER: &str = "review requested for 1a2b3c4; wait for the verdict";
const TOOLS: [&str; 6] = [
    "send_message",
    "request_review",
    "submit_review",
    "mark_done",
    "ask_human",
    "task_status",
];

/// The worker asks for a review with `summary`, then ends its turn once duet answered.
fn script(summary: &str) -> Script {
    Script::from_toml_str(&format!(
        r#"
[[step]]
name = "ask for review"
match.user_contains = "ask for a review"
match.tool_offered = "mcp__duet__request_review"
reply.tool_calls = [{{ name = "mcp__duet__request_review", input = {{ summary = "{summary}" }} }}]

[[step]]
name = "after the request"
match.tool_result = {{ name = "mcp__duet__request_review", contains = "{CONTROLLER_ANSWER}", is_error = false }}
reply.text = "Review requested."
"#
    ))
    .unwrap()
}

fn review_controller() -> TestController {
    TestController::start(|request| match &request.body {
        RequestBody::ToolCall {
            call: ToolCall::RequestReview { .. },
        } => Response::ok(ResponseBody::ToolResult {
            text: CONTROLLER_ANSWER.into(),
            is_error: false,
        }),
        RequestBody::BridgeReady => Response::ok(ResponseBody::Ack),
        other => panic!("unexpected request from the agent: {other:?}"),
    })
}

fn expected_request(summary: &str) -> Request {
    Request::from_agent(
        TOKEN,
        RequestBody::ToolCall {
            call: ToolCall::RequestReview {
                summary: summary.into(),
            },
        },
    )
}

/// Runs the agent `cmd` and asserts that it succeeded.
fn run_agent(cmd: Command) -> Output {
    let output = run_bounded(cmd, AGENT_TIMEOUT);
    assert_success(&output, "agent");
    output
}

/// The bridge reported ready, passed exactly the one `request_review` on, and the model saw
/// the controller's answer.
fn assert_bridge_carried_the_request(
    controller: &TestController,
    server: &FakeModelServer,
    summary: &str,
) {
    let calls = controller.tool_calls();
    assert!(
        calls.iter().all(|r| r.call_id.is_some()),
        "each call has its id: {calls:?}"
    );
    let calls: Vec<Request> = calls
        .into_iter()
        .map(|r| Request { call_id: None, ..r })
        .collect();
    assert_eq!(calls, vec![expected_request(summary)]);
    assert!(
        controller
            .requests()
            .iter()
            .any(|r| r.body == RequestBody::BridgeReady),
        "the bridge reported ready"
    );
    assert_model_saw_the_bridge(server);
}

/// What the model was offered and shown: every duet tool, and the controller's answer as the
/// request_review result.
fn assert_model_saw_the_bridge(server: &FakeModelServer) {
    let log = server.log();
    let answered = log
        .iter()
        .find(|entry| entry.tool_result("mcp__duet__request_review").is_some())
        .unwrap_or_else(|| panic!("no request_review result went back; log: {log:#?}"));
    for tool in TOOLS {
        assert!(
            answered.offered(&format!("mcp__duet__{tool}")),
            "mcp__duet__{tool} not offered: {:?}",
            answered.tools
        );
    }
    let result = answered.tool_result("mcp__duet__request_review").unwrap();
    assert!(
        result.content.contains(CONTROLLER_ANSWER),
        "{}",
        result.content
    );
    assert!(
        server.unconsumed_steps().is_empty(),
        "steps left; log: {log:#?}"
    );
}

fn bridge_env(socket: &Path) -> serde_json::Value {
    serde_json::json!({ "DUET_SOCKET": socket, "DUET_TOKEN": TOKEN })
}

#[test]
fn claude_calls_request_review_through_the_bridge() {
    let Some(claude) = require_claude() else {
        return;
    };
    let summary = "Added the greeting; cargo test passes.";
    let (_repo_dir, repo) = git_repo("duet-bridge-repo-");
    let server = FakeModelServer::start(script(summary)).unwrap();
    let env = ClaudeEnv::prepare(
        &server.anthropic_base_url(),
        "sk-duet-bridge-proof-0001",
        &[&repo],
    )
    .unwrap();
    let controller = review_controller();
    let mcp_config = serde_json::json!({
        "mcpServers": {
            "duet": {
                "command": bridge_bin(),
                "args": ["mcp"],
                "env": bridge_env(controller.socket()),
            }
        }
    });

    let mut cmd =
        claude_print_with_mcp(&claude, &mcp_config.to_string(), "please ask for a review");
    cmd.current_dir(&repo).envs(GIT_ENV).envs(env.envs());
    let output = run_agent(cmd);

    assert_bridge_carried_the_request(&controller, &server, summary);
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(result["result"], "Review requested.", "{result:#}");
}

#[test]
fn codex_calls_request_review_through_the_bridge() {
    let Some(codex) = require_codex() else { return };
    let summary = "Fixed the parser; all tests pass.";
    let (_repo_dir, repo) = git_repo("duet-bridge-repo-");
    let server = FakeModelServer::start(script(summary)).unwrap();
    let env = CodexEnv::prepare(&codex, &server.openai_base_url(), &[&repo]).unwrap();
    let controller = review_controller();
    let socket = controller.socket().to_string_lossy().into_owned();
    let settings = [
        (
            "mcp_servers.duet.command",
            toml_str(&bridge_bin().to_string_lossy()),
        ),
        ("mcp_servers.duet.args", "[\"mcp\"]".to_owned()),
        (
            "mcp_servers.duet.env",
            format!(
                "{{DUET_SOCKET={},DUET_TOKEN={}}}",
                toml_str(&socket),
                toml_str(TOKEN)
            ),
        ),
        (
            "mcp_servers.duet.default_tools_approval_mode",
            toml_str("approve"),
        ),
    ];

    let mut cmd = Command::new(&codex);
    cmd.arg("exec").args(env.config_args());
    for (key, value) in settings {
        cmd.arg("-c").arg(format!("{key}={value}"));
    }
    cmd.args(["--json", "--dangerously-bypass-approvals-and-sandbox", "-C"])
        .arg(&repo)
        .arg("please ask for a review")
        .current_dir(&repo)
        .envs(GIT_ENV)
        .envs(env.envs());
    let output = run_agent(cmd);

    assert_bridge_carried_the_request(&controller, &server, summary);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("\"mcp_tool_call\""),
        "no mcp_tool_call item in:\n{stdout}"
    );
}
