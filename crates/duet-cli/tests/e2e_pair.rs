//! `duet pair` end to end: the real `claude` and `codex` CLIs in a real tmux session (codex
//! typed into: `transport = "tmux"`), against the scripted fake model server, talking through
//! duet's bridge and hooks.

mod common;
#[path = "common/e2e.rs"]
mod e2e;

use e2e::{Roles, run_two_round_pair};

#[test]
fn claude_worker_and_codex_reviewer_finish_a_task_in_two_rounds() {
    // Pinned to the typing path (the fallback; the app-server runs these same scripts in
    // `e2e_pair_app_server`), whatever `DUET_E2E_CODEX_TRANSPORT` says.
    let _ = common::CODEX_TRANSPORT.set("tmux".to_owned());
    run_two_round_pair(
        "claude-codex",
        "pair_claude_worker_codex_reviewer.toml",
        Roles::ClaudeWorksCodexReviews,
    );
}
