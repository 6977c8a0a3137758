//! The lifecycle of a task no pair works on: its stored state (a [`StateKind`], no payload) moved
//! by the human, by a pair that could not start, or by the merge queue, through the same
//! [`transition`] as a running pair's task.

use super::{
    IllegalTransition, LifecycleEvent, PairPhase, Pausable, StateKind, TaskState, transition,
};

/// The stored state after `event` happens to a task without a running pair.
///
/// The payload a stored state lacks is what an unpaired task implies: a paused one resumes to
/// *queued*, one waiting for the human has no conversation to go back to. So whatever would
/// resume a pair (an answer, a resume, a send-back) queues the task again, and the scheduler
/// prepares it afresh. A task that cannot even start (`Escalate` while queued or preparing:
/// its agents are missing) needs the human before anything is made.
pub fn transition_unpaired(
    from: StateKind,
    event: &LifecycleEvent,
) -> Result<StateKind, IllegalTransition> {
    use LifecycleEvent as E;
    use StateKind as K;
    match (from, event) {
        (K::Queued | K::Preparing, E::Escalate { .. }) => return Ok(K::NeedsHuman),
        // Without a pair, resuming a task that waits for the human is answering it.
        (K::NeedsHuman, E::Resume) => return transition_unpaired(from, &E::HumanAnswered),
        _ => {}
    }
    let state = match from {
        K::Queued => TaskState::Queued,
        K::Preparing => TaskState::Preparing,
        K::Working => TaskState::Working,
        K::Reviewing => TaskState::Reviewing,
        K::Done => TaskState::Done,
        K::Ready => TaskState::Ready,
        K::Merging => TaskState::Merging,
        K::Merged => TaskState::Merged,
        K::NeedsHuman => TaskState::needs_human("", PairPhase::Working),
        K::Failed => TaskState::Failed {
            reason: String::new(),
        },
        K::Cancelled => TaskState::Cancelled,
        K::Paused => TaskState::Paused {
            resume_to: Pausable::Queued,
        },
    };
    let next = transition(&state, event)?.kind();
    Ok(match next {
        // A pair's phase without a pair: the task waits for the scheduler to start it again.
        K::Preparing | K::Working | K::Reviewing => K::Queued,
        other => other,
    })
}

/// Whether `duet pair TASK` queues its task again before the engine starts: a finished,
/// paused or stopped task is worked again; a live one whose pair was saved is adopted as it is;
/// one that was live but left no snapshot (killed before its first commit) starts over.
pub fn requeue_for_focus(stored: StateKind, has_snapshot: bool) -> bool {
    match stored {
        StateKind::Queued => false,
        StateKind::Preparing
        | StateKind::Working
        | StateKind::Reviewing
        | StateKind::NeedsHuman => !has_snapshot,
        StateKind::Done
        | StateKind::Ready
        | StateKind::Merging
        | StateKind::Merged
        | StateKind::Failed
        | StateKind::Cancelled
        | StateKind::Paused => true,
    }
}
