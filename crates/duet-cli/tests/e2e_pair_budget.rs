//! `duet pair` end to end with a task budget (`[budget] task = 20000` tokens), the real
//! `codex` worker and `claude` reviewer: the fake model reports each reply's usage. The
//! worker's first turn uses 85 % of the budget and a little more (one note), its fix turn the rest: the task
//! needs the human; `duet resume` goes on past the budget, and the task ends done.

mod common;
#[path = "common/e2e.rs"]
mod e2e;

use duet_core::lifecycle::StateKind;
use duet_store::{Event, EventRecord};
use e2e::{PairWorld, Roles, TASK, assert_messages_delivered_once, describe, script};

fn budget_notes(events: &[EventRecord]) -> Vec<String> {
    events
        .iter()
        .filter_map(|r| match &r.event {
            Event::Note { text } if text.contains("of the task's budget") => Some(text.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_used_up_budget_sends_the_task_to_the_human_and_resume_goes_on_to_done() {
    let Some(world) = PairWorld::start(
        "budget",
        script("pair_budget.toml"),
        Roles::CodexWorksClaudeReviews,
        5,
    ) else {
        return;
    };
    world.write_config(
        "base_branch = \"main\"\n\
         [roles]\nworker = \"codex\"\nreviewer = \"claude\"\n\
         [review]\nmax_rounds = 5\n\
         [budget]\ntask = 20000\n",
    );
    let pair = world.spawn_pair();

    let reason = world.wait_for_needs_human();
    assert!(
        reason.contains("of the task's budget of 20000 tokens is used"),
        "{reason}"
    );
    let events = world.events();
    let notes = budget_notes(&events);
    assert_eq!(notes.len(), 1, "one 80 % note\n{}", describe(&events));
    let percent: u32 = notes[0].split(' ').next().unwrap().parse().unwrap();
    assert!((80..100).contains(&percent), "{}", notes[0]);
    // The fix turn (4 000 tokens) had been counted: the pause came at its end, not before.
    assert!(
        world
            .server
            .log()
            .iter()
            .any(|e| e2e::step_name(e) == Some("fix")),
        "{}",
        world.diagnostics()
    );

    let resumed = world.env.duet(&world.repo, &["resume", TASK]);
    assert_eq!(resumed.code, 0, "{}\n{}", resumed.stdout, resumed.stderr);

    let run = world.finish(pair);
    world.assert_task_done(&run);
    let events = world.events();
    assert_messages_delivered_once(&events);
    assert_eq!(
        budget_notes(&events).len(),
        1,
        "the 80 % note is stored once\n{}",
        describe(&events)
    );
    let to_needs_human = events
        .iter()
        .filter(|r| {
            matches!(
                r.event,
                Event::TaskStateChanged {
                    to: StateKind::NeedsHuman,
                    ..
                }
            )
        })
        .count();
    assert_eq!(
        to_needs_human,
        1,
        "the waived budget pauses no more\n{}",
        describe(&events)
    );
}
