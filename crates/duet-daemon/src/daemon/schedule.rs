//! Which tasks run: new backlog tasks queued, `duet pair`'s task started again, the scheduler's
//! picks started (dependencies done, or merged with the merge queue), and when nothing is left.

use duet_core::lifecycle::StateKind;
use duet_core::lifecycle::unpaired::requeue_for_focus;
use duet_store::Event;

use super::{Daemon, store_err};
use crate::{DaemonError, DaemonProgress};

impl<P: FnMut(DaemonProgress)> Daemon<'_, P> {
    /// Every backlog task the store has not seen is queued.
    pub(super) fn queue_new_tasks(&mut self) -> Result<(), DaemonError> {
        let new: Vec<(String, String)> = self
            .backlog
            .tasks
            .iter()
            .filter(|t| self.stored_state(t.id.as_str()).is_none())
            .map(|t| (t.id.to_string(), t.title.clone()))
            .collect();
        for (id, title) in new {
            self.append(&id, Event::TaskQueued { title: Some(title) })?;
        }
        Ok(())
    }

    /// With a focus: the task worked before (ended, paused, or live with no pair to take over)
    /// starts its new run from the queue; a live one with a saved pair is adopted instead.
    pub(super) fn requeue_focus(&mut self) -> Result<(), DaemonError> {
        let Some(focus) = self.setup.focus.clone() else {
            return Ok(());
        };
        let Some(state) = self.stored_state(&focus) else {
            return Ok(());
        };
        let saved = self
            .store
            .pair_snapshots()
            .map_err(store_err)?
            .iter()
            .any(|(task, _)| *task == focus);
        let requeue = requeue_for_focus(state, saved);
        if requeue {
            self.append(
                &focus,
                Event::TaskStateChanged {
                    from: state,
                    to: StateKind::Queued,
                    reason: Some("started again by duet pair".into()),
                },
            )?;
        }
        Ok(())
    }

    /// With a focus: its task has ended and no pair works on it.
    pub(super) fn focus_ended(&self) -> bool {
        self.setup.focus.as_deref().is_some_and(|focus| {
            !self.pairs.contains_key(focus)
                && self.stored_state(focus).is_none_or(StateKind::is_terminal)
        })
    }

    /// No task can make progress: nothing runs and the scheduler has nothing to start.
    pub(super) fn nothing_left(&self) -> bool {
        if !self.pairs.is_empty() || self.merge_busy() || self.prs_pending > 0 {
            return false;
        }
        self.backlog
            .tasks
            .iter()
            .all(|t| match self.stored_state(t.id.as_str()) {
                Some(StateKind::Queued) => {
                    !self.startable_now().contains(&t.id.to_string())
                        && self.blocked_for_good(t.id.as_str())
                }
                // Ready waits for the human's `duet merge`; merging, with the queue idle or
                // held, for a dependency that will not land or for the human.
                Some(state) => {
                    state.is_terminal()
                        || matches!(
                            state,
                            StateKind::Paused | StateKind::Ready | StateKind::Merging
                        )
                }
                None => false,
            })
    }

    /// A queued task whose dependencies can never be done.
    pub(super) fn blocked_for_good(&self, task: &str) -> bool {
        let views = self.views();
        let running = duet_core::lifecycle::scheduler::count_running(&views);
        let max = self.setup.config.max_parallel.get();
        duet_core::lifecycle::scheduler::why_blocked_with(
            self.dependency_rule(),
            task,
            &views,
            running,
            max,
        )
        .is_some_and(|blockers| {
            blockers.iter().any(|b| {
                matches!(
                    b,
                    duet_core::lifecycle::scheduler::Blocker::DependencyFailed { .. }
                        | duet_core::lifecycle::scheduler::Blocker::MissingDependency { .. }
                )
            })
        })
    }

    pub(super) fn views(&self) -> Vec<duet_core::lifecycle::scheduler::TaskView> {
        self.backlog
            .tasks
            .iter()
            .map(|t| duet_core::lifecycle::scheduler::TaskView {
                id: t.id.to_string(),
                priority: t.priority,
                depends_on: t.depends_on.iter().map(ToString::to_string).collect(),
                state: self
                    .stored_state(t.id.as_str())
                    .unwrap_or(StateKind::Queued),
            })
            .collect()
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

    pub(super) fn startable_now(&self) -> Vec<String> {
        let views = self.views();
        let running = duet_core::lifecycle::scheduler::count_running(&views);
        duet_core::lifecycle::scheduler::next_to_start_with(
            self.dependency_rule(),
            &views,
            running,
            self.setup.config.max_parallel.get(),
        )
    }

    /// Starts what the scheduler picks (with a focus: that task, whatever its dependencies).
    pub(super) fn schedule(&mut self) -> Result<(), DaemonError> {
        if let Some(focus) = self.setup.focus.clone() {
            if self.stored_state(&focus) == Some(StateKind::Queued)
                && !self.pairs.contains_key(&focus)
            {
                self.start_pair(&focus)?;
            }
            return Ok(());
        }
        for task in self.startable_now() {
            self.start_pair(&task)?;
        }
        Ok(())
    }
}
