//! `duet run` restarts an agent whose process dies: the worker (claude) is killed inside its pane
//! mid-turn; duet starts it again with its conversation resumed, tells it to go on, and the task
//! ends done. Killed again and again, after the last allowed restart the task needs the human.

mod common;
#[path = "e2e_run_support/mod.rs"]
mod support;

use std::process::Command;

use common::toml_string;
use duet_core::lifecycle::StateKind;
use duet_store::Event;
use support::{
    RUN_TIMEOUT, RunWorld, STEP_TIMEOUT, backlog, count, describe, gate_command, is_in, scopes,
};

/// The worker's first turn waits for gate `go`; after its restart it is told to go on and
/// commits, asks for review, and is done after the approval.
fn script(gates: &std::path::Path) -> String {
    let wait = gate_command(&gates.join("go"), "echo released");
    let mut out = String::from("title = \"agent crash\"\n\n");
    out.push_str(&scopes("a"));
    out.push_str(&format!(
        r#"[[step]]
agent = "a-worker"
name = "a wait"
match.user_contains = "You are the WORKER"
reply.tool_calls = [{{ name = "Bash", input = {{ command = {wait} }} }}]

[[step]]
agent = "a-worker"
name = "a go on"
match.user_contains = "Go on where you left off"
reply.tool_calls = [{{ name = "Bash", input = {{ command = "echo a > a.txt && git add a.txt && git commit -q -m 'write a' && echo committed-a" }} }}]

[[step]]
agent = "a-worker"
name = "a request review"
match.tool_result = {{ name = "Bash", contains = "committed-a" }}
reply.tool_calls = [{{ name = "mcp__duet__request_review", input = {{ summary = "wrote a.txt" }} }}]

[[step]]
agent = "a-worker"
name = "a waiting"
match.tool_result = {{ name = "mcp__duet__request_review", contains = "round 1" }}
reply.text = "Waiting for the review."

[[step]]
agent = "a-worker"
name = "a done"
match.user_contains = "The reviewer approved"
reply.tool_calls = [{{ name = "mcp__duet__mark_done", input = {{ summary = "a.txt written" }} }}]

[[step]]
agent = "a-reviewer"
name = "a ready"
match.user_contains = "You are the REVIEWER"
reply.text = "Ready."

[[step]]
agent = "a-reviewer"
name = "a approve"
match.user_contains = "(round 1 of"
reply.tool_calls = [{{ name = "mcp__duet__submit_review", input = {{ verdict = "approve", findings = [], verified = ["git show HEAD: read the whole diff"], not_verified = ["did not run the test suite"] }} }}]

[[step]]
agent = "a-reviewer"
name = "a approved"
match.tool_result = {{ name = "mcp__duet__submit_review" }}
reply.text = "Approved."

[[fallback]]
agent = "a-worker"
name = "worker rests"
reply.text = "Resting."
"#,
        wait = toml_string(&wait),
    ));
    out
}

/// Kills the agent process running under the worker's pane wrapper.
fn kill_worker_agent(world: &RunWorld) -> u32 {
    let wrapper = world.pane_pid("a", "worker");
    let children: Vec<u32> =
        std::fs::read_to_string(format!("/proc/{wrapper}/task/{wrapper}/children"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
    assert_eq!(
        children.len(),
        1,
        "wrapper {wrapper} has children {children:?}"
    );
    let status = Command::new("kill")
        .args(["-KILL", &children[0].to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    children[0]
}

/// The worker's claude session id.
fn worker_session(world: &RunWorld) -> String {
    let events = world.wait_for_events("the worker launched", STEP_TIMEOUT, |events| {
        launches(events) >= 1
    });
    events
        .iter()
        .find_map(|r| match &r.event {
            Event::AgentLaunched {
                role,
                session_id: Some(id),
                ..
            } if role == "worker" => Some(id.clone()),
            _ => None,
        })
        .unwrap()
}

fn exits(events: &[duet_store::EventRecord]) -> usize {
    count(
        events,
        "a",
        |e| matches!(e, Event::AgentExited { role, .. } if role == "worker"),
    )
}

fn launches(events: &[duet_store::EventRecord]) -> usize {
    count(
        events,
        "a",
        |e| matches!(e, Event::AgentLaunched { role, .. } if role == "worker"),
    )
}

#[test]
fn a_crashed_worker_is_restarted_resumed_and_goes_on() {
    let Some(world) = RunWorld::start("crash", &backlog(&[("a", &[])]), 1, script) else {
        return;
    };
    let daemon = world.spawn_run(&["--exit-when-done"]);
    world.wait_for_step("a wait");
    world.wait_for_claude_transcript(&worker_session(&world), "tool_use");
    kill_worker_agent(&world);
    world.wait_for_events("the worker restarted", STEP_TIMEOUT, |events| {
        launches(events) == 2
    });
    let finished = daemon.wait(RUN_TIMEOUT);
    assert_eq!(
        finished.code,
        Some(0),
        "{finished:?}\n{}\n{}",
        describe(&world.events()),
        world.unmatched_requests()
    );

    let events = world.events();
    assert!(
        is_in(&events, "a", StateKind::Merged),
        "{}",
        describe(&events)
    );
    assert_eq!(exits(&events), 1, "{}", describe(&events));
    assert_eq!(
        count(
            &events,
            "a",
            |e| matches!(e, Event::Note { text } if text.starts_with("the worker was restarted, its conversation resumed (restart 1 of 3)"))
        ),
        1,
        "{}",
        describe(&events)
    );
    // The same claude session, resumed: the model saw the first turn's history again.
    let sessions: Vec<_> = events
        .iter()
        .filter_map(|r| match &r.event {
            Event::AgentLaunched {
                role, session_id, ..
            } if role == "worker" => Some(session_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[0], sessions[1], "resumed, not a new conversation");
    assert_eq!(world.landed("a"), vec!["write a"]);
}

#[test]
fn after_the_last_allowed_restart_a_crash_makes_the_task_need_the_human() {
    let Some(world) = RunWorld::start("crash-limit", &backlog(&[("a", &[])]), 1, script) else {
        return;
    };
    let daemon = world.spawn_run(&[]);
    world.wait_for_step("a wait");
    world.wait_for_claude_transcript(&worker_session(&world), "tool_use");
    for crash in 1..=4 {
        // Each time the agent is up again (its wrapper reported the start), it is killed.
        world.wait_for_events("the worker running", STEP_TIMEOUT, |events| {
            launches(events) == crash
        });
        kill_worker_agent(&world);
        world.wait_for_events("the crash noticed", STEP_TIMEOUT, |events| {
            exits(events) == crash
        });
    }
    let events = world.wait_for_events("the task to need the human", STEP_TIMEOUT, |events| {
        is_in(events, "a", StateKind::NeedsHuman)
    });
    let reason = events
        .iter()
        .rev()
        .find_map(|r| match &r.event {
            Event::TaskStateChanged {
                to: StateKind::NeedsHuman,
                reason,
                ..
            } => reason.clone(),
            _ => None,
        })
        .unwrap();
    assert_eq!(reason, "the worker exited (exit code 137)");
    assert_eq!(
        launches(&events),
        4,
        "three restarts, then no more\n{}",
        describe(&events)
    );
    let stopped = daemon.signal("TERM");
    assert_eq!(stopped.code, Some(130), "{stopped:?}");
}

#[test]
fn a_killed_wrapper_is_noticed_within_5s_and_its_agent_restarted() {
    let Some(world) = RunWorld::start("wrapper-kill", &backlog(&[("a", &[])]), 1, script) else {
        return;
    };
    let daemon = world.spawn_run(&["--exit-when-done"]);
    world.wait_for_step("a wait");
    world.wait_for_claude_transcript(&worker_session(&world), "tool_use");
    // `duet exec-agent` itself is killed: nothing reports the agent's exit, the pane just dies.
    let wrapper = world.pane_pid("a", "worker");
    let agent: Vec<u32> =
        std::fs::read_to_string(format!("/proc/{wrapper}/task/{wrapper}/children"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
    let status = Command::new("kill")
        .args(["-KILL", &wrapper.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let killed = std::time::Instant::now();
    world.wait_for_events("the dead pane noticed", STEP_TIMEOUT, |events| {
        count(
            events,
            "a",
            |e| matches!(e, Event::Note { text } if text.starts_with("the worker's pane died")),
        ) == 1
    });
    let noticed = killed.elapsed();
    assert!(
        noticed <= std::time::Duration::from_secs(5),
        "the dead pane was noticed after {noticed:?}"
    );
    eprintln!("dead pane noticed {noticed:?} after the wrapper was killed");
    world.wait_for_events("the worker restarted", STEP_TIMEOUT, |events| {
        launches(events) == 2
    });
    // The agent the killed wrapper had started does not go on beside the new one.
    for pid in agent {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(
            stat.is_empty()
                || stat
                    .rsplit(')')
                    .next()
                    .is_some_and(|r| r.trim_start().starts_with('Z')),
            "the old agent {pid} still runs: {stat}"
        );
    }
    let finished = daemon.wait(RUN_TIMEOUT);
    assert_eq!(
        finished.code,
        Some(0),
        "{finished:?}\n{}\n{}",
        describe(&world.events()),
        world.unmatched_requests()
    );
    let events = world.events();
    assert!(
        is_in(&events, "a", StateKind::Merged),
        "{}",
        describe(&events)
    );
    assert_eq!(
        count(
            &events,
            "a",
            |e| matches!(e, Event::Note { text } if text.starts_with("the worker was restarted, its conversation resumed (restart 1 of 3)"))
        ),
        1,
        "{}",
        describe(&events)
    );
    assert_eq!(world.landed("a"), vec!["write a"]);
}

/// [`script`] with the worker's second brief (its resume failed) in place of "go on".
fn afresh_script(gates: &std::path::Path) -> String {
    script(gates).replace(
        "match.user_contains = \"Go on where you left off\"",
        "match.user_contains = \"You are the WORKER\"",
    )
}

#[test]
fn a_resume_that_fails_for_want_of_a_transcript_starts_afresh_with_the_brief() {
    let Some(world) = RunWorld::start("resume-fails", &backlog(&[("a", &[])]), 1, afresh_script)
    else {
        return;
    };
    let daemon = world.spawn_run(&["--exit-when-done"]);
    world.wait_for_step("a wait");
    let session = worker_session(&world);
    world.wait_for_claude_transcript(&session, "tool_use");
    // The transcript is lost (as if claude died before writing it): `--resume` cannot work.
    let projects = world.claude_env.home().join(".claude/projects");
    for dir in std::fs::read_dir(&projects).unwrap().flatten() {
        let _ = std::fs::remove_file(dir.path().join(format!("{session}.jsonl")));
    }
    kill_worker_agent(&world);
    let finished = daemon.wait(RUN_TIMEOUT);
    let events = world.events();
    assert_eq!(
        finished.code,
        Some(0),
        "{finished:?}\n{}\n{}\npanes:\n{}",
        describe(&events),
        world.unmatched_requests(),
        world.panes()
    );
    assert!(
        is_in(&events, "a", StateKind::Merged),
        "{}",
        describe(&events)
    );
    let note = |text: &str| {
        count(
            &events,
            "a",
            |e| matches!(e, Event::Note { text: t } if t.starts_with(text)),
        )
    };
    assert_eq!(
        note("the worker was restarted, its conversation resumed (restart 1 of 3)"),
        1,
        "{}",
        describe(&events)
    );
    assert_eq!(
        note(
            "the worker was restarted, afresh with its brief (resuming its conversation had failed) (restart 2 of 3)"
        ),
        1,
        "{}",
        describe(&events)
    );
    let sessions: Vec<_> = events
        .iter()
        .filter_map(|r| match &r.event {
            Event::AgentLaunched {
                role, session_id, ..
            } if role == "worker" => Some(session_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(sessions.len(), 3, "{}", describe(&events));
    assert_ne!(sessions[2], sessions[0], "a new conversation");
    assert_eq!(world.landed("a"), vec!["write a"]);
}
