//! The task states the store records and shows (`queued`, `working`, `needs-human`, ...), as a
//! closed string set: parsing an unknown name is an error, never a fallback.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a task is in its life. Stored and shown by its kebab-case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TaskState {
    Queued,
    Preparing,
    Working,
    Reviewing,
    Done,
    /// Done, waiting for `duet merge`.
    Ready,
    /// In the merge queue.
    Merging,
    /// Landed on the base.
    Merged,
    NeedsHuman,
    Failed,
    Cancelled,
    /// Paused by the human; the lifecycle in duet-core knows this state too.
    Paused,
}

impl TaskState {
    /// Every state, in lifecycle order.
    pub const ALL: [TaskState; 12] = [
        TaskState::Queued,
        TaskState::Preparing,
        TaskState::Working,
        TaskState::Reviewing,
        TaskState::Done,
        TaskState::Ready,
        TaskState::Merging,
        TaskState::Merged,
        TaskState::NeedsHuman,
        TaskState::Failed,
        TaskState::Cancelled,
        TaskState::Paused,
    ];

    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Queued => "queued",
            TaskState::Preparing => "preparing",
            TaskState::Working => "working",
            TaskState::Reviewing => "reviewing",
            TaskState::Done => "done",
            TaskState::Ready => "ready",
            TaskState::Merging => "merging",
            TaskState::Merged => "merged",
            TaskState::NeedsHuman => "needs-human",
            TaskState::Failed => "failed",
            TaskState::Cancelled => "cancelled",
            TaskState::Paused => "paused",
        }
    }

    /// True for states a task does not leave on its own.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Done | TaskState::Merged | TaskState::Failed | TaskState::Cancelled
        )
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not one of the task state names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "failed to parse task state `{input}`: expected one of queued, preparing, working, reviewing, \
     done, ready, merging, merged, needs-human, failed, cancelled, paused"
)]
pub struct ParseTaskStateError {
    /// The string that was given.
    pub input: String,
}

impl FromStr for TaskState {
    type Err = ParseTaskStateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TaskState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| ParseTaskStateError {
                input: s.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_round_trips_through_its_name_and_serde() {
        for state in TaskState::ALL {
            assert_eq!(state.as_str().parse::<TaskState>(), Ok(state));
            assert_eq!(state.to_string(), state.as_str());
            let json = serde_json::to_string(&state).unwrap();
            assert_eq!(json, format!("\"{}\"", state.as_str()));
            assert_eq!(serde_json::from_str::<TaskState>(&json).unwrap(), state);
        }
    }

    #[test]
    fn unknown_and_near_miss_names_are_errors() {
        for bad in [
            "",
            "Queued",
            "needs_human",
            "needshuman",
            "done ",
            "running",
        ] {
            let err = bad.parse::<TaskState>().unwrap_err();
            assert_eq!(err.input, bad);
            assert!(err.to_string().starts_with("failed to parse task state"));
        }
        assert!(serde_json::from_str::<TaskState>("\"needs_human\"").is_err());
    }

    #[test]
    fn only_done_merged_failed_cancelled_are_terminal() {
        let terminal: Vec<_> = TaskState::ALL
            .into_iter()
            .filter(|s| s.is_terminal())
            .collect();
        assert_eq!(
            terminal,
            [
                TaskState::Done,
                TaskState::Merged,
                TaskState::Failed,
                TaskState::Cancelled
            ]
        );
    }
}
