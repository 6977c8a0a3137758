//! `duet pair` end to end: protocol violations by a real `claude` worker are refused through
//! the bridge with the reason (as MCP error results the model reads), nothing of them is
//! carried out, and the pair still finishes the task the proper way.

mod common;
#[path = "common/e2e.rs"]
mod e2e;

use duet_core::lifecycle::StateKind;
use duet_store::Event;
use e2e::{PairWorld, Roles, assert_messages_delivered_once, describe, script};

#[test]
fn mark_done_before_approval_and_submit_review_from_the_worker_are_refused() {
    let Some(world) = PairWorld::start(
        "refusals",
        script("pair_refusals.toml"),
        Roles::ClaudeWorksCodexReviews,
        5,
    ) else {
        return;
    };
    let run = world.run_pair();
    world.assert_task_done(&run);
    assert!(run.stdout.contains("review rounds: 1"), "{}", run.stdout);

    // What the worker's model was told, as claude passed the bridge's answers on.
    let log = world.server.log();
    let result_of = |tool: &str| {
        let results: Vec<_> = log
            .iter()
            .filter(|e| e.scope.as_deref() == Some("worker"))
            .filter_map(|e| e.tool_result(tool).cloned())
            .collect();
        results
    };
    // The early call's refusal. The final call's answer ("done") reaches the model too when
    // claude sends its next request before duet stops the session: a race of the test, not a
    // second answer (each answer is the last tool result of one request; the store below shows
    // one refusal and one done).
    let mark_done = result_of("mcp__duet__mark_done");
    assert!(
        matches!(mark_done.len(), 1 | 2),
        "the refused mark_done, and at most the final one: {mark_done:#?}"
    );
    assert!(mark_done[0].is_error, "{mark_done:?}");
    assert!(
        mark_done[0]
            .content
            .contains("mark_done refused: the reviewer has not approved HEAD"),
        "{}",
        mark_done[0].content
    );
    if let Some(last) = mark_done.get(1) {
        assert!(
            !last.is_error && last.content.contains("is done at"),
            "the second mark_done result is the final call's: {last:?}"
        );
    }
    let submit = result_of("mcp__duet__submit_review");
    assert_eq!(submit.len(), 1);
    assert!(submit[0].is_error, "{submit:?}");
    assert!(
        submit[0]
            .content
            .contains("submit_review refused: only the reviewer can call submit_review"),
        "{}",
        submit[0].content
    );

    // The store keeps both refusals; the worker's verdict was not taken: the only review is
    // the reviewer's, and the task became done only after it.
    let events = world.events();
    let refusals: Vec<&str> = events
        .iter()
        .filter_map(|r| match &r.event {
            Event::Note { text } if text.starts_with("refused worker's call") => {
                Some(text.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(refusals.len(), 2, "{}", describe(&events));
    assert!(refusals[0].contains("mark_done refused"), "{refusals:?}");
    assert!(
        refusals[1].contains("submit_review refused"),
        "{refusals:?}"
    );
    let reviews: Vec<_> = events
        .iter()
        .filter(|r| matches!(r.event, Event::ReviewSubmitted { .. }))
        .collect();
    assert_eq!(reviews.len(), 1, "{}", describe(&events));
    let declared = events
        .iter()
        .filter(|r| matches!(&r.event, Event::Note { text } if text.starts_with("done declared")))
        .count();
    assert_eq!(declared, 1, "mark_done applied once\n{}", describe(&events));
    let done = events
        .iter()
        .find(|r| {
            matches!(
                r.event,
                Event::TaskStateChanged {
                    to: StateKind::Done,
                    ..
                }
            )
        })
        .expect("the task became done");
    assert!(reviews[0].seq < done.seq, "{}", describe(&events));
    assert_messages_delivered_once(&events);
}
