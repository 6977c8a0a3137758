//! `duet pair` end to end: the real `claude` and `codex` CLIs in a real tmux session, against
//! the scripted fake model server, talking through duet's bridge and hooks.

mod common;
#[path = "common/e2e.rs"]
mod e2e;

use e2e::{Roles, run_two_round_pair};

#[test]
fn claude_worker_and_codex_reviewer_finish_a_task_in_two_rounds() {
    run_two_round_pair(
        "claude-codex",
        "pair_claude_worker_codex_reviewer.toml",
        Roles::ClaudeWorksCodexReviews,
    );
}
