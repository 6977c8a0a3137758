//! The daemon killed (SIGKILL) while the reviewer's `submit_review` call is in flight: the
//! reviewer's `duet mcp` keeps the call and sends it again, with the same call id, to the next
//! daemon; the verdict is stored exactly once, the reviewer reads duet's real answer (not "duet
//! did not answer"), and the task ends done.
//!
//! To make "in flight" certain, the daemon is stopped (SIGSTOP) while the reviewer's model
//! reply is still held back, and killed only once the call waits in the daemon's socket
//! (its accept queue, read with `ss`); the case of a call read and committed but not answered is
//! covered by the protocol's and the controller's tests (`protocol_calls`, `controller_calls`).

mod common;
#[path = "e2e_run_support/mod.rs"]
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use duet_core::lifecycle::StateKind;
use duet_store::Event;
use support::{
    RUN_TIMEOUT, RunWorld, STEP_TIMEOUT, adopted, backlog, count, describe, queued_connections,
    scopes, signal_pid,
};

/// Task `a`: the worker commits and asks for review; the reviewer's verdict comes 3 s after its
/// review turn starts (time to see the worker's turn end and stop the daemon); the answer it must read is duet's.
fn script(_gates: &Path) -> String {
    let mut out = String::from("title = \"duet in-flight call\"\n\n");
    out.push_str(&scopes("a"));
    out.push_str(
        r#"[[step]]
agent = "a-worker"
name = "a write"
match.user_contains = "You are the WORKER"
reply.tool_calls = [{ name = "Bash", input = { command = "echo a > a.txt && git add a.txt && git commit -q -m 'write a' && echo committed-a" } }]

[[step]]
agent = "a-worker"
name = "a request review"
match.tool_result = { name = "Bash", contains = "committed-a" }
reply.tool_calls = [{ name = "mcp__duet__request_review", input = { summary = "wrote a.txt" } }]

[[step]]
agent = "a-worker"
name = "a wait"
match.tool_result = { name = "mcp__duet__request_review", contains = "round 1" }
reply.text = "Waiting for the review."

[[step]]
agent = "a-worker"
name = "a done"
match.user_contains = "The reviewer approved"
reply.tool_calls = [{ name = "mcp__duet__mark_done", input = { summary = "a.txt written" } }]

[[step]]
agent = "a-reviewer"
name = "a ready"
match.user_contains = "You are the REVIEWER"
reply.text = "Ready."

[[step]]
agent = "a-reviewer"
name = "a approve"
match.user_contains = "(round 1 of"
reply.delay_ms = 6000
reply.tool_calls = [{ name = "mcp__duet__submit_review", input = { verdict = "approve", findings = [], verified = ["git show HEAD: read the whole diff"], not_verified = ["did not run the test suite"] } }]

[[step]]
agent = "a-reviewer"
name = "a approved"
match.tool_result = { name = "mcp__duet__submit_review", contains = "recorded and sent to the worker", is_error = false }
reply.text = "Approved."

"#,
    );
    out
}

#[test]
fn a_submit_review_in_flight_when_the_daemon_is_killed_is_applied_once_by_the_next() {
    let Some(world) = RunWorld::start("pair-inflight", &backlog(&[("a", &[])]), 1, script) else {
        return;
    };
    let mut pair = world.spawn_pair("a", &[]);
    // The reviewer's review turn has begun; its verdict is held back for 6 s. The worker's
    // turn ends meanwhile: its Stop hook must be answered before the daemon stops, or it would
    // be the connection found waiting below.
    world.wait_for_step("a approve");
    let deadline = Instant::now() + STEP_TIMEOUT;
    while !pair.log().contains("agent request hook Claude Stop") {
        assert!(
            Instant::now() < deadline,
            "the worker's turn never ended
{}",
            pair.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = pair.pid();
    signal_pid(pid, "STOP");
    let socket = duet_proto::find_socket(&world.repo.join(".duet"));
    let deadline = Instant::now() + STEP_TIMEOUT;
    while queued_connections(&socket) == 0 {
        assert!(
            Instant::now() < deadline,
            "the reviewer's submit_review never reached the stopped daemon's socket {}",
            socket.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The call is written and waits unread: the daemon dies with it.
    let killed = pair.signal("KILL");
    assert_eq!(killed.signal, Some(9), "{killed:?}");
    assert!(
        count(&world.events(), "a", |e| matches!(
            e,
            Event::ReviewSubmitted { .. }
        )) == 0,
        "the killed daemon never read the verdict"
    );

    let finished = world.spawn_pair("a", &[]).wait(RUN_TIMEOUT);
    let events = world.events();
    assert_eq!(
        finished.code,
        Some(0),
        "{finished:?}\nevents:\n{}\nunmatched: {}",
        describe(&events),
        world.unmatched_requests()
    );
    assert!(
        finished.stdout.contains("task a: done"),
        "{}",
        finished.stdout
    );
    assert!(
        support::is_in(&events, "a", StateKind::Done),
        "{}",
        describe(&events)
    );
    assert_eq!(count(&events, "a", adopted), 1, "{}", describe(&events));
    assert_eq!(
        count(&events, "a", |e| matches!(e, Event::ReviewSubmitted { .. })),
        1,
        "the verdict is stored exactly once\n{}",
        describe(&events)
    );
    let approved_turns = world
        .server
        .log()
        .into_iter()
        .filter(|e| support::step_name(e) == Some("a approved"))
        .count();
    assert_eq!(
        approved_turns,
        1,
        "the reviewer read duet's answer once: {:#?}",
        world.server.log()
    );
    assert_eq!(
        world.server.unconsumed_steps(),
        Vec::<usize>::new(),
        "every step was used"
    );
    assert_eq!(world.branch_log("a"), vec!["write a"]);
}
