//! The engine's side of codex seats on their app-server (`transport = "app-server"`): their
//! actors (`duet_pair::app_server_actor`) and what they report (thread, turns, rest, approvals),
//! in place of the pane reads and codex's notify of the typing path.

use duet_core::protocol::Role;
use duet_pair::agent_actor::{AgentHandle, AgentReport};
use duet_pair::launch::app_server_seat;
use tokio::sync::mpsc;

use super::{Daemon, now};
use crate::pair_slot::PairSlot;
use crate::{DaemonError, DaemonProgress};

impl<P: FnMut(DaemonProgress)> Daemon<'_, P> {
    /// Starts the actor of `role`'s codex seat in `slot`: it connects to the seat's app-server
    /// (started in its pane) and resumes the seat's thread, or starts one.
    pub(super) fn app_server_actor(
        &self,
        task_id: &str,
        slot: &PairSlot,
        role: Role,
        reports: mpsc::Sender<AgentReport>,
    ) -> AgentHandle {
        let seat = app_server_seat(
            &self.setup.socket_path(),
            &slot.worktree,
            task_id,
            role,
            &slot.agents[usize::from(role == Role::Reviewer)],
            slot.controller.seat(role).session_id.clone(),
        );
        duet_pair::app_server_actor::spawn(role, seat, reports)
    }

    /// A report of an app-server seat's actor.
    pub(super) fn on_app_server_report(
        &mut self,
        task: &str,
        report: AgentReport,
    ) -> Result<(), DaemonError> {
        let Some(slot) = self.pairs.get_mut(task) else {
            return Ok(());
        };
        let actions = match report {
            AgentReport::ThreadOpened { role, thread_id } => {
                tracing::info!("task {task}: the {role}'s codex thread is {thread_id}");
                slot.controller.on_thread_opened(role, thread_id)
            }
            AgentReport::TurnBegan { role, carried } => {
                slot.controller.on_turn_began(role, carried, now())
            }
            AgentReport::AtRest {
                role,
                attached: true,
            } => {
                // Attached (a new engine, a restarted pane or app-server): what a watch kept
                // for it (a nudge to go on) is given now, and what was typed and never taken
                // in goes again.
                let index = usize::from(role == Role::Reviewer);
                let nudge = slot.watches[index].take().and_then(|w| w.nudge);
                return self.seen_at_rest(task, role, nudge);
            }
            AgentReport::AtRest { role, .. } => slot.controller.on_agent_idle(role, now()),
            AgentReport::ApprovalAsked { role, what } => {
                (self.progress)(DaemonProgress::HumanNeeded {
                    task: task.to_string(),
                    text: format!("{role}: {what}"),
                });
                slot.controller.on_approval_asked(role, what, now())
            }
            AgentReport::HandedBy { role, ids, how } => {
                slot.controller.on_handed_by(role, &ids, how)
            }
            AgentReport::TurnSeen { .. } | AgentReport::DeliveryFailed { .. } => Vec::new(),
        };
        self.apply(task, actions)
    }
}
