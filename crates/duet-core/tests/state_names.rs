//! The task-state names the store records and every command shows are one closed set (what
//! each state means is `lifecycle_transitions.rs`'s): near misses are refused, never mapped.

use duet_core::lifecycle::StateKind;

#[test]
fn unknown_and_near_miss_names_are_errors() {
    for bad in ["", "Queued", "needs_human", "needshuman", "running"] {
        let err = bad.parse::<StateKind>().unwrap_err();
        assert_eq!(err.input, bad);
        assert!(err.to_string().starts_with("failed to parse task state"));
    }
    assert!(serde_json::from_str::<StateKind>("\"needs_human\"").is_err());
}
