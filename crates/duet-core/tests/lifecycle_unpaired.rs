//! The moves of a task no pair works on, for every stored state and every event a human, a pair
//! that cannot start or the merge queue can cause.

use duet_core::lifecycle::unpaired::{requeue_for_focus, transition_unpaired};
use duet_core::lifecycle::{LifecycleEvent as E, StateKind as K};

fn events() -> [E; 8] {
    [
        E::Pause,
        E::Resume,
        E::HumanAnswered,
        E::Cancel,
        E::Escalate { reason: "x".into() },
        E::MergeQueued,
        E::Landed,
        E::SentBack,
    ]
}

/// One row per stored state; one column per event of `events()`; `-` is refused.
#[rustfmt::skip]
const TABLE: &[(K, [&str; 8])] = &[
    //                pause     resume    answered  cancel       escalate       merge-queued  landed    sent-back
    (K::Queued,     ["paused", "-",      "-",      "cancelled", "needs-human", "-",          "-",      "-"]),
    (K::Preparing,  ["paused", "-",      "-",      "cancelled", "needs-human", "-",          "-",      "-"]),
    (K::Paused,     ["-",      "queued", "-",      "cancelled", "-",           "-",          "-",      "-"]),
    (K::NeedsHuman, ["-",      "queued", "queued", "cancelled", "-",           "-",          "-",      "-"]),
    (K::Done,       ["-",      "-",      "-",      "-",         "-",           "merging",    "-",      "-"]),
    (K::Ready,      ["-",      "-",      "-",      "cancelled", "-",           "merging",    "-",      "-"]),
    (K::Merging,    ["-",      "-",      "-",      "cancelled", "needs-human", "-",          "merged", "queued"]),
    (K::Merged,     ["-",      "-",      "-",      "-",         "-",           "-",          "-",      "-"]),
    (K::Failed,     ["-",      "-",      "-",      "-",         "-",           "-",          "-",      "-"]),
    (K::Cancelled,  ["-",      "-",      "-",      "-",         "-",           "-",          "-",      "-"]),
];

#[test]
fn every_unpaired_state_and_event_has_the_expected_outcome() {
    for (from, row) in TABLE {
        for (event, expected) in events().iter().zip(row) {
            let outcome = transition_unpaired(*from, event);
            match *expected {
                "-" => {
                    let err = outcome.expect_err(&format!("{from} + {}", event.name()));
                    assert_eq!(err.state, *from);
                    assert!(err.to_string().starts_with("failed to apply"), "{err}");
                }
                next => assert_eq!(
                    outcome.map(|k| k.to_string()).as_deref(),
                    Ok(next),
                    "{from} + {}",
                    event.name()
                ),
            }
        }
    }
}

#[test]
fn refusals_say_why_in_the_lifecycles_words() {
    let err = transition_unpaired(K::Ready, &E::Pause).unwrap_err();
    assert!(err.why.contains("do not merge it"), "{err}");
    let err = transition_unpaired(K::Queued, &E::Resume).unwrap_err();
    assert_eq!(err.why, "the task is not paused");
}

#[test]
fn duet_pair_requeues_finished_tasks_and_live_ones_it_cannot_adopt() {
    for kind in K::ALL {
        let adoptable = matches!(
            kind,
            K::Preparing | K::Working | K::Reviewing | K::NeedsHuman
        );
        assert_eq!(
            requeue_for_focus(kind, true),
            !adoptable && kind != K::Queued,
            "{kind}"
        );
        assert_eq!(requeue_for_focus(kind, false), kind != K::Queued, "{kind}");
    }
}
