//! `duet pair` end to end with the roles swapped: the real `codex` CLI works and the real
//! `claude` CLI reviews, in a real tmux session (codex typed into: `transport = "tmux"`), against
//! the scripted fake model server.

mod common;
#[path = "common/e2e.rs"]
mod e2e;

use e2e::{Roles, run_two_round_pair};

#[test]
fn codex_worker_and_claude_reviewer_finish_a_task_in_two_rounds() {
    // Pinned to the typing path (the fallback; the app-server runs these same scripts in
    // `e2e_pair_app_server`), whatever `DUET_E2E_CODEX_TRANSPORT` says.
    let _ = common::CODEX_TRANSPORT.set("tmux".to_owned());
    let Some((_world, log)) = run_two_round_pair(
        "codex-claude",
        "pair_codex_worker_claude_reviewer.toml",
        Roles::CodexWorksClaudeReviews,
    ) else {
        return;
    };
    // claude (the reviewer) got each review request as a prompt of its own.
    for round in ["(round 1 of 5)", "(round 2 of 5)"] {
        let asks: Vec<_> = log
            .iter()
            .filter(|e| e.scope.as_deref() == Some("reviewer") && e.is_step())
            .filter(|e| e.user_text.contains(round) && e.tool_results.is_empty())
            .collect();
        assert_eq!(
            asks.len(),
            1,
            "review request {round} reached the reviewer once"
        );
    }
}
