//! `duet pair` end to end: a message sent to a real `claude` worker while its turn runs is not
//! typed into the busy agent; it is handed over at the end of that turn (claude's Stop hook)
//! and arrives once.

mod common;
#[path = "common/e2e.rs"]
mod e2e;

use duet_store::Event;
use e2e::{
    PairWorld, Roles, STEP_TIMEOUT, assert_messages_delivered_once, describe, script_with,
    step_name,
};

const MESSAGE: &str = "Please say hello, world instead of hello.";

#[test]
fn a_message_sent_while_the_worker_is_mid_turn_arrives_after_its_turn_once() {
    let gate = tempfile::tempdir().unwrap();
    let go_file = gate.path().join("go");
    let Some(world) = PairWorld::start(
        "mid-turn",
        script_with(
            "pair_message_mid_turn.toml",
            &[("@GO_FILE@", &go_file.to_string_lossy())],
        ),
        Roles::ClaudeWorksCodexReviews,
        5,
    ) else {
        return;
    };
    let pair = world.spawn_pair();

    // The worker's turn is held open by its slow command; the reviewer's message is accepted.
    let slow = world
        .server
        .wait_for_entry(|e| step_name(e) == Some("slow proof"), STEP_TIMEOUT)
        .unwrap();
    let sent = world
        .server
        .wait_for_entry(
            |e| {
                e.scope.as_deref() == Some("reviewer")
                    && e.tool_result("mcp__duet__send_message").is_some()
            },
            STEP_TIMEOUT,
        )
        .unwrap();
    let answer = sent.tool_result("mcp__duet__send_message").unwrap();
    assert!(
        answer
            .content
            .contains("accepted; the worker gets it when its turn is over"),
        "{}",
        answer.content
    );
    // Still mid-turn: the worker has not asked the model anything since it started the command
    // (which waits for the gate), so its turn was running when the message was accepted.
    let log = world.server.log();
    assert!(
        !log.iter()
            .any(|e| e.scope.as_deref() == Some("worker") && e.is_step() && e.seq > slow.seq),
        "the worker's turn went on before the test let it"
    );
    let events = world.events();
    let id = events
        .iter()
        .find_map(|r| match &r.event {
            Event::MessageAccepted { id, from, text, .. }
                if from == "reviewer" && text == MESSAGE =>
            {
                Some(id.clone())
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("the reviewer's message is stored\n{}", describe(&events)));
    assert!(
        !events.iter().any(|r| matches!(
            &r.event,
            Event::Note { text } if text.starts_with(&format!("message {id} handed over"))
        )),
        "the message was handed to the busy worker\n{}",
        describe(&events)
    );

    // Let the command finish: the turn ends and the message follows.
    std::fs::write(&go_file, "").unwrap();
    let run = world.finish(pair);
    world.assert_task_done(&run);

    // The worker's model got the message in one new prompt, after the turn it arrived in.
    let log = world.server.log();
    let end_of_turn = log
        .iter()
        .find(|e| step_name(e) == Some("end of turn"))
        .expect("the worker's turn ended");
    let prompts: Vec<_> = log
        .iter()
        .filter(|e| e.scope.as_deref() == Some("worker") && e.tool_results.is_empty())
        .filter(|e| e.user_text.contains(MESSAGE))
        .collect();
    assert_eq!(prompts.len(), 1, "{prompts:#?}");
    assert!(prompts[0].seq > end_of_turn.seq);
    assert_eq!(prompts[0].user_text.matches(MESSAGE).count(), 1);
    assert!(
        prompts[0].user_text.contains("from the reviewer]"),
        "{}",
        prompts[0].user_text
    );
    // It reached the model as the Stop hook's feedback, not as text typed at the prompt.
    assert!(
        prompts[0].user_text.contains("Stop hook feedback"),
        "{}",
        prompts[0].user_text
    );

    // The store: handed over once, at the Stop hook, and delivered once.
    let events = world.events();
    let handed: Vec<&str> = events
        .iter()
        .filter_map(|r| match &r.event {
            Event::Note { text } if text.starts_with(&format!("message {id} handed over")) => {
                Some(text.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        handed,
        vec![format!("message {id} handed over (StopHook, attempt 1)").as_str()],
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
