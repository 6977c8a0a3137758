//! The edge of the engine's pure core (`crate::engine_core`): the facts gathered from the store
//! and the pair slots, each decision asked of `engine_core::handle`, and its actions carried
//! out (store appends, pairs started or adopted, processes ended, the human told).

use std::collections::BTreeMap;

use duet_core::backlog::Backlog;
use duet_core::protocol::Role;
use duet_store::Event;

use super::Daemon;
use crate::engine_core::{
    self, EngineAction, EngineInput, EngineState, PairFacts, SeatFacts, TaskFacts,
};
use crate::{DaemonError, DaemonProgress};

impl<P: FnMut(DaemonProgress)> Daemon<'_, P> {
    /// The facts the core's decisions need, read now from the store and the live pairs.
    pub(super) fn engine_state(&self) -> EngineState {
        EngineState {
            tasks: self.task_facts(&self.backlog),
            pairs: self.pair_facts(),
            max_parallel: self.setup.config.max_parallel.get(),
            dependency_rule: self.dependency_rule(),
            focus: self.setup.focus.clone(),
        }
    }

    /// `backlog`'s tasks with what the store holds of each.
    pub(super) fn task_facts(&self, backlog: &Backlog) -> Vec<TaskFacts> {
        backlog
            .tasks
            .iter()
            .map(|t| TaskFacts {
                id: t.id.to_string(),
                title: t.title.clone(),
                priority: t.priority,
                depends_on: t.depends_on.iter().map(ToString::to_string).collect(),
                stored: self.stored_state(t.id.as_str()),
            })
            .collect()
    }

    /// The live pairs' seats (no store read: cheap enough for every tick).
    pub(super) fn pair_facts(&self) -> BTreeMap<String, PairFacts> {
        self.pairs
            .iter()
            .map(|(task, slot)| {
                let seat = |role: Role| {
                    let seat = slot.controller.seat(role);
                    SeatFacts {
                        role,
                        token: seat.token.clone(),
                        pane: slot.panes.pane(role).to_string(),
                        pid: seat.pid,
                        restarts: slot.restarts[usize::from(role == Role::Reviewer)],
                        has_conversation: slot.controller.resume_session(role).is_some(),
                        bridge_ready: seat.bridge_ready,
                    }
                };
                let facts = PairFacts {
                    finished: slot.controller.state.task_state.is_terminal(),
                    seats: [seat(Role::Worker), seat(Role::Reviewer)],
                };
                (task.clone(), facts)
            })
            .collect()
    }

    /// Asks the core about `input` with the facts of now, and carries out what it decides
    /// (what only the asker can do comes back, in order).
    pub(super) fn decide(&mut self, input: EngineInput) -> Result<Vec<EngineAction>, DaemonError> {
        let mut state = self.engine_state();
        self.carry_out(engine_core::handle(&mut state, input))
    }

    /// Carries out the core's actions in order; those only their asker can carry out (an
    /// agent's restart, an adopted pair's launch, a new backlog, the human's answer) are
    /// returned to it, in order.
    pub(super) fn carry_out(
        &mut self,
        actions: Vec<EngineAction>,
    ) -> Result<Vec<EngineAction>, DaemonError> {
        let mut left = Vec::new();
        for action in actions {
            left.extend(self.carry_out_one(action)?);
        }
        Ok(left)
    }

    /// Carries out one of the core's actions, or gives it back (see [`Self::carry_out`]).
    pub(super) fn carry_out_one(
        &mut self,
        action: EngineAction,
    ) -> Result<Option<EngineAction>, DaemonError> {
        {
            match action {
                EngineAction::QueueTask { task, title } => {
                    self.append(&task, Event::TaskQueued { title: Some(title) })?;
                }
                EngineAction::SetState {
                    task,
                    from,
                    to,
                    reason,
                    shown,
                } => {
                    let changed = Event::TaskStateChanged {
                        from,
                        to,
                        reason: Some(reason),
                    };
                    self.append(&task, changed)?;
                    (self.progress)(DaemonProgress::TaskState { task, state: shown });
                }
                EngineAction::TellHuman { task, text } => {
                    (self.progress)(DaemonProgress::HumanNeeded { task, text });
                }
                EngineAction::Note { task, text } => {
                    tracing::warn!("task {task}: {text}");
                    self.append(&task, Event::Note { text })?;
                }
                EngineAction::Progress(text) => (self.progress)(DaemonProgress::Note(text)),
                EngineAction::Warn(text) => tracing::warn!("{text}"),
                EngineAction::Log(text) => tracing::info!("{text}"),
                EngineAction::StartPair { task } => self.start_pair(&task)?,
                EngineAction::EndProcess { pid } => super::dead_panes::end_process(pid),
                EngineAction::ForgetResume { task, role } => {
                    if let Some(slot) = self.pairs.get_mut(&task) {
                        duet_pair::launch::forget_failed_resume(&mut slot.controller, role);
                    }
                }
                EngineAction::KeepInvalidBacklog { problems } => {
                    tracing::warn!(
                        "the backlog does not validate; keeping the last good one:\n{problems}"
                    );
                    (self.progress)(DaemonProgress::Note(format!(
                        "{} is invalid; keeping the last good backlog (run `duet validate`)",
                        self.setup.backlog_path.display()
                    )));
                }
                other => return Ok(Some(other)),
            }
        }
        Ok(None)
    }
}
