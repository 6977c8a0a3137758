//! The reviewer guard in the engine: a check that a reviewer's request called for
//! (`duet_pair::reviewer_guard::check_for`) runs off the loop (git), and a change it found and
//! undid is noted in the task's log, shown to the human and told to the reviewer by duet; what
//! the worker is handed meanwhile waits for the check (`pair_slot::WorkerHold`).

use duet_core::protocol::Role;
use duet_pair::Action;
use duet_pair::reviewer_guard::{GuardCheck, GuardOutcome, run_check};
use duet_store::Event;
use tokio::sync::mpsc;

use super::{Daemon, now};
use crate::{DaemonError, DaemonProgress};

/// Where checks report back to the loop.
pub(super) type GuardResults = mpsc::UnboundedSender<(GuardCheck, GuardOutcome)>;

impl<P: FnMut(DaemonProgress)> Daemon<'_, P> {
    /// Starts `check` off the loop (a `git status` of a big worktree must not hold up the
    /// other pairs).
    pub(super) fn guard_reviewer(&self, check: Option<GuardCheck>) {
        let Some(check) = check else { return };
        let tx = self.guard_tx.clone();
        tokio::task::spawn_blocking(move || {
            // An answer always comes back: the worker's deliveries wait for it.
            let outcome = std::panic::catch_unwind(|| run_check(&check)).unwrap_or_else(|_| {
                GuardOutcome::Failed {
                    changes: Vec::new(),
                    error: "the check panicked".into(),
                }
            });
            let _ = tx.send((check, outcome));
        });
    }

    /// A check is back: a change is logged (store note, daemon log, progress) and the reviewer
    /// is told (a message from duet, handed over like any other); then what the worker was
    /// handed meanwhile goes to it.
    pub(super) fn on_guard(
        &mut self,
        (check, outcome): (GuardCheck, GuardOutcome),
    ) -> Result<(), DaemonError> {
        let noted = self.note_guard_outcome(&check, &outcome);
        if let Some(slot) = self.pairs.get_mut(&check.task) {
            let released = slot.worker_hold.check_ended();
            if let Some(actor) = slot.actor(Role::Worker) {
                for (text, ids) in released {
                    actor.deliver(text, ids);
                }
            }
        }
        noted
    }

    fn note_guard_outcome(
        &mut self,
        check: &GuardCheck,
        outcome: &GuardOutcome,
    ) -> Result<(), DaemonError> {
        let Some(note) = outcome.note(check) else {
            tracing::debug!(
                "task {}: the reviewer left the worktree as it was",
                check.task
            );
            return Ok(());
        };
        tracing::warn!("task {}: {note}", check.task);
        (self.progress)(DaemonProgress::Note(format!("task {}: {note}", check.task)));
        let mut actions = vec![Action::Store(Event::Note { text: note })];
        if let (Some(slot), Some(text)) = (
            self.pairs.get_mut(&check.task),
            outcome.reviewer_message(check),
        ) {
            actions.extend(slot.controller.duet_says(Role::Reviewer, text, now()));
        }
        if self.pairs.contains_key(&check.task) {
            self.apply(&check.task, actions)
        } else if let Some(Action::Store(event)) = actions.into_iter().next() {
            self.append(&check.task, event)
        } else {
            Ok(())
        }
    }
}
