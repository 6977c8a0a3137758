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

/// The codex seat ran on its app-server: the engine opened a codex thread for it (the
/// "session ROLE ID" note), and once the pair is over nothing of the seat is left in the
/// engine's folder (socket, thread file, log, process group).
fn assert_on_app_server(world: &e2e::PairWorld, role: Role) {
    let engine_socket = duet_proto::socket_path(&world.repo.join(".duet"));
    let paths = app_server_paths(&engine_socket, e2e::TASK, role);
    let events = world.events();
    let prefix = format!("session {role} ");
    let thread = events
        .iter()
        .find_map(|r| match &r.event {
            duet_store::Event::Note { text } => text.strip_prefix(&prefix),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no `{prefix}...` note among {events:#?}"));
    assert_eq!(thread.len(), 36, "a codex thread id: {thread}");
    let folder = paths.socket.parent().unwrap().to_path_buf();
    // The seat cleans up as its pane closes, after `duet pair` has returned: no event reaches
    // this process, so look for a while.
    let deadline = std::time::Instant::now() + e2e::STEP_TIMEOUT;
    while folder.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let left: Vec<_> = std::fs::read_dir(&folder)
        .map(|entries| entries.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        !folder.exists(),
        "{} is left with {left:?}",
        folder.display()
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

/// The notes of the task whose text starts with `prefix`.
fn notes_starting(events: &[duet_store::EventRecord], prefix: &str) -> Vec<String> {
    events
        .iter()
        .filter_map(|r| match &r.event {
            duet_store::Event::Note { text } if text.starts_with(prefix) => Some(text.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_codex_approval_request_is_answered_by_duet_answer_approve_then_deny() {
    on_app_server();
    let Some(world) = e2e::PairWorld::start(
        "as-approval",
        e2e::script("pair_app_server_approval.toml"),
        Roles::CodexWorksClaudeReviews,
        5,
    ) else {
        return;
    };
    // codex asks before running anything not known to be safe (`-a untrusted`).
    let config = std::fs::read_to_string(world.repo.join("duet.toml")).unwrap();
    let asking = config.replace(
        "\"--dangerously-bypass-approvals-and-sandbox\"",
        "\"-a\", \"untrusted\", \"-s\", \"danger-full-access\"",
    );
    assert_ne!(asking, config);
    std::fs::write(world.repo.join("duet.toml"), asking).unwrap();
    let worktree = world.repo.join(".duet/worktrees").join(e2e::TASK);
    let pair = world.spawn_pair();

    let waits = "the worker waits for an approval: ";
    let events = world.wait_for_events("codex to ask", e2e::STEP_TIMEOUT, |events| {
        !notes_starting(events, waits).is_empty()
    });
    let asked = notes_starting(&events, waits);
    assert!(asked[0].contains("touch approved.txt"), "{asked:?}");
    assert!(
        !worktree.join("approved.txt").exists(),
        "nothing runs before the answer"
    );

    // Neither yes nor no: refused, with what to answer; codex still waits.
    let unclear = world
        .env
        .duet(&world.repo, &["answer", e2e::TASK, "maybe later"]);
    assert_ne!(unclear.code, 0, "{unclear:?}");
    assert!(
        unclear.stderr.contains("answer `approve` or `deny`"),
        "{unclear:?}"
    );
    let approve = world
        .env
        .duet(&world.repo, &["answer", e2e::TASK, "approve"]);
    assert_eq!(approve.code, 0, "{approve:?}");
    let ran = world
        .server
        .wait_for_entry(
            |e| e2e::step_name(e) == Some("after the approval"),
            e2e::STEP_TIMEOUT,
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", world.diagnostics()));
    assert!(worktree.join("approved.txt").exists());
    assert!(
        ran.tool_results
            .iter()
            .any(|r| r.content.contains("touched")),
        "{ran:#?}"
    );

    let events = world.wait_for_events("codex to ask again", e2e::STEP_TIMEOUT, |events| {
        notes_starting(events, waits).len() == 2
    });
    assert!(notes_starting(&events, waits)[1].contains("touch denied.txt"));
    let deny = world.env.duet(&world.repo, &["answer", e2e::TASK, "deny"]);
    assert_eq!(deny.code, 0, "{deny:?}");
    let declined = world
        .server
        .wait_for_entry(
            |e| e2e::step_name(e) == Some("after the denial"),
            e2e::STEP_TIMEOUT,
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", world.diagnostics()));
    assert!(
        !worktree.join("denied.txt").exists(),
        "a denied command does not run"
    );
    assert!(
        !declined
            .tool_results
            .iter()
            .any(|r| r.content.contains("denied file made")),
        "{declined:#?}"
    );

    // codex goes on with the answer as soon as it has it: the engine's note of the answer may
    // come after the model's request.
    let events = world.wait_for_events("both answers noted", e2e::STEP_TIMEOUT, |events| {
        notes_starting(events, "the human ").len() == 2
    });
    assert_eq!(
        notes_starting(&events, "the human ")
            .iter()
            .map(|n| n.split(':').next().unwrap().to_owned())
            .collect::<Vec<_>>(),
        vec![
            "the human approved the worker's approval".to_owned(),
            "the human declined the worker's approval".to_owned()
        ],
        "{}",
        e2e::describe(&events)
    );
    // No approval is left waiting: an answer now is the pair's, not codex's.
    let run = pair.interrupt();
    assert!(!run.stdout.contains("failed"), "{}", run.stdout);
}
