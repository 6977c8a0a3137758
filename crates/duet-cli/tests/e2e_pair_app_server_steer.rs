//! `duet pair` end to end with a real `codex` worker on its app-server and a real `claude`
//! reviewer: a message to codex while it is idle goes by `turn/start`, one while its turn runs
//! by `turn/steer` (and rides with the running command's result), each received once.

mod common;
#[path = "common/e2e.rs"]
mod e2e;

use duet_store::Event;
use e2e::{
    PairWorld, Roles, STEP_TIMEOUT, assert_messages_delivered_once, describe, script_with,
    step_name,
};

const MESSAGE: &str = "Please say hello, world instead of hello.";

/// The "handed to the worker by ...: KEY" notes of message `id`, as `how` per note.
fn handed_by(events: &[duet_store::EventRecord], id: &str) -> Vec<String> {
    events
        .iter()
        .filter_map(|r| match &r.event {
            Event::Note { text } => text
                .strip_prefix("handed to the worker by ")
                .and_then(|rest| rest.split_once(": "))
                .filter(|(_, keys)| keys.split(", ").any(|key| key == id))
                .map(|(how, _)| how.to_owned()),
            _ => None,
        })
        .collect()
}

/// The id of the stored message whose text contains `text`.
fn message_id(events: &[duet_store::EventRecord], text: &str) -> String {
    events
        .iter()
        .find_map(|r| match &r.event {
            Event::MessageAccepted {
                id, to, text: t, ..
            } if to == "worker" && t.contains(text) => Some(id.clone()),
            _ => None,
        })
        .unwrap_or_else(|| {
            panic!(
                "no message to the worker with {text:?}\n{}",
                describe(events)
            )
        })
}

#[test]
fn codex_on_its_app_server_gets_a_message_by_turn_start_when_idle_and_by_turn_steer_mid_turn() {
    let _ = common::CODEX_TRANSPORT.set("app-server".to_owned());
    let gate = tempfile::tempdir().unwrap();
    let go_file = gate.path().join("go");
    let Some(world) = PairWorld::start(
        "as-steer",
        script_with(
            "pair_app_server_steer.toml",
            &[("@GO_FILE@", &go_file.to_string_lossy())],
        ),
        Roles::CodexWorksClaudeReviews,
        5,
    ) else {
        return;
    };
    let pair = world.spawn_pair();

    // The worker's turn is held open by its command; the reviewer's message is steered in.
    let slow = world
        .server
        .wait_for_entry(|e| step_name(e) == Some("slow proof"), STEP_TIMEOUT)
        .unwrap();
    let events = world.wait_for_events("the message steered in", STEP_TIMEOUT, |events| {
        events.iter().any(|r| {
            matches!(&r.event,
            Event::Note { text } if text.starts_with("handed to the worker by turn/steer: "))
        })
    });
    let id = message_id(&events, MESSAGE);
    assert_eq!(
        handed_by(&events, &id),
        vec!["turn/steer"],
        "{}",
        describe(&events)
    );
    // Still mid-turn: nothing reached the worker's model since the command started.
    assert!(
        !world
            .server
            .log()
            .iter()
            .any(|e| e.scope.as_deref() == Some("worker") && e.is_step() && e.seq > slow.seq),
        "the worker's turn went on before the test let it"
    );

    std::fs::write(&go_file, "").unwrap();
    let run = world.finish(pair);
    world.assert_task_done(&run);

    // The model got the message once, in the running turn: the turn's next request after the
    // command (the one with its result) ends with it; a message of its own turn would have
    // come after that request.
    let log = world.server.log();
    let after_command: Vec<_> = log
        .iter()
        .filter(|e| e.scope.as_deref() == Some("worker") && e.api.is_some() && e.seq > slow.seq)
        .collect();
    let first = after_command.first().expect("the worker's turn went on");
    assert_eq!(step_name(first), Some("fix"), "{first:#?}");
    assert_eq!(
        first.user_text.matches(MESSAGE).count(),
        1,
        "{}",
        first.user_text
    );
    assert!(
        after_command[1..]
            .iter()
            .all(|e| !e.tool_results.is_empty() || !e.user_text.contains(MESSAGE)),
        "the message started no turn of its own: {after_command:#?}"
    );

    // The store: the brief and the approval went by turn/start (codex idle), the message by
    // turn/steer, each delivered once.
    let events = world.events();
    let brief = message_id(&events, "You are the WORKER");
    assert_eq!(
        handed_by(&events, &brief),
        vec!["turn/start"],
        "{}",
        describe(&events)
    );
    let approved = message_id(&events, "The reviewer approved");
    assert_eq!(
        handed_by(&events, &approved),
        vec!["turn/start"],
        "{}",
        describe(&events)
    );
    assert_eq!(
        handed_by(&events, &id),
        vec!["turn/steer"],
        "{}",
        describe(&events)
    );
    let delivered = events
        .iter()
        .filter(|r| matches!(&r.event, Event::MessageDelivered { id: d } if *d == id))
        .count();
    assert_eq!(delivered, 1, "{}", describe(&events));
    assert_messages_delivered_once(&events);
}
