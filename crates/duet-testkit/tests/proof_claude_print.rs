//! Proof: `claude -p` against the fake server runs a scripted Bash tool call that writes a file,
//! and its next request carries the tool's result.

mod proof_support;

use std::process::Command;

use duet_testkit::agent_env::ClaudeEnv;
use duet_testkit::agents::require_claude;
use duet_testkit::hermetic::{GIT_ENV, assert_success, run_bounded};
use duet_testkit::{FakeModelServer, Script};
use proof_support::{AGENT_TIMEOUT, git_repo};

const SCRIPT: &str = r#"
[[step]]
name = "write the file"
match.user_contains = "please write proof.txt"
reply.text = "Writing it."
reply.tool_calls = [{ name = "Bash", input = { command = "printf 'written by claude' > proof.txt && echo bash-said-ok", description = "write proof.txt" } }]

[[step]]
name = "after the tool"
match.tool_result = { name = "Bash", contains = "bash-said-ok" }
reply.text = "The file is written."
"#;

#[test]
fn claude_print_runs_a_scripted_bash_call_and_reports_its_result() {
    let Some(claude) = require_claude() else {
        return;
    };
    let (_repo_dir, repo) = git_repo();
    let server = FakeModelServer::start(Script::from_toml_str(SCRIPT).unwrap()).unwrap();
    let env = ClaudeEnv::prepare(
        &server.anthropic_base_url(),
        "sk-duet-proof-key-0001",
        &[&repo],
    )
    .unwrap();

    let mut cmd = Command::new(&claude);
    cmd.args([
        "-p",
        "--output-format",
        "json",
        "--dangerously-skip-permissions",
        "please write proof.txt",
    ])
    .current_dir(&repo)
    .envs(GIT_ENV)
    .envs(env.envs());
    let output = run_bounded(cmd, AGENT_TIMEOUT);
    assert_success(&output, "claude -p");

    assert_eq!(
        std::fs::read_to_string(repo.join("proof.txt")).unwrap(),
        "written by claude"
    );
    let log = server.log();
    let after_tool = log
        .iter()
        .find(|entry| entry.tool_result("Bash").is_some())
        .unwrap_or_else(|| panic!("no request carried the Bash result; log: {log:#?}"));
    assert!(
        after_tool
            .tool_result("Bash")
            .unwrap()
            .content
            .contains("bash-said-ok")
    );
    assert!(
        server.unconsumed_steps().is_empty(),
        "steps left: {:?}",
        server.unconsumed_steps()
    );

    let result: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(result["result"], "The file is written.", "{result:#}");
}
