//! `duet run` survives SIGKILL: the daemon is killed at three points of a run (after launch,
//! with a message queued for a busy worker, mid-review) and started again each time; the new
//! daemon adopts the live tmux sessions, every task still ends done, and the store shows each
//! message delivered (and handed over) exactly once.
//!
//! Turns are held open while the daemon is down by scripted shell commands waiting for gate
//! files (claude) and by delayed model answers (codex), so no duet tool call is in flight at a
//! kill; hooks that fire while the daemon is down (codex's turn end, claude's Stop) are retried
//! by `duet hook` until the new daemon listens.

mod common;
#[path = "e2e_run_support/mod.rs"]
mod support;

use std::path::Path;

use duet_core::lifecycle::StateKind;
use duet_store::Event;
use support::{
    RESTART_MESSAGE, RUN_TIMEOUT, RunWorld, STEP_TIMEOUT, adopted,
    assert_each_message_delivered_once, backlog, count, describe, plain_steps, restart_steps_a,
    scopes,
};

const MESSAGE: &str = RESTART_MESSAGE;

/// Task `a` as in [`restart_steps_a`]; task `b` runs beside it, its worker waiting for gate `b`.
fn script(gates: &Path) -> String {
    let mut out = String::from("title = \"duet run restarts\"\n\n");
    out.push_str(&scopes("a"));
    out.push_str(&scopes("b"));
    out.push_str(&restart_steps_a(gates));
    out.push_str(&plain_steps("b", Some(&gates.join("b"))));
    out
}

#[test]
fn killed_three_times_the_daemon_is_restarted_and_every_message_arrives_once() {
    let Some(world) = RunWorld::start("restart", &backlog(&[("a", &[]), ("b", &[])]), 2, script)
    else {
        return;
    };
    let run = ["--exit-when-done"];
    let daemon = world.spawn_run(&run);

    // 1. After launch: all four agents started, both workers mid-turn, a's reviewer waiting
    //    for its model.
    world.wait_for_events("all four agents launched", STEP_TIMEOUT, |events| {
        events
            .iter()
            .filter(|r| matches!(r.event, Event::AgentLaunched { .. }))
            .count()
            == 4
    });
    let killed = daemon.signal("KILL");
    assert_eq!(killed.signal, Some(9), "{killed:?}");
    let sessions = world.tmux_sessions();
    assert_eq!(
        sessions.len(),
        2,
        "the agents outlive the daemon: {sessions:?}"
    );
    let daemon = world.spawn_run(&run);
    world.wait_for_events("both pairs adopted", STEP_TIMEOUT, |events| {
        count(events, "a", adopted) == 1 && count(events, "b", adopted) == 1
    });

    // 2. A message queued: a's reviewer sent one to its worker, whose turn still runs.
    let events = world.wait_for_events("the reviewer's message", STEP_TIMEOUT, |events| {
        count(
            events,
            "a",
            |e| matches!(e, Event::MessageAccepted { text, .. } if text == MESSAGE),
        ) == 1
    });
    let message = events
        .iter()
        .find_map(|r| match &r.event {
            Event::MessageAccepted { id, text, .. } if text == MESSAGE => Some(id.clone()),
            _ => None,
        })
        .expect("the message was accepted");
    // (The briefs, duet's first messages to each agent, are delivered by now.)
    assert_eq!(
        count(&events, "a", |e| matches!(
            e,
            Event::MessageDelivered { id } if *id == message
        )),
        0,
        "the message waits for the busy worker\n{}",
        describe(&events)
    );
    world.wait_for_step("a sent");
    let killed = daemon.signal("KILL");
    assert_eq!(killed.signal, Some(9), "{killed:?}");
    let daemon = world.spawn_run(&run);
    world.wait_for_events("both pairs adopted again", STEP_TIMEOUT, |events| {
        count(events, "a", adopted) == 2 && count(events, "b", adopted) == 2
    });

    // 3. Mid-review: the worker's turn ends (the message is handed over at its Stop hook), it
    //    asks for review, and the reviewer's review turn is running.
    world.open_gate("a");
    world.wait_for_events("the review request delivered", STEP_TIMEOUT, |events| {
        let review = events.iter().find_map(|r| match &r.event {
            // The review request, not the reviewer's brief (also a message from duet).
            Event::MessageAccepted { id, from, to, text }
                if r.task_id.as_deref() == Some("a")
                    && from == "duet"
                    && to == "reviewer"
                    && text.contains("(round 1 of") =>
            {
                Some(id.clone())
            }
            _ => None,
        });
        review.is_some_and(|review| {
            count(
                events,
                "a",
                |e| matches!(e, Event::MessageDelivered { id } if *id == review),
            ) == 1
        })
    });
    world.wait_for_step("a noted");
    let killed = daemon.signal("KILL");
    assert_eq!(killed.signal, Some(9), "{killed:?}");

    // The last daemon finishes the work.
    let daemon = world.spawn_run(&run);
    world.open_gate("b");
    let finished = daemon.wait(RUN_TIMEOUT);
    assert_eq!(
        finished.code,
        Some(0),
        "{finished:?}\nevents:\n{}\nunmatched: {}",
        describe(&world.events()),
        world.unmatched_requests()
    );
    assert!(
        finished.stdout.contains("2 of 2 tasks done"),
        "{}",
        finished.stdout
    );

    let events = world.events();
    for task in ["a", "b"] {
        assert!(
            support::is_in(&events, task, StateKind::Merged),
            "{task}\n{}",
            describe(&events)
        );
        assert_eq!(
            count(&events, task, adopted),
            3,
            "{task}\n{}",
            describe(&events)
        );
        assert_eq!(world.landed(task), vec![format!("write {task}")]);
    }
    assert_each_message_delivered_once(&events);
    // The worker got the reviewer's message in exactly one model request that was new to it.
    let prompts = world
        .server
        .log()
        .into_iter()
        .filter(|e| {
            e.is_step() && e.scope.as_deref() == Some("a-worker") && e.user_text.contains(MESSAGE)
        })
        .count();
    assert_eq!(prompts, 1, "{:#?}", world.server.log());
    assert_eq!(
        world.server.unconsumed_steps(),
        Vec::<usize>::new(),
        "every step was used"
    );
    // No agent died and none was relaunched: the same sessions went on throughout.
    for task in ["a", "b"] {
        assert_eq!(
            count(&events, task, |e| matches!(e, Event::AgentLaunched { .. })),
            2,
            "{task}\n{}",
            describe(&events)
        );
    }
}
