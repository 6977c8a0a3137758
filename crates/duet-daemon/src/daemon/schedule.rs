//! Which tasks run, asked of the engine's core (`engine_core`): new backlog tasks queued,
//! `duet pair`'s task started again, the scheduler's picks started (dependencies done, or merged
//! with the merge queue), and when nothing is left.

use duet_core::lifecycle::StateKind;

use super::{Daemon, store_err};
use crate::engine_core::EngineInput;
use crate::{DaemonError, DaemonProgress};

impl<P: FnMut(DaemonProgress)> Daemon<'_, P> {
    /// At start: every backlog task the store has not seen is queued; with a focus, the task
    /// worked before starts its new run from the queue (a live one with a saved pair is adopted
    /// instead).
    pub(super) fn queue_at_start(&mut self) -> Result<(), DaemonError> {
        let focus_saved = match &self.setup.focus {
            Some(focus) => self
                .store
                .pair_snapshots()
                .map_err(store_err)?
                .iter()
                .any(|(task, _)| task == focus),
            None => false,
        };
        let left = self.decide(EngineInput::Started { focus_saved })?;
        debug_assert!(left.is_empty(), "{left:?}");
        Ok(())
    }

    /// With a focus: its task has ended and no pair works on it (asked every turn of the loop,
    /// so without gathering every task's facts).
    pub(super) fn focus_ended(&self) -> bool {
        self.setup.focus.as_deref().is_some_and(|focus| {
            !self.pairs.contains_key(focus)
                && self.stored_state(focus).is_none_or(StateKind::is_terminal)
        })
    }

    /// No task can make progress: nothing runs and the scheduler has nothing to start.
    pub(super) fn nothing_left(&self) -> bool {
        // Cheap answers first: the full facts read every task's state from the store.
        let busy = self.merge_busy() || self.prs_pending > 0;
        if busy || !self.pairs.is_empty() {
            return false;
        }
        self.engine_state().nothing_left(busy)
    }

    /// With the merge queue a task starts once its dependencies landed (its branch then starts
    /// from a base that holds them); without it, once they are done.
    pub(super) fn dependency_rule(&self) -> duet_core::lifecycle::scheduler::DependencyRule {
        if self.merges_locally() {
            duet_core::lifecycle::scheduler::DependencyRule::Merged
        } else {
            duet_core::lifecycle::scheduler::DependencyRule::Done
        }
    }

    /// Starts what the scheduler picks (with a focus: that task, whatever its dependencies).
    pub(super) fn schedule(&mut self) -> Result<(), DaemonError> {
        let left = self.decide(EngineInput::ScheduleAsked)?;
        debug_assert!(left.is_empty(), "{left:?}");
        Ok(())
    }
}
