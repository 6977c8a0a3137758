//! The task-state names that the store records and every command shows: one closed set, shared by
//! the store, the status answer and the CLI.

use duet_core::lifecycle::StateKind;

#[test]
fn every_state_round_trips_through_its_name_and_serde() {
    for state in StateKind::ALL {
        assert_eq!(state.as_str().parse::<StateKind>(), Ok(state));
        assert_eq!(state.to_string(), state.as_str());
        let json = serde_json::to_string(&state).unwrap();
        assert_eq!(json, format!("\"{}\"", state.as_str()));
        assert_eq!(serde_json::from_str::<StateKind>(&json).unwrap(), state);
    }
}

#[test]
fn unknown_and_near_miss_names_are_errors() {
    for bad in ["", "Queued", "needs_human", "needshuman", "running"] {
        let err = bad.parse::<StateKind>().unwrap_err();
        assert_eq!(err.input, bad);
        assert!(err.to_string().starts_with("failed to parse task state"));
    }
    assert!(serde_json::from_str::<StateKind>("\"needs_human\"").is_err());
}

#[test]
fn only_done_merged_failed_cancelled_are_terminal() {
    let terminal: Vec<_> = StateKind::ALL
        .into_iter()
        .filter(|s| s.is_terminal())
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
}
