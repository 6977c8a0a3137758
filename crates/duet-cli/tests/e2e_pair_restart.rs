//! `duet pair` is the engine with one task: killed with SIGKILL at three points (after launch,
//! with a message queued for a busy worker, mid-review) and run again each time, it takes over the
//! live tmux session, the task ends done, and every message is delivered exactly once: the same
//! snapshots and adoption as `duet run` (`e2e_run_restart.rs`, whose script this one shares).

mod common;
#[path = "e2e_run_support/mod.rs"]
mod support;

use std::path::Path;

use duet_core::lifecycle::StateKind;
use duet_store::Event;
use support::{
    RESTART_MESSAGE, RUN_TIMEOUT, RunWorld, STEP_TIMEOUT, adopted,
    assert_each_message_delivered_once, backlog, count, describe, restart_steps_a, scopes,
};

const MESSAGE: &str = RESTART_MESSAGE;

/// Task `a` alone, with the steps of [`restart_steps_a`].
fn script(gates: &Path) -> String {
    let mut out = String::from("title = \"duet pair restarts\"\n\n");
    out.push_str(&scopes("a"));
    out.push_str(&restart_steps_a(gates));
    out
}

#[test]
fn killed_three_times_duet_pair_is_run_again_and_every_message_arrives_once() {
    let Some(world) = RunWorld::start("pair-restart", &backlog(&[("a", &[])]), 1, script) else {
        return;
    };
    let pair = world.spawn_pair("a", &[]);

    // 1. After launch: both agents started, the worker mid-turn.
    world.wait_for_events("both agents launched", STEP_TIMEOUT, |events| {
        count(events, "a", |e| matches!(e, Event::AgentLaunched { .. })) == 2
    });
    let killed = pair.signal("KILL");
    assert_eq!(killed.signal, Some(9), "{killed:?}");
    assert_eq!(
        world.tmux_sessions().len(),
        1,
        "the agents outlive duet pair"
    );
    let pair = world.spawn_pair("a", &[]);
    world.wait_for_events("the pair adopted", STEP_TIMEOUT, |events| {
        count(events, "a", adopted) == 1
    });

    // 2. A message queued for the busy worker.
    world.wait_for_events("the reviewer's message", STEP_TIMEOUT, |events| {
        count(
            events,
            "a",
            |e| matches!(e, Event::MessageAccepted { text, .. } if text == MESSAGE),
        ) == 1
    });
    world.wait_for_step("a sent");
    let killed = pair.signal("KILL");
    assert_eq!(killed.signal, Some(9), "{killed:?}");
    let pair = world.spawn_pair("a", &[]);
    world.wait_for_events("the pair adopted again", STEP_TIMEOUT, |events| {
        count(events, "a", adopted) == 2
    });

    // 3. Mid-review: the worker's turn ends (the message handed over at its Stop hook), it asks
    //    for review, and the reviewer's review turn has started with the request.
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
    let killed = pair.signal("KILL");
    assert_eq!(killed.signal, Some(9), "{killed:?}");

    let finished = world.spawn_pair("a", &[]).wait(RUN_TIMEOUT);
    assert_eq!(
        finished.code,
        Some(0),
        "{finished:?}\nevents:\n{}\nunmatched: {}",
        describe(&world.events()),
        world.unmatched_requests()
    );
    assert!(
        finished.stdout.contains("task a: done"),
        "{}",
        finished.stdout
    );
    let events = world.events();
    assert!(
        support::is_in(&events, "a", StateKind::Done),
        "{}",
        describe(&events)
    );
    assert_eq!(count(&events, "a", adopted), 3, "{}", describe(&events));
    assert_eq!(world.branch_log("a"), vec!["write a"]);
    assert_each_message_delivered_once(&events);
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
    assert_eq!(
        count(&events, "a", |e| matches!(e, Event::AgentLaunched { .. })),
        2,
        "adopted each time, never relaunched\n{}",
        describe(&events)
    );
    assert!(
        world.tmux_sessions().is_empty(),
        "the session ends with the task"
    );
}
