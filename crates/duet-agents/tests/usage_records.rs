//! Real-CLI proof: the token counts duet reads from claude's session transcript and codex's
//! rollout file equal what the fake model server served (scripted, non-trivial usage with cache
//! reads and writes), and a 429 from the model API is recorded as a limit error duet parks on.

use std::process::Command;

use duet_agents::usage_records::{find_codex_rollout, read_claude_transcript, read_codex_rollout};
use duet_core::accounting::{TokenCounts, limit_reset, total_counts};
use duet_testkit::agent_env::{ClaudeEnv, CodexEnv};
use duet_testkit::agents::{require_claude, require_codex};
use duet_testkit::hermetic::{GIT_ENV, assert_success, git_repo, run_bounded};
use duet_testkit::{FakeModelServer, Script, Usage, served_total};

/// What the fake served, in duet's terms (the fakes' `input` is uncached input on both APIs).
fn as_counts(served: Usage) -> TokenCounts {
    TokenCounts {
        input: served.input,
        output: served.output,
        cache_read: served.cache_read,
        cache_write: served.cache_creation,
    }
}

const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(90);

const CLAUDE_SCRIPT: &str = r#"
title = "Usage proof"

[[step]]
name = "run a command"
match.user_contains = "count my tokens"
reply.text = "Running it."
reply.tool_calls = [{ name = "Bash", input = { command = "echo usage-said-ok", description = "say ok" } }]
reply.usage = { input = 1234, output = 56, cache_read = 7000, cache_creation = 300 }

[[step]]
name = "finish"
match.tool_result = { name = "Bash", contains = "usage-said-ok" }
reply.text = "Done."
reply.usage = { input = 222, output = 33, cache_read = 8100, cache_creation = 11 }
"#;

#[test]
fn claude_transcript_counts_match_what_the_fake_served() {
    let Some(claude) = require_claude() else {
        return;
    };
    let (_dir, repo) = git_repo("duet-usage-");
    let server = FakeModelServer::start(Script::from_toml_str(CLAUDE_SCRIPT).unwrap()).unwrap();
    let env = ClaudeEnv::prepare(
        &server.anthropic_base_url(),
        "sk-duet-usage-key-0001",
        &[&repo],
    )
    .unwrap();
    let session = "5d2f0c1e-8a3b-4c7d-9e6f-0a1b2c3d4e5f";
    let mut cmd = Command::new(&claude);
    cmd.args([
        "-p",
        "--output-format",
        "json",
        "--dangerously-skip-permissions",
        "--session-id",
        session,
        "count my tokens",
    ])
    .current_dir(&repo)
    .envs(GIT_ENV)
    .envs(env.envs());
    let output = run_bounded(cmd, TIMEOUT);
    assert_success(&output, "claude -p");
    let served = served_total(&server.log());
    assert_eq!(
        served.input,
        1234 + 222,
        "the scripted usage was served: {served:?}"
    );
    let transcript = std::fs::read_dir(env.home().join(".claude/projects"))
        .unwrap()
        .flatten()
        .map(|dir| dir.path().join(format!("{session}.jsonl")))
        .find(|p| p.exists())
        .expect("claude wrote its session transcript");
    let record = read_claude_transcript(&transcript).unwrap();
    assert_eq!(total_counts(&record.usage), as_counts(served), "{record:?}");
    assert_eq!(record.limit_error, None);
}

const CODEX_SCRIPT: &str = r#"
title = "Usage proof"

[[step]]
name = "run a command"
match.user_contains = "count my tokens"
reply.tool_calls = [{ name = "exec_command", input = { cmd = "echo usage-said-ok" } }]
reply.usage = { input = 1234, output = 56, cache_read = 7000 }

[[step]]
name = "finish"
match.tool_result = { name = "exec_command", contains = "usage-said-ok" }
reply.text = "Done."
reply.usage = { input = 222, output = 33, cache_read = 8100 }
"#;

#[test]
fn codex_rollout_counts_match_what_the_fake_served() {
    let Some(codex) = require_codex() else { return };
    let (_dir, repo) = git_repo("duet-usage-");
    let server = FakeModelServer::start(Script::from_toml_str(CODEX_SCRIPT).unwrap()).unwrap();
    let env = CodexEnv::prepare(&codex, &server.openai_base_url(), &[&repo]).unwrap();
    let mut cmd = Command::new(&codex);
    cmd.arg("exec")
        .args(env.config_args())
        .args(["--json", "--dangerously-bypass-approvals-and-sandbox", "-C"])
        .arg(&repo)
        .arg("count my tokens")
        .current_dir(&repo)
        .envs(GIT_ENV)
        .envs(env.envs());
    let output = run_bounded(cmd, TIMEOUT);
    assert_success(&output, "codex exec");
    let served = served_total(&server.log());
    assert_eq!(
        served.input,
        1234 + 222,
        "the scripted usage was served: {served:?}"
    );
    let thread = thread_id(&output.stdout);
    let rollout = find_codex_rollout(env.codex_home(), &thread).expect("codex wrote its rollout");
    let record = read_codex_rollout(&rollout).unwrap();
    assert_eq!(total_counts(&record.usage), as_counts(served), "{record:?}");
    assert_eq!(record.limit_error, None);
}

fn thread_id(stdout: &[u8]) -> String {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["type"] == "thread.started")
        .and_then(|e| e["thread_id"].as_str().map(str::to_owned))
        .expect("codex exec --json names its thread")
}

const LIMIT_SCRIPT: &str = r#"
title = "Usage proof"

[[step]]
name = "limit"
match.user_contains = "count my tokens"
reply.error = { status = 429, message = "rate_limit_error: usage limit reached", headers = { "retry-after" = "3600", "anthropic-ratelimit-unified-reset" = "1893456000", "anthropic-ratelimit-unified-status" = "rejected", "x-codex-primary-used-percent" = "100", "x-codex-primary-reset-at" = "1893456000" } }
"#;

#[test]
fn claude_records_a_429_as_a_limit_error_that_parks() {
    let Some(claude) = require_claude() else {
        return;
    };
    let (_dir, repo) = git_repo("duet-usage-");
    let server = FakeModelServer::start(Script::from_toml_str(LIMIT_SCRIPT).unwrap()).unwrap();
    let env = ClaudeEnv::prepare(
        &server.anthropic_base_url(),
        "sk-duet-usage-key-0001",
        &[&repo],
    )
    .unwrap();
    let mut cmd = Command::new(&claude);
    let session = "6e3a1d2f-9b4c-4d8e-8f70-1b2c3d4e5f60";
    cmd.args([
        "-p",
        "--output-format",
        "json",
        "--dangerously-skip-permissions",
        "--session-id",
        session,
        "count my tokens",
    ])
    .current_dir(&repo)
    .envs(GIT_ENV)
    .envs(env.envs());
    let output = run_bounded(cmd, TIMEOUT);
    assert!(!output.status.success(), "claude -p fails on a usage limit");
    assert_eq!(
        server.log().len(),
        1,
        "claude did not retry a rejected request"
    );
    let transcript = std::fs::read_dir(env.home().join(".claude/projects"))
        .unwrap()
        .flatten()
        .map(|dir| dir.path().join(format!("{session}.jsonl")))
        .find(|p| p.exists())
        .expect("claude wrote its session transcript");
    let record = read_claude_transcript(&transcript).unwrap();
    let text = record
        .limit_error
        .expect("the transcript records the limit error");
    assert!(
        text.contains("(429)") && text.contains("usage limit reached"),
        "{text}"
    );
    let now = 1_800_000_000;
    assert!(limit_reset(&text, now).is_some_and(|at| at > now));
}

#[test]
fn codex_records_a_429_as_a_limit_error_that_parks() {
    let Some(codex) = require_codex() else { return };
    let (_dir, repo) = git_repo("duet-usage-");
    let server = FakeModelServer::start(Script::from_toml_str(LIMIT_SCRIPT).unwrap()).unwrap();
    let env = CodexEnv::prepare(&codex, &server.openai_base_url(), &[&repo]).unwrap();
    let mut cmd = Command::new(&codex);
    cmd.arg("exec")
        .args(env.config_args())
        .args(["--json", "--dangerously-bypass-approvals-and-sandbox", "-C"])
        .arg(&repo)
        .arg("count my tokens")
        .current_dir(&repo)
        .envs(GIT_ENV)
        .envs(env.envs());
    let output = run_bounded(cmd, TIMEOUT);
    assert!(
        !output.status.success(),
        "codex exec fails on a usage limit"
    );
    let rollout = find_codex_rollout(env.codex_home(), &thread_id(&output.stdout)).unwrap();
    let text = read_codex_rollout(&rollout)
        .unwrap()
        .limit_error
        .expect("the rollout records the 429");
    assert!(text.contains("429"), "{text}");
    let now = 1_800_000_000;
    assert!(limit_reset(&text, now).is_some_and(|at| at > now));
}
