//! Recovery: taking over the pairs a previous daemon left (adoption), restarting agents that
//! died, and seeing resumed or adopted agents at rest from their panes.

use duet_agents::PairPanes;
use duet_core::protocol::Role;
use duet_core::protocol::delivery::TargetStatus;
use duet_pair::AgentPresence;
use duet_pair::Controller;
use duet_pair::launch::{LaunchPlace, launch_pair, restart_seat};
use duet_pair::prepare::prepare_task;
use duet_store::Event;

use super::{Daemon, now, store_err};
use crate::engine_core::{self, EngineAction, EngineInput, EngineState, SavedPair};
use crate::idle_watch::IdleWatch;
use crate::pair_slot::{PairSlot, PairSnapshot};
use crate::restart_policy;
use crate::{DaemonError, DaemonProgress};

impl<P: FnMut(DaemonProgress)> Daemon<'_, P> {
    /// Takes over the pairs a previous daemon left running (or relaunches their agents): the
    /// core (`EngineInput::SnapshotsFound`) says which to adopt and which tasks fail.
    pub(super) fn adopt_pairs(&mut self) -> Result<(), DaemonError> {
        let snapshots = self.store.pair_snapshots().map_err(store_err)?;
        let mut read = std::collections::HashMap::new();
        let mut saved = Vec::new();
        for (task_id, json) in snapshots {
            let readable = match serde_json::from_str::<PairSnapshot>(&json) {
                Ok(snapshot) => {
                    read.insert(task_id.clone(), (snapshot, json));
                    Ok(())
                }
                Err(err) => Err(err.to_string()),
            };
            saved.push(SavedPair {
                stored: self.stored_state(&task_id),
                task: task_id,
                readable,
            });
        }
        let mut state = self.engine_state();
        for action in engine_core::handle(&mut state, EngineInput::SnapshotsFound(saved)) {
            if let Some(EngineAction::Adopt { task }) = self.carry_out_one(action)?
                && let Some((snapshot, json)) = read.remove(&task)
            {
                self.adopt(&task, snapshot, json)?;
            }
        }
        Ok(())
    }

    fn adopt(
        &mut self,
        task_id: &str,
        snapshot: PairSnapshot,
        json: String,
    ) -> Result<(), DaemonError> {
        let Some(task) = self.backlog.get(task_id).cloned() else {
            return self.fail_unstarted(task_id, "it is no longer in the backlog".into());
        };
        let profiles =
            prepare_task(&self.repo, &self.setup.config, &task).map(|p| [p.worker, p.reviewer]);
        let agents = match profiles {
            Ok(agents) => agents,
            Err(err) => return self.fail_unstarted(task_id, err.to_string()),
        };
        let [worker_seat, reviewer_seat] = snapshot.seats;
        let mut controller = Controller::new(snapshot.state, worker_seat, reviewer_seat);
        let brief = snapshot.brief;
        let socket = self.setup.socket_path();
        let mut panes = PairPanes {
            worker_pane_id: snapshot.worker_pane,
            reviewer_pane_id: snapshot.reviewer_pane,
        };
        let runtime = self.setup.runtime.clone();
        let clock = std::time::Instant::now();
        let setup = self.setup;
        let mut launched_actions = Vec::new();
        // Agents at rest say so only through hooks, which are lost while no daemon listens:
        // the panes of those not known to be idle are watched (also one still starting, whose
        // brief waits for it to rest at its prompt).
        let mut watches: [Option<IdleWatch>; 2] = [Role::Worker, Role::Reviewer].map(|role| {
            matches!(
                controller.state.mailbox.target(role),
                TargetStatus::Busy | TargetStatus::Prompted { .. } | TargetStatus::Starting
            )
            .then(|| IdleWatch::adopted(clock, None))
        });
        let session_exists = runtime.pair_exists(&snapshot.session_name);
        let exited = [Role::Worker, Role::Reviewer].map(|role| {
            session_exists
                && matches!(
                    runtime.presence(panes.pane(role)),
                    AgentPresence::Exited { .. } | AgentPresence::Unknown
                )
        });
        let looked = EngineInput::SessionLooked {
            task: task_id.to_string(),
            session_exists,
            exited,
        };
        let decided = engine_core::handle(&mut EngineState::default(), looked);
        if let Some(EngineAction::Attach { restart, .. }) = decided.first() {
            // Agents that died while no daemon was watching start again, resumed (or afresh
            // with their brief, if it never reached them).
            for role in [Role::Worker, Role::Reviewer] {
                if restart[usize::from(role == Role::Reviewer)] {
                    rotate_token(&mut controller, role);
                    let resumed = controller.resume_session(role).is_some();
                    watches[usize::from(role == Role::Reviewer)] =
                        Some(IdleWatch::new(clock, resumed.then(|| resumed_nudge(None))));
                    let place =
                        launch_place(setup, &snapshot.session_name, &snapshot.worktree, &socket);
                    let agent = &agents[usize::from(role == Role::Reviewer)];
                    let actions = restart_seat(
                        &place,
                        panes.pane(role),
                        &brief,
                        role,
                        agent,
                        &mut controller,
                        now(),
                    )
                    .map_err(|e| DaemonError::new("restart an agent", e))?;
                    launched_actions.extend(actions);
                } else if !duet_pair::launch::on_app_server(
                    &agents[usize::from(role == Role::Reviewer)],
                ) {
                    crate::idle_watch::finish_typing(
                        runtime.as_ref(),
                        panes.pane(role),
                        &controller,
                        role,
                    );
                }
            }
        } else {
            // Only the worker, or an agent that was mid-turn, is told to go on; one that was at
            // rest is just seen at rest again (and given what is queued for it, its brief too).
            watches = [Role::Worker, Role::Reviewer].map(|role| {
                let busy = matches!(
                    controller.state.mailbox.target(role),
                    TargetStatus::Busy | TargetStatus::Prompted { .. }
                );
                let resumed = controller.resume_session(role).is_some();
                let nudge =
                    (resumed && (role == Role::Worker || busy)).then(|| resumed_nudge(None));
                Some(IdleWatch::new(clock, nudge))
            });
            for role in [Role::Worker, Role::Reviewer] {
                rotate_token(&mut controller, role);
            }
            let place = launch_place(setup, &snapshot.session_name, &snapshot.worktree, &socket);
            let launched = launch_pair(
                &place,
                &brief,
                [&agents[0], &agents[1]],
                &mut controller,
                now(),
            );
            match launched {
                Ok((new_panes, actions)) => {
                    panes = new_panes;
                    launched_actions.extend(actions);
                }
                Err(err) => return self.fail_unstarted(task_id, err.to_string()),
            }
        }
        // A review asked for and taken, with no verdict: the reviewer is asked once more when
        // it is seen at rest (its verdict may have been lost with the daemon).
        if let Some(text) = review_reask(&controller.state) {
            tracing::info!("task {task_id}: the reviewer will be asked again for its verdict");
            watches[1] = Some(IdleWatch::new(clock, Some(text)));
        }
        let slot = PairSlot {
            controller,
            actors: Vec::new(),
            panes,
            brief,
            worktree: snapshot.worktree,
            session_name: snapshot.session_name,
            agents,
            restarts: snapshot.restarts,
            last_snapshot: json,
            watches,
            worker_hold: Default::default(),
        };
        self.append(
            task_id,
            Event::Note {
                text: "pair adopted by a new daemon".into(),
            },
        )?;
        // Where the adopted pair stands (a new pair's moves are shown as they happen instead).
        (self.progress)(DaemonProgress::TaskState {
            task: task_id.to_string(),
            state: slot.controller.state.task_state.to_string(),
        });
        self.install(task_id, slot);
        self.apply(task_id, launched_actions)
    }

    /// An agent died: start it again with its conversation resumed, up to the limit (the
    /// core decides: `EngineInput::AgentExited`). Returns whether it was restarted (false: the
    /// protocol hears of the exit and asks the human).
    pub(super) fn restart_agent(
        &mut self,
        task: &str,
        token: &str,
        code: Option<i32>,
        signal: Option<i32>,
    ) -> Result<bool, DaemonError> {
        let exited = EngineInput::AgentExited {
            task: task.to_string(),
            token: token.to_string(),
            code,
            signal,
        };
        // Only the pairs' facts: an exit concerns its pair alone.
        let mut state = EngineState {
            pairs: self.pair_facts(),
            ..Default::default()
        };
        for action in engine_core::handle(&mut state, exited) {
            match self.carry_out_one(action)? {
                Some(restart @ EngineAction::RestartAgent { .. }) => {
                    return Ok(self.restart(restart)?.is_none());
                }
                Some(EngineAction::NoRestart { .. }) => return Ok(false),
                Some(other) => tracing::warn!("an exit: {other:?} is not carried out here"),
                None => {}
            }
        }
        Ok(false)
    }

    /// Carries out the core's `RestartAgent`: the seat's process is started again with a new
    /// token. Gives back what the protocol is to hear (`NoRestart`) if it cannot be started.
    pub(super) fn restart(
        &mut self,
        action: EngineAction,
    ) -> Result<Option<EngineAction>, DaemonError> {
        let EngineAction::RestartAgent {
            task,
            role,
            token,
            attempt,
            resume,
            resume_failed,
            exit_code,
            code,
            signal,
        } = action
        else {
            return Ok(None);
        };
        let task = task.as_str();
        let no_restart = || {
            Some(EngineAction::NoRestart {
                task: task.to_string(),
                token: token.clone(),
                code,
                signal,
            })
        };
        let socket = self.setup.socket_path();
        let index = usize::from(role == Role::Reviewer);
        let Some(slot) = self.pairs.get_mut(task) else {
            return Ok(None);
        };
        // The new process gets a new token: the dead one's helpers (a wrapper still reporting
        // its exit, a hook retrying) can no longer act for the seat.
        let new_token = rotate_token(&mut slot.controller, role);
        self.tokens.remove(&token);
        self.tokens.insert(new_token, task.to_string());
        let setup = self.setup;
        let Some(slot) = self.pairs.get_mut(task) else {
            return Ok(None);
        };
        let place = launch_place(setup, &slot.session_name, &slot.worktree, &socket);
        let pane = slot.panes.pane(role).to_string();
        let restarted = restart_seat(
            &place,
            &pane,
            &slot.brief,
            role,
            &slot.agents[index],
            &mut slot.controller,
            now(),
        );
        let launched_actions = match restarted {
            Ok(actions) => actions,
            Err(err) => {
                tracing::warn!("task {task}: failed to restart the {role}: {err}");
                return Ok(no_restart());
            }
        };
        slot.restarts[index] = attempt;
        // A resumed agent is told to go on; a new conversation gets its brief (queued).
        slot.watches[index] = Some(IdleWatch::new(
            std::time::Instant::now(),
            resume.then(|| resumed_nudge(exit_code)),
        ));
        self.append(
            task,
            Event::AgentExited {
                role: role.to_string(),
                exit_code,
            },
        )?;
        self.append(
            task,
            Event::Note {
                text: restart_policy::restart_note(role, attempt, resume, resume_failed),
            },
        )?;
        self.apply(task, launched_actions)?;
        Ok(None)
    }

    /// Watched agents seen at rest: pending messages go to them, a resumed one is told to go
    /// on, or the protocol learns that it is idle.
    pub(super) fn look_at_watched_panes(&mut self, task: &str) -> Result<(), DaemonError> {
        let clock = std::time::Instant::now();
        for role in [Role::Worker, Role::Reviewer] {
            let index = usize::from(role == Role::Reviewer);
            let Some(slot) = self.pairs.get_mut(task) else {
                return Ok(());
            };
            if duet_pair::launch::on_app_server(&slot.agents[index]) {
                // Its app-server says when it is at rest (`on_app_server_report`).
                continue;
            }
            let Some(watch) = slot.watches[index].as_mut() else {
                continue;
            };
            let gone = slot.controller.state.mailbox.target(role) == TargetStatus::Exited;
            if gone || watch.expired(clock) {
                slot.watches[index] = None;
                continue;
            }
            let Ok(screen) = self.setup.runtime.screen(slot.panes.pane(role)) else {
                continue;
            };
            if !watch.look(&screen, clock) {
                continue;
            }
            let nudge = slot.watches[index].take().and_then(|w| w.nudge);
            tracing::debug!("task {task}: the {role} is at rest (seen in its pane)");
            self.seen_at_rest(task, role, nudge)?;
        }
        Ok(())
    }

    /// `role` was seen at rest (its pane, or its app-server) with no hook saying so: what was
    /// typed and never taken in goes again, what is queued goes now, a resumed agent is nudged.
    pub(super) fn seen_at_rest(
        &mut self,
        task: &str,
        role: Role,
        mut nudge: Option<String>,
    ) -> Result<(), DaemonError> {
        {
            let Some(slot) = self.pairs.get_mut(task) else {
                return Ok(());
            };
            for text in crate::idle_watch::requeue_typed(task, role, &mut slot.controller) {
                self.append(task, Event::Note { text })?;
            }
            let Some(slot) = self.pairs.get_mut(task) else {
                return Ok(());
            };
            let mut reasked = false;
            if nudge.as_deref().is_some_and(is_review_reask) {
                // Asked again only while the review still waits for this verdict (the bridge's
                // own retry may have brought it in meanwhile).
                nudge =
                    review_reask(&slot.controller.state).filter(|now| Some(now) == nudge.as_ref());
                reasked = nudge.is_some();
            }
            if slot.controller.has_pending(role)
                || nudge.is_none() && !slot.controller.is_idle(role)
            {
                let actions = slot.controller.on_agent_idle(role, now());
                self.apply(task, actions)?;
            } else if let Some(text) = nudge {
                // Through the mailbox: held until the resumed agent has listed duet's tools.
                let mut actions = slot.controller.duet_says(role, text, now());
                actions.extend(slot.controller.on_agent_idle(role, now()));
                self.apply(task, actions)?;
                if reasked {
                    let note = "the reviewer was at rest after a restart with no verdict on the \
                                review it took: asked again for it"
                        .to_owned();
                    tracing::info!("task {task}: {note}");
                    self.append(task, Event::Note { text: note })?;
                }
            }
        }
        Ok(())
    }
}

/// Where a pair's agents run, from the engine's setup (not borrowing the engine itself).
fn launch_place<'s>(
    setup: &'s crate::DaemonSetup,
    session_name: &'s str,
    worktree: &'s std::path::Path,
    socket: &'s std::path::PathBuf,
) -> LaunchPlace<'s> {
    LaunchPlace {
        runtime: setup.runtime.as_ref(),
        session_name,
        worktree,
        duet_exe: &setup.duet_exe,
        socket,
    }
}

/// Gives `role`'s seat a new token (for a process about to be started in it) and returns it.
fn rotate_token(controller: &mut Controller, role: Role) -> String {
    let token = uuid::Uuid::new_v4().to_string();
    if let Some(seat) = controller.seats.iter_mut().find(|s| s.role == role) {
        seat.token.clone_from(&token);
    }
    token
}

/// The first words of [`review_reask`]'s text.
const REVIEW_REASK_START: &str = "duet was restarted while your review";

fn is_review_reask(text: &str) -> bool {
    text.starts_with(REVIEW_REASK_START)
}

/// What the reviewer is asked once more after a restart, if it took a review request (the
/// message was delivered) and no verdict came: the task is in review and nothing to the
/// reviewer waits to be handed over (then that hand-over asks it anyway).
pub(super) fn review_reask(state: &duet_core::protocol::PairState) -> Option<String> {
    if state.task_state != duet_core::lifecycle::TaskState::Reviewing {
        return None;
    }
    let waiting = state
        .mailbox
        .undelivered()
        .any(|envelope| envelope.to == Role::Reviewer);
    if waiting {
        return None;
    }
    // A plan review has no commit: the plan is what is judged.
    if state.plan.pending {
        return Some(format!(
            "{REVIEW_REASK_START} of the worker's plan (plan round {}) was under way, and it has \
             no verdict from you. If you called submit_review, duet did not get it: read PLAN.md \
             again if you need to and call submit_review with your verdict on the plan now.",
            state.plan.rounds
        ));
    }
    let request = state.pending_review()?;
    Some(format!(
        "{REVIEW_REASK_START} of commit {} (round {}) was under way, and it has no verdict from \
         you. If you called submit_review, duet did not get it: review the commit if you need to \
         and call submit_review with your verdict now.",
        request.commit, request.round
    ))
}

/// What a resumed agent is told once it is at its prompt.
fn resumed_nudge(exit_code: Option<i32>) -> String {
    match exit_code {
        Some(code) => format!(
            "Your process exited (exit code {code}) and duet started it again, with this conversation resumed. Go on where you left off."
        ),
        None => "duet was started again with your conversation resumed: go on with the task where you left off."
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use duet_core::lifecycle::TaskState;
    use duet_core::protocol::pair::{PairConfig, ReviewRequest};
    use duet_core::protocol::{PairState, Sender, Timestamp};

    fn in_review() -> PairState {
        let mut state = PairState::new("t1", "base", Timestamp(0), PairConfig::default());
        state.task_state = TaskState::Reviewing;
        state.round = 1;
        state.last_review_request = Some(ReviewRequest {
            round: 1,
            commit: "abc1234def".into(),
            summary: "ready".into(),
            at: Timestamp(1),
        });
        state.review_pending = true;
        state
    }

    #[test]
    fn a_reviewer_that_took_the_request_and_gave_no_verdict_is_asked_again() {
        let text = review_reask(&in_review()).unwrap();
        assert!(is_review_reask(&text));
        assert!(text.contains("commit abc1234def (round 1)"), "{text}");
        assert!(text.contains("call submit_review"), "{text}");
    }

    #[test]
    fn no_second_ask_with_a_verdict_in_or_the_request_still_to_hand_over() {
        let mut answered = in_review();
        answered.review_pending = false;
        assert_eq!(review_reask(&answered), None);

        let mut waiting = in_review();
        waiting.mailbox.accept(
            Sender::Duet,
            Role::Reviewer,
            "review this".into(),
            Timestamp(2),
            &PairConfig::default().delivery,
        );
        assert_eq!(review_reask(&waiting), None, "the hand-over asks it");

        let mut paused = in_review();
        paused.task_state = TaskState::NeedsHuman {
            reason: "x".into(),
            resume_to: duet_core::lifecycle::PairPhase::Reviewing,
        };
        assert_eq!(review_reask(&paused), None);
    }

    #[test]
    fn a_reviewer_that_took_a_plan_review_and_gave_no_verdict_is_asked_again() {
        let mut state = PairState::new("t1", "base", Timestamp(0), PairConfig::default());
        state.config.review.plan = true;
        state.task_state = TaskState::Reviewing;
        state.plan.rounds = 2;
        state.plan.pending = true;
        let text = review_reask(&state).unwrap();
        assert!(is_review_reask(&text));
        assert!(text.contains("the worker's plan (plan round 2)"), "{text}");
        state.plan.pending = false;
        assert_eq!(review_reask(&state), None, "no review pending, no ask");
    }
}
