//! Every (state, event) pair of the task lifecycle, with its expected outcome; and the text forms.

use duet_core::lifecycle::{
    IllegalTransition, LifecycleEvent, PairPhase, Pausable, StateKind, TaskState, transition,
};

fn events() -> Vec<LifecycleEvent> {
    vec![
        LifecycleEvent::Start,
        LifecycleEvent::Prepared,
        LifecycleEvent::ReviewRequested,
        LifecycleEvent::ReviewSubmitted,
        LifecycleEvent::DoneAccepted,
        LifecycleEvent::Escalate {
            reason: "stuck".into(),
        },
        LifecycleEvent::HumanAnswered,
        LifecycleEvent::Pause,
        LifecycleEvent::Resume,
        LifecycleEvent::Cancel,
        LifecycleEvent::Fail {
            reason: "boom".into(),
        },
        LifecycleEvent::AwaitMerge,
        LifecycleEvent::MergeQueued,
        LifecycleEvent::Landed,
        LifecycleEvent::SentBack,
    ]
}

/// One row per state; one column per event in the order of `events()`.
/// `-` is an illegal transition; anything else is the next state in its text form.
#[rustfmt::skip]
const TABLE: &[(&str, [&str; 15])] = &[
    //                              start        prepared   review-requested  review-submitted  done-accepted  escalate                         human-answered  pause                resume       cancel       fail  await-merge  merge-queued  landed    sent-back
    ("queued",                     ["preparing", "-",       "-",              "-",              "-",           "-",                             "-",            "paused: queued",    "-",         "cancelled", "failed: boom", "-",          "-",          "-",      "-"]),
    ("preparing",                  ["-",         "working", "-",              "-",              "-",           "-",                             "-",            "paused: preparing", "-",         "cancelled", "failed: boom", "-",          "-",          "-",      "-"]),
    ("working",                    ["-",         "-",       "reviewing",      "-",              "done",        "needs-human: stuck",            "-",            "paused: working",   "-",         "cancelled", "failed: boom", "-",          "-",          "-",      "-"]),
    ("reviewing",                  ["-",         "-",       "-",              "working",        "-",           "needs-human(reviewing): stuck", "-",            "paused: reviewing", "-",         "cancelled", "failed: boom", "-",          "-",          "-",      "-"]),
    ("done",                       ["-",         "-",       "-",              "-",              "-",           "-",                             "-",            "-",                 "-",         "-",         "-", "ready",      "merging",    "-",      "-"]),
    ("ready",                      ["-",         "-",       "-",              "-",              "-",           "-",                             "-",            "-",                 "-",         "cancelled", "failed: boom", "-",          "merging",    "-",      "-"]),
    ("merging",                    ["-",         "-",       "-",              "-",              "-",           "needs-human: stuck",            "-",            "-",                 "-",         "cancelled", "failed: boom", "-",          "-",          "merged", "preparing"]),
    ("merged",                     ["-",         "-",       "-",              "-",              "-",           "-",                             "-",            "-",                 "-",         "-",         "-",            "-",          "-",          "-",      "-"]),
    ("needs-human: q",             ["-",         "-",       "-",              "-",              "-",           "-",                             "working",      "-",                 "working",   "cancelled", "failed: boom", "-",          "-",          "-",      "-"]),
    ("needs-human(reviewing): q",  ["-",         "-",       "-",              "-",              "-",           "-",                             "reviewing",    "-",                 "reviewing", "cancelled", "failed: boom", "-",          "-",          "-",      "-"]),
    ("failed: x",                  ["-",         "-",       "-",              "-",              "-",           "-",                             "-",            "-",                 "-",         "-",         "-", "-",          "-",          "-",      "-"]),
    ("cancelled",                  ["-",         "-",       "-",              "-",              "-",           "-",                             "-",            "-",                 "-",         "-",         "-", "-",          "-",          "-",      "-"]),
    ("paused: queued",             ["-",         "-",       "-",              "-",              "-",           "-",                             "-",            "-",                 "queued",    "cancelled", "failed: boom", "-",          "-",          "-",      "-"]),
    ("paused: preparing",          ["-",         "-",       "-",              "-",              "-",           "-",                             "-",            "-",                 "preparing", "cancelled", "failed: boom", "-",          "-",          "-",      "-"]),
    ("paused: working",            ["-",         "-",       "-",              "-",              "-",           "-",                             "-",            "-",                 "working",   "cancelled", "failed: boom", "-",          "-",          "-",      "-"]),
    ("paused: reviewing",          ["-",         "-",       "-",              "-",              "-",           "-",                             "-",            "-",                 "reviewing", "cancelled", "failed: boom", "-",          "-",          "-",      "-"]),
];

#[test]
fn every_state_and_event_pair_has_the_expected_outcome() {
    let events = events();
    let mut checked = 0;
    for (state_text, row) in TABLE {
        let state: TaskState = state_text.parse().unwrap();
        for (event, expected) in events.iter().zip(row) {
            let outcome = transition(&state, event);
            match *expected {
                "-" => {
                    let error = outcome.expect_err(&format!(
                        "{state_text} + {} should be illegal",
                        event.name()
                    ));
                    assert_eq!(error.state, state.kind());
                    assert_eq!(error.event, event.name());
                }
                next => {
                    let next: TaskState = next.parse().unwrap();
                    assert_eq!(outcome, Ok(next), "{state_text} + {}", event.name());
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, TABLE.len() * events.len());
}

#[test]
fn the_table_covers_every_state_kind_and_every_resume_target() {
    let states: Vec<TaskState> = TABLE
        .iter()
        .map(|(text, _)| text.parse().unwrap())
        .collect();
    for kind in StateKind::ALL {
        assert!(
            states.iter().any(|state| state.kind() == kind),
            "no row for {kind}"
        );
    }
    for resume_to in [
        Pausable::Queued,
        Pausable::Preparing,
        Pausable::Working,
        Pausable::Reviewing,
    ] {
        assert!(
            states.contains(&TaskState::Paused { resume_to }),
            "no row for paused: {resume_to}"
        );
    }
    for phase in [PairPhase::Working, PairPhase::Reviewing] {
        assert!(
            states.iter().any(|state| matches!(state, TaskState::NeedsHuman { resume_to, .. } if *resume_to == phase)),
            "no row for needs-human resuming to {phase}"
        );
    }
    // A new event variant must get a column: this match stops compiling until it does.
    for event in events() {
        match event {
            LifecycleEvent::Start
            | LifecycleEvent::Prepared
            | LifecycleEvent::ReviewRequested
            | LifecycleEvent::ReviewSubmitted
            | LifecycleEvent::DoneAccepted
            | LifecycleEvent::Escalate { .. }
            | LifecycleEvent::HumanAnswered
            | LifecycleEvent::Pause
            | LifecycleEvent::Resume
            | LifecycleEvent::Cancel
            | LifecycleEvent::Fail { .. }
            | LifecycleEvent::AwaitMerge
            | LifecycleEvent::MergeQueued
            | LifecycleEvent::Landed
            | LifecycleEvent::SentBack => {}
        }
    }
}

#[test]
fn illegal_transitions_say_why_in_words() {
    #[rustfmt::skip]
    let cases: &[(TaskState, LifecycleEvent, &str)] = &[
        (TaskState::Done, LifecycleEvent::Cancel, "failed to apply `cancel` to a task that is done: the task has finished"),
        (TaskState::Reviewing, LifecycleEvent::ReviewRequested, "failed to apply `review-requested` to a task that is reviewing: a review is already in progress"),
        (TaskState::Working, LifecycleEvent::ReviewSubmitted, "failed to apply `review-submitted` to a task that is working: no review was requested"),
        (TaskState::Reviewing, LifecycleEvent::DoneAccepted, "failed to apply `done-accepted` to a task that is reviewing: only a working task can be marked done"),
        (TaskState::Paused { resume_to: Pausable::Working }, LifecycleEvent::Pause, "failed to apply `pause` to a task that is paused: the task is already paused"),
        (TaskState::Working, LifecycleEvent::Resume, "failed to apply `resume` to a task that is working: the task is not paused"),
        (TaskState::Queued, LifecycleEvent::Escalate { reason: "x".into() }, "failed to apply `escalate` to a task that is queued: only a running pair can need the human"),
        (TaskState::Working, LifecycleEvent::MergeQueued, "failed to apply `merge-queued` to a task that is working: only a done or ready task can be merged"),
        (TaskState::Merging, LifecycleEvent::MergeQueued, "failed to apply `merge-queued` to a task that is merging: the task is already in the merge queue"),
        (TaskState::Merged, LifecycleEvent::SentBack, "failed to apply `sent-back` to a task that is merged: the task has finished"),
        (TaskState::Done, LifecycleEvent::Landed, "failed to apply `landed` to a task that is done: the task has finished"),
    ];
    for (state, event, message) in cases {
        let error: IllegalTransition = transition(state, event).unwrap_err();
        assert_eq!(error.to_string(), *message);
    }
}

#[test]
fn text_form_round_trips_for_every_state() {
    let states = [
        TaskState::Queued,
        TaskState::Preparing,
        TaskState::Working,
        TaskState::Reviewing,
        TaskState::Done,
        TaskState::Ready,
        TaskState::Merging,
        TaskState::Merged,
        TaskState::needs_human("question from the worker: which db?", PairPhase::Working),
        TaskState::needs_human("stuck: no progress for 20m00s", PairPhase::Reviewing),
        TaskState::Failed {
            reason: "git: worktree vanished".into(),
        },
        TaskState::Cancelled,
        TaskState::Paused {
            resume_to: Pausable::Queued,
        },
        TaskState::Paused {
            resume_to: Pausable::Reviewing,
        },
    ];
    for state in states {
        let text = state.to_string();
        assert_eq!(text.parse::<TaskState>(), Ok(state.clone()), "{text}");
        assert!(
            text.starts_with(state.kind().as_str()),
            "{text} should start with its kind"
        );
        let json = serde_json::to_string(&state).unwrap();
        assert_eq!(
            serde_json::from_str::<TaskState>(&json).unwrap(),
            state,
            "{json}"
        );
    }
    assert_eq!(
        TaskState::needs_human("q", PairPhase::Working).to_string(),
        "needs-human: q"
    );
    assert_eq!(
        serde_json::to_string(&TaskState::needs_human("q", PairPhase::Reviewing)).unwrap(),
        r#"{"state":"needs-human","reason":"q","resume_to":"reviewing"}"#
    );
}

#[test]
fn bad_state_text_is_refused_with_the_reason() {
    let cases = [
        ("needs_human: x", "expected one of queued"),
        ("paused", "paused needs a payload, e.g. `paused: working`"),
        (
            "paused: done",
            "a paused task resumes to queued, preparing, working or reviewing",
        ),
        ("failed", "failed needs a payload"),
        ("needs-human:   ", "needs-human needs a payload"),
        ("done: now", "done takes nothing after `:`"),
        ("working(reviewing)", "only needs-human takes a phase"),
        (
            "needs-human(queued): x",
            "the phase must be working or reviewing",
        ),
        ("needs-human(working: x", "missing `)`"),
    ];
    for (input, expected) in cases {
        let error = input.parse::<TaskState>().unwrap_err();
        assert_eq!(error.input, input);
        assert!(error.to_string().contains(expected), "{input}: {error}");
    }
}

#[test]
fn state_kinds_parse_and_classify() {
    for kind in StateKind::ALL {
        assert_eq!(kind.as_str().parse::<StateKind>(), Ok(kind));
        assert_eq!(
            serde_json::to_string(&kind).unwrap(),
            format!("\"{}\"", kind.as_str())
        );
    }
    let terminal: Vec<_> = StateKind::ALL
        .into_iter()
        .filter(|kind| kind.is_terminal())
        .collect();
    assert_eq!(
        terminal,
        [
            StateKind::Done,
            StateKind::Merged,
            StateKind::Failed,
            StateKind::Cancelled
        ]
    );
    let finished_work: Vec<_> = StateKind::ALL
        .into_iter()
        .filter(|kind| kind.is_done_or_later())
        .collect();
    assert_eq!(
        finished_work,
        [
            StateKind::Done,
            StateKind::Ready,
            StateKind::Merging,
            StateKind::Merged
        ]
    );
    let slots: Vec<_> = StateKind::ALL
        .into_iter()
        .filter(|kind| kind.occupies_slot())
        .collect();
    assert_eq!(
        slots,
        [
            StateKind::Preparing,
            StateKind::Working,
            StateKind::Reviewing,
            StateKind::NeedsHuman
        ]
    );
}
