//! Budgets in the engine: a task's spend (counted from the worker's claude transcript at its
//! Stop hook) crosses 80 % (told once) and 100 % (the task needs the human), the human answers
//! and it goes on; a restarted engine reading the same record neither warns nor pauses again.

mod engine_support;

use duet_core::lifecycle::StateKind;
use duet_proto::RequestBody;
use duet_store::Event;
use engine_support::*;
use serde_json::json;

/// One claude reply line of a transcript with these counts.
fn reply(id: &str, input: u64, output: u64) -> String {
    json!({"type": "assistant", "message": {"id": id, "model": "claude-sonnet-4-5",
        "usage": {"input_tokens": input, "output_tokens": output}}})
    .to_string()
        + "\n"
}

fn notes(world: &World, needle: &str) -> usize {
    count(
        &world.events(),
        |e| matches!(e, Event::Note { text } if text.contains(needle)),
    )
}

fn stop_with(world: &World, token: &str, transcript: &std::path::Path) {
    let answer = world.agent(
        token,
        hook(
            "Stop",
            json!({"stop_hook_active": false, "transcript_path": transcript}),
        ),
    );
    assert!(accepted(&answer), "{answer:?}");
}

#[test]
fn a_task_over_its_budget_is_told_once_then_paused_and_goes_on_when_resumed_even_after_a_restart() {
    let world = World::with_config(&["t"], "[budget]\ntask = 1000\n");
    let engine = world.start(false, None);
    let (worker, reviewer) = world.pair("t");
    let (w, _) = (token(&worker), settle(&world, &token(&reviewer)));
    settle(&world, &w);
    let transcript = world.root.join("worker-transcript.jsonl");

    std::fs::write(&transcript, reply("m1", 800, 50)).unwrap();
    stop_with(&world, &w, &transcript);
    world.wait("the 80 % note", || {
        (notes(&world, "85 % of the task's budget of 1000 tokens is used") == 1).then_some(())
    });
    // The same record read again at the next turn end: counted once, told once.
    stop_with(&world, &w, &transcript);

    let mut text = reply("m1", 800, 50);
    text.push_str(&reply("m2", 150, 50));
    std::fs::write(&transcript, &text).unwrap();
    stop_with(&world, &w, &transcript);
    world.wait_state("t", StateKind::NeedsHuman);
    let events = world.events();
    assert!(
        events.iter().any(|r| matches!(&r.event,
            Event::TaskStateChanged { to: StateKind::NeedsHuman, reason: Some(why), .. }
                if why.contains("105 % of the task's budget"))),
        "{}",
        describe(&events)
    );
    assert_eq!(
        notes(&world, "% of the task's budget of 1000 tokens is used ("),
        1
    );

    // From needs-human the human answers (`duet answer`; `duet resume` is for a paused task).
    let answer = world.human(RequestBody::Answer {
        task: "t".into(),
        text: "go on past the budget".into(),
    });
    assert!(accepted(&answer), "{answer:?}");
    world.wait_state("t", StateKind::Working);
    // Past the budget now: more spend does not pause it again.
    text.push_str(&reply("m3", 100, 0));
    std::fs::write(&transcript, &text).unwrap();
    stop_with(&world, &w, &transcript);
    world.wait("the third count", || {
        (count(&world.events(), |e| {
            matches!(e, Event::TokensCounted { .. })
        }) >= 4)
            .then_some(())
    });
    engine.stop();

    // A restarted engine: the marks come from the store.
    let _engine = world.start(false, None);
    stop_with(&world, &w, &transcript);
    world.wait("the count after the restart", || {
        (count(&world.events(), |e| {
            matches!(e, Event::TokensCounted { .. })
        }) >= 5)
            .then_some(())
    });
    let events = world.events();
    assert_eq!(
        notes(&world, "% of the task's budget of 1000 tokens is used ("),
        1,
        "warned once over both engines\n{}",
        describe(&events)
    );
    assert_eq!(
        count(&events, |e| matches!(
            e,
            Event::TaskStateChanged {
                to: StateKind::NeedsHuman,
                ..
            }
        )),
        1,
        "paused once\n{}",
        describe(&events)
    );
    assert_eq!(world.state("t"), Some(StateKind::Working));
}

#[test]
fn a_usage_limit_parks_the_seat_without_a_restart_and_it_is_told_once_at_the_reset_time() {
    let world = World::new(&["t"]);
    let _engine = world.start(false, None);
    let (worker, reviewer) = world.pair("t");
    settle(&world, &token(&reviewer));
    let w = token(&worker);
    settle(&world, &w);
    let reset_s = duet_pair::now().0 / 1000 + 3600;
    let transcript = world.root.join("worker-transcript.jsonl");
    let limit = json!({"type": "assistant", "message": {"id": "e1", "model": "<synthetic>",
        "content": [{"type": "text",
            "text": format!("API Error: Request rejected (429) · Claude AI usage limit reached|{reset_s}")}]}});
    std::fs::write(&transcript, limit.to_string() + "\n").unwrap();
    stop_with(&world, &w, &transcript);
    world.wait("the park note", || {
        (notes(&world, "the worker hit a usage limit") == 1).then_some(())
    });
    let events = world.events();
    assert_eq!(
        count(&events, |e| matches!(e, Event::AgentExited { .. })),
        0,
        "not a crash\n{}",
        describe(&events)
    );
    assert_eq!(world.state("t"), Some(StateKind::Working));

    // The reset time comes (the usage clock moves; nothing waits an hour).
    USAGE_CLOCK_AHEAD_MS.store(3_601_000, std::sync::atomic::Ordering::SeqCst);
    typed(&world, "t", false, "the usage limit you hit has reset");
    world.wait("the unpark note", || {
        (notes(&world, "the worker is unparked") == 1).then_some(())
    });
    // Later ticks tell it nothing more: the note comes with the message, once.
    let (worker, _) = world.pair("t");
    let told = worker
        .typed
        .iter()
        .filter(|t| t.contains("has reset"))
        .count();
    assert_eq!(told, 1, "{:?}", worker.typed);
    assert_eq!(notes(&world, "is unparked"), 1);
}

#[test]
fn messages_to_a_parked_seat_are_held_and_handed_over_once_with_the_go_on_even_after_a_restart() {
    let world = World::new(&["t"]);
    let engine = world.start(false, None);
    let (worker, reviewer) = world.pair("t");
    settle(&world, &token(&reviewer));
    let w = token(&worker);
    settle(&world, &w);
    // What claude 2.1.332 records: a retry with the reset time, then the give-up line.
    let reset_s = duet_pair::now().0 / 1000 + 3600;
    let transcript = world.root.join("worker-transcript.jsonl");
    let retry = json!({"type": "system", "subtype": "api_error", "level": "error",
        "error": {"status": 429, "rateLimits": {"rateLimitType": "five_hour", "resetsAt": reset_s}},
        "retryInMs": 1042, "retryAttempt": 1, "maxRetries": 1});
    let gave_up = json!({"type": "assistant", "error": "rate_limit", "isApiErrorMessage": true,
        "apiErrorStatus": 429, "message": {"id": "e1", "model": "<synthetic>",
        "content": [{"type": "text",
            "text": "API Error: Request rejected (429) · This request would exceed your account's rate limit. Please try again later."}]}});
    std::fs::write(&transcript, format!("{retry}\n{gave_up}\n")).unwrap();
    let answer = world.agent(
        &w,
        hook(
            "StopFailure",
            json!({"transcript_path": transcript, "error": "rate_limit"}),
        ),
    );
    assert!(accepted(&answer), "{answer:?}");
    world.wait("the park note", || {
        (notes(&world, "parked for 3599s, until the reset time it recorded") == 1
            || notes(&world, "parked for 3600s, until the reset time it recorded") == 1)
            .then_some(())
    });
    // The park is in the pair's saved mailbox before the message comes.
    world.wait("the mailbox parked", || {
        world.snapshot().filter(|s| {
            s.pointer("/state/mailbox/parked")
                .is_some_and(|p| p == &json!(["worker"]))
        })
    });

    let said = world.human(RequestBody::Say {
        task: "t".into(),
        to: Some(duet_core::protocol::Role::Worker),
        text: "HELD: also greet the moon".into(),
    });
    assert!(accepted(&said), "{said:?}");
    // Neither typed at the idle worker's prompt nor handed over at its next Stop hook.
    let answer = world.agent(&w, hook("Stop", json!({"stop_hook_active": false})));
    assert!(
        !format!("{answer:?}").contains("HELD"),
        "handed over while parked: {answer:?}"
    );
    engine.stop();
    let (worker, _) = world.pair("t");
    assert!(
        !worker.typed.iter().any(|t| t.contains("HELD")),
        "{:?}",
        worker.typed
    );

    // A restarted engine keeps it parked and held.
    let _engine = world.start(false, None);
    world.wait("the pair adopted", || world.socket_answers().then_some(()));
    let (worker, _) = world.pair("t");
    assert!(!worker.typed.iter().any(|t| t.contains("HELD")));

    USAGE_CLOCK_AHEAD_MS.store(3_601_000, std::sync::atomic::Ordering::SeqCst);
    let text = typed(&world, "t", false, "the usage limit you hit has reset");
    assert!(
        text.contains("HELD: also greet the moon"),
        "the held message comes with the go-on: {text}"
    );
    world.wait("the unpark note", || {
        (notes(&world, "the worker is unparked") == 1).then_some(())
    });
    let (worker, _) = world.pair("t");
    assert_eq!(
        worker.typed.iter().filter(|t| t.contains("HELD")).count(),
        1,
        "{:?}",
        worker.typed
    );
    let events = world.events();
    assert_eq!(
        count(&events, |e| matches!(e, Event::AgentExited { .. })),
        0,
        "a park is no crash\n{}",
        describe(&events)
    );
}
