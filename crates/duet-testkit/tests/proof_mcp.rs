//! Proof: both CLIs call a tool of the probe MCP server given in their config, and the probe
//! receives the call's arguments.

mod proof_support;

use std::process::Command;

use duet_testkit::agent_env::{ClaudeEnv, CodexEnv};
use duet_testkit::agents::{claude_print_with_mcp, require_claude, require_codex};
use duet_testkit::hermetic::{GIT_ENV, assert_success, run_bounded};
use duet_testkit::mcp_probe::{PROBE_TOOL_ANSWER, RecordArgs, read_records};
use duet_testkit::{FakeModelServer, Script};
use proof_support::{AGENT_TIMEOUT, claude_probe_mcp_config, codex_probe_args, git_repo};

/// A script that calls the probe's `record` tool with `text`/`n`, then ends the turn once the
/// tool answered.
fn script(text: &str, n: i64) -> Script {
    Script::from_toml_str(&format!(
        r#"
[[step]]
name = "call the probe"
match.user_contains = "call the probe"
match.tool_offered = "mcp__probe__record"
reply.tool_calls = [{{ name = "mcp__probe__record", input = {{ text = "{text}", n = {n} }} }}]

[[step]]
name = "after the probe"
match.tool_result = {{ contains = "{PROBE_TOOL_ANSWER}" }}
reply.text = "The probe recorded it."
"#
    ))
    .unwrap()
}

#[test]
fn claude_calls_a_tool_of_the_mcp_server_in_its_config() {
    let Some(claude) = require_claude() else {
        return;
    };
    let (_repo_dir, repo) = git_repo();
    let server = FakeModelServer::start(script("from claude", 41)).unwrap();
    let env = ClaudeEnv::prepare(
        &server.anthropic_base_url(),
        "sk-duet-proof-key-0003",
        &[&repo],
    )
    .unwrap();
    let records_dir = tempfile::tempdir().unwrap();
    let records = records_dir.path().join("calls.jsonl");

    let mut cmd = claude_print_with_mcp(
        &claude,
        &claude_probe_mcp_config(&records),
        "please call the probe",
    );
    cmd.current_dir(&repo).envs(GIT_ENV).envs(env.envs());
    let output = run_bounded(cmd, AGENT_TIMEOUT);
    assert_success(&output, "claude -p with the probe");

    assert_eq!(
        read_records(&records).unwrap(),
        vec![RecordArgs {
            text: "from claude".into(),
            n: 41
        }]
    );
    assert!(
        server.unconsumed_steps().is_empty(),
        "steps left; log: {:#?}",
        server.log()
    );
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(result["result"], "The probe recorded it.", "{result:#}");
}

#[test]
fn codex_calls_a_tool_of_the_mcp_server_in_its_config() {
    let Some(codex) = require_codex() else { return };
    let (_repo_dir, repo) = git_repo();
    let server = FakeModelServer::start(script("from codex", 42)).unwrap();
    let env = CodexEnv::prepare(&codex, &server.openai_base_url(), &[&repo]).unwrap();
    let records_dir = tempfile::tempdir().unwrap();
    let records = records_dir.path().join("calls.jsonl");

    let mut cmd = Command::new(&codex);
    cmd.arg("exec")
        .args(env.config_args())
        .args(codex_probe_args(&records))
        .args(["--json", "--dangerously-bypass-approvals-and-sandbox", "-C"])
        .arg(&repo)
        .arg("please call the probe")
        .current_dir(&repo)
        .envs(GIT_ENV)
        .envs(env.envs());
    let output = run_bounded(cmd, AGENT_TIMEOUT);
    assert_success(&output, "codex exec with the probe");

    assert_eq!(
        read_records(&records).unwrap(),
        vec![RecordArgs {
            text: "from codex".into(),
            n: 42
        }]
    );
    assert!(
        server.unconsumed_steps().is_empty(),
        "steps left; log: {:#?}",
        server.log()
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("\"mcp_tool_call\""),
        "no mcp_tool_call item in:\n{stdout}"
    );
}
