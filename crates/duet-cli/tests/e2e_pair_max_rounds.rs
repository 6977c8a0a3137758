//! `duet pair` end to end: a pair that uses up `max_rounds` without an approval goes to the
//! human with the open findings, and `duet pair` waits for the human until stopped (Ctrl-C).

mod common;
#[path = "common/e2e.rs"]
mod e2e;

use duet_core::lifecycle::StateKind;
use duet_store::Event;
use e2e::{PairWorld, Roles, STEP_TIMEOUT, describe, script};

#[test]
fn max_rounds_without_approval_ends_as_needs_human_with_the_findings() {
    let Some(world) = PairWorld::start(
        "max-rounds",
        script("pair_max_rounds.toml"),
        Roles::ClaudeWorksCodexReviews,
        1,
    ) else {
        return;
    };
    let pair = world.spawn_pair();
    let reason = world.wait_for_needs_human();
    assert!(
        reason.starts_with("no approval after 1 review rounds (max_rounds = 1); open findings: "),
        "{reason}"
    );
    assert!(
        reason.contains("greeting.txt:1") && reason.contains("Say hello, world"),
        "{reason}"
    );
    assert!(
        reason.contains("Mention the greeting in README.md"),
        "{reason}"
    );

    // The reviewer's turn ends (its result was answered) before we stop the pair, and every
    // scripted step was used: nothing more was asked of the model.
    world
        .server
        .wait_until_steps_consumed(6, STEP_TIMEOUT)
        .unwrap();
    let status = world.env.duet(&world.repo, &["status", "--json"]);
    assert!(status.stdout.contains("needs-human"), "{}", status.stdout);

    let run = pair.interrupt();
    assert_eq!(
        run.code, 130,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    assert!(
        run.stdout
            .contains("task greet: stopped (needs-human: no approval after 1 review rounds"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("review rounds: 1"), "{}", run.stdout);
    assert_eq!(world.branch_log(), vec!["add greeting"]);

    // The findings wait for the human: the worker's model never saw them.
    let log = world.server.log();
    assert!(
        !log.iter()
            .any(|e| e.scope.as_deref() == Some("worker") && e.user_text.contains("Say hello")),
        "the findings went to the worker before the human decided"
    );
    let events = world.events();
    let last_state = events.iter().rev().find_map(|r| match &r.event {
        Event::TaskStateChanged { to, .. } => Some(*to),
        _ => None,
    });
    assert_eq!(
        last_state,
        Some(StateKind::NeedsHuman),
        "{}",
        describe(&events)
    );
    assert!(
        events.iter().any(|r| matches!(
            &r.event,
            Event::Note { text } if text == "pair stopped by the human"
        )),
        "{}",
        describe(&events)
    );
}
