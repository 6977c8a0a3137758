//! Proof: the codex TUI in a private tmux server starts straight to its prompt (trusted repo, no
//! dialogs), takes a typed prompt, shows the scripted answer, and runs `notify` with the turn.

mod proof_support;

use std::time::Duration;

use duet_testkit::FakeModelServer;
use duet_testkit::agent_env::{CodexEnv, toml_str};
use duet_testkit::agents::require_codex;
use duet_testkit::hermetic::{git_env, wait_for_file};
use duet_testkit::tmux::TmuxServer;
use proof_support::{AGENT_TIMEOUT, answer_script, git_repo, json_lines};

const ANSWER: &str = "Scripted codex answer: 7777.";
// No `?`: on an empty composer it opens the shortcuts overlay instead of being typed.
const PROMPT: &str = "tell me the codex number";
/// codex treats an Enter that follows typed text within its paste-detection window as a newline.
const CODEX_PASTE_SETTLE: Duration = Duration::from_millis(500);

#[test]
fn codex_tui_answers_a_typed_prompt_and_runs_notify() {
    let Some(codex) = require_codex() else { return };
    let (_repo_dir, repo) = git_repo();
    let server = FakeModelServer::start(answer_script(PROMPT, ANSWER)).unwrap();
    let env = CodexEnv::prepare(&codex, &server.openai_base_url(), &[&repo]).unwrap();
    let notify_dir = tempfile::tempdir().unwrap();
    let notified = notify_dir.path().join("notify.jsonl");
    // notify appends its JSON argument as a line; the temp path has no quotes to escape.
    let notify_script = format!("printf '%s\\n' \"$1\" >> '{}'", notified.display());
    let notify = format!(
        "notify=[\"sh\",\"-c\",{},\"notify\"]",
        toml_str(&notify_script)
    );

    let mut tmux = TmuxServer::new();
    let mut session_env: Vec<(String, String)> = git_env();
    session_env.extend(env.envs());
    let mut argv = vec![codex.to_string_lossy().into_owned()];
    argv.extend(env.config_args());
    // No bypass flag: it would also skip the trust dialog, which the prepared trust table must
    // avoid on its own.
    argv.extend(["-c".to_owned(), notify]);
    let pane = tmux
        .new_session("codex", &repo, &argv, &session_env)
        .unwrap();

    // Pane text is the only readiness signal the codex TUI gives: the composer prompt and the
    // footer naming the configured model (shown once the session is set up).
    let screen = tmux
        .wait_for(&pane, AGENT_TIMEOUT, "the codex composer", |screen| {
            screen.contains("›") && screen.contains("fake-model")
        })
        .unwrap();
    for dialog in ["trust", "Would you like", "Sign in", "Update"] {
        assert!(!screen.contains(dialog), "a dialog is showing:\n{screen}");
    }

    tmux.submit_line(&pane, PROMPT, CODEX_PASTE_SETTLE, AGENT_TIMEOUT)
        .unwrap();

    let content = wait_for_file(&notified, AGENT_TIMEOUT, |content| content.contains(ANSWER));
    let payloads = json_lines(&content);
    let turn = payloads
        .iter()
        .find(|p| p["last-assistant-message"] == ANSWER)
        .unwrap_or_else(|| panic!("no notify payload for our turn: {payloads:#?}"));
    assert_eq!(turn["type"], "agent-turn-complete", "{turn:#}");
    assert!(
        turn["input-messages"].to_string().contains(PROMPT),
        "{turn:#}"
    );
    assert_eq!(turn["cwd"], repo.to_string_lossy().as_ref(), "{turn:#}");
    tmux.wait_for_text(&pane, ANSWER, AGENT_TIMEOUT).unwrap();
}
