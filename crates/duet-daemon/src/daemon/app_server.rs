//! The engine's side of codex seats on their app-server (`transport = "app-server"`): their
//! actors (`duet_pair::app_server_actor`) and what they report (thread, turns, rest, approvals),
//! in place of the pane reads and codex's notify of the typing path; the human's answer to a
//! pending approval (`duet answer TASK approve|deny`).

use duet_core::protocol::Role;
use duet_pair::ConnId;
use duet_pair::agent_actor::{AgentHandle, AgentReport};
use duet_pair::controller::approval_answer;
use duet_pair::launch::{app_server_seat, on_app_server};
use duet_proto::{ErrorKind, Response, ResponseBody};
use tokio::sync::mpsc;

use super::{Daemon, now, usage};

/// What codex seats of an earlier engine left beside this one's socket, their app-server gone
/// (killed with the engine's tmux server, say): removed at start.
pub(super) fn sweep_left_seats(engine_socket: &std::path::Path) {
    let swept = duet_agents::codex_app_server::leftovers::sweep_left_seats(engine_socket);
    if swept > 0 {
        tracing::info!("removed the files of {swept} codex seats whose app-server is gone");
    }
}
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

    /// A `duet answer` to a task whose codex seat (on its app-server) waits for an approval:
    /// `approve` or `deny` goes to codex, anything else is refused with what to answer.
    /// False: no such seat, the answer is the pair's (`ask_human`, a stall).
    pub(super) fn answer_approval(&mut self, task: &str, conn: ConnId, text: &str) -> bool {
        let Some(slot) = self.pairs.get(task) else {
            return false;
        };
        let Some(role) = slot
            .controller
            .waiting_for_approval()
            .filter(|role| on_app_server(&slot.agents[usize::from(*role == Role::Reviewer)]))
        else {
            return false;
        };
        let response = match approval_answer(text) {
            Some(accept) => {
                if let Some(actor) = slot.actor(role) {
                    actor.answer_approval(accept);
                }
                Response::ok(ResponseBody::Ack)
            }
            None => Response::error(
                ErrorKind::WrongState,
                format!(
                    "the {role} of task `{task}` waits for an approval: answer `approve` or \
                     `deny` (not {text:?})"
                ),
            ),
        };
        self.respond(conn, response);
        true
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
            AgentReport::AtRest { role, .. } => {
                // A turn ended (a failed one too: codex sends no notify for the 429 it gave up
                // on): its rollout holds the tokens and any usage limit with its reset.
                let record = usage::codex_turn_record(task, role, slot);
                let actions = slot.controller.on_agent_idle(role, now());
                self.apply(task, actions)?;
                self.count_tokens(record);
                return Ok(());
            }
            AgentReport::ApprovalAsked { role, what } => {
                (self.progress)(DaemonProgress::HumanNeeded {
                    task: task.to_string(),
                    text: format!("{role}: {what}"),
                });
                slot.controller.on_approval_asked(role, what, now())
            }
            AgentReport::ApprovalAnswered { role, what, accept } => slot
                .controller
                .on_approval_answered(role, &what, accept, now()),
            AgentReport::HandedBy { role, ids, how } => {
                slot.controller.on_handed_by(role, &ids, how)
            }
            AgentReport::TurnSeen { .. } | AgentReport::DeliveryFailed { .. } => Vec::new(),
        };
        self.apply(task, actions)
    }
}
