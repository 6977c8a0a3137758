//! `duet pair` end to end: the real `codex` worker's model answers with the Responses API's 429
//! `usage_limit_reached` (the `x-codex-primary-*` headers, a reset 15 s ahead). codex fails the
//! turn and records the window's reset time; duet parks the worker (no restart, no crash),
//! holds a message sent to it meanwhile, and at the reset hands that message over once with the
//! go-on; the task ends done. (codex only: interactive claude records no reset time, so its
//! park is the 15-minute default, see `docs/usage-limits.md`.)

mod common;
#[path = "common/e2e.rs"]
mod e2e;

use std::time::Duration;

use duet_store::{Event, EventRecord};
use e2e::{PairWorld, Roles, STEP_TIMEOUT, TASK, assert_messages_delivered_once, describe, script};

const HELD: &str = "HELD-NOTE: greet the world";

fn note_seq(events: &[EventRecord], needle: &str) -> Option<i64> {
    events.iter().find_map(|r| match &r.event {
        Event::Note { text } if text.contains(needle) => Some(r.seq),
        _ => None,
    })
}

fn count(events: &[EventRecord], what: impl Fn(&Event) -> bool) -> usize {
    events.iter().filter(|r| what(&r.event)).count()
}

#[test]
fn a_usage_limit_parks_the_worker_holds_its_messages_and_goes_on_at_the_reset() {
    let Some(world) = PairWorld::start(
        "park",
        script("pair_park.toml"),
        Roles::CodexWorksClaudeReviews,
        5,
    ) else {
        return;
    };
    let pair = world.spawn_pair();

    let events = world.wait_for_events("the worker parked", STEP_TIMEOUT, |events| {
        note_seq(events, "until the reset time it recorded").is_some()
    });
    let park_note = events
        .iter()
        .find_map(|r| match &r.event {
            Event::Note { text } if text.contains("until the reset time it recorded") => {
                Some(text.clone())
            }
            _ => None,
        })
        .unwrap();
    assert!(
        park_note.contains("until the reset time it recorded"),
        "the reset came from codex's rollout: {park_note}"
    );
    // One 429 served: codex does not retry it.
    let limited: Vec<u64> = world
        .server
        .log()
        .iter()
        .filter(|e| e2e::step_name(e) == Some("limited"))
        .map(|e| e.at_unix_us)
        .collect();
    assert_eq!(limited.len(), 1, "{}", world.diagnostics());

    let said = world.env.duet(&world.repo, &["say", TASK, HELD]);
    assert_eq!(said.code, 0, "{}\n{}", said.stdout, said.stderr);
    let events = world.wait_for_events("the worker unparked", Duration::from_secs(60), |events| {
        note_seq(events, "the worker is unparked").is_some()
    });
    let parked_at = note_seq(&events, "the worker hit a usage limit").unwrap();
    let unparked_at = note_seq(&events, "the worker is unparked").unwrap();
    let held = events
        .iter()
        .find_map(|r| match &r.event {
            Event::MessageAccepted { id, text, .. } if text == HELD => Some((r.seq, id.clone())),
            _ => None,
        })
        .unwrap_or_else(|| panic!("the message is stored\n{}", describe(&events)));
    assert!(
        note_seq(&events, "until the reset time it recorded").is_some_and(|seq| seq < held.0),
        "parked until the recorded reset before the message\n{}",
        describe(&events)
    );
    assert!(
        parked_at < held.0 && held.0 < unparked_at,
        "the message was sent while the worker was parked\n{}",
        describe(&events)
    );
    // Held: not handed over before the reset.
    let handed = |events: &[EventRecord]| {
        events.iter().find_map(|r| match &r.event {
            Event::Note { text }
                if text.starts_with(&format!("message {} handed over", held.1)) =>
            {
                Some(r.seq)
            }
            _ => None,
        })
    };
    assert!(
        handed(&events).is_none_or(|seq| seq > unparked_at),
        "handed over while parked\n{}",
        describe(&events)
    );

    let run = world.finish(pair);
    world.assert_task_done(&run);
    let events = world.events();
    assert_messages_delivered_once(&events);
    assert_eq!(
        count(&events, |e| matches!(e, Event::AgentExited { .. })),
        0,
        "a park is no crash\n{}",
        describe(&events)
    );
    assert_eq!(
        count(
            &events,
            |e| matches!(e, Event::AgentLaunched { role, .. } if role == "worker")
        ),
        1,
        "the worker was not restarted\n{}",
        describe(&events)
    );
    assert_eq!(
        count(
            &events,
            |e| matches!(e, Event::Note { text } if text.contains("is unparked"))
        ),
        1
    );

    // What the model received: the held message and the go-on in one request, after the reset,
    // and neither in any other request that opens a turn (the requests after a tool call of
    // that turn still end with the same user text).
    let log = world.server.log();
    let log: Vec<_> = log.iter().filter(|e| e.tool_results.is_empty()).collect();
    let with_held: Vec<_> = log.iter().filter(|e| e.user_text.contains(HELD)).collect();
    assert_eq!(with_held.len(), 1, "{}", world.diagnostics());
    let go_on = with_held[0];
    assert_eq!(e2e::step_name(go_on), Some("go on"));
    assert_eq!(
        log.iter()
            .filter(|e| e.user_text.contains("the usage limit you hit has reset"))
            .count(),
        1
    );
    let reset_us = limited[0] + 15_000_000;
    assert!(
        go_on.at_unix_us + 1_000_000 >= reset_us,
        "the worker went on {} ms before its reset",
        (reset_us - go_on.at_unix_us) / 1000
    );
}
