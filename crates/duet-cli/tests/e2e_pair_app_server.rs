//! `duet pair` end to end with codex on its app-server (`transport = "app-server"`): the real
//! `codex` CLI in either seat is started by `duet codex-seat` in its pane (app-server on a
//! private unix socket, the TUI attached with `--remote`), gets its brief and messages by
//! `turn/start` / `turn/steer`, and its turns come from notifications; the real `claude` CLI
//! has the other seat. Same two-round task and checks as `e2e_pair` / `e2e_pair_codex_worker`.

mod common;
#[path = "common/e2e.rs"]
mod e2e;

use duet_agents::adapter::codex_remote::app_server_paths;
use duet_core::protocol::Role;
use e2e::{Roles, run_two_round_pair};

/// The codex seat ran on its app-server: the thread duet opened for the TUI is the seat's
/// conversation (the engine's "session ROLE ID" note).
fn assert_on_app_server(world: &e2e::PairWorld, role: Role) {
    let engine_socket = duet_proto::socket_path(&world.repo.join(".duet"));
    let paths = app_server_paths(&engine_socket, e2e::TASK, role);
    let thread = std::fs::read_to_string(&paths.thread_file)
        .unwrap_or_else(|e| panic!("{}: {e}", paths.thread_file.display()));
    let note = format!("session {role} {thread}");
    let events = world.events();
    assert!(
        events
            .iter()
            .any(|r| matches!(&r.event, duet_store::Event::Note { text } if *text == note)),
        "no `{note}` among {events:#?}"
    );
    // Each hand-over says how it went: the seat is idle between the script's turns, so by
    // `turn/start`.
    let by_start = format!("handed to the {role} by turn/start: ");
    assert!(
        events.iter().any(
            |r| matches!(&r.event, duet_store::Event::Note { text } if text.starts_with(&by_start))
        ),
        "no `{by_start}...` note among {events:#?}"
    );
}

fn on_app_server() {
    let _ = common::CODEX_TRANSPORT.set("app-server".to_owned());
}

#[test]
fn codex_worker_on_its_app_server_and_claude_reviewer_finish_in_two_rounds() {
    on_app_server();
    let Some((world, _log)) = run_two_round_pair(
        "as-codex-claude",
        "pair_codex_worker_claude_reviewer.toml",
        Roles::CodexWorksClaudeReviews,
    ) else {
        return;
    };
    assert_on_app_server(&world, Role::Worker);
}

#[test]
fn claude_worker_and_codex_reviewer_on_its_app_server_finish_in_two_rounds() {
    on_app_server();
    let Some((world, _log)) = run_two_round_pair(
        "as-claude-codex",
        "pair_claude_worker_codex_reviewer.toml",
        Roles::ClaudeWorksCodexReviews,
    ) else {
        return;
    };
    assert_on_app_server(&world, Role::Reviewer);
}
