//! `duet pair` end to end: when an agent's process (worker or reviewer) is killed, duet notices at
//! once (the `duet exec-agent` wrapper reports the exit), stores it, and starts the agent again
//! with its conversation resumed, as `duet run` does (one engine); the agent is told to go on.

mod common;
#[path = "common/e2e.rs"]
mod e2e;

use std::process::Command;

use duet_store::Event;
use e2e::{PairWorld, Roles, STEP_TIMEOUT, describe, script};

#[test]
fn killing_the_worker_agent_is_noticed_and_it_is_restarted_resumed() {
    kill_agent_and_expect_restart("killed-worker", "worker");
}

#[test]
fn killing_the_reviewer_agent_is_noticed_and_it_is_restarted_resumed() {
    kill_agent_and_expect_restart("killed-reviewer", "reviewer");
}

/// Starts the pair (claude works, codex reviews), SIGKILLs `role`'s agent process once both
/// have finished their first turn, and checks that duet stores the exit, restarts the agent in
/// the same conversation, and that the restarted agent's model is told to go on.
fn kill_agent_and_expect_restart(name: &str, role: &str) {
    let Some(world) = PairWorld::start(
        name,
        script("pair_agent_killed.toml"),
        Roles::ClaudeWorksCodexReviews,
        5,
    ) else {
        return;
    };
    let pair = world.spawn_pair();
    world
        .server
        .wait_until_steps_consumed(2, STEP_TIMEOUT)
        .unwrap();
    world.wait_for_events("both agents launched", STEP_TIMEOUT, |events| {
        launched(events) == 2
    });

    // A claude killed before its transcript is on disk cannot be resumed.
    if role == "worker" {
        let session = world
            .events()
            .iter()
            .find_map(|r| match &r.event {
                Event::AgentLaunched {
                    role, session_id, ..
                } if role == "worker" => session_id.clone(),
                _ => None,
            })
            .expect("claude's session id is chosen by duet");
        world.wait_for_claude_transcript(&session, "Starting on the greeting.");
    }
    // The pane runs the wrapper (`duet exec-agent`); the agent is its child.
    let wrapper = pane_pid(&world.tmux_socket, role);
    let agent = children(wrapper);
    assert_eq!(agent.len(), 1, "wrapper {wrapper} has children {agent:?}");
    let status = Command::new("kill")
        .args(["-KILL", &agent[0].to_string()])
        .status()
        .unwrap();
    assert!(status.success());

    let restarted = format!("the {role} was restarted, its conversation resumed (restart 1 of 3)");
    world.wait_for_events("the agent restarted", STEP_TIMEOUT, |events| {
        events
            .iter()
            .any(|r| matches!(&r.event, Event::Note { text } if *text == restarted))
    });
    // The restarted agent is seen at rest and told to go on: its model gets the nudge.
    world
        .server
        .wait_until_steps_consumed(3, STEP_TIMEOUT)
        .unwrap_or_else(|e| {
            panic!(
                "the restarted {role} was not told to go on: {e}\n{}",
                world.diagnostics()
            )
        });
    let events = world.events();
    let exits: Vec<_> = events
        .iter()
        .filter_map(|r| match &r.event {
            Event::AgentExited { role, exit_code } => Some((role.as_str(), *exit_code)),
            _ => None,
        })
        .collect();
    assert_eq!(exits, vec![(role, Some(137))], "{}", describe(&events));
    let sessions: Vec<_> = events
        .iter()
        .filter_map(|r| match &r.event {
            Event::AgentLaunched {
                role: r,
                session_id,
                ..
            } if r == role => Some(session_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(sessions.len(), 2, "{}", describe(&events));
    if role == "worker" {
        assert_eq!(sessions[0], sessions[1], "resumed, not a new conversation");
    }
    let go_on = world
        .server
        .log()
        .into_iter()
        .find(|e| e2e::step_name(e) == Some(&format!("{role} goes on")))
        .expect("the restarted agent was told to go on");
    assert_eq!(go_on.scope.as_deref(), Some(role));

    let run = pair.interrupt();
    assert_eq!(
        run.code, 130,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    assert!(
        run.stdout.contains("task greet: stopped (working)"),
        "{}",
        run.stdout
    );
}

fn launched(events: &[duet_store::EventRecord]) -> usize {
    events
        .iter()
        .filter(|r| matches!(r.event, Event::AgentLaunched { .. }))
        .count()
}

/// The pid of the process in `role`'s pane (its border title names the role).
fn pane_pid(socket: &str, role: &str) -> u32 {
    let out = Command::new("tmux")
        .args([
            "-L",
            socket,
            "list-panes",
            "-a",
            "-F",
            "#{pane_pid} #{@duet_title}",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let needle = format!(" {role} ");
    text.lines()
        .find_map(|line| {
            let (pid, title) = line.split_once(' ')?;
            title.contains(&needle).then(|| pid.parse().ok())?
        })
        .unwrap_or_else(|| panic!("no {role} pane in {text:?}"))
}

fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}
