//! `duet pair` end to end, the confidence gate: a real `codex` reviewer's approval that lists
//! nothing verified is refused through the bridge with a request to verify (the model reads it
//! as an error result), is not stored as a verdict, and the approval that follows, with what the
//! reviewer verified, is stored with both lists and lets the worker finish.

mod common;
#[path = "common/e2e.rs"]
mod e2e;

use duet_core::protocol::tools::VERIFY_FIRST;
use duet_store::Event;
use e2e::{PairWorld, Roles, describe, script};

#[test]
fn an_approval_that_verified_nothing_is_refused_and_the_verified_one_finishes_the_task() {
    let Some(world) = PairWorld::start(
        "verify",
        script("pair_unverified_approval.toml"),
        Roles::ClaudeWorksCodexReviews,
        5,
    ) else {
        return;
    };
    let run = world.run_pair();
    world.assert_task_done(&run);
    assert!(run.stdout.contains("review rounds: 1"), "{}", run.stdout);

    // What codex passed on to its model as the bridge's answer to the first approval (OpenAI's
    // tool results carry no error flag: the text says it).
    let refusals: Vec<_> = world
        .server
        .log()
        .iter()
        .filter(|e| e.scope.as_deref() == Some("reviewer"))
        .filter_map(|e| e.tool_result("mcp__duet__submit_review").cloned())
        .filter(|result| result.content.contains("refused"))
        .collect();
    assert!(!refusals.is_empty(), "{}", world.diagnostics());
    assert!(
        refusals[0]
            .content
            .contains(&format!("submit_review refused: {VERIFY_FIRST}")),
        "{}",
        refusals[0].content
    );

    let events = world.events();
    let reviews: Vec<_> = events
        .iter()
        .filter_map(|r| match &r.event {
            Event::ReviewSubmitted {
                verified,
                not_verified,
                ..
            } => Some((verified.clone(), not_verified.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        reviews,
        [(
            vec!["git show --stat HEAD: greeting.txt added, 1 line".to_owned()],
            vec!["there is no test suite to run".to_owned()],
        )],
        "{}",
        describe(&events)
    );
    let refused = events
        .iter()
        .filter(|r| matches!(&r.event, Event::Note { text } if text.starts_with("refused reviewer's call") && text.contains(VERIFY_FIRST)))
        .count();
    assert_eq!(refused, 1, "{}", describe(&events));
}
