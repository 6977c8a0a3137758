//! `duet pair` end to end with a real `codex` worker on its app-server (and a real `claude`
//! reviewer): the human attached to the task's session types into codex's TUI and codex's model
//! gets it; then codex's app-server alone is killed while duet sends codex a message, and the
//! seat comes back on the same thread with the message received once.

mod common;
#[path = "common/e2e.rs"]
mod e2e;

use std::process::Command;
use std::time::{Duration, Instant};

use duet_agents::adapter::codex_remote::app_server_paths;
use duet_agents::codex_app_server::leftovers::group_file;
use duet_core::protocol::Role;
use duet_store::Event;
use e2e::{
    PairWorld, Roles, RunningPair, STEP_TIMEOUT, assert_messages_delivered_once, describe, script,
};

const HUMAN_LINE: &str = "HUMAN-TYPED-LINE from the attached human";
const AROUND_THE_KILL: &str = "AROUND-THE-KILL: say hello once";

fn tmux(socket: &str, args: &[&str]) -> String {
    let out = Command::new("tmux")
        .args(["-L", socket])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "tmux {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The pane of `role` (its border title names the role).
fn pane_of(socket: &str, role: &str) -> String {
    let text = tmux(
        socket,
        &["list-panes", "-a", "-F", "#{pane_id} #{@duet_title}"],
    );
    let needle = format!(" {role} ");
    text.lines()
        .find_map(|line| {
            let (pane, title) = line.split_once(' ')?;
            title.contains(&needle).then(|| pane.to_owned())
        })
        .unwrap_or_else(|| panic!("no {role} pane in {text:?}"))
}

/// Waits until the pane shows `needle` (a pane has no event to await: look every 100 ms).
fn wait_for_screen(socket: &str, pane: &str, needle: &str) {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let screen = tmux(socket, &["capture-pane", "-p", "-J", "-t", pane]);
        if screen.contains(needle) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "pane {pane} never showed {needle:?}:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The worker's model requests whose last user text contains `text` and that start a turn.
fn prompts_with(world: &PairWorld, text: &str) -> usize {
    world
        .server
        .log()
        .iter()
        .filter(|e| e.scope.as_deref() == Some("worker") && e.tool_results.is_empty())
        .filter(|e| e.user_text.contains(text))
        .count()
}

/// The pair started with codex working on its app-server; the human, attached, types a line
/// into codex's TUI in the worker's pane and waits for codex's reply to show there.
fn start_pair_and_type_into_codex() -> Option<(PairWorld, RunningPair)> {
    let _ = common::CODEX_TRANSPORT.set("app-server".to_owned());
    let world = PairWorld::start(
        "as-seat",
        script("pair_app_server_seat.toml"),
        Roles::CodexWorksClaudeReviews,
        5,
    )?;
    let pair = world.spawn_pair();
    world
        .server
        .wait_until_steps_consumed(2, STEP_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}\n{}", world.diagnostics()));

    // codex's TUI in the worker's pane shows the thread duet started; a line typed there
    // reaches codex's model.
    let pane = pane_of(&world.tmux_socket, "worker");
    wait_for_screen(&world.tmux_socket, &pane, "Starting on the greeting.");
    tmux(
        &world.tmux_socket,
        &["send-keys", "-t", &pane, "-l", HUMAN_LINE],
    );
    wait_for_screen(&world.tmux_socket, &pane, "HUMAN-TYPED-LINE");
    // codex takes an Enter right after typed text as part of a paste (a newline): no event says
    // its paste window has closed.
    std::thread::sleep(Duration::from_millis(400));
    tmux(&world.tmux_socket, &["send-keys", "-t", &pane, "Enter"]);
    world
        .server
        .wait_for_entry(
            |e| e2e::step_name(e) == Some("typed by the human"),
            STEP_TIMEOUT,
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", world.diagnostics()));
    wait_for_screen(&world.tmux_socket, &pane, "HUMAN-REPLY-MARKER");
    Some((world, pair))
}

#[test]
fn a_human_types_into_codex_and_its_model_gets_the_line_once() {
    let Some((world, pair)) = start_pair_and_type_into_codex() else {
        return;
    };
    assert_eq!(
        prompts_with(&world, "HUMAN-TYPED-LINE"),
        1,
        "{}",
        world.diagnostics()
    );
    let run = pair.interrupt();
    assert!(run.stdout.contains("task greet: stopped"), "{}", run.stdout);
}

#[test]
fn a_human_types_into_codex_and_its_app_server_killed_comes_back_on_the_same_thread() {
    let Some((world, pair)) = start_pair_and_type_into_codex() else {
        return;
    };

    // The app-server alone (its process group), not the seat or the engine; a message goes
    // to codex at once.
    let engine_socket = duet_proto::socket_path(&world.repo.join(".duet"));
    let paths = app_server_paths(&engine_socket, e2e::TASK, Role::Worker);
    let group = std::fs::read_to_string(group_file(&paths.socket)).unwrap();
    let killed = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", group.trim())])
        .status()
        .unwrap();
    assert!(killed.success());
    let said = world.env.duet(
        &world.repo,
        &["say", e2e::TASK, "--to", "worker", AROUND_THE_KILL],
    );
    assert_eq!(said.code, 0, "{said:?}");
    world
        .server
        .wait_for_entry(
            |e| e2e::step_name(e) == Some("around the kill"),
            STEP_TIMEOUT,
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", world.diagnostics()));
    let restarted = std::fs::read_to_string(group_file(&paths.socket)).unwrap_or_default();
    assert_ne!(restarted.trim(), group.trim(), "a new app-server runs");

    // Each reached the model once; the seat kept its thread and was not restarted.
    assert_eq!(
        prompts_with(&world, "HUMAN-TYPED-LINE"),
        1,
        "{}",
        world.diagnostics()
    );
    assert_eq!(
        prompts_with(&world, "AROUND-THE-KILL"),
        1,
        "{}",
        world.diagnostics()
    );
    // The model's request and the thread's notification of the user message that carries
    // the message race: the delivery is recorded once the engine has seen the latter.
    let events = world.wait_for_events(
        "the message around the kill delivered",
        STEP_TIMEOUT,
        |events| {
            let count = |want: fn(&Event) -> bool| events.iter().filter(|r| want(&r.event)).count();
            count(|e| matches!(e, Event::MessageAccepted { .. }))
                == count(|e| matches!(e, Event::MessageDelivered { .. }))
        },
    );
    let threads: Vec<_> = events
        .iter()
        .filter(|r| matches!(&r.event, Event::Note { text } if text.starts_with("session worker ")))
        .collect();
    assert_eq!(
        threads.len(),
        1,
        "one thread, resumed: {}",
        describe(&events)
    );
    assert!(
        !events
            .iter()
            .any(|r| matches!(&r.event, Event::AgentExited { .. })),
        "{}",
        describe(&events)
    );
    assert_messages_delivered_once(&events);
    assert_eq!(world.server.unconsumed_steps(), Vec::<usize>::new());
    assert_eq!(world.unmatched_requests(), "[]");

    let run = pair.interrupt();
    assert!(run.stdout.contains("task greet: stopped"), "{}", run.stdout);
}
