//! Proof: the claude TUI in a private tmux server starts straight to its prompt, takes a typed
//! prompt, shows the scripted answer, and hands its Stop hook JSON to a hook command.

mod proof_support;

use std::time::Duration;

use duet_testkit::FakeModelServer;
use duet_testkit::agent_env::ClaudeEnv;
use duet_testkit::agents::require_claude;
use duet_testkit::hermetic::{git_env, wait_for_file};
use duet_testkit::tmux::TmuxServer;
use proof_support::{AGENT_TIMEOUT, answer_script, append_stdin_command, git_repo, json_lines};
use serde_json::json;

const ANSWER: &str = "Scripted answer from the fake model: 4242.";

#[test]
fn claude_tui_answers_a_typed_prompt_and_fires_the_stop_hook() {
    let Some(claude) = require_claude() else {
        return;
    };
    let (_repo_dir, repo) = git_repo();
    let server = FakeModelServer::start(answer_script("what is the magic number", ANSWER)).unwrap();
    let env = ClaudeEnv::prepare(
        &server.anthropic_base_url(),
        "sk-duet-proof-key-0002",
        &[&repo],
    )
    .unwrap();
    let hooks_dir = tempfile::tempdir().unwrap();
    let started = hooks_dir.path().join("session-start.jsonl");
    let stopped = hooks_dir.path().join("stop.jsonl");
    let hook = |file: &std::path::Path| json!([{ "hooks": [{ "type": "command", "command": append_stdin_command(file) }] }]);
    let settings =
        json!({ "hooks": { "SessionStart": hook(&started), "Stop": hook(&stopped) } }).to_string();

    let mut tmux = TmuxServer::new();
    let mut session_env: Vec<(String, String)> = git_env();
    session_env.extend(env.envs());
    let argv = [
        claude.to_string_lossy().into_owned(),
        "--dangerously-skip-permissions".to_owned(),
        "--settings".to_owned(),
        settings,
    ];
    let pane = tmux
        .new_session("claude", &repo, &argv, &session_env)
        .unwrap();

    // The SessionStart hook says the session is up; the empty prompt says the input box is.
    wait_for_file(&started, AGENT_TIMEOUT, |content| {
        content.contains("SessionStart")
    });
    let screen = tmux.wait_for_text(&pane, "❯", AGENT_TIMEOUT).unwrap();
    for dialog in [
        "Do you want to use this API key",
        "Quick safety check",
        "trust",
    ] {
        assert!(!screen.contains(dialog), "a dialog is showing:\n{screen}");
    }

    tmux.submit_line(
        &pane,
        "what is the magic number?",
        Duration::ZERO,
        AGENT_TIMEOUT,
    )
    .unwrap();

    let stop = wait_for_file(&stopped, AGENT_TIMEOUT, |content| {
        content.contains("\"Stop\"")
    });
    let payloads = json_lines(&stop);
    let payload = payloads
        .iter()
        .find(|p| p["hook_event_name"] == "Stop")
        .unwrap();
    assert_eq!(payload["last_assistant_message"], ANSWER, "{payload:#}");
    assert_eq!(
        payload["cwd"],
        repo.to_string_lossy().as_ref(),
        "{payload:#}"
    );
    tmux.wait_for_text(&pane, ANSWER, AGENT_TIMEOUT).unwrap();

    let entry = server
        .wait_for_entry(|e| e.is_step(), Duration::from_secs(1))
        .unwrap();
    assert!(
        entry.user_text.contains("what is the magic number?"),
        "{entry:#?}"
    );
}
